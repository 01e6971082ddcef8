/**
 * DCGAN generator and discriminator as raw tf variables and ops. Raw variables (instead of tf.layers)
 * keep every float that a checkpoint must hold — weights, BN running statistics, Adam moments — in
 * named maps. Browser-safe: only @tensorflow/tfjs and src/shared.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../shared/rng.ts';
import type { GanConfig } from './config.ts';
import { Adam, type ParamSet } from './adam.ts';
import { deriveSeed } from './seeds.ts';
import { batchNormActivation } from './kernels/batch-norm.ts';
import { minibatchStdDev } from './recipe/minibatch-std.ts';
import { resizeConv2x } from './recipe/resize-conv.ts';
import { spectrallyNormalized, type PowerIterate } from './recipe/spectral-norm.ts';

export type { ParamSet };

/** A tensor as plain data, for checkpoints, IPC to the renderer and worker threads. */
export interface TensorRecord {
  shape: number[];
  data: Float32Array;
}
export type WeightRecord = Record<string, TensorRecord>;

export type Init = 'normal' | 'gamma' | 'zeros' | 'ones';
export interface ParamSpec {
  name: string;
  shape: number[];
  init: Init;
}

/** Trainable generator parameters, in a fixed order (the order weights are initialised in). */
export function generatorParamSpecs(config: GanConfig): ParamSpec[] {
  const { zDim, baseSize, gChannels } = config;
  // Resize-convolution layers hold 3×3 kernels (see recipe/resize-conv.ts).
  const k = config.upsample === 'resize' ? 3 : config.kernelSize;
  const specs: ParamSpec[] = [
    { name: 'g.dense.kernel', shape: [zDim, baseSize * baseSize * gChannels[0]!], init: 'normal' },
  ];
  gChannels.forEach((channels, i) => {
    if (i > 0)
      specs.push({ name: `g.up${i}.kernel`, shape: [k, k, channels, gChannels[i - 1]!], init: 'normal' });
    specs.push({ name: `g.bn${i}.gamma`, shape: [channels], init: 'gamma' });
    specs.push({ name: `g.bn${i}.beta`, shape: [channels], init: 'zeros' });
  });
  specs.push({ name: 'g.out.kernel', shape: [k, k, 3, gChannels.at(-1)!], init: 'normal' });
  specs.push({ name: 'g.out.bias', shape: [3], init: 'zeros' });
  return specs;
}

/** Generator BN running statistics: not trained by gradients, updated from batch moments, used at inference. */
export function generatorStatSpecs(config: GanConfig): ParamSpec[] {
  return config.gChannels.flatMap((channels, i) => [
    { name: `g.bn${i}.movingMean`, shape: [channels], init: 'zeros' as const },
    { name: `g.bn${i}.movingVariance`, shape: [channels], init: 'ones' as const },
  ]);
}

/** Whether D's conv layer i is followed by batch norm (else by a bias): not the first, not with SN. */
function discriminatorUsesBatchNorm(config: GanConfig, layer: number): boolean {
  return layer > 0 && !config.spectralNorm;
}

export function discriminatorParamSpecs(config: GanConfig): ParamSpec[] {
  const { kernelSize: k, dChannels, imageSize } = config;
  const specs: ParamSpec[] = [];
  dChannels.forEach((channels, i) => {
    const inChannels = i === 0 ? 3 : dChannels[i - 1]!;
    specs.push({ name: `d.conv${i}.kernel`, shape: [k, k, inChannels, channels], init: 'normal' });
    if (discriminatorUsesBatchNorm(config, i)) {
      specs.push({ name: `d.bn${i}.gamma`, shape: [channels], init: 'gamma' });
      specs.push({ name: `d.bn${i}.beta`, shape: [channels], init: 'zeros' });
    } else {
      specs.push({ name: `d.conv${i}.bias`, shape: [channels], init: 'zeros' });
    }
  });
  const finalSize = imageSize / 2 ** dChannels.length;
  const features = finalSize * finalSize * (dChannels.at(-1)! + (config.minibatchStd ? 1 : 0));
  specs.push({ name: 'd.out.kernel', shape: [features, 1], init: 'normal' });
  specs.push({ name: 'd.out.bias', shape: [1], init: 'zeros' });
  return specs;
}

