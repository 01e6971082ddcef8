/**
 * The recipe options in training: the worker split reproduces the in-thread step bit for bit (spectral
 * norm vectors, weight average and DiffAugment draws included), a stopped run resumes exactly with its
 * recipe state, runs made before the recipe existed still load and continue, and the run's readers
 * (explorer weights, export) get the weight average.
 */
import * as tf from '@tensorflow/tfjs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../../src/core/gan/backend.ts';
import { EMA_PREFIX, loadLatestCheckpoint } from '../../../../src/core/gan/checkpoint.ts';
import { classicRecipe, resolveGanConfig, type GanConfigOverrides } from '../../../../src/core/gan/config.ts';
import { listImageFiles } from '../../../../src/core/gan/data.ts';
import { buildLayersGenerator, readGeneratorWeights } from '../../../../src/core/gan/generator-node.ts';
import { generatorFromWeights } from '../../../../src/core/gan/generator-web.ts';
import { createGan, disposeGan } from '../../../../src/core/gan/models.ts';
import { ParallelTrainer } from '../../../../src/core/gan/parallel/trainer.ts';
import { readGanState } from '../../../../src/core/gan/parallel/state.ts';
import { readRunConfig, type MetricLine } from '../../../../src/core/gan/run-folder.ts';
import { runTraining } from '../../../../src/core/gan/run.ts';
import { trainStep } from '../../../../src/core/gan/step.ts';
import { readJsonl } from '../../../../src/core/util/jsonl.ts';
import { Rng } from '../../../../src/shared/rng.ts';
import { facesDir } from '../../../helpers/shared-data.ts';
import { flatGanState } from '../../../helpers/gan-state.ts';
import { makeTempDir } from '../../../helpers/temp-dir.ts';

const recipe: GanConfigOverrides = {
  upsample: 'resize',
  loss: 'hinge',
  augment: ['color', 'translation', 'cutout'],
  emaDecay: 0.99,
  spectralNorm: true,
  minibatchStd: true,
};

let faces: string[];
let temp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  await selectBackend('wasm');
  faces = (await listImageFiles(facesDir)).slice(0, 96);
  temp = await makeTempDir('kao-gan-recipe-');
});
afterAll(() => temp.cleanup());

