/**
 * A real tiny training run (or, for latency measurements, an anime-48 one) for the explorer/favorites service tests and the explorer e2e: the gan engine's
 * `runTraining` (preset `tiny`, 16×16, z of 32) on 64 shared faces, written into `<data>/runs/<id>` with the
 * app's `run.json` beside it, as the training service would leave a finished run.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readRunConfig } from '../../src/core/gan/run-folder.ts';
import { runTraining } from '../../src/core/gan/run.ts';
import { listCheckpoints } from '../../src/core/gan/checkpoint.ts';
import { writeJsonAtomic } from '../../src/core/util/atomic-file.ts';
import { facesDir } from '../helpers/shared-data.ts';

export interface ExplorerTestRun {
  id: string;
  dir: string;
  name: string;
  zDim: number;
  imageSize: number;
  /** Checkpoint steps, ascending. */
  steps: number[];
}

export async function makeExplorerTestRun(
  dataDir: string,
  options: {
    id?: string;
    name?: string;
    steps?: number;
    checkpointEvery?: number;
    preset?: 'tiny' | 'anime-48';
  } = {},
): Promise<ExplorerTestRun> {
  const {
    id = 'tiny-run',
    name = 'Tiny test run',
    steps = 10,
    checkpointEvery = 5,
    preset = 'tiny',
  } = options;
  const dir = join(dataDir, 'runs', id);
  const faces = (await readdir(facesDir))
    .filter((f) => f.endsWith('.jpg'))
    .sort()
    .slice(0, 64)
    .map((f) => join(facesDir, f));
  await runTraining({
    runDir: dir,
    faces,
    preset,
    overrides: { batchSize: 16 },
    seed: 5,
    steps,
    checkpointEvery,
    keepCheckpoints: 5,
    sampleEvery: 0,
    swdEvery: 0,
    logEvery: 5,
  });
  await writeJsonAtomic(join(dir, 'run.json'), {
    id,
    name,
    createdAt: new Date().toISOString(),
    options: { preset, batchSize: 16, steps, seed: 5, backend: 'wasm' },
    totalSteps: steps,
    state: 'finished',
  });
  const config = (await readRunConfig(dir))!.config;
  return { id, dir, name, zDim: config.zDim, imageSize: config.imageSize, steps: await listCheckpoints(dir) };
}
