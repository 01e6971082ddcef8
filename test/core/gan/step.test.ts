import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../src/core/gan/backend.ts';
import { resolveGanConfig, type GanConfig } from '../../../src/core/gan/config.ts';
import { FaceBatchSource, listImageFiles } from '../../../src/core/gan/data.ts';
import { createGan, disposeGan } from '../../../src/core/gan/models.ts';
import { sigmoidCrossEntropy, trainStep, type StepResult } from '../../../src/core/gan/step.ts';
import { facesDir } from '../../helpers/shared-data.ts';

let faces: string[];
beforeAll(async () => {
  await selectBackend('wasm');
  faces = (await listImageFiles(facesDir)).slice(0, 256);
});

/** `steps` training steps of a fresh GAN on real faces, everything derived from `seed`. */
async function train(config: GanConfig, seed: number, steps: number, afterStep?: (step: number) => void) {
  const gan = createGan(config, seed);
  const source = new FaceBatchSource({
    paths: faces,
    imageSize: config.imageSize,
    batchSize: config.batchSize,
    seed,
    flip: true,
  });
  const results: StepResult[] = [];
  try {
    for (let step = 1; step <= steps; step++) {
      const batch = await source.next();
      const real = tf.tensor4d(batch.data, [config.batchSize, config.imageSize, config.imageSize, 3]);
      const z = tf.randomNormal(
        [config.batchSize, config.zDim],
        0,
        1,
        'float32',
        seed * 1000 + step,
      ) as tf.Tensor2D;
      results.push(await trainStep(gan, real, z));
      real.dispose();
      z.dispose();
      afterStep?.(step);
    }
  } finally {
    disposeGan(gan);
  }
  return results;
}

describe('DCGAN training step (tiny preset, real faces)', () => {
  const config = resolveGanConfig('tiny', { batchSize: 16 });

  it('gives finite losses and probabilities, and leaks no tensors across steps', async () => {
    const counts: number[] = [];
    const results = await train(config, 3, 6, () => counts.push(tf.memory().numTensors));
    for (const r of results) {
      for (const v of [r.lossD, r.lossG, r.dReal, r.dFake]) expect(Number.isFinite(v)).toBe(true);
      expect(r.dReal).toBeGreaterThan(0);
      expect(r.dReal).toBeLessThan(1);
      expect(r.dFake).toBeGreaterThan(0);
      expect(r.dFake).toBeLessThan(1);
    }
    expect(counts[5]).toBe(counts[1]);
  });

  it('frees every tensor it created on dispose (GAN, optimizers, inference generator)', async () => {
    const before = tf.memory().numTensors;
    disposeGan(createGan(config, 4));
    expect(tf.memory().numTensors).toBe(before);
    const gan = createGan(config, 4);
    const { generatorFromWeights } = await import('../../../src/core/gan/generator-web.ts');
    const { readParamRecord } = await import('../../../src/core/gan/models.ts');
    const generator = generatorFromWeights(config, {
      ...(await readParamRecord(gan.g)),
      ...(await readParamRecord(gan.gStats)),
    });
    disposeGan(gan);
    await generator.generate(new Float32Array(3 * config.zDim));
    generator.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('is deterministic: same seed and data give identical losses; another seed does not', async () => {
    const a = await train(config, 11, 3);
    const b = await train(config, 11, 3);
    const c = await train(config, 12, 3);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });

  it('updates D towards telling real from fake (one D step lowers the D loss on the same batch)', async () => {
    // A sign error in the loss or the update makes D worse, not better, on the batch it just saw.
    const gan = createGan(config, 5);
    const source = new FaceBatchSource({ paths: faces, imageSize: 16, batchSize: 16, seed: 5, flip: false });
    const batch = await source.next();
    const real = tf.tensor4d(batch.data, [16, 16, 16, 3]);
    const z = tf.randomNormal([16, config.zDim], 0, 1, 'float32', 9) as tf.Tensor2D;
    const { computeDiscriminatorGrads, disposeGrads } = await import('../../../src/core/gan/step.ts');
    const losses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const d = await computeDiscriminatorGrads(gan, real, z);
      losses.push(d.lossD);
      gan.optD.apply(d.grads);
      disposeGrads(d.grads);
    }
    expect(losses[4]).toBeLessThan(losses[0]! - 0.05);
    real.dispose();
    z.dispose();
    disposeGan(gan);
  });

  it('computes the stable sigmoid cross-entropy', () => {
    const logits = tf.tensor1d([-30, -1, 0, 2, 30]);
    const loss = sigmoidCrossEntropy(logits, 1).dataSync()[0]!;
    const expected = [-30, -1, 0, 2, 30].reduce((s, x) => s - Math.log(1 / (1 + Math.exp(-x))), 0) / 5;
    expect(loss).toBeCloseTo(expected, 4);
    logits.dispose();
  });
});
