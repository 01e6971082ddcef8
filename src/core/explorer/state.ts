/**
 * The explorer's one piece of state — base face, truncation, slider offsets — and how it turns into the z the
 * generator sees. Pushed as-is into `History<ExplorerState>` for undo/redo.
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
}

export function initialExplorerState(seed: number, zDim: number, directionCount = 0): ExplorerState {
  return { z: randomLatent(seed, zDim), truncation: 1, offsets: new Array<number>(directionCount).fill(0) };
}

/**
 * The latent the generator renders: ψ·z + Σ offsetₖ·dₖ. Truncation scales only the base face, so a slider
 * moves the image by the same amount whatever ψ is (and at ψ = 0 the sliders edit the average face).
 */
export function effectiveLatent(state: ExplorerState, directions?: PrincipalDirections): Latent {
  const base = truncate(state.z, state.truncation);
  if (!directions || state.offsets.every((o) => o === 0)) return base;
  return applyDirections(
    base,
    directions.directions.map((d) => d.vector),
    state.offsets,
  );
}

/**
 * The same face as an untruncated z plus ψ, for saving: favorites store (z, truncation) and regenerate with
 * truncate(z, ψ). Returns z such that ψ·z equals the effective latent (for ψ = 0 the sliders are folded
 * into z and ψ becomes 1).
 */
export function latentForSaving(
  state: ExplorerState,
  directions?: PrincipalDirections,
): { z: Latent; truncation: number } {
  const effective = effectiveLatent(state, directions);
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

/** A new base face, sliders back to 0, truncation kept. */
export function withBaseLatent(state: ExplorerState, z: Latent): ExplorerState {
  return { ...state, z, offsets: state.offsets.map(() => 0) };
}
