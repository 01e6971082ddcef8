import { describe, expect, it } from 'vitest';
import { paceSince, secondsLeft } from '../../../src/core/util/pace.ts';

describe('job pace', () => {
  it('predicts the seconds left at the pace so far, never negative, nothing before anything is done', () => {
    expect(secondsLeft(30, 10, 5)).toBe(15);
    expect(secondsLeft(-4, 10, 5)).toBe(0);
    expect(secondsLeft(30, 0, 5)).toBeUndefined();
    expect(secondsLeft(30, 10, 0)).toBeUndefined();
  });

  it('reports elapsed time, a two-decimal rate once counting starts, and the caller’s estimate', () => {
    const pace = paceSince(Date.now() - 3_000, 10, (seconds) => Math.round(seconds * 100));
    expect(pace.durationMs).toBeGreaterThanOrEqual(3_000);
    expect(pace.imagesPerSec).toBeCloseTo(10 / (pace.durationMs / 1000), 1);
    expect(pace.etaSeconds).toBe(Math.round(pace.durationMs / 10));
    expect(paceSince(Date.now() - 3_000, undefined, () => 7)).toMatchObject({
      imagesPerSec: undefined,
      etaSeconds: 7,
    });
  });
});
