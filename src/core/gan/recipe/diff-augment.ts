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
import { diffAugmentKernel, hasDiffAugmentKernel } from '../kernels/diff-augment.ts';

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

/**
 * Translation and cutout as one pixel mapping: output pixel p of image b reads source pixel
 * `source[p]` (an index into the batch's pixels) or, where it falls outside the image or inside the
 * cutout square, nothing (−1).
 */
function pixelMapping(
  kinds: readonly AugmentKind[],
  draws: Float32Array,
  batch: number,
  size: number,
): Int32Array {
  const pixels = batch * size * size;
  const source = new Int32Array(pixels);
  const reach = Math.floor(size * TRANSLATION_RATIO + 0.5);
  const side = Math.floor(size * CUTOUT_RATIO + 0.5);
  const centres = size + (1 - (side % 2));
  const translate = kinds.includes('translation');
  const cut = kinds.includes('cutout');
  for (let b = 0; b < batch; b++) {
    const draw = (k: number) => draws[b * DRAWS_PER_IMAGE + k]!;
    const shiftY = translate ? Math.min(2 * reach, Math.floor(draw(3) * (2 * reach + 1))) - reach : 0;
    const shiftX = translate ? Math.min(2 * reach, Math.floor(draw(4) * (2 * reach + 1))) - reach : 0;
    const cutY = Math.min(centres - 1, Math.floor(draw(5) * centres)) - Math.floor(side / 2);
    const cutX = Math.min(centres - 1, Math.floor(draw(6) * centres)) - Math.floor(side / 2);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const sy = y + shiftY;
        const sx = x + shiftX;
        const inside = sy >= 0 && sy < size && sx >= 0 && sx < size;
        const cutAway = cut && y >= cutY && y < cutY + side && x >= cutX && x < cutX + side;
        source[(b * size + y) * size + x] = inside && !cutAway ? (b * size + sy) * size + sx : -1;
      }
    }
  }
  return source;
}

/**
 * x [B, S, S, C] → the mapped pixels: one Gather forward and, since every source pixel feeds at most one
 * output pixel, one Gather backward (through the inverse mapping) — two kernels on every backend, where
 * Gather's stock gradient (a scatter-add) is missing on some.
 */
function remapPixels(x: tf.Tensor4D, source: Int32Array): tf.Tensor4D {
  const [batch, height, width, channels] = x.shape;
  const blank = source.length; // index of the zero row appended below
  const forward = source.map((src) => (src < 0 ? blank : src));
  const inverse = new Int32Array(blank).fill(blank);
  source.forEach((src, dst) => {
    if (src >= 0) inverse[src] = dst;
  });
  const gatherRows = (values: tf.Tensor, index: Int32Array) =>
    tf.tidy(() => {
      const rows = values.reshape([blank, channels]);
      const padded = tf.concat([rows, tf.zeros([1, channels])], 0);
      return tf.gather(padded, tf.tensor1d(index, 'int32')).reshape([batch, height, width, channels]);
    });
  const remap = tf.customGrad((input, save) => {
    void save;
    return {
      value: gatherRows(input as tf.Tensor, forward),
      gradFunc: (dy: tf.Tensor) => gatherRows(dy, inverse),
    };
  });
  return remap(x) as tf.Tensor4D;
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

function checkDraws(x: tf.Tensor4D, draws: Float32Array): void {
  if (draws.length !== x.shape[0] * DRAWS_PER_IMAGE)
    throw new Error(`diffAugment: ${draws.length} draws for ${x.shape[0]} images`);
}

/**
 * Applies `kinds` in DiffAugment's order (colour, translation, cutout) with these per-image draws: one
 * fused kernel (and one for its gradient) on wasm and cpu, the tf-op composition elsewhere.
 */
export function diffAugment(x: tf.Tensor4D, kinds: readonly AugmentKind[], draws: Float32Array): tf.Tensor4D {
  if (kinds.length === 0) return x;
  checkDraws(x, draws);
  if (x.dtype !== 'float32' || !hasDiffAugmentKernel()) return diffAugmentComposed(x, kinds, draws);
  const [batch, size] = x.shape;
  const color = kinds.includes('color')
    ? Float32Array.from({ length: batch * 3 }, (_, i) => {
        const [b, k] = [Math.floor(i / 3), i % 3];
        const d = draws[b * DRAWS_PER_IMAGE + k]!;
        return k === 0 ? d - 0.5 : k === 1 ? d * 2 : d + 0.5;
      })
    : undefined;
  const remaps = kinds.includes('translation') || kinds.includes('cutout');
  const source = remaps ? pixelMapping(kinds, draws, batch, size) : undefined;
  return diffAugmentKernel(x, { color, source });
}

/** The same augmentation as a composition of tf ops: the reference, and the path on GPU backends. */
export function diffAugmentComposed(
  x: tf.Tensor4D,
  kinds: readonly AugmentKind[],
  draws: Float32Array,
): tf.Tensor4D {
  if (kinds.length === 0) return x;
  checkDraws(x, draws);
  return tf.tidy(() => {
    let y = x;
    if (kinds.includes('color')) y = color(y, draws);
    if (kinds.includes('translation') || kinds.includes('cutout')) {
      y = remapPixels(y, pixelMapping(kinds, draws, y.shape[0], y.shape[1]));
    }
    return y;
  });
}
