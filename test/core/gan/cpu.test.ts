import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../src/core/gan/backend.ts';
import { resolveGanConfig } from '../../../src/core/gan/config.ts';
import { FaceBatchSource, listImageFiles } from '../../../src/core/gan/data.ts';
import { createGan, disposeGan } from '../../../src/core/gan/models.ts';
import { trainStep } from '../../../src/core/gan/step.ts';
import { facesDir } from '../../helpers/shared-data.ts';

beforeAll(async () => {
  await selectBackend('cpu');
});

describe('pure-JS cpu backend', () => {
  it('gives identical losses for two runs of 3 steps with the same seed', async () => {
    // The cpu backend is slow: a narrow tiny model and batch 4 keep this quick.
    const config = resolveGanConfig('tiny', { batchSize: 4, gWidth: 0.25, dWidth: 0.25 });
    const faces = (await listImageFiles(facesDir)).slice(0, 16);
    const runOnce = async () => {
      const gan = createGan(config, 8);
      const source = new FaceBatchSource({ paths: faces, imageSize: 16, batchSize: 4, seed: 8, flip: true });
      const out = [];
      for (let i = 0; i < 3; i++) {
        const real = tf.tensor4d((await source.next()).data, [4, 16, 16, 3]);
        const z = tf.randomNormal([4, config.zDim], 0, 1, 'float32', 100 + i) as tf.Tensor2D;
        out.push(await trainStep(gan, real, z));
        tf.dispose([real, z]);
      }
      disposeGan(gan);
      return out;
    };
    expect(tf.getBackend()).toBe('cpu');
    const a = await runOnce();
    const b = await runOnce();
    expect(b).toEqual(a);
    expect(a.every((r) => Number.isFinite(r.lossD) && Number.isFinite(r.lossG))).toBe(true);
  });
});
