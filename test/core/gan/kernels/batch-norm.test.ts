import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../../src/core/gan/backend.ts';
import {
  BATCH_NORM_ACTIVATION,
  BATCH_NORM_ACTIVATION_GRAD,
  batchNormActivation,
  type BatchNormActivationKind,
} from '../../../../src/core/gan/kernels/batch-norm.ts';
import { resolveGanConfig } from '../../../../src/core/gan/config.ts';
import { createGan, disposeGan, generatorForward } from '../../../../src/core/gan/models.ts';
import {
  computeDiscriminatorGrads,
  computeGeneratorGrads,
  disposeGrads,
} from '../../../../src/core/gan/step.ts';
import { Rng } from '../../../../src/shared/rng.ts';
import { relativeError } from '../../../helpers/tensor-compare.ts';

/** Per-channel offsets and scales, so the moments are far from 0 and 1. */
function inputData(shape: number[], seed: number): Float32Array {
  const rng = new Rng(seed);
  const channels = shape.at(-1)!;
  const data = rng.normalArray(shape.reduce((a, b) => a * b, 1));
  const offset = Array.from({ length: channels }, () => 3 * rng.normal());
  const scale = Array.from({ length: channels }, () => 0.5 + 2 * Math.abs(rng.normal()));
  for (let i = 0; i < data.length; i++) data[i] = data[i]! * scale[i % channels]! + offset[i % channels]!;
  return data;
}

interface Case {
  x: Float32Array;
  gamma: Float32Array;
  beta: Float32Array;
  /** Weights of the differentiated value Σ y·w (+ Σ mean·u + Σ variance·v). */
  w: Float32Array;
  u: Float32Array;
  v: Float32Array;
}

function makeCase(shape: number[], seed: number): Case {
  const rng = new Rng(seed + 100);
  const channels = shape.at(-1)!;
  const size = shape.reduce((a, b) => a * b, 1);
  return {
    x: inputData(shape, seed),
    gamma: Float32Array.from(rng.normalArray(channels), (g) => 1 + 0.5 * g),
    beta: rng.normalArray(channels),
    w: rng.normalArray(size),
    u: rng.normalArray(channels),
    v: rng.normalArray(channels),
  };
}

/** The composition models.ts used before the fused op: moments, sub, rsqrt, mul, mul, add, activation. */
function oldComposition(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  eps: number,
  act: BatchNormActivationKind,
) {
  const m = tf.moments(x, [0, 1, 2]);
  const z = x
    .sub(m.mean)
    .mul(tf.rsqrt(m.variance.add(eps)))
    .mul(gamma)
    .add(beta);
  const y = act === 'relu' ? tf.relu(z) : act === 'linear' ? z : tf.leakyRelu(z, act.leak);
  return { y, mean: m.mean, variance: m.variance };
}

type BnFn = typeof oldComposition;

interface Outputs {
  y: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
  dx: Float32Array;
  dGamma: Float32Array;
  dBeta: Float32Array;
}

/** Forward outputs and gradients of Σ y·w (+ Σ mean·u + Σ variance·v when `withMoments`). */
function evaluate(
  bn: BnFn,
  c: Case,
  shape: number[],
  eps: number,
  act: BatchNormActivationKind,
  withMoments: boolean,
) {
  return tf.tidy(() => {
    const channels = shape.at(-1)!;
    const x = tf.tensor(c.x, shape);
    const gamma = tf.tensor1d(c.gamma);
    const beta = tf.tensor1d(c.beta);
    const w = tf.tensor(c.w, shape);
    const u = tf.tensor1d(c.u);
    const v = tf.tensor1d(c.v);
    const out = bn(x, gamma, beta, eps, act);
    expect(out.y.shape).toEqual(shape);
    expect(out.mean.shape).toEqual([channels]);
    expect(out.variance.shape).toEqual([channels]);
    const [dx, dGamma, dBeta] = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const r = bn(a, g, b, eps, act);
      const value = r.y.mul(w).sum();
      return withMoments ? value.add(r.mean.mul(u).sum()).add(r.variance.mul(v).sum()) : value;
    })([x, gamma, beta]);
    const read = (t: tf.Tensor) => t.dataSync() as Float32Array;
    return {
      y: read(out.y),
      mean: read(out.mean),
      variance: read(out.variance),
      dx: read(dx!),
      dGamma: read(dGamma!),
      dBeta: read(dBeta!),
    } satisfies Outputs;
  });
}

