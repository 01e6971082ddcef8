/**
 * Pure latent-vector math for the explorer: every function takes and returns Float32Array z vectors and never
 * mutates its inputs, so a Svelte screen can keep them in state and in the undo history as-is.
 */
import { Rng, latentForSeed } from '../../shared/rng.ts';

export type Latent = Float32Array;
export type InterpolationMode = 'linear' | 'spherical';

/** A new random face: the same seed always gives the same z (see `latentForSeed`). */
export function randomLatent(seed: number, zDim: number): Latent {
  return latentForSeed(seed, zDim);
}

/**
 * Truncation trick: scale z toward the mean of the prior (zero for N(0, I)). ψ = 1 is the face itself,
 * ψ = 0 the "average" face, ψ > 1 exaggerates.
 */
export function truncate(z: Latent, psi: number, mean?: Latent): Latent {
  if (!Number.isFinite(psi) || psi < 0) throw new RangeError(`truncation must be a number ≥ 0, got ${psi}`);
  if (mean) assertSameLength(z, mean);
  const out = new Float32Array(z.length);
  for (let i = 0; i < z.length; i++) {
    const m = mean ? mean[i]! : 0;
    out[i] = m + psi * (z[i]! - m);
  }
  return out;
}

/** Raw z slider: a copy of z with one component replaced. */
export function withComponent(z: Latent, index: number, value: number): Latent {
  if (!Number.isInteger(index) || index < 0 || index >= z.length) {
    throw new RangeError(`component index ${index} is outside 0..${z.length - 1}`);
  }
  const out = Float32Array.from(z);
  out[index] = value;
  return out;
}

/** z + Σ offsets[k]·directions[k]: slider positions along (principal) directions applied to a base face. */
export function applyDirections(
  z: Latent,
  directions: readonly Latent[],
  offsets: ArrayLike<number>,
): Latent {
  if (offsets.length > directions.length) {
    throw new RangeError(`${offsets.length} offsets for ${directions.length} directions`);
  }
  const out = Float32Array.from(z);
  for (let k = 0; k < offsets.length; k++) {
    const amount = offsets[k]!;
    if (amount === 0) continue;
    const direction = directions[k]!;
    assertSameLength(z, direction);
    for (let i = 0; i < out.length; i++) out[i]! += amount * direction[i]!;
  }
  return out;
}

/**
 * Nearby faces for the variations grid: z + amount·ε with ε ~ N(0, I) drawn from `seed`, so the same
 * (z, seed, amount) always shows the same grid. amount 0 repeats the face; 1 is as far as a fresh random face.
 */
export function variations(z: Latent, options: { seed: number; amount: number; count?: number }): Latent[] {
  const { seed, amount, count = 16 } = options;
  if (!Number.isFinite(amount) || amount < 0) throw new RangeError(`amount must be ≥ 0, got ${amount}`);
  if (!Number.isInteger(count) || count < 1)
    throw new RangeError(`count must be a positive integer, got ${count}`);
  const rng = new Rng(seed);
  const out: Latent[] = [];
  for (let n = 0; n < count; n++) {
    const v = new Float32Array(z.length);
    for (let i = 0; i < z.length; i++) v[i] = z[i]! + amount * rng.normal();
    out.push(v);
  }
  return out;
}

export function lerp(a: Latent, b: Latent, t: number): Latent {
  assertSameLength(a, b);
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! + t * (b[i]! - a[i]!);
  return out;
}

/**
 * Spherical interpolation (White 2016, "Sampling Generative Networks"): the direction moves along the great
 * circle between a and b while the norm goes linearly from |a| to |b|. A straight line between two Gaussian
 * samples passes near the origin, where a GAN's faces are washed-out averages; this keeps the path on the
 * shell where the prior's mass lives. Falls back to lerp when a and b are (anti)parallel or zero.
 */
export function slerp(a: Latent, b: Latent, t: number): Latent {
  assertSameLength(a, b);
  const normA = norm(a);
  const normB = norm(b);
  if (normA === 0 || normB === 0) return lerp(a, b, t);
  let cos = dot(a, b) / (normA * normB);
  cos = Math.min(1, Math.max(-1, cos));
  const omega = Math.acos(cos);
  const sinOmega = Math.sin(omega);
  if (sinOmega < 1e-6) return lerp(a, b, t);
  const wa = Math.sin((1 - t) * omega) / sinOmega / normA;
  const wb = Math.sin(t * omega) / sinOmega / normB;
  const targetNorm = (1 - t) * normA + t * normB;
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = targetNorm * (wa * a[i]! + wb * b[i]!);
  return out;
}

/** `frames` latents from a to b inclusive (frames ≥ 2): frame 0 is a, the last frame is b. */
export function interpolate(
  a: Latent,
  b: Latent,
  frames: number,
  mode: InterpolationMode = 'spherical',
): Latent[] {
  if (!Number.isInteger(frames) || frames < 2)
    throw new RangeError(`frames must be an integer ≥ 2, got ${frames}`);
  const step = mode === 'spherical' ? slerp : lerp;
  const out: Latent[] = [];
  for (let k = 0; k < frames; k++) {
    if (k === 0) out.push(Float32Array.from(a));
    else if (k === frames - 1) out.push(Float32Array.from(b));
    else out.push(step(a, b, k / (frames - 1)));
  }
  return out;
}

export function meanLatent(zs: readonly Latent[]): Latent {
  if (zs.length === 0) throw new RangeError('cannot average an empty group of faces');
  const out = new Float32Array(zs[0]!.length);
  for (const z of zs) {
    assertSameLength(out, z);
    for (let i = 0; i < out.length; i++) out[i]! += z[i]!;
  }
  for (let i = 0; i < out.length; i++) out[i]! /= zs.length;
  return out;
}

/**
 * Face arithmetic (Radford et al. 2016, §6.3): mean(A) − mean(B) + mean(C), e.g. "smiling woman − neutral
 * woman + neutral man". Averaging a few faces per concept is what makes the result stable.
 */
export function faceArithmetic(a: readonly Latent[], b: readonly Latent[], c: readonly Latent[]): Latent {
  const ma = meanLatent(a);
  const mb = meanLatent(b);
  const mc = meanLatent(c);
  assertSameLength(ma, mb);
  assertSameLength(ma, mc);
  const out = new Float32Array(ma.length);
  for (let i = 0; i < out.length; i++) out[i] = ma[i]! - mb[i]! + mc[i]!;
  return out;
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

export function norm(a: ArrayLike<number>): number {
  return Math.sqrt(dot(a, a));
}

function assertSameLength(a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length) throw new RangeError(`latent sizes differ: ${a.length} vs ${b.length}`);
}
