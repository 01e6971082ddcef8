import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  computePrincipalDirections,
  principalDirectionsFromJson,
  principalDirectionsToJson,
  sampleLatents,
  type PrincipalDirections,
} from '../../../src/core/explorer/directions.ts';
import {
  explorerGeneratorFromParams,
  explorerGeneratorFromWeights,
  generateImages,
  type ExplorerGenerator,
} from '../../../src/core/explorer/generator.ts';
import { dot, norm, randomLatent } from '../../../src/core/explorer/latent.ts';
import { symmetricEigen } from '../../../src/core/explorer/small-linalg.ts';
import { disposeGan, readParamRecord, type Gan } from '../../../src/core/gan/models.ts';
import type { GanConfig } from '../../../src/core/gan/config.ts';
import { Rng } from '../../../src/shared/rng.ts';
import { selectBackend } from '../../../src/core/gan/backend.ts';
import { trainedTinyGan } from './tiny-gan.ts';

/*
 * What is asserted, on the gan engineer's real `tiny` generator after 20 training steps on real faces:
 * - activation space: the components are orthonormal, sorted by variance, and match an exact float64 PCA of the
 *   same activations (eigenvalues within 1 %, eigenvectors |cos| > 0.98);
 * - z space: each direction is a unit vector equal to an independent float64 least-squares regression of z on
 *   that component's PCA coordinate, σ is the std of the sampled z along it, and moving z along direction k moves
 *   the activations along component k positively and at least 3× more than along any other kept component.
 *   z directions are NOT asserted orthogonal: after BN + ReLU they need not be (they are nearly so here).
 */
const samples = 1024;
const components = 12;
const seed = 5;

let config: GanConfig;
let gan: Gan;
let generator: ExplorerGenerator;
let pd: PrincipalDirections;
let activations: Float32Array; // [samples, D], the same latents the PCA saw
let tensorsBefore: number;

beforeAll(async () => {
  await selectBackend('wasm');
  ({ config, gan } = await trainedTinyGan(20));
  generator = explorerGeneratorFromParams(config, gan.g, gan.gStats);
  tensorsBefore = tf.memory().numTensors;
  pd = await computePrincipalDirections(generator.project, config.zDim, {
    samples,
    components,
    seed,
    iterations: 12,
    keepActivationBasis: true,
  });
  const latents = sampleLatents(seed, samples, config.zDim);
  activations = tf.tidy(() =>
    generator
      .project(tf.tensor2d(latents, [samples, config.zDim]))
      .reshape([samples, -1])
      .dataSync(),
  ) as Float32Array;
});

afterAll(() => disposeGan(gan));

/** Exact covariance of the activations in float64 and its full eigendecomposition (D = 2·2·64 = 256). */
function exactPca(): { values: Float64Array; vectors: Float64Array; trace: number; D: number } {
  const D = activations.length / samples;
  const mean = new Float64Array(D);
  for (let n = 0; n < samples; n++) for (let d = 0; d < D; d++) mean[d]! += activations[n * D + d]! / samples;
  const cov = new Float64Array(D * D);
  const row = new Float64Array(D);
  for (let n = 0; n < samples; n++) {
    for (let d = 0; d < D; d++) row[d] = activations[n * D + d]! - mean[d]!;
    for (let i = 0; i < D; i++) {
      if (row[i] === 0) continue;
      for (let j = 0; j < D; j++) cov[i * D + j]! += row[i]! * row[j]!;
    }
  }
  for (let i = 0; i < cov.length; i++) cov[i]! /= samples - 1;
  let trace = 0;
  for (let i = 0; i < D; i++) trace += cov[i * D + i]!;
  return { ...symmetricEigen(cov, D), trace, D };
}

