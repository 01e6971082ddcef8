import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../../src/core/gan/backend.ts';
import { resolveGanConfig, type GanConfig } from '../../../../src/core/gan/config.ts';
import { createGan, disposeGan, type BatchMoments, type Gan } from '../../../../src/core/gan/models.ts';
import {
  applyGrads,
  computeDiscriminatorGrads,
  computeGeneratorGrads,
  type DiscriminatorGrads,
  type GeneratorGrads,
  disposeGrads,
  trainStep,
  updateBatchNormStats,
  type GradMap,
} from '../../../../src/core/gan/step.ts';
import { combineMoments, ParallelTrainer, splitBatch } from '../../../../src/core/gan/parallel/trainer.ts';
import { averageRowsInto, readGanState } from '../../../../src/core/gan/parallel/state.ts';
import { Rng } from '../../../../src/shared/rng.ts';
import { flatGanState } from '../../../helpers/gan-state.ts';

const config: GanConfig = resolveGanConfig('tiny', { batchSize: 8, gWidth: 0.5, dWidth: 0.5, gStepsPerD: 2 });

function batchData(seed: number) {
  const rng = new Rng(seed);
  const real = new Float32Array(config.batchSize * 16 * 16 * 3).map(() => rng.next() * 2 - 1);
  const z = rng.normalArray(config.batchSize * config.zDim);
  return { real, z };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** What two workers must compute, done by hand in this thread: per-half gradients, averaged, applied. */
async function referenceTwoWorkerStep(gan: Gan, real: Float32Array, z: Float32Array): Promise<void> {
  const half = config.batchSize / 2;
  const px = 16 * 16 * 3;
  const halves = [0, 1].map((i) => ({
    real: tf.tensor4d(real.slice(i * half * px, (i + 1) * half * px), [half, 16, 16, 3]),
    z: tf.tensor2d(z.slice(i * half * config.zDim, (i + 1) * half * config.zDim), [half, config.zDim]),
  }));
  const average = (maps: GradMap[]): GradMap => {
    const out: GradMap = new Map();
    for (const name of maps[0]!.keys()) {
      const rows = maps.map((m) => m.get(name)!.dataSync() as Float32Array);
      const flat = averageRowsInto(new Float32Array(rows[0]!.length), rows, [0.5, 0.5]);
      out.set(name, tf.tensor(flat, maps[0]!.get(name)!.shape));
    }
    return out;
  };
  const d: DiscriminatorGrads[] = [];
  for (const h of halves) d.push(await computeDiscriminatorGrads(gan, h.real, h.z));
  const dAvg = average(d.map((r) => r.grads));
  applyGrads(gan.optD, dAvg);
  for (const r of d) disposeGrads(r.grads);
  disposeGrads(dAvg);
  for (let k = 0; k < config.gStepsPerD; k++) {
    const g: GeneratorGrads[] = [];
    for (const h of halves) g.push(await computeGeneratorGrads(gan, h.z));
    const gAvg = average(g.map((r) => r.grads));
    applyGrads(gan.optG, gAvg);
    const combined = combineMoments(
      g.map((r) =>
        [...r.moments].map(([layer, m]) => ({
          layer,
          mean: m.mean.dataSync() as Float32Array,
          variance: m.variance.dataSync() as Float32Array,
        })),
      ),
      [0.5, 0.5],
    );
    const moments = new Map<number, BatchMoments>(
      combined.map((m) => [m.layer, { mean: tf.tensor1d(m.mean), variance: tf.tensor1d(m.variance) }]),
    );
    updateBatchNormStats(gan, moments);
    for (const r of g) {
      disposeGrads(r.grads);
      for (const m of r.moments.values()) tf.dispose([m.mean, m.variance]);
    }
    disposeGrads(gAvg);
  }
  for (const h of halves) tf.dispose([h.real, h.z]);
}

describe('data-parallel trainer (worker_threads, one wasm backend each)', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('splits batches evenly, largest slices first', () => {
    expect(splitBatch(64, 2)).toEqual([32, 32]);
    expect(splitBatch(64, 3)).toEqual([22, 21, 21]);
    expect(splitBatch(3, 8)).toEqual([1, 1, 1]);
  });

  it('recombines per-slice BN moments into the exact full-batch moments', () => {
    const rng = new Rng(5);
    const values = Array.from({ length: 10 }, () => rng.normal());
    const moments = (xs: number[]) => {
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      return { mean, variance: xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length };
    };
    const parts = [values.slice(0, 6), values.slice(6)].map((xs) => {
      const m = moments(xs);
      return [{ layer: 0, mean: Float32Array.of(m.mean), variance: Float32Array.of(m.variance) }];
    });
    const [combined] = combineMoments(parts, [0.6, 0.4]);
    const full = moments(values);
    expect(combined!.mean[0]).toBeCloseTo(full.mean, 6);
    expect(combined!.variance[0]).toBeCloseTo(full.variance, 6);
  });

  describe('with real workers', () => {
    const gans: Gan[] = [];
    const trainers: ParallelTrainer[] = [];
    afterAll(async () => {
      await Promise.all(trainers.map((t) => t.dispose()));
      gans.forEach(disposeGan);
    });

    it('one worker reproduces trainStep in this thread bit for bit', async () => {
      const local = createGan(config, 21);
      const remote = createGan(config, 21);
      gans.push(local, remote);
      const trainer = await ParallelTrainer.create(remote, { workers: 1 });
      trainers.push(trainer);
      expect(trainer.backend.name).toBe('wasm');
      for (const seed of [1, 2]) {
        const { real, z } = batchData(seed);
        const realT = tf.tensor4d(real, [config.batchSize, 16, 16, 3]);
        const zT = tf.tensor2d(z, [config.batchSize, config.zDim]);
        const expected = await trainStep(local, realT, zT);
        const got = await trainer.step(real, z);
        tf.dispose([realT, zT]);
        expect(got.lossD).toBe(expected.lossD);
        expect(got.lossG).toBe(expected.lossG);
      }
      await trainer.syncTo(remote);
      expect(remote.optD.step).toBe(2);
      expect(remote.optG.step).toBe(2 * config.gStepsPerD);
      expect(
        maxAbsDiff(flatGanState(await readGanState(remote)), flatGanState(await readGanState(local))),
      ).toBe(0);
    });

    it('two workers average their slices exactly like the hand-written reference', async () => {
      const local = createGan(config, 22);
      const remote = createGan(config, 22);
      gans.push(local, remote);
      const trainer = await ParallelTrainer.create(remote, { workers: 2 });
      trainers.push(trainer);
      expect(trainer.workerCount).toBe(2);
      for (const seed of [3, 4]) {
        const { real, z } = batchData(seed);
        await referenceTwoWorkerStep(local, real, z);
        await trainer.step(real, z);
      }
      await trainer.syncTo(remote);
      const a = flatGanState(await readGanState(remote));
      const b = flatGanState(await readGanState(local));
      expect(maxAbsDiff(a, b)).toBeLessThan(1e-6);
      // And it really trained: the weights moved away from the initial ones.
      const initial = createGan(config, 22);
      expect(maxAbsDiff(a, flatGanState(await readGanState(initial)))).toBeGreaterThan(1e-4);
      disposeGan(initial);
    });

    it('rejects a malformed batch with a clear error and keeps working', async () => {
      const gan = createGan(config, 23);
      gans.push(gan);
      const trainer = await ParallelTrainer.create(gan, { workers: 2 });
      trainers.push(trainer);
      const { real, z } = batchData(5);
      await expect(trainer.step(real.subarray(0, 100), z)).rejects.toThrow(/real batch has/);
      await expect(trainer.step(real, z.subarray(0, 7))).rejects.toThrow(/multiple of zDim/);
      const ok = await trainer.step(real, z);
      expect(Number.isFinite(ok.lossD) && Number.isFinite(ok.lossG)).toBe(true);
    });

    it('a worker that cannot start reports why', async () => {
      const gan = createGan(config, 24);
      gans.push(gan);
      await expect(ParallelTrainer.create(gan, { workers: 1, backend: 'tensorflow' })).rejects.toThrow(
        /tfjs-node is not installed/,
      );
    });
  });
});
