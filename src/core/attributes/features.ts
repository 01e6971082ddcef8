/**
 * Two ways to describe a face as a feature vector for the tag classifiers, both free of downloads:
 *
 * - `pixels`: the face's colours on an 8×8 grid (box-averaged), as values and as hues: what hair and eye
 *   colour tags need;
 * - `discriminator`: the run's own D up to its last layer — features it learned to tell these faces apart.
 *
 * Which one a tag uses is decided by accuracy on held-out tagged faces (learn.ts). Both take images
 * [B, S, S, 3] in [-1, 1], real crops and generated faces alike.
 */
import * as tf from '@tensorflow/tfjs';
import type { GanConfig } from '../gan/config.ts';
import {
  discriminatorFeatures,
  discriminatorParamSpecs,
  discriminatorStatSpecs,
  paramSetFromRecord,
  spectralNormWeights,
  spectralVectorName,
  type WeightRecord,
} from '../gan/models.ts';
import { powerIteration, type PowerIterate } from '../gan/recipe/spectral-norm.ts';
import type { AttributeFeatures } from '../../shared/explorer-schemas.ts';

export type FeatureKind = AttributeFeatures;

export interface FeatureExtractor {
  kind: FeatureKind;
  /** images [B, S, S, 3] → features [B, F]. */
  extract(images: tf.Tensor4D): tf.Tensor2D;
  dispose(): void;
}

/** Side of the colour grid the `pixels` features average the face down to. */
export const PIXEL_GRID = 8;

export function pixelFeatureExtractor(): FeatureExtractor {
  return {
    kind: 'pixels',
    extract: (images) =>
      tf.tidy(() => {
        const size = images.shape[1];
        const rgb = (
          size % PIXEL_GRID === 0
            ? tf.avgPool(images, size / PIXEL_GRID, size / PIXEL_GRID, 'valid')
            : tf.image.resizeBilinear(images, [PIXEL_GRID, PIXEL_GRID])
        )
          .add(1)
          .div(2) as tf.Tensor4D;
        // Chromaticity (each channel's share of the cell's brightness): hair and eye colour tags are hues,
        // which a linear classifier cannot read off dark pixels' raw values.
        const chroma = rgb.div(rgb.sum(3, true).add(0.05));
        return tf.concat([rgb, chroma], 3).reshape([images.shape[0], -1]) as tf.Tensor2D;
      }),
    dispose: () => undefined,
  };
}

/**
 * D's penultimate features from a checkpoint's `d.*` tensors. D normalises with batch statistics, so a
 * face's features depend a little on its batch: callers feed fixed-size batches (featureRows).
 */
export function discriminatorFeatureExtractor(config: GanConfig, tensors: WeightRecord): FeatureExtractor {
  const params = paramSetFromRecord(discriminatorParamSpecs(config), tensors, false);
  const stats = paramSetFromRecord(discriminatorStatSpecs(config), tensors, false);
  let spectral: Map<string, PowerIterate> | undefined;
  if (config.spectralNorm) {
    spectral = new Map();
    for (const name of spectralNormWeights(config)) {
      spectral.set(name, powerIteration(params.get(name)!, stats.get(spectralVectorName(name))!));
    }
  }
  return {
    kind: 'discriminator',
    extract: (images) => tf.tidy(() => discriminatorFeatures(config, params, images, spectral)),
    dispose: () => {
      for (const set of [params, stats]) for (const v of set.values()) v.dispose();
      for (const { u, v } of spectral?.values() ?? []) {
        u.dispose();
        v.dispose();
      }
    },
  };
}

/** Features of `count` images (NHWC floats in [-1, 1], row-major), in batches of `batchSize`. */
export async function featureRows(
  extractor: FeatureExtractor,
  images: Float32Array,
  count: number,
  size: number,
  batchSize = 64,
): Promise<{ data: Float32Array; featureSize: number }> {
  const perImage = size * size * 3;
  const parts: Float32Array[] = [];
  let featureSize = 0;
  for (let start = 0; start < count; start += batchSize) {
    const n = Math.min(batchSize, count - start);
    const out = tf.tidy(() =>
      extractor.extract(
        tf.tensor4d(images.subarray(start * perImage, (start + n) * perImage), [n, size, size, 3]),
      ),
    );
    featureSize = out.shape[1];
    parts.push((await out.data()) as Float32Array);
    out.dispose();
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  const data = new Float32Array(count * featureSize);
  let offset = 0;
  for (const part of parts) {
    data.set(part, offset);
    offset += part.length;
  }
  return { data, featureSize };
}
