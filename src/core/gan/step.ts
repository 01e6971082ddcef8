/**
 * One DCGAN training step, split so gradients can be computed separately from applying them (a batch can
 * be spread over workers whose gradients are averaged before one update). Browser-safe.
 *
 * Loss: the non-saturating GAN loss on logits (sigmoid cross-entropy), one-sided label smoothing on reals.
 */
import * as tf from '@tensorflow/tfjs';
import type { Adam } from './adam.ts';
import {
  discriminatorForward,
  generatorForward,
  type BatchMoments,
  type Gan,
  type ParamSet,
} from './models.ts';

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
): Promise<DiscriminatorGrads> {
  const { config } = gan;
  const fake = tf.tidy(() => generatorForward(config, gan.g, gan.gStats, z, true).images);
  let probs: tf.Tensor | undefined;
  try {
    const { value, grads } = namedGrads(gan.d, () => {
      const logitsReal = discriminatorForward(config, gan.d, real);
      const logitsFake = discriminatorForward(config, gan.d, fake);
      probs = tf.keep(tf.stack([tf.mean(tf.sigmoid(logitsReal)), tf.mean(tf.sigmoid(logitsFake))]));
      return sigmoidCrossEntropy(logitsReal, 1 - config.labelSmoothing).add(
        sigmoidCrossEntropy(logitsFake, 0),
      );
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
    probs?.dispose();
  }
}

/** Generator gradients (non-saturating loss: G wants D to call its fakes real). */
export async function computeGeneratorGrads(gan: Gan, z: tf.Tensor2D): Promise<GeneratorGrads> {
  const { config } = gan;
  let moments = new Map<number, BatchMoments>();
  const { value, grads } = namedGrads(gan.g, () => {
    const out = generatorForward(config, gan.g, gan.gStats, z, true);
    for (const m of out.moments.values()) {
      tf.keep(m.mean);
      tf.keep(m.variance);
    }
    moments = out.moments;
    return sigmoidCrossEntropy(discriminatorForward(config, gan.d, out.images), 1);
  });
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

/**
 * One full step: a D update on (real, G(z)), then `gStepsPerD` G updates on the same z (the classic
 * recipe). Leaves no tensors behind; `real` and `z` stay owned by the caller.
 */
export async function trainStep(gan: Gan, real: tf.Tensor4D, z: tf.Tensor2D): Promise<StepResult> {
  const d = await computeDiscriminatorGrads(gan, real, z);
  applyGrads(gan.optD, d.grads);
  disposeGrads(d.grads);
  let lossG = NaN;
  for (let k = 0; k < gan.config.gStepsPerD; k++) {
    const g = await computeGeneratorGrads(gan, z);
    applyGrads(gan.optG, g.grads);
    disposeGrads(g.grads);
    updateBatchNormStats(gan, g.moments);
    lossG = g.lossG;
  }
  return { lossD: d.lossD, lossG, dReal: d.dReal, dFake: d.dFake };
}
