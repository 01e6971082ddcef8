/**
 * The recipe's ops, each against a reference: resize-convolution against the literal resize + 3×3
 * convolution (on the cpu backend), spectral norm against a float64 power iteration, minibatch stddev
 * and DiffAugment against plain loops, the custom DiffAugment gradient against its adjoint identity,
 * and the weight average's re-estimated BN statistics against one big batch's moments.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../../src/core/gan/backend.ts';
import { resolveGanConfig, type AugmentKind } from '../../../../src/core/gan/config.ts';
import { createGan, disposeGan, generatorForward } from '../../../../src/core/gan/models.ts';
import {
  augmentDraws,
  diffAugment,
  diffAugmentComposed,
  DRAWS_PER_IMAGE,
} from '../../../../src/core/gan/recipe/diff-augment.ts';
import { emaDecayAt, reestimateEmaStats, updateEma } from '../../../../src/core/gan/recipe/ema.ts';
import { minibatchStdDev } from '../../../../src/core/gan/recipe/minibatch-std.ts';
import {
  nearestUpsample2x,
  resizeConv2x,
  resizeConv2xReference,
} from '../../../../src/core/gan/recipe/resize-conv.ts';
import {
  powerIteration,
  spectralNorm,
  spectrallyNormalized,
} from '../../../../src/core/gan/recipe/spectral-norm.ts';
import { Rng } from '../../../../src/shared/rng.ts';
import { ganGradientsOn } from '../../../helpers/gan-gradients.ts';

beforeAll(async () => {
  await selectBackend('wasm');
});

function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

function randomArray(length: number, seed: number): Float32Array {
  return new Rng(seed).normalArray(length);
}

/** Runs `f` on the named backend and returns its outputs as arrays (then switches back to wasm). */
async function on(backend: 'cpu' | 'wasm', f: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const outputs = f();
  const values = await Promise.all(outputs.map((t) => t.data() as Promise<Float32Array>));
  tf.dispose(outputs);
  await tf.setBackend('wasm');
  return values;
}

describe('resize-convolution', () => {
  it('equals nearest ×2 then a 3×3 convolution, forward and both gradients (wasm vs the literal op on cpu)', async () => {
    const xData = randomArray(2 * 5 * 6 * 4, 1);
    const kData = randomArray(3 * 3 * 7 * 4, 2);
    const dyData = randomArray(2 * 10 * 12 * 7, 3);
    const run = (op: typeof resizeConv2x) => () => {
      const x = tf.tensor4d(xData, [2, 5, 6, 4]);
      const k = tf.tensor4d(kData, [3, 3, 7, 4]);
      const dy = tf.tensor4d(dyData, [2, 10, 12, 7]);
      const y = op(x, k);
      const [dx, dk] = tf.grads((a, b) =>
        op(a as tf.Tensor4D, b as tf.Tensor4D)
          .mul(dy)
          .sum(),
      )([x, k]);
      return [y, dx!, dk!];
    };
    const fast = await on('wasm', run(resizeConv2x));
    const literal = await on('cpu', run(resizeConv2xReference));
    for (let i = 0; i < 3; i++) expect(relativeError(fast[i]!, literal[i]!)).toBeLessThan(1e-5);
    // The reference's upsampling is tf's own nearest-neighbour resize, value for value.
    const [ours, tfs] = await on('cpu', () => {
      const x = tf.tensor4d(xData, [2, 5, 6, 4]);
      return [nearestUpsample2x(x), tf.image.resizeNearestNeighbor(x, [10, 12])];
    });
    expect(Array.from(ours!)).toEqual(Array.from(tfs!));
  });

  it('shows no checkerboard: a constant input gives a constant interior', async () => {
    const [y] = await on('wasm', () => [
      resizeConv2x(
        tf.ones([1, 6, 6, 2]) as tf.Tensor4D,
        tf.randomNormal([3, 3, 1, 2], 0, 1, 'float32', 4) as tf.Tensor4D,
      ),
    ]);
    // Interior of the 12×12 output (away from the zero padding): one value everywhere.
    const interior: number[] = [];
    for (let r = 1; r < 11; r++) for (let c = 1; c < 11; c++) interior.push(y![r * 12 + c]!);
    expect(Math.max(...interior) - Math.min(...interior)).toBeLessThan(1e-5);
  });
});

