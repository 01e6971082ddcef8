/**
 * Sliced Wasserstein distance between two image sets on Laplacian-pyramid patches, after Karras et al.
 * 2018 (ProGAN, `metrics/sliced_wasserstein.py`): pyramid levels from full resolution down to 16 px,
 * 128 random 7×7 neighbourhoods per image per level, descriptors normalised per channel, 4 repeats of
 * 128 random unit directions (512 projections), distance reported ×10³ per level plus the average.
 * Lower is better; it needs no pretrained network. Deterministic for a seed. Browser-safe.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../shared/rng.ts';
import { deriveSeed } from './seeds.ts';

/** Images as NHWC RGB floats (any consistent scale, e.g. [-1, 1] or [0, 255]). */
export interface ImageSet {
  data: Float32Array;
  count: number;
  size: number;
}

export interface SwdOptions {
  seed?: number;
  nhoodSize?: number;
  nhoodsPerImage?: number;
  dirRepeats?: number;
  dirsPerRepeat?: number;
}

export interface SwdResult {
  /** One entry per pyramid level, finest first; `swd` is ×10³. */
  levels: Array<{ resolution: number; swd: number }>;
  /** Mean over levels, ×10³. */
  average: number;
}

/** Per-level normalised descriptors of an image set: rows of nhoodSize²·3 floats. */
export interface SwdDescriptors {
  resolutions: number[];
  levels: Float32Array[];
  rows: number;
  dim: number;
}

const GAUSS = [1, 4, 6, 4, 1].map((v) => v / 16);

export function pyramidResolutions(size: number): number[] {
  const out: number[] = [];
  for (let r = size; r >= 16; r = Math.floor(r / 2)) out.push(r);
  if (out.length === 0) throw new Error(`images of ${size}px are too small for SWD (minimum 16)`);
  return out;
}

/** scipy.ndimage 'mirror' boundary: d c b | a b c d | c b a. */
function mirror(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  i = ((i % period) + period) % period;
  return i < n ? i : period - i;
}

/** Separable 5-tap Gaussian on one h×w plane (scale multiplies the kernel, 4 for pyrUp). */
function blur(plane: Float32Array, h: number, w: number, scale: number): Float32Array {
  const tmp = new Float32Array(h * w);
  const out = new Float32Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let k = -2; k <= 2; k++) s += GAUSS[k + 2]! * plane[y * w + mirror(x + k, w)]!;
      tmp[y * w + x] = s;
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let k = -2; k <= 2; k++) s += GAUSS[k + 2]! * tmp[mirror(y + k, h) * w + x]!;
      out[y * w + x] = s * scale;
    }
  }
  return out;
}

function pyrDown(plane: Float32Array, h: number, w: number): Float32Array {
  const blurred = blur(plane, h, w, 1);
  const oh = Math.ceil(h / 2);
  const ow = Math.ceil(w / 2);
  const out = new Float32Array(oh * ow);
  for (let y = 0; y < oh; y++) for (let x = 0; x < ow; x++) out[y * ow + x] = blurred[2 * y * w + 2 * x]!;
  return out;
}

function pyrUp(plane: Float32Array, h: number, w: number): Float32Array {
  const up = new Float32Array(4 * h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) up[2 * y * 2 * w + 2 * x] = plane[y * w + x]!;
  return blur(up, 2 * h, 2 * w, 4);
}

/** Laplacian pyramid of one channel plane: band-pass levels, then the low-pass residual. */
function laplacianPyramid(plane: Float32Array, size: number, levels: number): Float32Array[] {
  const pyramid = [plane];
  let s = size;
  for (let i = 1; i < levels; i++) {
    const down = pyrDown(pyramid[i - 1]!, s, s);
    const up = pyrUp(down, s / 2, s / 2);
    const band = new Float32Array(pyramid[i - 1]!);
    for (let k = 0; k < band.length; k++) band[k]! -= up[k]!;
    pyramid[i - 1] = band;
    pyramid.push(down);
    s /= 2;
  }
  return pyramid;
}