/** D's weights that spectral normalisation divides by their largest singular value (with SN on). */
export function spectralNormWeights(config: GanConfig): string[] {
  if (!config.spectralNorm) return [];
  return [...config.dChannels.map((_, i) => `d.conv${i}.kernel`), 'd.out.kernel'];
}

/** The power-iteration vector u of a spectrally normalised weight (state, not trained). */
export function spectralVectorName(weight: string): string {
  return weight.replace(/\.kernel$/, '.snU');
}

/** D's non-trained state: one power-iteration vector per spectrally normalised weight. */
export function discriminatorStatSpecs(config: GanConfig): ParamSpec[] {
  const outputs = (weight: string) =>
    weight === 'd.out.kernel' ? 1 : config.dChannels[Number(/\d+/.exec(weight)![0])]!;
  return spectralNormWeights(config).map((weight) => ({
    name: spectralVectorName(weight),
    shape: [outputs(weight)],
    init: 'normal' as const,
  }));
}

/** Initial values from a seeded stream: weights N(0, 0.02), BN γ N(1, 0.02), biases 0 (Radford et al.). */
export function initialValues(specs: ParamSpec[], rng: Rng): WeightRecord {
  const out: WeightRecord = {};
  for (const spec of specs) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (spec.init === 'normal' || spec.init === 'gamma') {
      const mean = spec.init === 'gamma' ? 1 : 0;
      for (let i = 0; i < size; i++) data[i] = mean + 0.02 * rng.normal();
    } else if (spec.init === 'ones') {
      data.fill(1);
    }
    out[spec.name] = { shape: spec.shape, data };
  }
  return out;
}

export function paramSetFromRecord(specs: ParamSpec[], record: WeightRecord, trainable: boolean): ParamSet {
  const params: ParamSet = new Map();
  for (const spec of specs) {
    const value = record[spec.name];
    if (!value) throw new Error(`missing weights for ${spec.name}`);
    checkShape(spec.name, value.shape, spec.shape, value.data.length);
    // tidy frees the source tensor; the variable keeps the data.
    params.set(
      spec.name,
      tf.tidy(() => tf.variable(tf.tensor(value.data, spec.shape, 'float32'), trainable)),
    );
  }
  return params;
}

/** Copies every parameter out as typed arrays. Async: WebGPU cannot read tensors synchronously. */
export async function readParamRecord(params: ParamSet): Promise<WeightRecord> {
  const entries = [...params];
  const values = await Promise.all(entries.map(([, p]) => p.data()));
  return Object.fromEntries(
    entries.map(([name, p], i) => [name, { shape: [...p.shape], data: values[i] as Float32Array }]),
  );
}

/** Overwrites parameter values in place (checkpoint restore, worker sync). Every name must be present. */
export function assignParams(params: ParamSet, record: WeightRecord): void {
  for (const [name, p] of params) {
    const value = record[name];
    if (!value) throw new Error(`missing weights for ${name}`);
    checkShape(name, value.shape, p.shape, value.data.length);
    tf.tidy(() => p.assign(tf.tensor(value.data, p.shape, 'float32')));
  }
}

function checkShape(name: string, actual: number[], expected: number[], length: number): void {
  const size = expected.reduce((a, b) => a * b, 1);
  if (actual.join('x') !== expected.join('x') || length !== size) {
    throw new Error(`weights for ${name} have shape [${actual}] (${length} values), expected [${expected}]`);
  }
}

export interface Gan {
  config: GanConfig;
  g: ParamSet;
  gStats: ParamSet;
  d: ParamSet;
  /** D's power-iteration vectors (spectral norm); empty without it. */
  dStats: ParamSet;
  /**
   * The moving average of G's weights (config.emaDecay > 0), named like `g`, and the BN statistics that
   * go with it (re-estimated from the averaged weights, see recipe/ema.ts; the raw G's do not fit them).
   */
  ema: { g: ParamSet; stats: ParamSet } | undefined;
  optG: Adam;
  optD: Adam;
}

