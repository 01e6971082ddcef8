import { describe, expect, it } from 'vitest';
import { expectClose } from '../../helpers/expect-close.ts';
import { History } from '../../../src/core/explorer/history.ts';
import { dot, randomLatent, truncate, type Latent } from '../../../src/core/explorer/latent.ts';
import {
  effectiveLatent,
  initialExplorerState,
  latentForSaving,
  rebaseAttributes,
  withAttribute,
  withBaseLatent,
  withOffset,
} from '../../../src/core/explorer/state.ts';
import type { PrincipalDirections } from '../../../src/core/explorer/directions.ts';

const zDim = 32;

/** A random unit vector, as the attributes service sends them (not axis-aligned, so sums really mix). */
function unitVector(seed: number): Latent {
  const v = randomLatent(seed, zDim);
  const length = Math.sqrt(dot(v, v));
  return v.map((x) => x / length);
}

const directions: PrincipalDirections = {
  zDim,
  featureSize: 1,
  sampleCount: 2,
  seed: 0,
  totalVariance: 1,
  directions: [0, 1].map((index) => ({
    index,
    vector: unitVector(100 + index),
    variance: 1,
    varianceShare: 0.5,
    sigma: 1,
    min: -3,
    max: 3,
    label: `PC${index + 1}`,
  })),
};
const attributeVectors = [unitVector(7), unitVector(8), unitVector(9)];

/** ψ·z + Σ pc offsets + Σ attribute offsets, written out component by component. */
function expectedLatent(
  z: Latent,
  psi: number,
  offsets: readonly number[],
  attributes: readonly number[],
): Float32Array {
  const out = new Float32Array(zDim);
  for (let i = 0; i < zDim; i++) {
    let v = psi * z[i]!;
    offsets.forEach((o, k) => (v += o * directions.directions[k]!.vector[i]!));
    attributes.forEach((o, k) => (v += o * attributeVectors[k]![i]!));
    out[i] = v;
  }
  return out;
}