describe('recipe training', () => {
  it('a worker reproduces the in-thread step bit for bit, recipe state included', async () => {
    const config = resolveGanConfig('tiny', {
      batchSize: 8,
      gWidth: 0.5,
      dWidth: 0.5,
      gStepsPerD: 2,
      ...recipe,
    });
    const local = createGan(config, 31);
    const remote = createGan(config, 31);
    const trainer = await ParallelTrainer.create(remote, { workers: 1 });
    try {
      for (const seed of [1, 2]) {
        const rng = new Rng(seed);
        const real = new Float32Array(8 * 16 * 16 * 3).map(() => rng.next() * 2 - 1);
        const z = rng.normalArray(8 * config.zDim);
        const realT = tf.tensor4d(real, [8, 16, 16, 3]);
        const zT = tf.tensor2d(z, [8, config.zDim]);
        const expected = await trainStep(local, realT, zT, 1000 + seed);
        const got = await trainer.step(real, z, 1000 + seed);
        tf.dispose([realT, zT]);
        expect([got.lossD, got.lossG]).toEqual([expected.lossD, expected.lossG]);
      }
      await trainer.syncTo(remote);
      const a = await readGanState(remote);
      const b = await readGanState(local);
      expect(Object.keys(a.dStats).sort()).toEqual([
        'd.conv0.snU',
        'd.conv1.snU',
        'd.conv2.snU',
        'd.out.snU',
      ]);
      expect(a.gEma).toBeDefined();
      expect(flatGanState(a)).toEqual(flatGanState(b));
      // The weight average really moved away from the raw weights' start but is not the raw weights.
      const start = createGan(config, 31);
      const ema = a.gEma!['g.out.kernel']!.data;
      expect(ema).not.toEqual((await readGanState(start)).gEma!['g.out.kernel']!.data);
      expect(ema).not.toEqual(a.g['g.out.kernel']!.data);
      disposeGan(start);
    } finally {
      await trainer.dispose();
      disposeGan(local);
      disposeGan(remote);
    }
  });

  it('resumes a stopped two-worker run exactly: 3 + 3 steps equal 6, recipe state included', async () => {
    const common = {
      faces,
      preset: 'tiny' as const,
      overrides: { batchSize: 16, ...recipe },
      seed: 8,
      sampleEvery: 0,
      logEvery: 1,
      checkpointEvery: 0,
      workers: 2,
    };
    const straight = join(temp.dir, 'straight');
    const resumed = join(temp.dir, 'resumed');
    await runTraining({ ...common, runDir: straight, steps: 6 });
    await runTraining({ ...common, runDir: resumed, steps: 3 });
    const second = await runTraining({ ...common, runDir: resumed, steps: 6 });
    expect(second.resumedFrom).toBe(3);
    const losses = async (dir: string) =>
      ((await readJsonl(join(dir, 'metrics.jsonl'))) as MetricLine[]).map((l) => [l.step, l.lossD, l.lossG]);
    expect(await losses(resumed)).toEqual(await losses(straight));
    const tensors = async (dir: string) => (await loadLatestCheckpoint(dir)).checkpoint!.tensors;
    const [a, b] = [await tensors(resumed), await tensors(straight)];
    expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
    for (const name of [
      'd.conv1.snU',
      `${EMA_PREFIX}g.out.kernel`,
      `${EMA_PREFIX}g.bn1.movingVariance`,
      'g.up1.kernel',
    ])
      expect(a[name]!.data).toEqual(b[name]!.data);
    // Resize-convolution layers hold 3×3 kernels.
    expect(a['g.up1.kernel']!.shape).toEqual([3, 3, 32, 64]);
  });

  it('the explorer gets the weight average by default, the raw generator on request; export matches', async () => {
    const runDir = join(temp.dir, 'straight');
    const averaged = await readGeneratorWeights(runDir);
    const raw = await readGeneratorWeights(runDir, { raw: true });
    expect(averaged.weights['g.out.kernel']!.data).not.toEqual(raw.weights['g.out.kernel']!.data);
    const checkpoint = (await loadLatestCheckpoint(runDir)).checkpoint!;
    expect(averaged.weights['g.bn0.movingMean']!.data).toEqual(
      checkpoint.tensors[`${EMA_PREFIX}g.bn0.movingMean`]!.data,
    );
    // The exported layers model (nearest ×2 + Conv2D layers) computes what the in-app generator does.
    const generator = generatorFromWeights(averaged.config, averaged.weights);
    const model = buildLayersGenerator(averaged.config, averaged.weights);
    const z = tf.randomNormal([4, averaged.config.zDim], 0, 1, 'float32', 3) as tf.Tensor2D;
    const ours = generator.forward(z);
    const theirs = model.predict(z) as tf.Tensor;
    expect((await ours.sub(theirs).abs().max().data())[0]).toBeLessThan(1e-4);
    tf.dispose([z, ours, theirs]);
    model.dispose();
    generator.dispose();
  });

  it('a run made before the recipe options existed loads as the classic recipe and continues exactly', async () => {
    const common = {
      faces,
      preset: 'tiny' as const,
      overrides: { batchSize: 16 },
      seed: 9,
      sampleEvery: 0,
      logEvery: 1,
      checkpointEvery: 0,
    };
    const straight = join(temp.dir, 'old-straight');
    const old = join(temp.dir, 'old');
    await runTraining({ ...common, runDir: straight, steps: 4 });
    await runTraining({ ...common, runDir: old, steps: 2 });
    // What an older Kao wrote: config.json without the recipe fields.
    const configPath = join(old, 'config.json');
    const file = JSON.parse(await readFile(configPath, 'utf8')) as { config: Record<string, unknown> };
    for (const key of Object.keys(classicRecipe)) delete file.config[key];
    await writeFile(configPath, JSON.stringify(file));
    expect((await readRunConfig(old))!.config).toMatchObject(classicRecipe);
    const continued = await runTraining({
      runDir: old,
      faces,
      steps: 4,
      sampleEvery: 0,
      logEvery: 1,
      checkpointEvery: 0,
    });
    expect(continued.resumedFrom).toBe(2);
    const final = async (dir: string) =>
      (await loadLatestCheckpoint(dir)).checkpoint!.tensors['g.out.kernel']!.data;
    expect(await final(old)).toEqual(await final(straight));
    // Its checkpoints hold no recipe tensors, and the explorer reads its generator as before.
    const tensors = (await loadLatestCheckpoint(old)).checkpoint!.tensors;
    expect(Object.keys(tensors).filter((n) => n.startsWith(EMA_PREFIX) || n.endsWith('.snU'))).toEqual([]);
    const weights = await readGeneratorWeights(old);
    expect(weights.weights['g.out.kernel']!.data).toEqual(tensors['g.out.kernel']!.data);
    // A stored config from before (favorites, cached weights) still builds a generator.
    const legacy = { ...weights.config } as Record<string, unknown>;
    for (const key of Object.keys(classicRecipe)) delete legacy[key];
    const generator = generatorFromWeights(legacy as never, weights.weights);
    generator.dispose();
  });
});
