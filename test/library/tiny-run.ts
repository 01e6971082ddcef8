/**
 * A real training run of the `tiny` preset made by the gan engineer's `runTraining` on real faces from the
 * shared data: a few steps, two checkpoints (so "an earlier checkpoint" and "a deleted checkpoint" exist).
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { runTraining } from '../../src/core/gan/run.ts';
import { listCheckpoints } from '../../src/core/gan/checkpoint.ts';
import { facesDir } from '../helpers/shared-data.ts';

export interface TinyRun {
  dir: string;
  zDim: number;
  /** Checkpoint steps, ascending. */
  steps: number[];
}

export async function makeTinyRun(dir: string): Promise<TinyRun> {
  const faces = (await readdir(facesDir))
    .filter((f) => f.endsWith('.jpg'))
    .sort()
    .slice(0, 64)
    .map((f) => join(facesDir, f));
  await runTraining({
    runDir: dir,
    faces,
    preset: 'tiny',
    overrides: { batchSize: 16 },
    seed: 3,
    steps: 40,
    checkpointEvery: 20,
    keepCheckpoints: 5,
    sampleEvery: 0,
    swdEvery: 0,
  });
  return { dir, zDim: 32, steps: await listCheckpoints(dir) };
}
