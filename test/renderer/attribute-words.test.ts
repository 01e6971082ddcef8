import { describe, expect, it } from 'vitest';
import { attributeStats, attributeWeaknesses } from '../../src/renderer/src/lib/attribute-words.ts';
import type { AttributeDirection } from '../../src/shared/explorer-schemas.ts';

const attribute = (overrides: Partial<AttributeDirection> = {}): AttributeDirection => ({
  tag: 'blonde_hair',
  label: 'blonde hair',
  vector: [1, 0],
  positives: 1234,
  negatives: 87,
  accuracy: 0.84,
  heldOut: 60,
  features: 'pixels',
  effect: { moved: 0.95, change: 1.2, crossTalk: 0.1, mostAffected: 'dark_hair' },
  ...overrides,
});

describe('what the Attributes tab says about a slider', () => {
  it('gives the counts and held-out accuracy in words', () => {
    expect(attributeStats(attribute())).toBe(
      'learned from 1,234 with, 87 without · 84 % accurate on 60 held-out faces',
    );
  });

  it('trusts a slider that passes every threshold, and says which ones a weak slider fails', () => {
    expect(attributeWeaknesses(attribute())).toEqual([]);
    // Exactly at the thresholds is still trusted.
    expect(
      attributeWeaknesses(attribute({ accuracy: 0.7, effect: { moved: 0.9, change: 1, crossTalk: 0.25 } })),
    ).toEqual([]);
    expect(attributeWeaknesses(attribute({ accuracy: 0.66 }))).toEqual([
      'the tag is hard to recognise (66 % accurate)',
    ]);
    expect(
      attributeWeaknesses(
        attribute({ effect: { moved: 0.8, change: 0.4, crossTalk: 0.6, mostAffected: 'dark_hair' } }),
        (tag) => (tag === 'dark_hair' ? 'dark hair (listed)' : tag),
      ),
    ).toEqual(['moves only 80 % of faces toward it', 'also changes dark hair (listed)']);
    expect(attributeWeaknesses(attribute({ effect: { moved: 1, change: 1, crossTalk: 0.3 } }))).toEqual([
      'also changes other tags',
    ]);
    expect(
      attributeWeaknesses(
        attribute({ effect: { moved: 1, change: 1, crossTalk: 0.3, mostAffected: 'open_mouth' } }),
      ),
    ).toEqual(['also changes open mouth']);
  });
});
