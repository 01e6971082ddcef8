/**
 * A real, tiny training run for the tests that need one: the engine's `runTraining` on the first 64 shared
 * faces (batch 16), preset `tiny` (16×16, z of 32) unless asked, with checkpoints every `checkpointEvery`
 * steps. `makeAppRun` puts it where the app keeps runs (`<data>/runs/<id>`) with the `run.json` the
 * training service leaves beside a finished run.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { listCheckpoints } from '../../src/core/gan/checkpoint.ts';
import { readRunConfig } from '../../src/core/gan/run-folder.ts';
import { runTraining } from '../../src/core/gan/run.ts';
import { writeJsonAtomic } from '../../src/core/util/atomic-file.ts';
import { facesDir } from './shared-data.ts';

export interface TrainedRunOptions {
  preset?: 'tiny' | 'anime-48';
  seed?: number;
  steps?: number;
  checkpointEvery?: number;
  /** 0 (the default) writes no sample grids. */
  sampleEvery?: number;
  /** In-training SWD every N steps, which keeps a best checkpoint; 0 (the default) computes none. */
  swdEvery?: number;
  hooks?: Parameters<typeof runTraining>[1];
  /** Train on every image of this folder (recorded as the run's data folder) instead of 64 shared faces. */
  dataDir?: string;
}

export interface TrainedRun {
  dir: string;
  zDim: number;
  imageSize: number;
  /** Checkpoint steps, ascending. */
  steps: number[];
}

export async function makeTrainedRun(dir: string, options: TrainedRunOptions = {}): Promise<TrainedRun> {
  const {
    preset = 'tiny',
    seed = 5,
    steps = 10,
    checkpointEvery = 5,
    sampleEvery = 0,
    swdEvery = 0,
  } = options;
  const data = options.dataDir
    ? { dataDir: options.dataDir }
    : {
        faces: (await readdir(facesDir))
          .filter((f) => f.endsWith('.jpg'))
          .sort()
          .slice(0, 64)
          .map((f) => join(facesDir, f)),
      };
  await runTraining(
    {
      runDir: dir,
      ...data,
      preset,
      overrides: { batchSize: 16 },
      seed,
      steps,
      checkpointEvery,
      keepCheckpoints: 5,
      sampleEvery,
      swdEvery,
      swdImages: 32,
      logEvery: 5,
    },
    options.hooks,
  );
  const config = (await readRunConfig(dir))!.config;
  return { dir, zDim: config.zDim, imageSize: config.imageSize, steps: await listCheckpoints(dir) };
}

export interface AppRun extends TrainedRun {
  id: string;
  name: string;
}

/** A finished run in the app's data folder, as the Explorer, Favorites and Training screens find it. */
export async function makeAppRun(
  dataDir: string,
  options: TrainedRunOptions & { id?: string; name?: string } = {},
): Promise<AppRun> {
  const { id = 'tiny-run', name = 'Tiny test run', preset = 'tiny', seed = 5, steps = 10 } = options;
  const run = await makeTrainedRun(join(dataDir, 'runs', id), { ...options, preset, seed, steps });
  await writeJsonAtomic(join(run.dir, 'run.json'), {
    id,
    name,
    createdAt: new Date().toISOString(),
    options: { preset, batchSize: 16, steps, seed, backend: 'wasm' },
    totalSteps: steps,
    state: 'finished',
  });
  return { ...run, id, name };
}
