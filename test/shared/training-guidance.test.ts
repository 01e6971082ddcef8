import { describe, expect, it } from 'vitest';
import { STEPS_WITHOUT_IMPROVEMENT, stepsPastPeak } from '../../src/shared/training-guidance.ts';

describe('when a running run has probably peaked', () => {
  it('says so once the best checkpoint is STEPS_WITHOUT_IMPROVEMENT steps old, not before or without one', () => {
    expect(stepsPastPeak(undefined, 50_000)).toBeUndefined();
    expect(stepsPastPeak({ step: 1_500 }, 1_500 + STEPS_WITHOUT_IMPROVEMENT - 1)).toBeUndefined();
    expect(stepsPastPeak({ step: 1_500 }, 1_500 + STEPS_WITHOUT_IMPROVEMENT)).toBe(STEPS_WITHOUT_IMPROVEMENT);
    expect(stepsPastPeak({ step: 1_500 }, 6_000)).toBe(4_500);
  });
});