describe('explorer state with named attribute sliders', () => {
  it('renders ψ·z + Σ principal offsets + Σ attribute offsets·vector', () => {
    let state = { ...initialExplorerState(3, zDim, 2, 3), truncation: 0.7 };
    state = withOffset(state, 0, -1.5);
    state = withAttribute(state, 0, 2);
    state = withAttribute(state, 2, -0.75);
    expect(state.attributes).toEqual([2, 0, -0.75]);
    const effective = effectiveLatent(state, directions, attributeVectors);
    expectClose(effective, expectedLatent(state.z, 0.7, [-1.5, 0], [2, 0, -0.75]), 1e-6);

    // One attribute step of 1 moves the latent by exactly one unit along that attribute's vector.
    const moved = effectiveLatent(withAttribute(state, 1, 1), directions, attributeVectors);
    const delta = moved.map((v, i) => v - effective[i]!);
    expectClose(delta, attributeVectors[1]!, 1e-6);
    // Without the vectors the attribute offsets are not applied (the list is still loading).
    expectClose(effectiveLatent(state, directions), expectedLatent(state.z, 0.7, [-1.5, 0], [0, 0, 0]), 1e-6);
  });

  it('saves a face with attributes as a (z, ψ) that regenerates it', () => {
    for (const psi of [0.6, 1, 0]) {
      const state = withAttribute(
        withOffset({ ...initialExplorerState(4, zDim, 2, 3), truncation: psi }, 1, 1),
        1,
        -2.5,
      );
      const effective = effectiveLatent(state, directions, attributeVectors);
      const saved = latentForSaving(state, directions, attributeVectors);
      expectClose(truncate(saved.z, saved.truncation), effective);
      expect(saved.truncation).toBe(psi === 0 ? 1 : psi);
    }
  });

  it('reopens a saved face with its sliders where they were and the identical latent', () => {
    const state = withAttribute(
      withAttribute({ ...initialExplorerState(5, zDim, 2, 3), truncation: 0.8 }, 0, 1.25),
      2,
      -2,
    );
    const effective = effectiveLatent(state, directions, attributeVectors);
    const saved = latentForSaving(state, directions, attributeVectors);

    // Opening: the saved z with every slider at 0, then the attribute positions put back.
    const opened = { z: saved.z, truncation: saved.truncation, offsets: [0, 0], attributes: [0, 0, 0] };
    const restored = rebaseAttributes(opened, [], attributeVectors, state.attributes);
    expect(restored.attributes).toEqual([1.25, 0, -2]);
    expect(restored.truncation).toBe(0.8);
    expectClose(effectiveLatent(restored, directions, attributeVectors), effective);
    // Its base is the base the face had when saved: moving a slider back to 0 gives the unedited face.
    expectClose(restored.z, state.z);
    expectClose(
      effectiveLatent(withAttribute(withAttribute(restored, 0, 0), 2, 0), directions, attributeVectors),
      truncate(state.z, 0.8),
    );
  });

  it('carries a face over to attributes learned again: same latent, sliders kept by position', () => {
    const state = withAttribute(initialExplorerState(6, zDim, 0, 3), 1, 1.5);
    const relearned = [unitVector(20), unitVector(21)];
    const rebased = rebaseAttributes(state, attributeVectors, relearned, [1.5, 0]);
    expectClose(
      effectiveLatent(rebased, undefined, relearned),
      effectiveLatent(state, undefined, attributeVectors),
    );
    expect(rebased.attributes).toEqual([1.5, 0]);
    expect(() => rebaseAttributes(state, attributeVectors, relearned, [1])).toThrow(/1 offsets for 2/);
    // Offsets whose vectors are not given cannot be taken out of the face.
    expect(() => rebaseAttributes(state, [], relearned, [0, 0])).toThrow(/3 attribute offsets for 0/);

    // At ψ = 0 the base cannot absorb the change: the face continues from ψ = 1, still identical.
    const average = withAttribute({ ...initialExplorerState(6, zDim, 0, 3), truncation: 0 }, 0, 2);
    const moved = rebaseAttributes(average, attributeVectors, relearned, [0, -1]);
    expect(moved.truncation).toBe(1);
    expectClose(
      effectiveLatent(moved, undefined, relearned),
      effectiveLatent(average, undefined, attributeVectors),
    );
  });

  it('a new base face resets both kinds of sliders; undo brings attribute edits back exactly', () => {
    const start = initialExplorerState(1, zDim, 2, 3);
    const history = new History(start);
    history.push(withAttribute(withOffset(start, 0, 1), 2, -1));
    const next = history.push(withBaseLatent(history.current, randomLatent(2, zDim)));
    expect(next.offsets).toEqual([0, 0]);
    expect(next.attributes).toEqual([0, 0, 0]);
    history.undo();
    expect(history.current.attributes).toEqual([0, 0, -1]);
    expectClose(
      effectiveLatent(history.current, directions, attributeVectors),
      expectedLatent(start.z, 1, [1, 0], [0, 0, -1]),
      1e-6,
    );
    history.undo();
    expect(history.current).toBe(start);
    expect(history.redo()?.attributes).toEqual([0, 0, -1]);
  });

  it('re-expresses every undo and redo step in relearned sliders, so undo shows the same faces', () => {
    const start = initialExplorerState(2, zDim, 0, 3);
    const history = new History(start);
    history.push(withAttribute(start, 0, 1));
    history.push(withAttribute(history.current, 2, -2));
    history.undo(); // one step on the redo branch
    let vectorsNow = attributeVectors;
    const latents = () => {
      const out: Float32Array[] = [];
      while (history.undo());
      out.push(effectiveLatent(history.current, undefined, vectorsNow));
      while (history.redo()) out.push(effectiveLatent(history.current, undefined, vectorsNow));
      return out;
    };
    const before = latents();
    history.undo();
    const relearned = [unitVector(30), unitVector(31), unitVector(32)];
    history.map((state) => rebaseAttributes(state, attributeVectors, relearned, state.attributes));
    vectorsNow = relearned;
    const after = latents();
    expect(after.length).toBe(3);
    after.forEach((latent, i) => expectClose(latent, before[i]!));
    expect(history.current.attributes).toEqual([1, 0, -2]);
  });
});
