/**
 * A real `tiny` DCGAN from the gan engineer's code (seeded init + a few training steps on real faces from
 * the shared data), so explorer and library tests run against the actual generator, BN running stats included.
 */
import * as tf from '@tensorflow/tfjs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { resolveGanConfig, type GanConfig } from '../../../src/core/gan/config.ts';
import { createGan, type Gan } from '../../../src/core/gan/models.ts';
import { trainStep } from '../../../src/core/gan/step.ts';
import { Rng } from '../../../src/shared/rng.ts';
import { facesDir } from '../../helpers/shared-data.ts';

export async function loadRealFaces(count: number, size: number): Promise<tf.Tensor4D> {
  const files = (await readdir(facesDir))
    .filter((f) => f.endsWith('.jpg'))
    .sort()
    .slice(0, count);
  const data = new Float32Array(files.length * size * size * 3);
  for (const [i, file] of files.entries()) {
    const raw = await sharp(join(facesDir, file)).resize(size, size).removeAlpha().raw().toBuffer();
    for (let j = 0; j < raw.length; j++) data[i * raw.length + j] = raw[j]! / 127.5 - 1;
  }
  return tf.tensor4d(data, [files.length, size, size, 3]);
}

/** createGan('tiny') trained `steps` steps on the first real faces: weights and BN stats have moved off init. */
export async function trainedTinyGan(steps = 3, seed = 1): Promise<{ config: GanConfig; gan: Gan }> {
  const config = resolveGanConfig('tiny', { batchSize: 16 });
  const gan = createGan(config, seed);
  const real = await loadRealFaces(config.batchSize, config.imageSize);
  const rng = new Rng(seed + 100);
  for (let s = 0; s < steps; s++) {
    const z = tf.tensor2d(rng.normalArray(config.batchSize * config.zDim), [config.batchSize, config.zDim]);
    await trainStep(gan, real, z);
    z.dispose();
  }
  real.dispose();
  return { config, gan };
}
