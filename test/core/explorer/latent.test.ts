import { describe, expect, it } from 'vitest';
import { expectClose } from '../../helpers/expect-close.ts';
import {
  applyDirections,
  dot,
  faceArithmetic,
  interpolate,
  lerp,
  meanLatent,
  norm,
  randomLatent,
  slerp,
  truncate,
  variations,
  withComponent,
} from '../../../src/core/explorer/latent.ts';
import { History } from '../../../src/core/explorer/history.ts';
import {
  effectiveLatent,
  initialExplorerState,
  latentForSaving,
  withOffset,
} from '../../../src/core/explorer/state.ts';
import type { PrincipalDirections } from '../../../src/core/explorer/directions.ts';

const zDim = 100;

describe('random faces and truncation', () => {
  it('gives the same z for the same seed and a different one for another seed', () => {
    expect(Array.from(randomLatent(7, zDim))).toEqual(Array.from(randomLatent(7, zDim)));
    expect(Array.from(randomLatent(7, zDim))).not.toEqual(Array.from(randomLatent(8, zDim)));
    // N(0, I): the norm of a 100-d sample is close to 10.
    expect(norm(randomLatent(7, zDim))).toBeGreaterThan(7);
    expect(norm(randomLatent(7, zDim))).toBeLessThan(13);
  });

  it('truncation scales toward the mean and leaves its input alone', () => {
    const z = randomLatent(1, zDim);
    const copy = Float32Array.from(z);
    expectClose(truncate(z, 1), z, 0);
    expect(norm(truncate(z, 0))).toBe(0);
    expectClose(
      truncate(z, 0.5),
      Array.from(z, (x) => x * 0.5),
    );
    expectClose(
      truncate(z, 1.5),
      Array.from(z, (x) => x * 1.5),
    );
    const mean = randomLatent(2, zDim);
    expectClose(truncate(z, 0, mean), mean);
    expect(Array.from(z)).toEqual(Array.from(copy));
    expect(() => truncate(z, -0.1)).toThrow(/truncation/);
  });

  it('a raw z slider replaces exactly one component', () => {
    const z = randomLatent(3, zDim);
    const edited = withComponent(z, 5, 2.5);
    expect(edited[5]).toBe(2.5);
    expect(Array.from(edited).filter((x, i) => x !== z[i]).length).toBe(1);
    expect(() => withComponent(z, zDim, 0)).toThrow(/outside/);
  });
});

describe('variations', () => {
  it('are deterministic, 16 by default, and spread in proportion to the amount', () => {
    const z = randomLatent(4, zDim);
    const a = variations(z, { seed: 11, amount: 0.3 });
    const b = variations(z, { seed: 11, amount: 0.3 });
    expect(a).toHaveLength(16);
    a.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(b[i]!)));
    const other = variations(z, { seed: 12, amount: 0.3 });
    expect(Array.from(other[0]!)).not.toEqual(Array.from(a[0]!));
    // ε ~ N(0, I) in 100-d has norm ≈ 10, so the distance from z is ≈ 10·amount.
    const distances = a.map((v) => norm(lerp(z, v, 1).map((x, i) => x - z[i]!)));
    for (const d of distances) {
      expect(d).toBeGreaterThan(0.3 * 7);
      expect(d).toBeLessThan(0.3 * 13);
    }
    const far = variations(z, { seed: 11, amount: 0.9 });
    // Same ε, three times the amount: exactly three times the offset.
    expectClose(
      far[3]!.map((x, i) => x - z[i]!),
      a[3]!.map((x, i) => 3 * (x - z[i]!)),
      1e-5,
    );
    variations(z, { seed: 11, amount: 0 }).forEach((v) => expectClose(v, z, 0));
  });
});

describe('interpolation', () => {
  const a = randomLatent(21, zDim);
  const b = randomLatent(22, zDim);

  it('linear and spherical paths start at a and end at b with the requested frame count', () => {
    for (const mode of ['linear', 'spherical'] as const) {
      const frames = interpolate(a, b, 9, mode);
      expect(frames).toHaveLength(9);
      expectClose(frames[0]!, a, 0);
      expectClose(frames[8]!, b, 0);
    }
    expectClose(slerp(a, b, 0), a, 1e-5);
    expectClose(slerp(a, b, 1), b, 1e-5);
    expect(() => interpolate(a, b, 1)).toThrow(/frames/);
  });

  it('slerp keeps the norm on the line between |a| and |b| while lerp sags through the middle', () => {
    for (let k = 1; k < 10; k++) {
      const t = k / 10;
      const expected = (1 - t) * norm(a) + t * norm(b);
      expect(norm(slerp(a, b, t))).toBeCloseTo(expected, 3);
    }
    // Two independent 100-d Gaussians are nearly orthogonal, so the straight line's midpoint is ~1/√2 as long.
    expect(norm(lerp(a, b, 0.5))).toBeLessThan(0.8 * norm(slerp(a, b, 0.5)));
    // Equal norms stay equal all the way, and the angle moves uniformly.
    const bSameNorm = b.map((x) => (x * norm(a)) / norm(b));
    const omega = Math.acos(dot(a, bSameNorm) / (norm(a) * norm(bSameNorm)));
    for (const t of [0.25, 0.5, 0.75]) {
      const p = slerp(a, bSameNorm, t);
      expect(norm(p)).toBeCloseTo(norm(a), 3);
      expect(Math.acos(dot(a, p) / (norm(a) * norm(p)))).toBeCloseTo(t * omega, 4);
    }
  });

  it('slerp falls back to a straight line for parallel vectors', () => {
    const twice = a.map((x) => 2 * x);
    expectClose(
      slerp(a, twice, 0.5),
      a.map((x) => 1.5 * x),
      1e-5,
    );
  });
});

