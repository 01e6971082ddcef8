/**
 * An exponential moving average of the generator's weights (Karras et al. 2018; Yazıcı et al. 2019):
 * samples from the averaged weights are smoother and less noisy, at no training cost.
 *
 * Batch norm needs care: the raw generator's running statistics describe the raw weights' activations,
 * not the average's (using them made samples worse in our measurements). So the averaged generator's BN
 * statistics are re-estimated from its own activations on a fixed set of latents whenever it is sampled
 * or saved — a pure function of the averaged weights, which keeps resumes exact. Browser-safe.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../../shared/rng.ts';
import type { GanConfig } from '../config.ts';
import { generatorForward, type Gan, type ParamSet } from '../models.ts';
import { deriveSeed } from '../seeds.ts';

/** Batches × size of the latents that re-estimate the averaged generator's BN statistics. */
const STAT_BATCHES = 4;
const STAT_BATCH_SIZE = 64;

/**
 * The decay used after `updates` generator updates: ramped up early ((1 + t) / (10 + t)), so the average
 * does not hold on to the random initial weights for thousands of steps.
 */
export function emaDecayAt(decay: number, updates: number): number {
  return Math.min(decay, (1 + updates) / (10 + updates));
}

/** average ← d·average + (1 − d)·weights, after G's `optG.step`-th update. */
export function updateEma(gan: Gan): void {
  if (!gan.ema) return;
  const d = emaDecayAt(gan.config.emaDecay, gan.optG.step);
  tf.tidy(() => {
    for (const [name, average] of gan.ema!.g) {
      const weights = gan.g.get(name)!;
      average.assign(average.mul(d).add(weights.mul(1 - d)));
    }
  });
}

/** The fixed latents of the BN re-estimation (the same for every run of a config's zDim). */
function statLatents(config: GanConfig): Float32Array {
  return new Rng(deriveSeed(0, 'ema-batch-norm')).normalArray(STAT_BATCHES * STAT_BATCH_SIZE * config.zDim);
}

/**
 * Re-estimates `stats` (BN moving mean/variance of each layer) as the exact moments of the averaged
 * generator's pre-BN activations over the fixed latents, in training-mode batches of 64.
 */
export async function reestimateEmaStats(
  config: GanConfig,
  weights: ParamSet,
  stats: ParamSet,
): Promise<void> {
  const latents = statLatents(config);
  const sums = new Map<number, { mean: tf.Tensor; meanSquare: tf.Tensor }>();
  for (let b = 0; b < STAT_BATCHES; b++) {
    const start = b * STAT_BATCH_SIZE * config.zDim;
    tf.tidy(() => {
      const z = tf.tensor2d(latents.subarray(start, start + STAT_BATCH_SIZE * config.zDim), [
        STAT_BATCH_SIZE,
        config.zDim,
      ]);
      const { moments } = generatorForward(config, weights, stats, z, true);
      for (const [layer, m] of moments) {
        // E[x²] of the batch = variance + mean², summed over batches of equal size.
        const meanSquare = m.variance.add(m.mean.square());
        const previous = sums.get(layer);
        const next = previous
          ? { mean: previous.mean.add(m.mean), meanSquare: previous.meanSquare.add(meanSquare) }
          : { mean: m.mean.clone(), meanSquare };
        if (previous) tf.dispose([previous.mean, previous.meanSquare]);
        sums.set(layer, { mean: tf.keep(next.mean), meanSquare: tf.keep(next.meanSquare) });
      }
    });
  }
  tf.tidy(() => {
    for (const [layer, sum] of sums) {
      const mean = sum.mean.div(STAT_BATCHES);
      const variance = tf.relu(sum.meanSquare.div(STAT_BATCHES).sub(mean.square()));
      stats.get(`g.bn${layer}.movingMean`)!.assign(mean as tf.Tensor1D);
      stats.get(`g.bn${layer}.movingVariance`)!.assign(variance as tf.Tensor1D);
    }
  });
  for (const sum of sums.values()) tf.dispose([sum.mean, sum.meanSquare]);
  // Reading one value waits for the GPU backends to finish before the caller samples.
  await stats.values().next().value?.data();
}

/** The G update count the averaged generator's statistics were last re-estimated at, per GAN. */
const estimatedAt = new WeakMap<Gan, number>();

/**
 * The generator to sample from: the average (statistics re-estimated) when the run keeps one. A step
 * that samples, evaluates and checkpoints re-estimates once: the average only changes with G updates.
 */
export async function samplingGenerator(gan: Gan): Promise<{ g: ParamSet; stats: ParamSet }> {
  if (!gan.ema) return { g: gan.g, stats: gan.gStats };
  if (estimatedAt.get(gan) !== gan.optG.step) {
    await reestimateEmaStats(gan.config, gan.ema.g, gan.ema.stats);
    estimatedAt.set(gan, gan.optG.step);
  }
  return gan.ema;
}
