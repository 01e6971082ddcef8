/**
 * Images from a live GAN's generator in inference mode: sample grids and SWD fakes during training.
 * A run that keeps a weight average is sampled from the average (what a user gets from the run), unless
 * `raw` asks for the trained weights. Browser-safe (tfjs only).
 */
import * as tf from '@tensorflow/tfjs';
import { imagesToPixels, type ImageBatch } from './generator-web.ts';
import { generatorForward, type Gan } from './models.ts';
import { samplingGenerator } from './recipe/ema.ts';

export interface SamplingOptions {
  /** Sample the trained weights even when the run keeps a weight average. */
  raw?: boolean;
}

/** Generated images as NHWC floats in [-1, 1], produced in chunks of 64. */
export async function generateFloats(
  gan: Gan,
  z: Float32Array,
  options: SamplingOptions = {},
): Promise<{ data: Float32Array; count: number; size: number }> {
  const { config } = gan;
  const { g, stats } = options.raw ? { g: gan.g, stats: gan.gStats } : await samplingGenerator(gan);
  const count = z.length / config.zDim;
  const data = new Float32Array(count * config.imageSize ** 2 * 3);
  const chunk = 64;
  for (let start = 0; start < count; start += chunk) {
    const n = Math.min(chunk, count - start);
    const images = tf.tidy(
      () =>
        generatorForward(
          config,
          g,
          stats,
          tf.tensor2d(z.subarray(start * config.zDim, (start + n) * config.zDim), [n, config.zDim]),
          false,
        ).images,
    );
    data.set(await images.data(), start * config.imageSize ** 2 * 3);
    images.dispose();
  }
  return { data, count, size: config.imageSize };
}

/** Images from a live GAN's generator in inference mode, as 8-bit RGB. */
export async function generateWithGan(
  gan: Gan,
  z: Float32Array,
  options: SamplingOptions = {},
): Promise<ImageBatch> {
  const { data, count, size } = await generateFloats(gan, z, options);
  return {
    count,
    width: size,
    height: size,
    channels: 3,
    pixels: imagesToPixels(data, count * size * size, 3),
  };
}