describe('spectral normalisation', () => {
  /** Largest singular value of a [rows, cols] matrix by 500 float64 power iterations on WᵀW. */
  function topSingularValue(w: Float32Array, rows: number, cols: number): number {
    let u = Array.from({ length: cols }, (_, i) => 1 + i * 0.01);
    let sigma = 0;
    for (let it = 0; it < 500; it++) {
      const wu = Array.from({ length: rows }, (_, r) => u.reduce((s, ui, c) => s + w[r * cols + c]! * ui, 0));
      const wtwu = Array.from({ length: cols }, (_, c) =>
        wu.reduce((s, x, r) => s + w[r * cols + c]! * x, 0),
      );
      const norm = Math.hypot(...wtwu);
      u = wtwu.map((x) => x / norm);
      sigma = Math.sqrt(norm);
    }
    return sigma;
  }

  it('power iteration converges to the largest singular value; W/σ has σ = 1; dσ/dW = v·uᵀ', async () => {
    const shape = [3, 3, 4, 5];
    const data = randomArray(180, 7);
    const expected = topSingularValue(data, 36, 5);
    const w = tf.tensor4d(data, shape as [number, number, number, number]);
    const u = tf.tensor1d(randomArray(5, 8));
    let vectors = powerIteration(w, u);
    for (let i = 0; i < 60; i++) {
      const next = powerIteration(w, vectors.u);
      tf.dispose([vectors.u, vectors.v]);
      vectors = next;
    }
    const sigma = (await spectralNorm(w, vectors).data())[0]!;
    expect(Math.abs(sigma - expected) / expected).toBeLessThan(1e-4);
    const normalized = spectrallyNormalized(w, vectors);
    const again = powerIteration(normalized, vectors.u);
    expect((await spectralNorm(normalized, again).data())[0]).toBeCloseTo(1, 4);
    const grad = await tf
      .grad((x) => spectralNorm(x, vectors))(w)
      .data();
    // v·uᵀ in plain JS (tfjs-wasm's XNNPACK caches a product's packed right operand by tensor id, so the
    // outer product of these same tensors, reshaped, would reuse the σ product's packing).
    const [v, uu] = [await vectors.v.data(), await vectors.u.data()];
    const outer = Float32Array.from({ length: 180 }, (_, i) => v[Math.floor(i / 5)]! * uu[i % 5]!);
    expect(relativeError(grad, outer)).toBeLessThan(1e-6);
    tf.dispose([w, u, vectors.u, vectors.v, normalized, again.u, again.v]);
  });

  it('a whole D+G gradient step of the full recipe on wasm matches the cpu backend', async () => {
    const config = resolveGanConfig('tiny', {
      batchSize: 8,
      gWidth: 0.5,
      dWidth: 0.5,
      upsample: 'resize',
      loss: 'hinge',
      augment: ['color', 'translation', 'cutout'],
      emaDecay: 0.999,
      spectralNorm: true,
      minibatchStd: true,
    });
    const wasm = await ganGradientsOn('wasm', config, 8);
    const cpu = await ganGradientsOn('cpu', config, 8);
    await tf.setBackend('wasm');
    expect(wasm.lossD).toBeCloseTo(cpu.lossD, 4);
    expect(wasm.lossG).toBeCloseTo(cpu.lossG, 4);
    expect(relativeError(wasm.d, cpu.d)).toBeLessThan(1e-4);
    expect(relativeError(wasm.g, cpu.g)).toBeLessThan(1e-4);
  });
});

describe('minibatch standard deviation', () => {
  it('appends each group’s mean standard deviation as a channel (plain-loop reference)', async () => {
    const [b, h, w, c] = [8, 2, 3, 2];
    const data = randomArray(b * h * w * c, 9);
    const y = minibatchStdDev(tf.tensor4d(data, [b, h, w, c]));
    expect(y.shape).toEqual([b, h, w, c + 1]);
    const out = await y.data();
    const groups = b / 4;
    for (let img = 0; img < b; img++) {
      const m = img % groups;
      let total = 0;
      for (let p = 0; p < h * w * c; p++) {
        const members = [0, 1, 2, 3].map((g) => data[(g * groups + m) * h * w * c + p]!);
        const mean = members.reduce((s, v) => s + v, 0) / 4;
        total += Math.sqrt(members.reduce((s, v) => s + (v - mean) ** 2, 0) / 4 + 1e-8);
      }
      const expected = total / (h * w * c);
      for (let p = 0; p < h * w; p++) {
        expect(out[(img * h * w + p) * (c + 1) + c]).toBeCloseTo(expected, 5);
        expect(out[(img * h * w + p) * (c + 1)]).toBeCloseTo(data[(img * h * w + p) * c]!, 6);
      }
    }
    y.dispose();
  });

  it('has a gradient that matches central differences', async () => {
    const data = randomArray(4 * 2 * 2 * 1, 10);
    const weights = tf.tensor4d(randomArray(4 * 2 * 2 * 2, 11), [4, 2, 2, 2]);
    const loss = (x: tf.Tensor) =>
      minibatchStdDev(x as tf.Tensor4D)
        .mul(weights)
        .sum();
    const grad = await tf
      .grad(loss)(tf.tensor4d(data, [4, 2, 2, 1]))
      .data();
    for (const i of [0, 5, 11]) {
      const eps = 1e-2;
      const at = async (delta: number) => {
        const moved = Float64Array.from(data);
        moved[i]! += delta;
        return (await loss(tf.tensor4d(Float32Array.from(moved), [4, 2, 2, 1])).data())[0]!;
      };
      const numeric = ((await at(eps)) - (await at(-eps))) / (2 * eps);
      expect(grad[i]).toBeCloseTo(numeric, 2);
    }
    weights.dispose();
  });
});

