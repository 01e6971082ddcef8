/**
 * Images from a live GAN's generator in inference mode: sample grids and SWD fakes during training.
 * Browser-safe (tfjs only).
 */
import * as tf from '@tensorflow/tfjs';
import { imagesToPixels, type ImageBatch } from './generator-web.ts';
import { generatorForward, type Gan } from './models.ts';

/** Images from a live GAN's generator in inference mode. */
export async function generateWithGan(gan: Gan, z: Float32Array): Promise<ImageBatch> {
  const { config } = gan;
  const count = z.length / config.zDim;
  const images = tf.tidy(
    () => generatorForward(config, gan.g, gan.gStats, tf.tensor2d(z, [count, config.zDim]), false).images,
  );
  const values = await images.data();
  images.dispose();
  return {
    count,
    width: config.imageSize,
    height: config.imageSize,
    channels: 3,
    pixels: imagesToPixels(values, count * config.imageSize * config.imageSize, 3),
  };
}

/** Generated images as NHWC floats in [-1, 1], produced in chunks of 64. */
export async function generateFloats(
  gan: Gan,
  z: Float32Array,
): Promise<{ data: Float32Array; count: number; size: number }> {
  const { config } = gan;
  const count = z.length / config.zDim;
  const data = new Float32Array(count * config.imageSize ** 2 * 3);
  const chunk = 64;
  for (let start = 0; start < count; start += chunk) {
    const n = Math.min(chunk, count - start);
    const images = tf.tidy(
      () =>
        generatorForward(
          config,
          gan.g,
          gan.gStats,
          tf.tensor2d(z.subarray(start * config.zDim, (start + n) * config.zDim), [n, config.zDim]),
          false,
        ).images,
    );
    data.set(await images.data(), start * config.imageSize ** 2 * 3);
    images.dispose();
  }
  return { data, count, size: config.imageSize };
}
