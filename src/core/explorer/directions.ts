/**
 * GANSpace-style principal directions (Härkönen et al. 2020, §2 "BigGAN"): sample many z, run the generator's
 * first layer, PCA over those activations, then regress z on the PCA coordinates so each activation-space
 * component becomes a z-space direction a slider can move along.
 *
 * Browser-safe: only @tensorflow/tfjs and pure helpers. The big products (N×D activations, D up to 16 384)
 * run on whatever tf backend is active; only k×k summaries are read back.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { Rng } from '../../shared/rng.ts';
import { orthonormalizer, symmetricEigen } from './small-linalg.ts';

/** Maps a [batch, zDim] latent batch to the activations PCA runs on (any shape with batch first). */
export type LatentFeatures = (latents: tf.Tensor2D) => tf.Tensor;

export interface PrincipalDirection {
  /** 0-based rank: 0 explains the most activation variance. */
  index: number;
  /** Unit-length direction in z space (what a slider adds to z, scaled by the slider value). */
  vector: Float32Array;
  /** Variance of the activations along this component (eigenvalue of their covariance). */
  variance: number;
  /** variance / total activation variance, in [0, 1]: the label the UI shows. */
  varianceShare: number;
  /** Std of the sampled z's coordinates along `vector`; the slider spans ±3σ. */
  sigma: number;
  min: number;
  max: number;
  /** e.g. "PC1 · 18.2%". */
  label: string;
  /** The orthonormal activation-space component (only with `keepActivationBasis`). */
  activationVector?: Float32Array;
}

export interface PrincipalDirections {
  zDim: number;
  /** Number of activation values per sample (e.g. 3·3·512). */
  featureSize: number;
  sampleCount: number;
  seed: number;
  /** Sum of all activation variances; the shares are relative to it. */
  totalVariance: number;
  directions: PrincipalDirection[];
}

export interface PrincipalDirectionsProgress {
  phase: 'sampling' | 'iterating' | 'regression';
  done: number;
  total: number;
}

export interface PrincipalDirectionsOptions {
  /** Latents sampled (GANSpace uses thousands); default 2048. */
  samples?: number;
  /** Directions kept (10–20 is what a screen can show); default 16. */
  components?: number;
  /** Seed of the sampled latents: same seed, same directions. Default 0. */
  seed?: number;
  batchSize?: number;
  /** Subspace-iteration steps; each costs two N×D×k products. Default 10. */
  iterations?: number;
  /** Extra subspace columns that make the kept components converge faster. Default 8. */
  oversampling?: number;
  keepActivationBasis?: boolean;
  onProgress?: (progress: PrincipalDirectionsProgress) => void;
  signal?: AbortSignal;
}

export const SLIDER_SIGMAS = 3;

/**
 * Top principal directions of `features` over latents z ~ N(0, I).
 *
 * PCA uses randomized subspace iteration (Halko et al. 2011) on the centered activation matrix, so it never
 * forms the D×D covariance; a Rayleigh–Ritz step at the end makes the activation components exactly
 * orthonormal and sorted by variance. Each z direction is the least-squares map from PCA coordinates back
 * to z (GANSpace's U), normalised to unit length. z directions are *not* orthogonal in general (they are
 * when the features are linear in z, e.g. the bare dense layer).
 */