/** A fresh GAN whose initial weights depend only on the config and the seed (not on the backend). */
export function createGan(config: GanConfig, seed: number): Gan {
  const gRng = new Rng(deriveSeed(seed, 'init-g'));
  const dRng = new Rng(deriveSeed(seed, 'init-d'));
  const gSpecs = generatorParamSpecs(config);
  const dSpecs = discriminatorParamSpecs(config);
  const statSpecs = generatorStatSpecs(config);
  const gInit = initialValues(gSpecs, gRng);
  const g = paramSetFromRecord(gSpecs, gInit, true);
  const d = paramSetFromRecord(dSpecs, initialValues(dSpecs, dRng), true);
  const statInit = initialValues(statSpecs, gRng);
  const gStats = paramSetFromRecord(statSpecs, statInit, false);
  // Drawn after everything else, so runs without spectral norm keep their exact initial weights.
  const dStatSpecs = discriminatorStatSpecs(config);
  const dStats = paramSetFromRecord(dStatSpecs, initialValues(dStatSpecs, dRng), false);
  const ema =
    config.emaDecay > 0
      ? {
          g: paramSetFromRecord(gSpecs, gInit, false),
          stats: paramSetFromRecord(statSpecs, statInit, false),
        }
      : undefined;
  return {
    config,
    g,
    gStats,
    d,
    dStats,
    ema,
    optG: new Adam(g, { learningRate: config.lrG, beta1: config.beta1, beta2: config.beta2 }),
    optD: new Adam(d, { learningRate: config.lrD, beta1: config.beta1, beta2: config.beta2 }),
  };
}

export function disposeGan(gan: Gan): void {
  gan.optG.dispose();
  gan.optD.dispose();
  for (const set of [gan.g, gan.gStats, gan.d, gan.dStats, gan.ema?.g, gan.ema?.stats]) {
    if (!set) continue;
    for (const v of set.values()) v.dispose();
    set.clear();
  }
}