describe('face arithmetic', () => {
  it('is mean(A) − mean(B) + mean(C)', () => {
    const group = (seed: number) => [0, 1, 2].map((i) => randomLatent(seed * 10 + i, zDim));
    const [A, B, C] = [group(1), group(2), group(3)];
    const result = faceArithmetic(A, B, C);
    const expected = meanLatent(A).map((x, i) => x - meanLatent(B)[i]! + meanLatent(C)[i]!);
    expectClose(result, expected, 1e-5);
    // With single faces it is plain a − b + c; with B = C it returns mean(A).
    expectClose(
      faceArithmetic([A[0]!], [B[0]!], [C[0]!]),
      A[0]!.map((x, i) => x - B[0]![i]! + C[0]![i]!),
      1e-5,
    );
    expectClose(faceArithmetic(A, B, B), meanLatent(A), 1e-5);
    expect(() => faceArithmetic([], B, C)).toThrow(/empty/);
    expect(() => faceArithmetic(A, [randomLatent(1, 50)], C)).toThrow(/sizes differ/);
  });
});

describe('explorer state and history', () => {
  const directions: PrincipalDirections = {
    zDim,
    featureSize: 1,
    sampleCount: 2,
    seed: 0,
    totalVariance: 1,
    directions: [0, 1].map((index) => ({
      index,
      vector: withComponent(new Float32Array(zDim), index, 1),
      variance: 1,
      varianceShare: 0.5,
      sigma: 1,
      min: -3,
      max: 3,
      label: `PC${index + 1}`,
    })),
  };

  it('applies ψ to the base face and the slider offsets on top', () => {
    let state = initialExplorerState(5, zDim, 2);
    state = withOffset({ ...state, truncation: 0.5 }, 1, 2);
    const effective = effectiveLatent(state, directions);
    const expected = truncate(state.z, 0.5);
    expected[1]! += 2;
    expectClose(effective, expected, 1e-6);
    expectClose(applyDirections(state.z, [directions.directions[0]!.vector], [0]), state.z, 0);
    // What favorites store regenerates the same face: truncate(z, ψ) = effective.
    const saved = latentForSaving(state, directions);
    expectClose(truncate(saved.z, saved.truncation), effective, 1e-5);
  });

  it('undoes and redoes, drops the redo branch on a new action, and keeps at most `cap` undo steps', () => {
    const history = new History(0, 3);
    expect(history.canUndo).toBe(false);
    expect(history.undo()).toBeUndefined();
    history.push(1);
    history.push(2);
    history.push(3);
    expect(history.current).toBe(3);
    expect(history.undo()).toBe(2);
    expect(history.undo()).toBe(1);
    expect(history.redo()).toBe(2);
    expect(history.canRedo).toBe(true);
    history.push(10);
    expect(history.canRedo).toBe(false);
    expect(history.redo()).toBeUndefined();
    history.push(11);
    history.push(12);
    expect(history.undoDepth).toBe(3);
    expect(history.undo()).toBe(11);
    expect(history.undo()).toBe(10);
    expect(history.undo()).toBe(2);
    expect(history.undo()).toBeUndefined(); // 0 and 1 fell off the cap
    expect(history.current).toBe(2);
    history.replace(7);
    expect(history.current).toBe(7);
    expect(history.redo()).toBe(10);
    history.reset(99);
    expect([history.current, history.canUndo, history.canRedo]).toEqual([99, false, false]);
  });

  it('holds explorer states: an undo restores the exact previous z, ψ and offsets', () => {
    const start = initialExplorerState(1, zDim, 2);
    const history = new History(start);
    history.push(withOffset(start, 0, 1.5));
    history.push({ ...history.current, truncation: 0.7 });
    history.undo();
    expect(history.current.truncation).toBe(1);
    expect(history.current.offsets).toEqual([1.5, 0]);
    history.undo();
    expect(history.current).toBe(start);
  });
});