export async function computePrincipalDirections(
  features: LatentFeatures,
  zDim: number,
  options: PrincipalDirectionsOptions = {},
): Promise<PrincipalDirections> {
  const {
    samples = 2048,
    components = 16,
    seed = 0,
    batchSize = 256,
    iterations = 10,
    oversampling = 8,
    keepActivationBasis = false,
    onProgress,
    signal,
  } = options;
  if (!Number.isInteger(zDim) || zDim < 1)
    throw new RangeError(`zDim must be a positive integer, got ${zDim}`);
  if (!Number.isInteger(samples) || samples < 2)
    throw new RangeError(`samples must be an integer ≥ 2, got ${samples}`);
  if (!Number.isInteger(components) || components < 1)
    throw new RangeError(`components must be ≥ 1, got ${components}`);

  const latents = sampleLatents(seed, samples, zDim);

  const parts: tf.Tensor2D[] = [];
  let yc: tf.Tensor2D | undefined;
  let ycT: tf.Tensor2D | undefined;
  let basis: tf.Tensor2D | undefined;
  try {
    // 1. Activations of every sampled latent, flattened to [N, D].
    for (let start = 0; start < samples; start += batchSize) {
      throwIfAborted(signal);
      const count = Math.min(batchSize, samples - start);
      parts.push(
        tf.tidy(() => {
          const batch = tf.tensor2d(latents.subarray(start * zDim, (start + count) * zDim), [count, zDim]);
          const out = features(batch);
          return out.reshape([count, -1]).toFloat() as tf.Tensor2D;
        }),
      );
      onProgress?.({ phase: 'sampling', done: start + count, total: samples });
      await yieldToEventLoop();
    }
    const featureSize = parts[0]!.shape[1];
    yc = tf.tidy(() => {
      const y = tf.concat(parts, 0) as tf.Tensor2D;
      return y.sub(y.mean(0)) as tf.Tensor2D;
    });
    for (const p of parts) p.dispose();
    parts.length = 0;
    const centered = yc;
    // Ycᵀ is kept as its own copy: a matMul with transposeA on an N×D operand runs ~20× slower on the wasm
    // backend (measured: 1.9 s vs 95 ms for 2048×4608), and the iteration needs Ycᵀ·P ten times.
    ycT = tf.tidy(() => centered.transpose() as tf.Tensor2D);
    const centeredT = ycT;
    const totalVariance = (await readScalar(tf.tidy(() => centered.square().sum()))) / (samples - 1);
    if (!(totalVariance > 0))
      throw new Error('the generator layer gives the same activations for every z: nothing to explore');

    // 2. Subspace iteration for the top components of Ycᵀ·Yc.
    const width = Math.max(1, Math.min(components + oversampling, samples - 1, featureSize));
    const start = new Rng(seed ^ 0x5bd1e995);
    basis = await orthonormalize(tf.tensor2d(start.normalArray(featureSize * width), [featureSize, width]));
    for (let it = 0; it < iterations; it++) {
      throwIfAborted(signal);
      const current: tf.Tensor2D = basis;
      const next = tf.tidy(() => tf.matMul(centeredT, tf.matMul(centered, current)) as tf.Tensor2D);
      current.dispose();
      basis = await orthonormalize(next);
      onProgress?.({ phase: 'iterating', done: it + 1, total: iterations });
      await yieldToEventLoop();
    }

    // 3. Rayleigh–Ritz: rotate the basis onto the eigenvectors of the projected covariance.
    const finalBasis: tf.Tensor2D = basis;
    const projected = tf.tidy(() => tf.matMul(centered, finalBasis)); // N×m
    const m = projected.shape[1]!;
    const gram = Float64Array.from(
      await readAndDispose(tf.tidy(() => tf.matMul(projected.transpose(), projected))),
    );
    const { values, vectors } = symmetricEigen(gram, m);
    let kept = 0;
    while (kept < Math.min(components, m) && values[kept]! > 1e-7 * values[0]!) kept++;
    const rotation = tf.tensor2d(Float32Array.from(keepColumns(vectors, m, kept)), [m, kept]);
    const coordinates = tf.tidy(() => tf.matMul(projected, rotation)); // N×k PCA coordinates
    const activationBasis = keepActivationBasis
      ? await readAndDispose(tf.tidy(() => tf.matMul(finalBasis, rotation).transpose()))
      : undefined;
    projected.dispose();
    rotation.dispose();

    // 4. Least squares z ≈ U·x: coordinates are orthogonal columns, so each direction is Zcᵀxₖ / xₖᵀxₖ.
    onProgress?.({ phase: 'regression', done: 0, total: 1 });
    const zc = tf.tidy(() => {
      const zs = tf.tensor2d(latents, [samples, zDim]);
      return zs.sub(zs.mean(0));
    });
    const raw = await readAndDispose(tf.tidy(() => tf.matMul(coordinates.transpose(), zc))); // k×zDim
    coordinates.dispose();
    const directionVectors: Float32Array[] = [];
    for (let k = 0; k < kept; k++) {
      const v = Float64Array.from(raw.subarray(k * zDim, (k + 1) * zDim));
      const length = Math.hypot(...v);
      directionVectors.push(Float32Array.from(v, (x) => x / length));
    }
    // Deterministic sign: the largest z component of each direction is positive (PCA signs are arbitrary).
    const signs = directionVectors.map((v) => {
      let best = 0;
      for (let i = 1; i < v.length; i++) if (Math.abs(v[i]!) > Math.abs(v[best]!)) best = i;
      const sign = v[best]! < 0 ? -1 : 1;
      if (sign < 0) for (let i = 0; i < v.length; i++) v[i] = -v[i]!;
      return sign;
    });
    const flat = new Float32Array(zDim * kept);
    directionVectors.forEach((v, k) => v.forEach((x, i) => (flat[i * kept + k] = x)));
    const sigmas = await readAndDispose(
      tf.tidy(() => tf.moments(tf.matMul(zc, tf.tensor2d(flat, [zDim, kept])), 0).variance.sqrt()),
    );
    zc.dispose();
    onProgress?.({ phase: 'regression', done: 1, total: 1 });

    const directions: PrincipalDirection[] = directionVectors.map((vector, k) => {
      const variance = values[k]! / (samples - 1);
      const sigma = sigmas[k]!;
      const share = variance / totalVariance;
      const direction: PrincipalDirection = {
        index: k,
        vector,
        variance,
        varianceShare: share,
        sigma,
        min: -SLIDER_SIGMAS * sigma,
        max: SLIDER_SIGMAS * sigma,
        label: `PC${k + 1} · ${(share * 100).toFixed(1)}%`,
      };
      if (activationBasis) {
        const a = activationBasis.slice(k * featureSize, (k + 1) * featureSize);
        if (signs[k]! < 0) for (let i = 0; i < a.length; i++) a[i] = -a[i]!;
        direction.activationVector = a;
      }
      return direction;
    });
    return { zDim, featureSize, sampleCount: samples, seed, totalVariance, directions };
  } finally {
    for (const p of parts) p.dispose();
    yc?.dispose();
    ycT?.dispose();
    if (basis && !basis.isDisposed) basis.dispose();
  }
}