const fused: BnFn = (x, gamma, beta, eps, act) => batchNormActivation(x, gamma, beta, eps, act);

// Channels not a multiple of 4 (row-major loops), odd row counts with the 4-channel column loops, the GAN's sizes.
const shapes = [
  [3, 5, 7, 6],
  [3, 5, 7, 8],
  [1, 1, 1, 5],
  [2, 3, 3, 512],
  [4, 12, 12, 64],
];
const activations: Array<[string, BatchNormActivationKind]> = [
  ['relu', 'relu'],
  ['leaky 0.2', { leak: 0.2 }],
  ['linear', 'linear'],
];

describe('fused batch norm + activation matches the old composition on cpu', () => {
  beforeAll(async () => {
    expect((await selectBackend('wasm')).name).toBe('wasm');
  });

  afterAll(async () => {
    await tf.setBackend('wasm');
  });

  shapes.forEach((shape, s) => {
    for (const [label, act] of activations) {
      for (const withMoments of [false, true]) {
        it(`${JSON.stringify(shape)} ${label}${withMoments ? ', moments differentiated too' : ''}`, async () => {
          const c = makeCase(shape, 10 + s);
          const eps = 1e-5;
          await tf.setBackend('cpu');
          const reference = evaluate(oldComposition, c, shape, eps, act, withMoments);
          const onCpu = evaluate(fused, c, shape, eps, act, withMoments);
          await tf.setBackend('wasm');
          const onWasm = evaluate(fused, c, shape, eps, act, withMoments);
          for (const [backend, out] of [
            ['cpu', onCpu],
            ['wasm', onWasm],
          ] as const) {
            for (const key of Object.keys(reference) as Array<keyof Outputs>) {
              const error = relativeError(out[key], reference[key]);
              expect(error, `${backend} ${key}`).toBeLessThan(1e-5);
            }
          }
        });
      }
    }
  });

  it('uses the fused kernels on wasm and cpu', async () => {
    for (const backend of ['wasm', 'cpu']) {
      await tf.setBackend(backend);
      const c = makeCase([2, 4, 4, 8], 3);
      const profile = await tf.profile(() => {
        evaluate(fused, c, [2, 4, 4, 8], 1e-5, { leak: 0.2 }, false);
      });
      const names = profile.kernels.map((k) => k.name);
      expect(names).toContain(BATCH_NORM_ACTIVATION);
      expect(names).toContain(BATCH_NORM_ACTIVATION_GRAD);
      expect(names).not.toContain('Rsqrt');
    }
  });

  it('falls back to the composition on a backend without the kernel', async () => {
    await tf.setBackend('cpu');
    const shape = [3, 5, 7, 6];
    const c = makeCase(shape, 5);
    const reference = evaluate(oldComposition, c, shape, 1e-3, { leak: 0.1 }, true);
    const kernel = tf.getKernel(BATCH_NORM_ACTIVATION, 'cpu')!;
    tf.unregisterKernel(BATCH_NORM_ACTIVATION, 'cpu');
    try {
      const profile = await tf.profile(() => {
        const out = evaluate(fused, c, shape, 1e-3, { leak: 0.1 }, true);
        for (const key of Object.keys(reference) as Array<keyof Outputs>)
          expect(relativeError(out[key], reference[key]), key).toBeLessThan(1e-6);
      });
      expect(profile.kernels.map((k) => k.name)).not.toContain(BATCH_NORM_ACTIVATION);
    } finally {
      tf.registerKernel(kernel);
    }
  });

  it('a negative leak (mask not readable from the sign of y) takes the composition', async () => {
    await tf.setBackend('wasm');
    const shape = [2, 3, 3, 8];
    const c = makeCase(shape, 8);
    const act = { leak: -0.3 };
    const profile = await tf.profile(() => {
      const out = evaluate(fused, c, shape, 1e-5, act, false);
      const reference = evaluate(oldComposition, c, shape, 1e-5, act, false);
      for (const key of Object.keys(reference) as Array<keyof Outputs>)
        expect(relativeError(out[key], reference[key]), key).toBeLessThan(1e-6);
    });
    expect(profile.kernels.map((k) => k.name)).not.toContain(BATCH_NORM_ACTIVATION);
  });

  it('rejects gamma / beta that do not match the channels', async () => {
    await tf.setBackend('wasm');
    tf.tidy(() => {
      expect(() =>
        batchNormActivation(tf.zeros([2, 3, 3, 4]), tf.ones([3]), tf.zeros([4]), 1e-5, 'relu'),
      ).toThrow(/gamma/);
    });
  });

  it('leaks no tensors and no backend memory (forward, gradients, unused moments)', async () => {
    for (const backend of ['wasm', 'cpu']) {
      await tf.setBackend(backend);
      const shape = [2, 3, 3, 16];
      const c = makeCase(shape, 6);
      evaluate(fused, c, shape, 1e-5, 'relu', true); // warm-up: lazily registered kernels, caches
      const tensors = tf.memory().numTensors;
      const dataIds = tf.engine().backend.numDataIds();
      evaluate(fused, c, shape, 1e-5, 'relu', true);
      evaluate(fused, c, shape, 1e-5, { leak: 0.2 }, false);
      tf.tidy(() => {
        // Forward alone, outside a gradient tape: nothing saved.
        batchNormActivation(tf.tensor(c.x, shape), tf.tensor1d(c.gamma), tf.tensor1d(c.beta), 1e-5, 'linear');
      });
      expect(tf.memory().numTensors, backend).toBe(tensors);
      expect(tf.engine().backend.numDataIds(), backend).toBe(dataIds);
    }
  });
});