/** Batch moments of one generator BN layer, returned by a training-mode forward pass. */
export interface BatchMoments {
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

type TensorLookup = { get(name: string): tf.Tensor | undefined };

function need(params: TensorLookup, name: string): tf.Tensor {
  const t = params.get(name);
  if (!t) throw new Error(`missing parameter ${name}`);
  return t;
}

function normalize(
  x: tf.Tensor4D,
  mean: tf.Tensor,
  variance: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon: number,
): tf.Tensor4D {
  return x
    .sub(mean)
    .mul(tf.rsqrt(variance.add(epsilon)))
    .mul(gamma)
    .add(beta);
}

/**
 * Generator forward pass, z [B, zDim] → images [B, S, S, 3] in [-1, 1].
 * `training`: BN uses batch moments (returned in `moments` so the caller can update running stats);
 * otherwise BN uses the running statistics in `stats`.
 */
export function generatorForward(
  config: GanConfig,
  params: TensorLookup,
  stats: TensorLookup,
  z: tf.Tensor2D,
  training: boolean,
): { images: tf.Tensor4D; moments: Map<number, BatchMoments> } {
  const { baseSize, gChannels, bnEpsilon } = config;
  const batch = z.shape[0];
  const moments = new Map<number, BatchMoments>();
  /** BN + ReLU: batch moments (fused kernel with its own gradient) in training, running statistics otherwise. */
  const bnRelu = (x: tf.Tensor4D, i: number): tf.Tensor4D => {
    const gamma = need(params, `g.bn${i}.gamma`);
    const beta = need(params, `g.bn${i}.beta`);
    if (training) {
      const { y, mean, variance } = batchNormActivation(x, gamma, beta, bnEpsilon, 'relu');
      moments.set(i, { mean, variance });
      return y;
    }
    return tf.relu(
      normalize(
        x,
        need(stats, `g.bn${i}.movingMean`),
        need(stats, `g.bn${i}.movingVariance`),
        gamma,
        beta,
        bnEpsilon,
      ),
    );
  };
  let x = tf
    .matMul(z, need(params, 'g.dense.kernel') as tf.Tensor2D)
    .reshape([batch, baseSize, baseSize, gChannels[0]!]) as tf.Tensor4D;
  x = bnRelu(x, 0);
  /** Doubles the resolution: a stride-2 transposed convolution, or a resize-convolution. */
  const up = (input: tf.Tensor4D, kernel: tf.Tensor4D): tf.Tensor4D => {
    if (config.upsample === 'resize') return resizeConv2x(input, kernel);
    const [, h, w] = input.shape;
    return tf.conv2dTranspose(input, kernel, [batch, h * 2, w * 2, kernel.shape[2]], 2, 'same');
  };
  for (let i = 1; i < gChannels.length; i++) {
    x = bnRelu(up(x, need(params, `g.up${i}.kernel`) as tf.Tensor4D), i);
  }
  const out = up(x, need(params, 'g.out.kernel') as tf.Tensor4D);
  return { images: tf.tanh(out.add(need(params, 'g.out.bias'))) as tf.Tensor4D, moments };
}

/**
 * Discriminator forward pass, images [B, S, S, 3] → logits [B, 1]. BN always uses batch moments.
 * With spectral norm, `spectral` holds each normalised weight's power-iteration vectors (constants to
 * the gradient; see recipe/spectral-norm.ts) and the weights are divided by their σ here.
 */
export function discriminatorForward(
  config: GanConfig,
  params: TensorLookup,
  images: tf.Tensor4D,
  spectral?: ReadonlyMap<string, PowerIterate>,
): tf.Tensor2D {
  const flat = discriminatorFeatures(config, params, images, spectral);
  const kernel = discriminatorWeight(config, params, 'd.out.kernel', spectral) as tf.Tensor2D;
  return tf.matMul(flat, kernel).add(need(params, 'd.out.bias'));
}

/**
 * D's penultimate features, images [B, S, S, 3] → [B, F]: what its last (linear) layer scores. The named
 * sliders use them as a learned description of faces (src/core/library/attribute-features.ts).
 */
export function discriminatorFeatures(
  config: GanConfig,
  params: TensorLookup,
  images: tf.Tensor4D,
  spectral?: ReadonlyMap<string, PowerIterate>,
): tf.Tensor2D {
  const { dChannels, leak, bnEpsilon } = config;
  const weight = (name: string) => discriminatorWeight(config, params, name, spectral);
  let x: tf.Tensor4D = images;
  for (let i = 0; i < dChannels.length; i++) {
    const y = tf.conv2d(x, weight(`d.conv${i}.kernel`) as tf.Tensor4D, 2, 'same');
    x = discriminatorUsesBatchNorm(config, i)
      ? batchNormActivation(y, need(params, `d.bn${i}.gamma`), need(params, `d.bn${i}.beta`), bnEpsilon, {
          leak,
        }).y
      : tf.leakyRelu(y.add(need(params, `d.conv${i}.bias`)) as tf.Tensor4D, leak);
  }
  if (config.minibatchStd) x = minibatchStdDev(x);
  return x.reshape([images.shape[0], -1]) as tf.Tensor2D;
}

function discriminatorWeight(
  config: GanConfig,
  params: TensorLookup,
  name: string,
  spectral: ReadonlyMap<string, PowerIterate> | undefined,
): tf.Tensor {
  const w = need(params, name);
  if (!config.spectralNorm) return w;
  const vectors = spectral?.get(name);
  if (!vectors) throw new Error(`no power-iteration vectors for ${name}`);
  return spectrallyNormalized(w, vectors);
}

/** Name prefix of the generator's first block (dense → reshape → BN → ReLU), the layer GANSpace analyses. */
export const GENERATOR_PROJECTION_LAYER = 'g.bn0';

/** The first block's activations [B, base, base, gChannels[0]] in inference mode. */
export function generatorProjection(
  config: GanConfig,
  params: TensorLookup,
  stats: TensorLookup,
  z: tf.Tensor2D,
): tf.Tensor4D {
  return tf.tidy(() => {
    const x = tf
      .matMul(z, need(params, 'g.dense.kernel') as tf.Tensor2D)
      .reshape([z.shape[0], config.baseSize, config.baseSize, config.gChannels[0]!]) as tf.Tensor4D;
    const bn = normalize(
      x,
      need(stats, 'g.bn0.movingMean'),
      need(stats, 'g.bn0.movingVariance'),
      need(params, 'g.bn0.gamma'),
      need(params, 'g.bn0.beta'),
      config.bnEpsilon,
    );
    return tf.relu(bn);
  });
}
