import { describe, expect, it } from 'vitest';
import { invokeChannels } from '../../src/shared/contract.ts';
import { HostToTrainer, TrainerToHost } from '../../src/shared/trainer-protocol.ts';
import { GanConfig, RunConfigFile } from '../../src/shared/run-config-schemas.ts';
import { MetricLine, MetricPoint, TrainingProgress } from '../../src/shared/training-schemas.ts';
import { classicRecipe, presets, resolveGanConfig } from '../../src/core/gan/config.ts';

const progress = {
  step: 40,
  totalSteps: 100,
  epoch: 1.25,
  lossD: 1.2,
  lossG: 0.8,
  dReal: 0.6,
  dFake: 0.4,
  imagesPerSec: 210,
  etaSeconds: 17,
  numTensors: 120,
  tensorBytes: 4_000_000,
  rssBytes: 300_000_000,
};

describe('a run config crosses the boundary as one schema', () => {
  it('describes every preset exactly (the schema is the GanConfig type)', () => {
    for (const config of Object.values(presets)) expect(GanConfig.parse(config)).toEqual(config);
    const wide = resolveGanConfig('kao-48', {
      augment: ['color', 'cutout'],
      loss: 'hinge',
      spectralNorm: true,
    });
    expect(GanConfig.parse(wide)).toEqual(wide);
  });

  it('reads a config.json written before the recipe fields existed as the classic recipe', () => {
    const {
      upsample: _u,
      loss: _l,
      augment: _a,
      emaDecay: _e,
      spectralNorm: _s,
      minibatchStd: _m,
      ...old
    } = presets['anime-48'];
    const file = {
      format: 'kao-run',
      version: 1,
      runId: 'run-1',
      createdAt: '2025-01-01T00:00:00.000Z',
      seed: 1,
      preset: 'anime-48',
      overrides: { batchSize: 32 },
      config: old,
      data: { count: 400, fingerprint: 'abc' },
    };
    const parsed = RunConfigFile.parse(file);
    expect(parsed.config).toEqual({ ...old, ...classicRecipe });
    expect(parsed.backend).toBeUndefined();
  });

  it('refuses what is not a run config', () => {
    const config = presets.tiny;
    const file = {
      format: 'kao-run',
      version: 1,
      runId: 'r',
      createdAt: '',
      seed: 1,
      preset: 'tiny',
      overrides: {},
    };
    const data = { count: 1, fingerprint: 'x' };
    expect(RunConfigFile.safeParse({ ...file, config, data }).success).toBe(true);
    expect(
      RunConfigFile.safeParse({ ...file, config: { ...config, upsample: 'bilinear' }, data }).success,
    ).toBe(false);
    expect(RunConfigFile.safeParse({ ...file, version: 2, config, data }).success).toBe(false);
    expect(RunConfigFile.safeParse({ ...file, config }).success).toBe(false);
  });
});

describe('the trainer protocol is typed end to end', () => {
  it('carries a typed training job, and a host refuses an untyped one', () => {
    const options = {
      preset: 'tiny',
      batchSize: 16,
      steps: 10,
      seed: 1,
      backend: 'wasm',
      checkpointEvery: 5,
      sampleEvery: 5,
      swdEvery: 0,
    };
    const job = { runDir: '/data/runs/r', faces: ['/data/faces/a.png'], options };
    expect(HostToTrainer.safeParse({ type: 'start', requestId: 1, job }).success).toBe(true);
    expect(HostToTrainer.safeParse({ type: 'start', requestId: 1, job: { ...job, faces: [] } }).success).toBe(
      false,
    );
    expect(
      HostToTrainer.safeParse({ type: 'start', requestId: 1, job: { runDir: '/r', anything: 1 } }).success,
    ).toBe(false);
  });

  it('carries progress in the contract shape, not a renamed copy', () => {
    expect(TrainerToHost.safeParse({ type: 'progress', progress }).success).toBe(true);
    const { tensorBytes, ...rest } = progress;
    const renamed = { ...rest, memoryBytes: tensorBytes };
    expect(TrainerToHost.safeParse({ type: 'progress', progress: renamed }).success).toBe(false);
    expect(TrainingProgress.safeParse({ ...progress, lossD: Number.NaN }).success).toBe(false);
  });

  it('carries both kinds of metrics line; the charts get either without its per-level SWD', () => {
    const levels = [{ resolution: 16, swd: 40 }];
    const stepLine = { ...progress, swd: 38, swdLevels: levels, time: '2025-01-01T00:00:00.000Z' };
    const initial = { step: 0, epoch: 0, swd: 90, swdLevels: levels, time: '2025-01-01T00:00:00.000Z' };
    for (const metric of [stepLine, initial])
      expect(TrainerToHost.safeParse({ type: 'metric', metric }).success).toBe(true);
    // A step line needs its losses; only step 0 may go without.
    const { lossD: _lossD, ...noLoss } = stepLine;
    expect(MetricLine.safeParse({ ...noLoss, step: 5 }).success).toBe(false);
    expect(MetricPoint.parse(initial)).toEqual({ step: 0, epoch: 0, swd: 90, time: initial.time });
  });
});

describe('one verb per meaning across channels', () => {
  it('pauses and resumes every pausable job; continuing from a checkpoint is named as such', () => {
    const pausable = invokeChannels
      .filter((c) => c.endsWith('.pause'))
      .map((c) => c.slice(0, -'.pause'.length));
    expect(pausable).toEqual(expect.arrayContaining(['dataset.crawl', 'faces.extract', 'training']));
    for (const job of pausable) expect(invokeChannels).toContain(`${job}.resume`);
    expect(invokeChannels).toContain('training.continueFromCheckpoint');
    expect(invokeChannels.filter((c) => /unpause|\.continue$/.test(c))).toEqual([]);
  });
});
