/**
 * An inference-only generator built from plain weights, for the sandboxed renderer (weights arrive over
 * IPC) as much as for Node. Browser-safe: only @tensorflow/tfjs and src/shared.
 *
 * Output layout: NHWC, RGB, tanh range [-1, 1]; pixels are round((x + 1) · 127.5). BN uses the running
 * statistics (inference mode), so the same z and weights give the same pixels on a given backend.
 */
import * as tf from '@tensorflow/tfjs';
import { validateGanConfig, withRecipeDefaults, type GanConfig } from './config.ts';
import {
  generatorForward,
  generatorParamSpecs,
  generatorProjection,
  generatorStatSpecs,
  paramSetFromRecord,
  type WeightRecord,
} from './models.ts';

export { GENERATOR_PROJECTION_LAYER } from './models.ts';

/** A batch of 8-bit images, tightly packed (count × height × width × channels). */
export interface ImageBatch {
  count: number;
  width: number;
  height: number;
  channels: 3 | 4;
  pixels: Uint8Array;
}

export interface Generator {
  readonly config: GanConfig;
  /** z [B, zDim] → images [B, S, S, 3] in [-1, 1]. Caller disposes the result. */
  forward(z: tf.Tensor2D): tf.Tensor4D;
  /** The first block's activations (dense → reshape → BN → ReLU), for GANSpace. */
  project(z: tf.Tensor2D): tf.Tensor4D;
  /** `z` holds `count` latents back to back (count × zDim floats). */
  generate(z: Float32Array, options?: { format?: 'rgb' | 'rgba'; batchSize?: number }): Promise<ImageBatch>;
  dispose(): void;
}

/** Everything a generator needs, as plain data (structured-clone friendly for IPC). */
export interface GeneratorWeights {
  config: GanConfig;
  /** `g.*` parameters and BN running statistics; other entries (`d.*`, optimizer moments) are ignored. */
  weights: WeightRecord;
  /** The checkpoint step these weights come from. */
  step?: number;
}

export function generatorFromWeights(storedConfig: GanConfig, weights: WeightRecord): Generator {
  // A config stored before the recipe options existed (favorites, cached weights) is the classic one.
  const config = withRecipeDefaults(storedConfig);
  validateGanConfig(config);
  const params = paramSetFromRecord(generatorParamSpecs(config), weights, false);
  const stats = paramSetFromRecord(generatorStatSpecs(config), weights, false);
  const check = (z: tf.Tensor2D) => {
    if (z.rank !== 2 || z.shape[1] !== config.zDim) {
      throw new Error(`expected z of shape [batch, ${config.zDim}], got [${z.shape.join(', ')}]`);
    }
  };
  const forward = (z: tf.Tensor2D): tf.Tensor4D => {
    check(z);
    return tf.tidy(() => generatorForward(config, params, stats, z, false).images);
  };
  return {
    config,
    forward,
    project: (z) => {
      check(z);
      return generatorProjection(config, params, stats, z);
    },
    generate: async (z, options = {}) => {
      const { format = 'rgb', batchSize = 64 } = options;
      if (z.length % config.zDim !== 0)
        throw new Error(`z has ${z.length} values, not a multiple of zDim ${config.zDim}`);
      const count = z.length / config.zDim;
      const channels = format === 'rgba' ? 4 : 3;
      const size = config.imageSize;
      const pixels = new Uint8Array(count * size * size * channels);
      for (let start = 0; start < count; start += batchSize) {
        const n = Math.min(batchSize, count - start);
        const images = tf.tidy(() =>
          forward(tf.tensor2d(z.subarray(start * config.zDim, (start + n) * config.zDim), [n, config.zDim])),
        );
        pixels.set(
          imagesToPixels(await images.data(), n * size * size, channels),
          start * size * size * channels,
        );
        images.dispose();
      }
      return { count, width: size, height: size, channels, pixels };
    },
    dispose: () => {
      for (const set of [params, stats]) {
        for (const v of set.values()) v.dispose();
        set.clear();
      }
    },
  };
}

/** [-1, 1] RGB floats → 8-bit RGB or RGBA (opaque). */
export function imagesToPixels(values: ArrayLike<number>, pixelCount: number, channels: 3 | 4): Uint8Array {
  const out = new Uint8Array(pixelCount * channels);
  for (let p = 0; p < pixelCount; p++) {
    for (let c = 0; c < 3; c++) {
      const v = Math.round((values[p * 3 + c]! + 1) * 127.5);
      out[p * channels + c] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
    if (channels === 4) out[p * 4 + 3] = 255;
  }
  return out;
}
