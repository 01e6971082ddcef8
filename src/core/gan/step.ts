/**
 * One DCGAN training step, split so gradients can be computed separately from applying them (a batch can
 * be spread over workers whose gradients are averaged before one update). Browser-safe.
 *
 * Loss (config.loss): the non-saturating GAN loss on logits (sigmoid cross-entropy, one-sided label
 * smoothing on reals), or the hinge loss. The recipe's other parts plug in here: DiffAugment before every
 * D input, spectral norm's power iteration once per D update, the EMA of G after every G update.
 */
import * as tf from '@tensorflow/tfjs';
import type { Adam } from './adam.ts';
import type { GanConfig } from './config.ts';
import {
  discriminatorForward,
  generatorForward,
  spectralNormWeights,
  spectralVectorName,
  type BatchMoments,
  type Gan,
  type ParamSet,
} from './models.ts';
import { augmentDraws, diffAugment, type AugmentPlan } from './recipe/diff-augment.ts';
import { updateEma } from './recipe/ema.ts';
import { powerIteration, type PowerIterate } from './recipe/spectral-norm.ts';

export type GradMap = Map<string, tf.Tensor>;

export interface DiscriminatorGrads {
  grads: GradMap;
  lossD: number;
  /** Mean D(x) on the real batch, as a probability. */
  dReal: number;
  /** Mean D(G(z)), as a probability. */
  dFake: number;
}

export interface GeneratorGrads {
  grads: GradMap;
  lossG: number;
  /** Batch moments of the generator's BN layers, keyed by layer index, for `updateBatchNormStats`. */
  moments: Map<number, BatchMoments>;
}

export interface StepResult {
  lossD: number;
  lossG: number;
  dReal: number;
  dFake: number;
}

/** Mean sigmoid cross-entropy with logits, in the numerically stable form. */
export function sigmoidCrossEntropy(logits: tf.Tensor, label: number): tf.Scalar {
  return tf.tidy(() =>
    tf.mean(
      tf
        .relu(logits)
        .sub(logits.mul(label))
        .add(tf.log1p(tf.exp(tf.neg(tf.abs(logits))))),
    ),
  );
}

/** D's loss on real and fake logits. */
export function discriminatorLoss(
  config: GanConfig,
  logitsReal: tf.Tensor,
  logitsFake: tf.Tensor,
): tf.Scalar {
  if (config.loss === 'hinge') {
    return tf.tidy(() =>
      tf.mean(tf.relu(tf.sub(1, logitsReal))).add(tf.mean(tf.relu(tf.add(1, logitsFake)))),
    );
  }
  return tf.tidy(() =>
    sigmoidCrossEntropy(logitsReal, 1 - config.labelSmoothing).add(sigmoidCrossEntropy(logitsFake, 0)),
  );
}

/** G's loss on D's logits for its fakes (non-saturating: G wants them called real). */
export function generatorLoss(config: GanConfig, logitsFake: tf.Tensor): tf.Scalar {
  if (config.loss === 'hinge') return tf.tidy(() => tf.neg(tf.mean(logitsFake)) as tf.Scalar);
  return sigmoidCrossEntropy(logitsFake, 1);
}

/**
 * The power-iteration vectors of every spectrally normalised D weight (empty without spectral norm).
 * `advance`: store the refined u (once per D update); the G update reads without advancing.
 */
export function spectralVectors(gan: Gan, advance: boolean): Map<string, PowerIterate> {
  const vectors = new Map<string, PowerIterate>();
  for (const weight of spectralNormWeights(gan.config)) {
    const u = gan.dStats.get(spectralVectorName(weight))!;
    const next = powerIteration(gan.d.get(weight)!, u);
    if (advance) u.assign(next.u);
    vectors.set(weight, next);
  }
  return vectors;
}

function disposeVectors(vectors: Map<string, PowerIterate>): void {
  for (const { u, v } of vectors.values()) tf.dispose([u, v]);
}

/** Batch `part`'s DiffAugment (identity when the recipe has none). */
function augmenter(config: GanConfig, plan: AugmentPlan | undefined) {
  return (x: tf.Tensor4D, part: number): tf.Tensor4D => {
    if (config.augment.length === 0) return x;
    if (!plan) throw new Error('this recipe augments: the step needs an augmentation plan');
    return diffAugment(x, config.augment, augmentDraws(plan, part, x.shape[0]));
  };
}

/** Runs `f` under tf.variableGrads for `params`, returning gradients keyed by parameter name. */
function namedGrads(params: ParamSet, f: () => tf.Scalar): { value: tf.Scalar; grads: GradMap } {
  const list = [...params.values()];
  const { value, grads } = tf.variableGrads(f, list);
  const byName: GradMap = new Map();
  for (const [name, p] of params) {
    const g = grads[p.name];
    if (!g) throw new Error(`no gradient for ${name}`);
    byName.set(name, g);
  }
  return { value, grads: byName };
}

/**
 * Discriminator gradients for one (part of a) batch. `real` [B,S,S,3] in [-1, 1], `z` [B, zDim].
 * The fakes are generated in training mode (batch BN moments), outside the gradient tape.
 * Async because the losses are read back with `data()`: WebGPU in Node cannot read a tensor synchronously.
 */
