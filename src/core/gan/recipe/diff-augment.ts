/**
 * DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training"): random
 * colour, translation and cutout applied to every batch the discriminator sees — reals and fakes alike,
 * in the D and the G update — so D cannot memorise a small dataset, while G still gets gradients through
 * the augmentation. Browser-safe: tf ops only (matrix products and masks), differentiable everywhere.
 *
 * Randomness is explicit: a step draws one 32-bit seed from the run's noise stream (checkpointed), and
 * every image's parameters come from that seed, the batch part and the image's index in the full batch.
 * A batch split over workers therefore augments each image exactly as the unsplit step would.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../../shared/rng.ts';
import type { AugmentKind } from '../config.ts';

/** Uniform draws per image: brightness, saturation, contrast, shift y, shift x, cutout y, cutout x. */
export const DRAWS_PER_IMAGE = 7;

/** Translation up to 1/8 of the side, cutout squares of half the side: the paper's settings. */
const TRANSLATION_RATIO = 0.125;
const CUTOUT_RATIO = 0.5;

/**
 * Where a batch part's augmentation comes from. Parts: 0 = the reals of the D update, 1 = its fakes,
 * 2 + k = the fakes of the k-th G update.
 */
export interface AugmentPlan {
  seed: number;
  /** The full batch size (the draws of every image of every part are laid out by it). */
  batch: number;
  /** Index of this slice's first image in the full batch. */
  offset: number;
}

/** The draws of images [offset, offset + count) of `part`. */
export function augmentDraws(plan: AugmentPlan, part: number, count: number): Float32Array {
  // One stream per part, so a part's draws do not depend on how many G updates a step makes.
  const rng = new Rng((plan.seed ^ Math.imul(part + 1, 0x9e3779b1)) >>> 0);
  const all = new Float32Array(plan.batch * DRAWS_PER_IMAGE);
  for (let i = 0; i < all.length; i++) all[i] = rng.next();
  return all.slice(plan.offset * DRAWS_PER_IMAGE, (plan.offset + count) * DRAWS_PER_IMAGE);
}

/** Row-shift matrices [B, S, S]: (M·X)[i] = X[i + shift], zero where that falls outside the image. */
function shiftMatrices(shifts: number[], size: number): tf.Tensor3D {
  const data = new Float32Array(shifts.length * size * size);
  shifts.forEach((shift, b) => {
    for (let i = 0; i < size; i++) {
      const j = i + shift;
      if (j >= 0 && j < size) data[(b * size + i) * size + j] = 1;
    }
  });
  return tf.tensor3d(data, [shifts.length, size, size]);
}

function translate(x: tf.Tensor4D, draws: Float32Array): tf.Tensor4D {
  const [batch, size, , channels] = x.shape;
  const reach = Math.floor(size * TRANSLATION_RATIO + 0.5);
  const shift = (b: number, k: number) =>
    Math.min(2 * reach, Math.floor(draws[b * DRAWS_PER_IMAGE + k]! * (2 * reach + 1))) - reach;
  const shiftsY = Array.from({ length: batch }, (_, b) => shift(b, 3));
  const shiftsX = Array.from({ length: batch }, (_, b) => shift(b, 4));
  const rows = tf
    .matMul(shiftMatrices(shiftsY, size), x.reshape([batch, size, size * channels]))
    .reshape([batch, size, size, channels]);
  const byColumn = rows.transpose([0, 2, 1, 3]).reshape([batch, size, size * channels]);
  return tf
    .matMul(shiftMatrices(shiftsX, size), byColumn)
    .reshape([batch, size, size, channels])
    .transpose([0, 2, 1, 3]) as tf.Tensor4D;
}

/** Zeroes a square of half the side per image, centred anywhere in the image (clipped at its edges). */
function cutout(x: tf.Tensor4D, draws: Float32Array): tf.Tensor4D {
  const [batch, size] = x.shape;
  const side = Math.floor(size * CUTOUT_RATIO + 0.5);
  const centres = size + (1 - (side % 2));
  const mask = new Float32Array(batch * size * size).fill(1);
  for (let b = 0; b < batch; b++) {
    const cy = Math.min(centres - 1, Math.floor(draws[b * DRAWS_PER_IMAGE + 5]! * centres));
    const cx = Math.min(centres - 1, Math.floor(draws[b * DRAWS_PER_IMAGE + 6]! * centres));
    const y0 = Math.max(0, cy - Math.floor(side / 2));
    const y1 = Math.min(size, cy - Math.floor(side / 2) + side);
    const x0 = Math.max(0, cx - Math.floor(side / 2));
    const x1 = Math.min(size, cx - Math.floor(side / 2) + side);
    for (let y = y0; y < y1; y++) mask.fill(0, (b * size + y) * size + x0, (b * size + y) * size + x1);
  }
  return x.mul(tf.tensor4d(mask, [batch, size, size, 1]));
}

/** Brightness ±0.5, saturation ×[0, 2), contrast ×[0.5, 1.5), per image (DiffAugment's 'color'). */
function color(x: tf.Tensor4D, draws: Float32Array): tf.Tensor4D {
  const batch = x.shape[0];
  const column = (k: number, scale: number, shift: number) =>
    tf.tensor4d(
      Array.from({ length: batch }, (_, b) => draws[b * DRAWS_PER_IMAGE + k]! * scale + shift),
      [batch, 1, 1, 1],
    );
  const bright = x.add(column(0, 1, -0.5));
  const grey = bright.mean(3, true);
  const saturated = bright
    .sub(grey)
    .mul(column(1, 2, 0))
    .add(grey);
  const average = saturated.mean([1, 2, 3], true);
  return saturated
    .sub(average)
    .mul(column(2, 1, 0.5))
    .add(average) as tf.Tensor4D;
}

/** Applies `kinds` in DiffAugment's order (colour, translation, cutout) with these per-image draws. */
export function diffAugment(x: tf.Tensor4D, kinds: readonly AugmentKind[], draws: Float32Array): tf.Tensor4D {
  if (kinds.length === 0) return x;
  if (draws.length !== x.shape[0] * DRAWS_PER_IMAGE)
    throw new Error(`diffAugment: ${draws.length} draws for ${x.shape[0]} images`);
  return tf.tidy(() => {
    let y = x;
    if (kinds.includes('color')) y = color(y, draws);
    if (kinds.includes('translation')) y = translate(y, draws);
    if (kinds.includes('cutout')) y = cutout(y, draws);
    return y;
  });
}
