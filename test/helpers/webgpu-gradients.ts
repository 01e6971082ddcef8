import * as tf from '@tensorflow/tfjs';
import type { GanConfig } from '../../src/core/gan/config.ts';
import { createGan, disposeGan } from '../../src/core/gan/models.ts';
import {
  applyGrads,
  computeDiscriminatorGrads,
  computeGeneratorGrads,
  disposeGrads,
} from '../../src/core/gan/step.ts';
import { WebGpuTrainer } from '../../src/core/gan/webgpu/trainer.ts';
import { Rng } from '../../src/shared/rng.ts';
import { relativeError } from './tensor-compare.ts';

export interface EngineComparison {
  /** Largest relative error (‖a − b‖ / ‖b‖) over the D / G parameters' gradients, and where. */
  d: { worst: string; error: number };
  g: { worst: string; error: number };
  lossD: [number, number];
  lossG: [number, number];
}

/**
 * One step of Kao's WebGPU engine (gStepsPerD must be 1) against step.ts on the current tfjs backend
 * (the cpu backend for a reference): the D update's and the following G update's gradients, from the
 * same weights (seed 3) and inputs (seed 11). Used by scripts/gpu-check.ts (no vitest import here).
 */
export async function compareEngineGradients(config: GanConfig, batch: number): Promise<EngineComparison> {
  if (config.gStepsPerD !== 1) throw new Error('compareEngineGradients needs gStepsPerD = 1');
  const rng = new Rng(11);
  const S = config.imageSize;
  const real = new Float32Array(batch * S * S * 3).map(() => rng.next() * 2 - 1);
  const z = rng.normalArray(batch * config.zDim);
  const gan = createGan(config, 3);
  const trainer = await WebGpuTrainer.create(gan, { batch, readbackEvery: 1 });
  try {
    await trainer.step(real, z);
    const result = await trainer.flush();
    const gpu = { d: await trainer.readGradients('d'), g: await trainer.readGradients('g') };
    const realT = tf.tensor4d(real, [batch, S, S, 3]);
    const zT = tf.tensor2d(z, [batch, config.zDim]);
    const dg = await computeDiscriminatorGrads(gan, realT, zT);
    applyGrads(gan.optD, dg.grads);
    const gg = await computeGeneratorGrads(gan, zT);
    const worst = (grads: Map<string, tf.Tensor>, mine: typeof gpu.d) => {
      let out = { worst: '', error: 0 };
      for (const [name, t] of grads) {
        const error = relativeError(mine[name]!.data, t.dataSync());
        if (error >= out.error) out = { worst: name, error };
      }
      return out;
    };
    const comparison: EngineComparison = {
      d: worst(dg.grads, gpu.d),
      g: worst(gg.grads, gpu.g),
      lossD: [result.lossD, dg.lossD],
      lossG: [result.lossG, gg.lossG],
    };
    disposeGrads(dg.grads);
    disposeGrads(gg.grads);
    for (const m of gg.moments.values()) tf.dispose([m.mean, m.variance]);
    tf.dispose([realT, zT]);
    return comparison;
  } finally {
    await trainer.dispose();
    disposeGan(gan);
  }
}
