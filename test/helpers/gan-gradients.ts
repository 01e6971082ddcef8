import * as tf from '@tensorflow/tfjs';
import type { GanConfig } from '../../src/core/gan/config.ts';
import { createGan, disposeGan } from '../../src/core/gan/models.ts';
import { computeDiscriminatorGrads, computeGeneratorGrads, disposeGrads } from '../../src/core/gan/step.ts';
import { Rng } from '../../src/shared/rng.ts';

export interface FlatGradients {
  /** Every D gradient, then every G gradient, flattened in parameter order. */
  d: Float32Array;
  g: Float32Array;
  lossD: number;
  lossG: number;
}

/**
 * One D update's and one G update's gradients on `backend`, from the same weights (seed 3) and inputs
 * (seed 11) every time, so two backends can be compared number by number. Leaves no tensors behind.
 * Used by the wasm kernel tests and by scripts/gpu-check.ts (no vitest import here).
 */
export async function ganGradientsOn(
  backend: string,
  config: GanConfig,
  batch: number,
): Promise<FlatGradients> {
  await tf.setBackend(backend);
  const rng = new Rng(11);
  const size = config.imageSize;
  const real = tf.tensor4d(
    new Float32Array(batch * size * size * 3).map(() => rng.next() * 2 - 1),
    [batch, size, size, 3],
  );
  const z = tf.tensor2d(rng.normalArray(batch * config.zDim), [batch, config.zDim]);
  const gan = createGan(config, 3);
  // A recipe with DiffAugment augments with fixed draws (identity otherwise).
  const augment = { seed: 5, batch, offset: 0 };
  const d = await computeDiscriminatorGrads(gan, real, z, augment);
  const g = await computeGeneratorGrads(gan, z, augment);
  const flat = async (grads: Map<string, tf.Tensor>) => {
    const all = tf.concat([...grads.values()].map((t) => t.flatten()));
    const data = (await all.data()) as Float32Array;
    all.dispose();
    return data;
  };
  const out = { d: await flat(d.grads), g: await flat(g.grads), lossD: d.lossD, lossG: g.lossG };
  disposeGrads(d.grads);
  disposeGrads(g.grads);
  for (const m of g.moments.values()) tf.dispose([m.mean, m.variance]);
  tf.dispose([real, z]);
  disposeGan(gan);
  return out;
}