describe('the GAN uses the fused batch norm', () => {
  const config = resolveGanConfig('tiny', { batchSize: 8 });

  beforeAll(async () => {
    expect((await selectBackend('wasm')).name).toBe('wasm');
  });

  it('generator training moments are the tf.moments of the pre-BN activations', async () => {
    await tf.setBackend('wasm');
    const gan = createGan(config, 3);
    try {
      const z = tf.randomNormal([8, config.zDim], 0, 1, 'float32', 1) as tf.Tensor2D;
      const { images, moments } = generatorForward(config, gan.g, gan.gStats, z, true);
      expect(moments.size).toBe(config.gChannels.length);
      // Layer 0's input is the dense layer's output: check its moments independently.
      const x = tf
        .matMul(z, gan.g.get('g.dense.kernel')! as tf.Tensor2D)
        .reshape([8, config.baseSize, config.baseSize, config.gChannels[0]!]);
      const reference = tf.moments(x, [0, 1, 2]);
      const m0 = moments.get(0)!;
      expect(relativeError(m0.mean.dataSync(), reference.mean.dataSync())).toBeLessThan(1e-5);
      expect(relativeError(m0.variance.dataSync(), reference.variance.dataSync())).toBeLessThan(1e-5);
      tf.dispose([images, z, x, reference.mean, reference.variance]);
      for (const m of moments.values()) tf.dispose([m.mean, m.variance]);
    } finally {
      disposeGan(gan);
    }
  });

  it('D and G gradients match the cpu backend (which also runs the fused kernels)', async () => {
    const grads = async (backend: string) => {
      await tf.setBackend(backend);
      const gan = createGan(config, 4);
      const real = tf.tensor4d(
        new Rng(5).normalArray(8 * config.imageSize * config.imageSize * 3).map((v) => Math.tanh(v)),
        [8, config.imageSize, config.imageSize, 3],
      );
      const z = tf.tensor2d(new Rng(6).normalArray(8 * config.zDim), [8, config.zDim]);
      const before = tf.memory().numTensors;
      const d = await computeDiscriminatorGrads(gan, real, z);
      const g = await computeGeneratorGrads(gan, z);
      const out = new Map<string, Float32Array>();
      for (const [name, t] of [...d.grads, ...g.grads]) out.set(name, t.dataSync() as Float32Array);
      disposeGrads(d.grads);
      disposeGrads(g.grads);
      for (const m of g.moments.values()) tf.dispose([m.mean, m.variance]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([real, z]);
      disposeGan(gan);
      return out;
    };
    const wasm = await grads('wasm');
    const cpu = await grads('cpu');
    await tf.setBackend('wasm');
    expect([...wasm.keys()].sort()).toEqual([...cpu.keys()].sort());
    for (const [name, values] of cpu) expect(relativeError(wasm.get(name)!, values), name).toBeLessThan(1e-4);
  });
});