describe('DiffAugment', () => {
  const plan = { seed: 1234, batch: 6, offset: 0 };

  it('draws the same parameters for an image however the batch is split', () => {
    const full = augmentDraws(plan, 1, 6);
    const tail = augmentDraws({ ...plan, offset: 4 }, 1, 2);
    expect(Array.from(tail)).toEqual(Array.from(full.slice(4 * DRAWS_PER_IMAGE)));
    expect(Array.from(augmentDraws(plan, 2, 6))).not.toEqual(Array.from(full));
  });

  it('translates each image by its own shift with zero fill (plain-loop reference)', async () => {
    const size = 16;
    const data = randomArray(6 * size * size * 3, 12);
    const draws = augmentDraws(plan, 0, 6);
    const out = await diffAugment(tf.tensor4d(data, [6, size, size, 3]), ['translation'], draws).data();
    const reach = 2; // 16 / 8
    for (let b = 0; b < 6; b++) {
      const shift = (k: number) =>
        Math.min(2 * reach, Math.floor(draws[b * DRAWS_PER_IMAGE + k]! * (2 * reach + 1))) - reach;
      const [sy, sx] = [shift(3), shift(4)];
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const inside = y + sy >= 0 && y + sy < size && x + sx >= 0 && x + sx < size;
          for (let c = 0; c < 3; c++) {
            const expected = inside ? data[((b * size + y + sy) * size + x + sx) * 3 + c]! : 0;
            expect(out[((b * size + y) * size + x) * 3 + c]).toBe(expected);
          }
        }
      }
    }
  });

  it('cuts out a square of half the side (clipped at the edges) and leaves the rest untouched', async () => {
    const size = 16;
    const ones = tf.ones([6, size, size, 3]) as tf.Tensor4D;
    const out = await diffAugment(ones, ['cutout'], augmentDraws(plan, 0, 6)).data();
    for (let b = 0; b < 6; b++) {
      const image = out.subarray(b * size * size * 3, (b + 1) * size * size * 3);
      const zeros = image.filter((v) => v === 0).length / 3;
      expect(image.every((v) => v === 0 || v === 1)).toBe(true);
      expect(zeros).toBeGreaterThan(0);
      expect(zeros).toBeLessThanOrEqual(64); // 8 × 8
    }
  });

  it('colour: brightness, saturation and contrast per image, as the paper defines them', async () => {
    const data = randomArray(6 * 4 * 4 * 3, 13).map((v) => Math.tanh(v));
    const draws = augmentDraws(plan, 0, 6);
    const out = await diffAugment(tf.tensor4d(data, [6, 4, 4, 3]), ['color'], draws).data();
    for (let b = 0; b < 6; b++) {
      const d = (k: number) => draws[b * DRAWS_PER_IMAGE + k]!;
      const img = Array.from(data.subarray(b * 48, (b + 1) * 48)).map((v) => v + d(0) - 0.5);
      for (let p = 0; p < 16; p++) {
        const grey = (img[p * 3]! + img[p * 3 + 1]! + img[p * 3 + 2]!) / 3;
        for (let c = 0; c < 3; c++) img[p * 3 + c] = (img[p * 3 + c]! - grey) * d(1) * 2 + grey;
      }
      const mean = img.reduce((s, v) => s + v, 0) / 48;
      const expected = img.map((v) => (v - mean) * (d(2) + 0.5) + mean);
      expect(relativeError(out.subarray(b * 48, (b + 1) * 48), expected)).toBeLessThan(1e-5);
    }
  });

  it('the fused kernel equals the tf-op composition, forward and gradient, on wasm and cpu', async () => {
    const shape: [number, number, number, number] = [6, 12, 12, 3];
    const xData = randomArray(6 * 12 * 12 * 3, 16);
    const dyData = randomArray(6 * 12 * 12 * 3, 17);
    const draws = augmentDraws(plan, 2, 6);
    const combos: AugmentKind[][] = [
      ['color'],
      ['translation'],
      ['cutout'],
      ['color', 'translation', 'cutout'],
    ];
    for (const backend of ['wasm', 'cpu'] as const) {
      for (const kinds of combos) {
        const run = (op: typeof diffAugment) => () => {
          const x = tf.tensor4d(xData, shape);
          const dy = tf.tensor4d(dyData, shape);
          const y = op(x, kinds, draws);
          const dx = tf.grad((v) =>
            op(v as tf.Tensor4D, kinds, draws)
              .mul(dy)
              .sum(),
          )(x);
          return [y, dx];
        };
        const [fused, composed] = [
          await on(backend, run(diffAugment)),
          await on(backend, run(diffAugmentComposed)),
        ];
        expect(relativeError(fused[0]!, composed[0]!)).toBeLessThan(1e-5);
        expect(relativeError(fused[1]!, composed[1]!)).toBeLessThan(1e-5);
      }
    }
  });

  it('translation + cutout gradient is the adjoint of the forward map: ⟨A·x, y⟩ = ⟨x, Aᵀ·y⟩', async () => {
    const shape: [number, number, number, number] = [6, 12, 12, 3];
    const x = tf.tensor4d(randomArray(6 * 12 * 12 * 3, 14), shape);
    const y = tf.tensor4d(randomArray(6 * 12 * 12 * 3, 15), shape);
    const draws = augmentDraws(plan, 3, 6);
    const map = (v: tf.Tensor) => diffAugment(v as tf.Tensor4D, ['translation', 'cutout'], draws);
    const left = (await map(x).mul(y).sum().data())[0]!;
    const adjointY = tf.grad((v) => map(v).mul(y).sum())(x);
    const right = (await x.mul(adjointY).sum().data())[0]!;
    expect(Math.abs(left - right) / Math.abs(left)).toBeLessThan(1e-5);
    // And the gradient is not trivially the identity: the map moved pixels.
    expect(relativeError(await adjointY.data(), await y.data())).toBeGreaterThan(0.1);
    tf.dispose([x, y, adjointY]);
  });
});