export async function computeDiscriminatorGrads(
  gan: Gan,
  real: tf.Tensor4D,
  z: tf.Tensor2D,
  augment?: AugmentPlan,
): Promise<DiscriminatorGrads> {
  const { config } = gan;
  const augmented = augmenter(config, augment);
  // Neither input needs a gradient here, so both are augmented outside the tape.
  const fake = tf.tidy(() => augmented(generatorForward(config, gan.g, gan.gStats, z, true).images, 1));
  const realSeen = augmented(real, 0);
  const spectral = spectralVectors(gan, true);
  let probs: tf.Tensor | undefined;
  try {
    const { value, grads } = namedGrads(gan.d, () => {
      const logitsReal = discriminatorForward(config, gan.d, realSeen, spectral);
      const logitsFake = discriminatorForward(config, gan.d, fake, spectral);
      probs = tf.keep(tf.stack([tf.mean(tf.sigmoid(logitsReal)), tf.mean(tf.sigmoid(logitsFake))]));
      return discriminatorLoss(config, logitsReal, logitsFake);
    });
    try {
      const [[dReal, dFake], [lossD]] = await Promise.all([probs!.data(), value.data()]);
      return { grads, lossD: lossD!, dReal: dReal!, dFake: dFake! };
    } catch (error) {
      // A failed read (a lost GPU device) must not strand the gradients in a long-lived trainer.
      disposeGrads(grads);
      throw error;
    } finally {
      value.dispose();
    }
  } finally {
    fake.dispose();
    if (realSeen !== real) realSeen.dispose();
    disposeVectors(spectral);
    probs?.dispose();
  }
}

/**
 * Generator gradients. `update` numbers the G update within the step (0, 1, …): each sees its own
 * augmentation draws.
 */
export async function computeGeneratorGrads(
  gan: Gan,
  z: tf.Tensor2D,
  augment?: AugmentPlan,
  update = 0,
): Promise<GeneratorGrads> {
  const { config } = gan;
  const augmented = augmenter(config, augment);
  const spectral = spectralVectors(gan, false);
  let moments = new Map<number, BatchMoments>();
  let value: tf.Scalar;
  let grads: GradMap;
  try {
    ({ value, grads } = namedGrads(gan.g, () => {
      const out = generatorForward(config, gan.g, gan.gStats, z, true);
      for (const m of out.moments.values()) {
        tf.keep(m.mean);
        tf.keep(m.variance);
      }
      moments = out.moments;
      const seen = augmented(out.images, 2 + update);
      return generatorLoss(config, discriminatorForward(config, gan.d, seen, spectral));
    }));
  } finally {
    disposeVectors(spectral);
  }
  try {
    const [lossG] = await value.data();
    return { grads, lossG: lossG!, moments };
  } catch (error) {
    disposeGrads(grads);
    for (const m of moments.values()) tf.dispose([m.mean, m.variance]);
    throw error;
  } finally {
    value.dispose();
  }
}

export function applyGrads(optimizer: Adam, grads: GradMap): void {
  optimizer.apply(grads);
}

export function disposeGrads(grads: GradMap): void {
  for (const g of grads.values()) g.dispose();
}

/** Moves the generator's BN running statistics towards these batch moments, then disposes them. */
export function updateBatchNormStats(gan: Gan, moments: Map<number, BatchMoments>): void {
  const momentum = gan.config.bnMomentum;
  tf.tidy(() => {
    for (const [i, m] of moments) {
      const mean = gan.gStats.get(`g.bn${i}.movingMean`)!;
      const variance = gan.gStats.get(`g.bn${i}.movingVariance`)!;
      mean.assign(mean.mul(1 - momentum).add(m.mean.mul(momentum)));
      variance.assign(variance.mul(1 - momentum).add(m.variance.mul(momentum)));
    }
  });
  for (const m of moments.values()) {
    m.mean.dispose();
    m.variance.dispose();
  }
}

/** One generator update: Adam, the BN running statistics (disposes `moments`), the weight average. */
export function applyGeneratorUpdate(gan: Gan, grads: GradMap, moments: Map<number, BatchMoments>): void {
  applyGrads(gan.optG, grads);
  updateBatchNormStats(gan, moments);
  updateEma(gan);
}

/**
 * One full step: a D update on (real, G(z)), then `gStepsPerD` G updates on the same z (the classic
 * recipe). `augmentSeed`: this step's DiffAugment seed (needed when the recipe augments). Leaves no
 * tensors behind; `real` and `z` stay owned by the caller.
 */
export async function trainStep(
  gan: Gan,
  real: tf.Tensor4D,
  z: tf.Tensor2D,
  augmentSeed = 0,
): Promise<StepResult> {
  const plan: AugmentPlan = { seed: augmentSeed, batch: real.shape[0], offset: 0 };
  const d = await computeDiscriminatorGrads(gan, real, z, plan);
  applyGrads(gan.optD, d.grads);
  disposeGrads(d.grads);
  let lossG = NaN;
  for (let k = 0; k < gan.config.gStepsPerD; k++) {
    const g = await computeGeneratorGrads(gan, z, plan, k);
    applyGeneratorUpdate(gan, g.grads, g.moments);
    disposeGrads(g.grads);
    lossG = g.lossG;
  }
  return { lossD: d.lossD, lossG, dReal: d.dReal, dFake: d.dFake };
}