describe('GANSpace principal directions on the real tiny generator', () => {
  it('finds the requested number of directions, sorted by explained variance, with ±3σ ranges', () => {
    expect(pd.featureSize).toBe(config.baseSize * config.baseSize * config.gChannels[0]!);
    expect(pd.directions).toHaveLength(components);
    for (let k = 1; k < components; k++) {
      expect(pd.directions[k]!.variance).toBeLessThanOrEqual(pd.directions[k - 1]!.variance);
    }
    let shares = 0;
    for (const d of pd.directions) {
      expect(d.varianceShare).toBeCloseTo(d.variance / pd.totalVariance, 10);
      expect(d.label).toBe(`PC${d.index + 1} · ${(d.varianceShare * 100).toFixed(1)}%`);
      expect(d.min).toBeCloseTo(-3 * d.sigma, 10);
      expect(d.max).toBeCloseTo(3 * d.sigma, 10);
      shares += d.varianceShare;
    }
    expect(shares).toBeGreaterThan(0);
    expect(shares).toBeLessThan(1);
  });

  it('activation-space components are orthonormal and match an exact float64 PCA', () => {
    for (const a of pd.directions) {
      for (const b of pd.directions) {
        expect(Math.abs(dot(a.activationVector!, b.activationVector!) - (a === b ? 1 : 0))).toBeLessThan(
          1e-4,
        );
      }
    }
    const exact = exactPca();
    expect(Math.abs(pd.totalVariance - exact.trace) / exact.trace).toBeLessThan(1e-4);
    pd.directions.forEach((d, k) => {
      expect(Math.abs(d.variance - exact.values[k]!) / exact.values[k]!).toBeLessThan(0.01);
      let cos = 0;
      for (let i = 0; i < exact.D; i++) cos += d.activationVector![i]! * exact.vectors[i * exact.D + k]!;
      // Eigenvectors are defined up to sign; close eigenvalues converge slowest, hence 0.98 not 1.
      expect(Math.abs(cos)).toBeGreaterThan(0.98);
    });
  });

  it('z directions are unit vectors given by least squares from PCA coordinates back to z', () => {
    const zDim = config.zDim;
    const latents = sampleLatents(seed, samples, zDim);
    const D = pd.featureSize;
    const zMean = new Float64Array(zDim);
    for (let n = 0; n < samples; n++)
      for (let i = 0; i < zDim; i++) zMean[i]! += latents[n * zDim + i]! / samples;
    for (const d of pd.directions) {
      expect(norm(d.vector)).toBeCloseTo(1, 5);
      // Independent float64 regression: u ∝ Σₙ xₙ·(zₙ − z̄), x = (activations − mean)·v (the mean term drops out).
      const u = new Float64Array(zDim);
      const coordinates = new Float64Array(samples);
      for (let n = 0; n < samples; n++)
        coordinates[n] = dot(activations.subarray(n * D, (n + 1) * D), d.activationVector!);
      const xMean = coordinates.reduce((a, b) => a + b, 0) / samples;
      for (let n = 0; n < samples; n++) {
        for (let i = 0; i < zDim; i++)
          u[i]! += (coordinates[n]! - xMean) * (latents[n * zDim + i]! - zMean[i]!);
      }
      expect(dot(u, d.vector) / norm(u)).toBeGreaterThan(0.999);
      // σ is the std of the sampled latents' coordinates along the direction.
      const projections = Array.from({ length: samples }, (_, n) => {
        let s = 0;
        for (let i = 0; i < zDim; i++) s += (latents[n * zDim + i]! - zMean[i]!) * d.vector[i]!;
        return s;
      });
      const variance = projections.reduce((a, p) => a + p * p, 0) / samples;
      expect(d.sigma).toBeCloseTo(Math.sqrt(variance), 3);
    }
  });

  it('moving z along direction k changes the activations mostly along component k', () => {
    // What a slider must do: its own PCA coordinate grows, the other kept coordinates barely move.
    const count = 64;
    const base = new Rng(99).normalArray(count * config.zDim);
    const basis = tf.tensor2d(
      pd.directions.flatMap((d) => Array.from(d.activationVector!)),
      [components, pd.featureSize],
    );
    for (const d of pd.directions) {
      const delta = tf.tidy(() => {
        const z0 = tf.tensor2d(base, [count, config.zDim]);
        const z1 = z0.add(tf.tensor1d(d.vector).mul(2 * d.sigma)) as tf.Tensor2D;
        const diff = generator
          .project(z1)
          .reshape([count, -1])
          .sub(generator.project(z0).reshape([count, -1]));
        return tf.matMul(diff, basis, false, true).mean(0).dataSync();
      });
      const own = delta[d.index]!;
      expect(own).toBeGreaterThan(0);
      delta.forEach((other, j) => {
        if (j !== d.index) expect(Math.abs(other)).toBeLessThan(own / 3);
      });
    }
    basis.dispose();
  });

  it('is deterministic for a seed, survives a JSON round trip and leaks no tensors', async () => {
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    const again = await computePrincipalDirections(generator.project, config.zDim, {
      samples,
      components,
      seed,
      iterations: 12,
    });
    again.directions.forEach((d, k) =>
      expect(Array.from(d.vector)).toEqual(Array.from(pd.directions[k]!.vector)),
    );
    const other = await computePrincipalDirections(generator.project, config.zDim, {
      samples: 256,
      components: 4,
      seed: 6,
    });
    expect(other.directions).toHaveLength(4);
    expect(tf.memory().numTensors).toBe(tensorsBefore);

    const restored = principalDirectionsFromJson(JSON.parse(JSON.stringify(principalDirectionsToJson(pd))));
    expect(restored.directions[2]!.vector).toBeInstanceOf(Float32Array);
    expect(Array.from(restored.directions[2]!.vector)).toEqual(Array.from(pd.directions[2]!.vector));
    expect(() => principalDirectionsFromJson({ ...principalDirectionsToJson(pd), zDim: 7 })).toThrow(
      /expected 7/,
    );
  });

  it('stops when cancelled', async () => {
    const abort = new AbortController();
    abort.abort(new Error('user cancelled'));
    await expect(
      computePrincipalDirections(generator.project, config.zDim, { samples: 256, signal: abort.signal }),
    ).rejects.toThrow('user cancelled');
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });
});

