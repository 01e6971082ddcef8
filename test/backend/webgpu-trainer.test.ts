/**
 * The WebGPU training engine as a whole, on SwiftShader: one step's D and G gradients against the tfjs
 * cpu path (step.ts), a few training steps against trainStep, the checkpoint round trip (engine → Gan
 * state → engine, exact), no buffer or tensor leaks, and the dispatch / read-back counts of anime-48.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestWebGpuAdapter } from '../../src/core/gan/backend.ts';
import { resolveGanConfig, type GanConfig } from '../../src/core/gan/config.ts';
import {
  createGan,
  disposeGan,
  readParamRecord,
  type Gan,
  type ParamSet,
} from '../../src/core/gan/models.ts';
import {
  applyGrads,
  computeDiscriminatorGrads,
  computeGeneratorGrads,
  disposeGrads,
  trainStep,
} from '../../src/core/gan/step.ts';
import { GpuContext } from '../../src/core/gan/webgpu/context.ts';
import { webGpuEngineSupport } from '../../src/core/gan/webgpu/support.ts';
import { WebGpuTrainer } from '../../src/core/gan/webgpu/trainer.ts';
import { Rng } from '../../src/shared/rng.ts';
import { relativeError } from '../helpers/tensor-compare.ts';
import { useSoftwareWebGpu } from '../helpers/webgpu.ts';

const skip = useSoftwareWebGpu();
if (skip) console.warn(`WebGPU trainer tests skipped: ${skip}`);

const B = 4;
const tinyConfig = (gStepsPerD: number): GanConfig =>
  resolveGanConfig('tiny', { batchSize: B, gWidth: 0.25, dWidth: 0.25, gStepsPerD });

function inputs(config: GanConfig, seed: number): { real: Float32Array; z: Float32Array } {
  const rng = new Rng(seed);
  const S = config.imageSize;
  return {
    real: new Float32Array(B * S * S * 3).map(() => rng.next() * 2 - 1),
    z: rng.normalArray(B * config.zDim),
  };
}

async function flat(params: ParamSet): Promise<Float32Array> {
  const record = await readParamRecord(params);
  return Float32Array.from(Object.values(record).flatMap((r) => [...r.data]));
}

describe('WebGPU engine config support', () => {
  it('takes the classic presets at any width and refuses recipe options it does not implement', () => {
    for (const preset of ['anime-48', 'dcgan-64', 'tiny'] as const)
      expect(webGpuEngineSupport(resolveGanConfig(preset, { gWidth: 0.5 }))).toEqual({ ok: true });
    // The default preset's recipe (resize upsampling, DiffAugment, averaged G) trains through tfjs.
    const kao = webGpuEngineSupport(resolveGanConfig('kao-48'));
    expect(!kao.ok && kao.reason).toMatch(/upsample="resize"/);
    const config = { ...resolveGanConfig('tiny'), minibatchStd: true, someNewOption: 'x' } as GanConfig;
    const support = webGpuEngineSupport(config);
    expect(support.ok).toBe(false);
    expect(!support.ok && support.reason).toMatch(/minibatchStd=true.*someNewOption="x"/);
  });
});

// SwiftShader is slow and CI shares its two cores between test files: generous per-test limits.
describe.skipIf(skip)('WebGPU training engine on SwiftShader', { timeout: 240_000 }, () => {
  let ctx: GpuContext;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    ctx = await GpuContext.create();
  });
  afterAll(() => ctx?.destroy());

  it('refuses a software adapter unless asked for one', async () => {
    await expect(requestWebGpuAdapter(false)).rejects.toThrow(
      /only a software renderer.*KAO_WEBGPU_SOFTWARE=1/,
    );
    await expect(requestWebGpuAdapter(true)).resolves.toMatchObject({ description: expect.any(String) });
  });

  it('one step: D and G gradients and the losses match the tfjs cpu path', async () => {
    const config = tinyConfig(1);
    const { real, z } = inputs(config, 11);
    const gan = createGan(config, 3);
    const trainer = await WebGpuTrainer.create(gan, { context: ctx, readbackEvery: 1 });
    try {
      await trainer.step(real, z);
      const result = await trainer.flush();
      const gpuD = await trainer.readGradients('d');
      const gpuG = await trainer.readGradients('g');

      const S = config.imageSize;
      const realT = tf.tensor4d(real, [B, S, S, 3]);
      const zT = tf.tensor2d(z, [B, config.zDim]);
      const d = await computeDiscriminatorGrads(gan, realT, zT);
      applyGrads(gan.optD, d.grads);
      const g = await computeGeneratorGrads(gan, zT);
      for (const [name, grad] of [...d.grads, ...g.grads]) {
        const mine = (name.startsWith('d.') ? gpuD : gpuG)[name]!;
        expect(relativeError(mine.data, grad.dataSync()), name).toBeLessThan(1e-5);
      }
      expect(result.lossStep).toBe(1);
      expect(result.lossD).toBeCloseTo(d.lossD, 5);
      expect(result.lossG).toBeCloseTo(g.lossG, 5);
      expect(result.dReal).toBeCloseTo(d.dReal, 5);
      expect(result.dFake).toBeCloseTo(d.dFake, 5);
      disposeGrads(d.grads);
      disposeGrads(g.grads);
      for (const m of g.moments.values()) tf.dispose([m.mean, m.variance]);
      tf.dispose([realT, zT]);
    } finally {
      await trainer.dispose();
      disposeGan(gan);
    }
  });

  it('three training steps (2 G updates each) track trainStep: losses, weights, Adam, BN running stats', async () => {
    const config = tinyConfig(2);
    const gpuGan = createGan(config, 4);
    const cpuGan = createGan(config, 4);
    const trainer = await WebGpuTrainer.create(gpuGan, { context: ctx, readbackEvery: 1 });
    try {
      const S = config.imageSize;
      for (let step = 0; step < 3; step++) {
        const { real, z } = inputs(config, 20 + step);
        await trainer.step(real, z);
        const gpu = await trainer.flush();
        const realT = tf.tensor4d(real, [B, S, S, 3]);
        const zT = tf.tensor2d(z, [B, config.zDim]);
        const cpu = await trainStep(cpuGan, realT, zT);
        tf.dispose([realT, zT]);
        expect(gpu.lossStep).toBe(step + 1);
        for (const key of ['lossD', 'lossG', 'dReal', 'dFake'] as const)
          expect(Math.abs(gpu[key] - cpu[key]), key).toBeLessThan(1e-4);
      }
      await trainer.syncTo(gpuGan);
      // Adam turns tiny gradient differences into sign-sized steps for near-zero gradients: compare
      // whole tensors, not single numbers.
      expect(relativeError(await flat(gpuGan.g), await flat(cpuGan.g))).toBeLessThan(1e-4);
      expect(relativeError(await flat(gpuGan.d), await flat(cpuGan.d))).toBeLessThan(1e-4);
      expect(relativeError(await flat(gpuGan.gStats), await flat(cpuGan.gStats))).toBeLessThan(1e-5);
      expect(
        relativeError(await flat(gpuGan.optG.v as ParamSet), await flat(cpuGan.optG.v as ParamSet)),
      ).toBeLessThan(1e-4);
      expect(
        relativeError(await flat(gpuGan.optD.m as ParamSet), await flat(cpuGan.optD.m as ParamSet)),
      ).toBeLessThan(1e-4);
      expect([gpuGan.optD.step, gpuGan.optG.step]).toEqual([3, 6]);
    } finally {
      await trainer.dispose();
      disposeGan(gpuGan);
      disposeGan(cpuGan);
    }
  });

  it('checkpoint round trip: engine → Gan → new engine resumes bit-exact; no buffer or tensor leaks', async () => {
    const config = tinyConfig(1);
    const gan = createGan(config, 5);
    const buffersBefore = ctx.liveBuffers;
    const first = await WebGpuTrainer.create(gan, { context: ctx, readbackEvery: 2 });
    const a = inputs(config, 30);
    const b = inputs(config, 31);
    await first.step(a.real, a.z);
    await first.step(b.real, b.z);
    await first.flush();
    const buffersDuring = ctx.liveBuffers;
    const tensors = tf.memory().numTensors;
    for (let i = 0; i < 4; i++) await first.step(a.real, a.z);
    await first.flush();
    expect(ctx.liveBuffers).toBe(buffersDuring);
    expect(tf.memory().numTensors).toBe(tensors);

    // Checkpoint (syncTo) into a separate Gan, resume a second engine from it, and take the same step.
    const saved = createGan(config, 99);
    await first.syncTo(saved);
    const second = await WebGpuTrainer.create(saved, { context: ctx });
    await first.step(b.real, b.z);
    await second.step(b.real, b.z);
    const one = createGan(config, 98);
    await first.syncTo(one);
    await second.syncTo(saved);
    for (const key of ['g', 'd', 'gStats'] as const)
      expect(await flat(saved[key]), key).toEqual(await flat(one[key]));
    expect(await flat(saved.optG.m as ParamSet)).toEqual(await flat(one.optG.m as ParamSet));
    expect([saved.optD.step, saved.optG.step]).toEqual([7, 7]);
    await first.dispose();
    await second.dispose();
    expect(ctx.liveBuffers).toBe(buffersBefore);
    for (const g of [gan, saved, one] as Gan[]) disposeGan(g);
  });

  it('losses arrive asynchronously: a blocking read only to reuse a read-back buffer, ≤ 1 per readbackEvery steps', async () => {
    const config = tinyConfig(1);
    const gan = createGan(config, 6);
    const trainer = await WebGpuTrainer.create(gan, { context: ctx, readbackEvery: 2 });
    try {
      const { real, z } = inputs(config, 40);
      const seen: number[] = [];
      for (let i = 0; i < 6; i++) seen.push((await trainer.step(real, z)).lossStep);
      const { blockingReadbacks, steps } = trainer.counters;
      expect(steps).toBe(6);
      // Steps 2 and 4 read into the two staging buffers; step 6 reuses step 2's: the only possible wait.
      expect(blockingReadbacks).toBeLessThanOrEqual(1);
      // Each result names the step its losses belong to: none yet (0), or an earlier read-back step.
      expect(seen[0]).toBe(0);
      seen.forEach((s, i) => {
        expect([0, 2, 4]).toContain(s);
        expect(s).toBeLessThanOrEqual(i + 1);
      });
      expect(seen.at(-1)).toBeGreaterThan(0);
      const last = await trainer.flush();
      expect(last.lossStep).toBe(6);
      expect(Number.isFinite(last.lossD) && Number.isFinite(last.lossG)).toBe(true);
    } finally {
      await trainer.dispose();
      disposeGan(gan);
    }
  });

  it('anime-48: 99 dispatches per step with the preset’s 2 G updates at batch 64, 60 with 1 (recorded, not run)', async () => {
    // The count does not depend on the batch: the 1-G-update case at batch 8 saves allocating 100+ MB.
    for (const [gStepsPerD, batchSize, expected] of [
      [2, 64, 99],
      [1, 8, 60],
    ] as const) {
      const gan = createGan(resolveGanConfig('anime-48', { batchSize, gStepsPerD }), 1);
      const trainer = await WebGpuTrainer.create(gan, { context: ctx });
      expect(trainer.counters.dispatchesPerStep).toBe(expected);
      expect(trainer.counters.submitsPerStep).toBe(1);
      await trainer.dispose();
      disposeGan(gan);
    }
  });
});