/** Extracts and normalises the patch descriptors of an image set (cache the real set's across evaluations). */
export function swdDescriptors(
  images: ImageSet,
  options: SwdOptions & { stream?: string } = {},
): SwdDescriptors {
  const { seed = 0, nhoodSize = 7, nhoodsPerImage = 128, stream = 'patches' } = options;
  const { data, count, size } = images;
  if (data.length !== count * size * size * 3)
    throw new Error('SWD: image data does not match count × size² × 3');
  const resolutions = pyramidResolutions(size);
  const rng = new Rng(deriveSeed(seed, stream));
  const half = Math.floor(nhoodSize / 2);
  const dim = 3 * nhoodSize * nhoodSize;
  const rows = count * nhoodsPerImage;
  const levels = resolutions.map(() => new Float32Array(rows * dim));
  const plane = new Float32Array(size * size);
  for (let n = 0; n < count; n++) {
    const channelPyramids: Float32Array[][] = [];
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < size * size; p++) plane[p] = data[(n * size * size + p) * 3 + c]!;
      channelPyramids.push(laplacianPyramid(plane, size, resolutions.length));
    }
    resolutions.forEach((res, level) => {
      const out = levels[level]!;
      for (let k = 0; k < nhoodsPerImage; k++) {
        const cx = half + rng.int(res - 2 * half);
        const cy = half + rng.int(res - 2 * half);
        let o = (n * nhoodsPerImage + k) * dim;
        for (let c = 0; c < 3; c++) {
          const src = channelPyramids[c]![level]!;
          for (let y = -half; y <= half; y++) {
            for (let x = -half; x <= half; x++) out[o++] = src[(cy + y) * res + cx + x]!;
          }
        }
      }
    });
  }
  // Normalise each colour channel over all descriptors (ProGAN's finalize_descriptors).
  const perChannel = nhoodSize * nhoodSize;
  for (const desc of levels) {
    for (let c = 0; c < 3; c++) {
      let sum = 0;
      let sumSq = 0;
      for (let r = 0; r < rows; r++) {
        for (let j = 0; j < perChannel; j++) {
          const v = desc[r * dim + c * perChannel + j]!;
          sum += v;
          sumSq += v * v;
        }
      }
      const total = rows * perChannel;
      const mean = sum / total;
      const std = Math.sqrt(Math.max(sumSq / total - mean * mean, 0)) || 1;
      for (let r = 0; r < rows; r++) {
        for (let j = 0; j < perChannel; j++) {
          const i = r * dim + c * perChannel + j;
          desc[i] = (desc[i]! - mean) / std;
        }
      }
    }
  }
  return { resolutions, levels, rows, dim };
}

/**
 * SWD between two descriptor sets with the same row count (same number of images). Async: projections
 * are read back with `data()` (WebGPU cannot read synchronously).
 */
export async function swdFromDescriptors(
  a: SwdDescriptors,
  b: SwdDescriptors,
  options: SwdOptions = {},
): Promise<SwdResult> {
  const { seed = 0, dirRepeats = 4, dirsPerRepeat = 128 } = options;
  if (a.rows !== b.rows || a.dim !== b.dim || a.resolutions.join() !== b.resolutions.join()) {
    throw new Error(`SWD needs sets of equal size and resolution (${a.rows} vs ${b.rows} descriptors)`);
  }
  const rng = new Rng(deriveSeed(seed, 'directions'));
  const levels: SwdResult['levels'] = [];
  for (const [level, resolution] of a.resolutions.entries()) {
    let total = 0;
    for (let r = 0; r < dirRepeats; r++) {
      const dirs = rng.normalArray(a.dim * dirsPerRepeat); // [dim, dirs]
      for (let j = 0; j < dirsPerRepeat; j++) {
        let norm = 0;
        for (let i = 0; i < a.dim; i++) norm += dirs[i * dirsPerRepeat + j]! ** 2;
        norm = Math.sqrt(norm);
        for (let i = 0; i < a.dim; i++) dirs[i * dirsPerRepeat + j]! /= norm;
      }
      const [projA, projB] = await Promise.all(
        [a, b].map(async (set) => {
          // [rows, dirs] (an untransposed matMul: the transposed variants are far slower on wasm). The
          // array is read outside tf.tidy, which would otherwise walk every element of a returned array.
          const projected = tf.tidy(() =>
            tf.matMul(
              tf.tensor2d(set.levels[level]!, [set.rows, set.dim]),
              tf.tensor2d(dirs, [a.dim, dirsPerRepeat]),
            ),
          );
          try {
            return (await projected.data()) as Float32Array;
          } finally {
            projected.dispose();
          }
        }),
      );
      let sum = 0;
      const colA = new Float32Array(a.rows);
      const colB = new Float32Array(a.rows);
      for (let j = 0; j < dirsPerRepeat; j++) {
        for (let i = 0; i < a.rows; i++) {
          colA[i] = projA![i * dirsPerRepeat + j]!;
          colB[i] = projB![i * dirsPerRepeat + j]!;
        }
        colA.sort();
        colB.sort();
        for (let i = 0; i < a.rows; i++) sum += Math.abs(colA[i]! - colB[i]!);
      }
      total += sum / (a.rows * dirsPerRepeat);
    }
    levels.push({ resolution, swd: (total / dirRepeats) * 1e3 });
  }
  return { levels, average: levels.reduce((s, l) => s + l.swd, 0) / levels.length };
}

/** SWD between two image sets of the same size and count. */
export async function slicedWassersteinDistance(
  a: ImageSet,
  b: ImageSet,
  options: SwdOptions = {},
): Promise<SwdResult> {
  if (a.size !== b.size || a.count !== b.count) {
    throw new Error(
      `SWD needs two sets of the same image size and count (${a.count}×${a.size}px vs ${b.count}×${b.size}px)`,
    );
  }
  const da = swdDescriptors(a, { ...options, stream: 'patches-a' });
  const db = swdDescriptors(b, { ...options, stream: 'patches-b' });
  return swdFromDescriptors(da, db, options);
}