describe('generateImages on the real tiny generator', () => {
  it('renders opaque RGBA faces, pixel-identical for the same z, different for another z', async () => {
    const zs = [randomLatent(1, config.zDim), randomLatent(2, config.zDim), randomLatent(1, config.zDim)];
    const first = await generateImages(generator, zs, { batchSize: 2 });
    const second = await generateImages(generator, zs);
    expect(first).toHaveLength(3);
    for (const image of first) {
      expect([image.width, image.height, image.data.length]).toEqual([16, 16, 16 * 16 * 4]);
      for (let i = 3; i < image.data.length; i += 4) expect(image.data[i]).toBe(255);
    }
    expect(Buffer.from(first[0]!.data).equals(Buffer.from(second[0]!.data))).toBe(true);
    expect(Buffer.from(first[0]!.data).equals(Buffer.from(first[2]!.data))).toBe(true);
    expect(Buffer.from(first[0]!.data).equals(Buffer.from(first[1]!.data))).toBe(false);
    // Bytes are round((x + 1)·127.5) of the generator's [-1, 1] output, channel by channel.
    const direct = tf.tidy(() => generator.forward(tf.tensor2d(zs[1]!, [1, config.zDim])).dataSync());
    for (let p = 0; p < 256; p++) {
      for (let c = 0; c < 3; c++)
        expect(first[1]!.data[p * 4 + c]).toBe(Math.round((direct[p * 3 + c]! + 1) * 127.5));
    }
    expect(new Set(first[1]!.data).size).toBeGreaterThan(10);
    await expect(generateImages(generator, [randomLatent(1, 8)])).rejects.toThrow(/expects 32/);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it('a generator rebuilt from plain weights (what the renderer gets over IPC) draws the same pixels', async () => {
    const weights = { ...(await readParamRecord(gan.g)), ...(await readParamRecord(gan.gStats)) };
    const rebuilt = explorerGeneratorFromWeights(config, weights);
    const zs = [randomLatent(3, config.zDim), randomLatent(4, config.zDim)];
    const [a, b] = [await generateImages(generator, zs), await generateImages(rebuilt, zs)];
    a.forEach((image, i) => expect(Buffer.from(image.data).equals(Buffer.from(b[i]!.data))).toBe(true));
    rebuilt.dispose();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });
});