/** The latents PCA samples for a seed: `samples` rows of N(0, I), row-major [samples, zDim]. */
export function sampleLatents(seed: number, samples: number, zDim: number): Float32Array {
  return new Rng(seed).normalArray(samples * zDim);
}

/** Columns of `a` made orthonormal (rank-deficient columns dropped); disposes `a`. */
async function orthonormalize(a: tf.Tensor2D): Promise<tf.Tensor2D> {
  const k = a.shape[1];
  const gram = Float64Array.from(await readAndDispose(tf.tidy(() => tf.matMul(a.transpose(), a))));
  const { transform, rank } = orthonormalizer(gram, k);
  if (rank === 0) {
    a.dispose();
    throw new Error('the generator layer activations have no variance to analyse');
  }
  const out = tf.tidy(
    () => tf.matMul(a, tf.tensor2d(Float32Array.from(transform), [k, rank])) as tf.Tensor2D,
  );
  a.dispose();
  return out;
}

function keepColumns(matrix: Float64Array, n: number, kept: number): Float64Array {
  const out = new Float64Array(n * kept);
  for (let i = 0; i < n; i++) for (let j = 0; j < kept; j++) out[i * kept + j] = matrix[i * n + j]!;
  return out;
}

async function readAndDispose(t: tf.Tensor): Promise<Float32Array> {
  try {
    return (await t.data()) as Float32Array;
  } finally {
    t.dispose();
  }
}

async function readScalar(t: tf.Tensor): Promise<number> {
  return (await readAndDispose(t))[0]!;
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason ?? new Error('cancelled');
}

/** Lets the UI (or a cancel click) run between heavy steps, in the browser and in Node. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** The slider values, one per direction, all at 0 (the unedited face). */
export function zeroOffsets(directions: PrincipalDirections): number[] {
  return directions.directions.map(() => 0);
}

const directionJson = z.object({
  index: z.number().int().min(0),
  vector: z.array(z.number()),
  variance: z.number(),
  varianceShare: z.number(),
  sigma: z.number(),
  min: z.number(),
  max: z.number(),
  label: z.string(),
});

/** Plain-JSON form, for caching directions per checkpoint or sending them over IPC. */
export const principalDirectionsJsonSchema = z.object({
  zDim: z.number().int().min(1),
  featureSize: z.number().int().min(1),
  sampleCount: z.number().int().min(2),
  seed: z.number(),
  totalVariance: z.number(),
  directions: z.array(directionJson),
});
export type PrincipalDirectionsJson = z.infer<typeof principalDirectionsJsonSchema>;

export function principalDirectionsToJson(pd: PrincipalDirections): PrincipalDirectionsJson {
  return {
    ...pd,
    directions: pd.directions.map((d) => ({
      index: d.index,
      vector: Array.from(d.vector),
      variance: d.variance,
      varianceShare: d.varianceShare,
      sigma: d.sigma,
      min: d.min,
      max: d.max,
      label: d.label,
    })),
  };
}

export function principalDirectionsFromJson(value: unknown): PrincipalDirections {
  const parsed = principalDirectionsJsonSchema.parse(value);
  for (const d of parsed.directions) {
    if (d.vector.length !== parsed.zDim)
      throw new Error(`direction ${d.index} has ${d.vector.length} values, expected ${parsed.zDim}`);
  }
  return {
    ...parsed,
    directions: parsed.directions.map((d) => ({ ...d, vector: Float32Array.from(d.vector) })),
  };
}

/** Principal directions of a generator's first layer (what the explorer's sliders use). */
export function directionsForGenerator(
  generator: { zDim: number; project: LatentFeatures },
  options: PrincipalDirectionsOptions = {},
): Promise<PrincipalDirections> {
  return computePrincipalDirections(generator.project, generator.zDim, options);
}