describe('weight average (EMA) of the generator', () => {
  it('ramps its decay up from the start and follows the weights with that decay', async () => {
    expect(emaDecayAt(0.999, 0)).toBeCloseTo(0.1, 10);
    expect(emaDecayAt(0.999, 90)).toBeCloseTo(0.91, 10);
    expect(emaDecayAt(0.999, 100_000)).toBe(0.999);
    const config = resolveGanConfig('tiny', { batchSize: 8, emaDecay: 0.99 });
    const gan = createGan(config, 3);
    const name = 'g.out.bias';
    const before = await gan.ema!.g.get(name)!.data();
    gan.g.get(name)!.assign(tf.fill([3], 2));
    gan.optG.step = 1000;
    updateEma(gan);
    const after = await gan.ema!.g.get(name)!.data();
    for (let i = 0; i < 3; i++) expect(after[i]).toBeCloseTo(before[i]! * 0.99 + 2 * 0.01, 6);
    disposeGan(gan);
  });

  it('re-estimates BN statistics from 4 × 64 fixed latents, so inference matches batch-statistics output', async () => {
    const config = resolveGanConfig('tiny', { batchSize: 8, emaDecay: 0.99 });
    const gan = createGan(config, 4);
    const { deriveSeed } = await import('../../../../src/core/gan/seeds.ts');
    const z = tf.tensor2d(new Rng(deriveSeed(0, 'ema-batch-norm')).normalArray(256 * config.zDim), [
      256,
      config.zDim,
    ]);
    const meanAbsDiff = async () => {
      const batchStats = generatorForward(config, gan.ema!.g, gan.ema!.stats, z, true);
      const inference = generatorForward(config, gan.ema!.g, gan.ema!.stats, z, false).images;
      const diff = (await batchStats.images.sub(inference).abs().mean().data())[0]!;
      const first = batchStats.moments.get(0)!;
      const firstMoments = [await first.mean.data(), await first.variance.data()] as const;
      for (const m of batchStats.moments.values()) tf.dispose([m.mean, m.variance]);
      tf.dispose([batchStats.images, inference]);
      return { diff, firstMoments };
    };
    const before = await meanAbsDiff(); // initial statistics: mean 0, variance 1
    await reestimateEmaStats(config, gan.ema!.g, gan.ema!.stats);
    const after = await meanAbsDiff();
    // The first layer sees the same pre-BN activations either way: its statistics are those of all 256.
    expect(
      relativeError(await gan.ema!.stats.get('g.bn0.movingMean')!.data(), after.firstMoments[0]),
    ).toBeLessThan(1e-4);
    expect(
      relativeError(await gan.ema!.stats.get('g.bn0.movingVariance')!.data(), after.firstMoments[1]),
    ).toBeLessThan(1e-4);
    expect(after.diff).toBeLessThan(before.diff / 4);
    expect(after.diff).toBeLessThan(0.02);
    z.dispose();
    disposeGan(gan);
  });
});
