/**
 * The explorer's one piece of state — base face, truncation, slider offsets — and how it turns into the z the
 * generator sees. Pushed as-is into `History<ExplorerState>` for undo/redo.
 *
 * Two kinds of sliders add to the face: principal directions (GANSpace, found in the renderer) and named
 * attributes (learned from the dataset's tags, `AttributeDirection.vector`). Both are unit-scaled vectors in z
 * passed alongside the state, in the same order as its offsets.
 */
import { applyDirections, randomLatent, truncate, type Latent } from './latent.ts';
import type { PrincipalDirections } from './directions.ts';

export interface ExplorerState {
  /** The base face (a seed's z, a variation, an interpolation frame, an arithmetic result…). */
  z: Latent;
  /** ψ: 1 = as sampled, 0 = the average face, > 1 = exaggerated. */
  truncation: number;
  /** One slider value per principal direction (same order as `PrincipalDirections.directions`). */
  offsets: readonly number[];
  /** One slider value per named attribute (same order as the attribute vectors passed with the state). */
  attributes: readonly number[];
}

export function initialExplorerState(
  seed: number,
  zDim: number,
  directionCount = 0,
  attributeCount = 0,
): ExplorerState {
  return {
    z: randomLatent(seed, zDim),
    truncation: 1,
    offsets: new Array<number>(directionCount).fill(0),
    attributes: new Array<number>(attributeCount).fill(0),
  };
}

/**
 * The latent the generator renders: ψ·z + Σ offsetₖ·dₖ + Σ attributeⱼ·aⱼ. Truncation scales only the base
 * face, so a slider moves the image by the same amount whatever ψ is (and at ψ = 0 the sliders edit the
 * average face).
 */
export function effectiveLatent(
  state: ExplorerState,
  directions?: PrincipalDirections,
  attributeVectors?: readonly Latent[],
): Latent {
  let latent = truncate(state.z, state.truncation);
  if (directions && state.offsets.some((o) => o !== 0)) {
    latent = applyDirections(
      latent,
      directions.directions.map((d) => d.vector),
      state.offsets,
    );
  }
  if (attributeVectors && state.attributes.some((o) => o !== 0)) {
    latent = applyDirections(latent, attributeVectors, state.attributes);
  }
  return latent;
}

/**
 * The same face as an untruncated z plus ψ, for saving: favorites store (z, truncation) and regenerate with
 * truncate(z, ψ). Returns z such that ψ·z equals the effective latent (for ψ = 0 the sliders are folded
 * into z and ψ becomes 1).
 */
export function latentForSaving(
  state: ExplorerState,
  directions?: PrincipalDirections,
  attributeVectors?: readonly Latent[],
): { z: Latent; truncation: number } {
  const effective = effectiveLatent(state, directions, attributeVectors);
  if (state.truncation === 0) return { z: effective, truncation: 1 };
  return { z: truncate(effective, 1 / state.truncation), truncation: state.truncation };
}

export function withTruncation(state: ExplorerState, truncation: number): ExplorerState {
  return { ...state, truncation };
}

export function withOffset(state: ExplorerState, index: number, value: number): ExplorerState {
  const offsets = [...state.offsets];
  offsets[index] = value;
  return { ...state, offsets };
}

export function withAttribute(state: ExplorerState, index: number, value: number): ExplorerState {
  const attributes = [...state.attributes];
  attributes[index] = value;
  return { ...state, attributes };
}

/** A new base face, sliders of both kinds back to 0, truncation kept. */
export function withBaseLatent(state: ExplorerState, z: Latent): ExplorerState {
  return { ...state, z, offsets: state.offsets.map(() => 0), attributes: state.attributes.map(() => 0) };
}

/**
 * The same face with the attribute sliders at `offsets` along `to` instead of at `state.attributes` along
 * `from`: the base z moves by (Σ oldⱼ·fromⱼ − Σ newⱼ·toⱼ)/ψ, so the effective latent does not change. Opens
 * a favorite with its saved slider positions (from = none) and carries a face over to attributes learned
 * again. At ψ = 0 the base cannot absorb the difference, so the face continues from ψ = 1 (as when saving).
 */
export function rebaseAttributes(
  state: ExplorerState,
  from: readonly Latent[],
  to: readonly Latent[],
  offsets: readonly number[],
): ExplorerState {
  if (offsets.length !== to.length)
    throw new RangeError(`${offsets.length} offsets for ${to.length} attributes`);
  if (state.attributes.slice(from.length).some((o) => o !== 0)) {
    throw new RangeError(`${state.attributes.length} attribute offsets for ${from.length} attributes`);
  }
  const removed = applyDirections(
    new Float32Array(state.z.length),
    from,
    state.attributes.slice(0, from.length),
  );
  const difference = applyDirections(
    removed,
    to,
    offsets.map((o) => -o),
  );
  const attributes = [...offsets];
  if (state.truncation === 0) return { ...state, z: difference, truncation: 1, attributes };
  const z = Float32Array.from(state.z);
  for (let i = 0; i < z.length; i++) z[i]! += difference[i]! / state.truncation;
  return { ...state, z, attributes };
}
