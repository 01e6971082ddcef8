import { describe, expect, it } from 'vitest';
import {
  conditionalDirections,
  fitLatentDirection,
  tagLabel,
} from '../../../src/core/attributes/latent-directions.ts';
import { Rng } from '../../../src/shared/rng.ts';

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};
const unit = (v: Float32Array) => {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};

describe('fitLatentDirection', () => {
  it('recovers the direction a score depends on from noisy samples, and says how linear it is', () => {
    const zDim = 32;
    const count = 2000;
    const rng = new Rng(3);
    const truth = unit(Float32Array.from(rng.normalArray(zDim)));
    const latents = Float32Array.from(rng.normalArray(count * zDim));
    const scores = Array.from({ length: count }, (_, n) => {
      const p = dot(latents.subarray(n * zDim, (n + 1) * zDim), truth);
      return 3 * p + 5 + 0.5 * rng.normal();
    });
    const { vector, fit } = fitLatentDirection(latents, scores, zDim);
    expect(Math.hypot(...vector)).toBeCloseTo(1, 5);
    expect(dot(vector, truth)).toBeGreaterThan(0.99);
    expect(fit).toBeGreaterThan(0.98);

    // The same samples with scores unrelated to z: no direction explains them.
    const noise = Array.from({ length: count }, () => rng.normal());
    expect(fitLatentDirection(latents, noise, zDim).fit).toBeLessThan(0.2);
  });

  it('refuses mismatched sizes', () => {
    expect(() => fitLatentDirection(new Float32Array(10), [1, 2, 3], 4)).toThrow(
      /10 latent values for 3 scores/,
    );
  });
});

describe('conditionalDirections', () => {
  it('makes each direction orthogonal to the others while keeping most of it', () => {
    const rng = new Rng(9);
    const a = unit(Float32Array.from(rng.normalArray(16)));
    // b shares a third of a: moving along b alone would change a's score.
    const b = unit(Float32Array.from(rng.normalArray(16), (x, i) => x + 0.6 * a[i]! * 4));
    const c = unit(Float32Array.from(rng.normalArray(16)));
    const out = conditionalDirections([a, b, c]);
    expect(Math.abs(dot(a, b))).toBeGreaterThan(0.3);
    for (const [i, { vector }] of out.entries()) {
      expect(Math.hypot(...vector)).toBeCloseTo(1, 5);
      for (const [j, other] of [a, b, c].entries())
        if (j !== i) expect(Math.abs(dot(vector, other))).toBeLessThan(1e-5);
    }
    expect(out[1]!.kept).toBeLessThan(0.99);
    expect(out[1]!.kept).toBeGreaterThan(0.3);
    expect(dot(out[1]!.vector, b)).toBeCloseTo(out[1]!.kept, 4);
  });

  it('leaves a single direction as it is', () => {
    const v = unit(Float32Array.from([3, 4, 0]));
    expect(Array.from(conditionalDirections([v])[0]!.vector)).toEqual(Array.from(v));
  });
});

describe('tagLabel', () => {
  it('writes a tag in words', () => {
    expect(tagLabel('blonde_hair')).toBe('blonde hair');
    expect(tagLabel('hatsune_miku_(cosplay)')).toBe('hatsune miku (cosplay)');
  });
});
