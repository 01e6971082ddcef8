import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  bestCheckpointPath,
  loadPreferredCheckpoint,
  outlastsPatience,
  readBestCheckpoint,
} from '../../../src/core/gan/best-checkpoint.ts';
import { checkpointFolderName, listCheckpoints, saveCheckpoint } from '../../../src/core/gan/checkpoint.ts';
import { readGeneratorWeights } from '../../../src/core/gan/generator-node.ts';
import type { MetricLine } from '../../../src/core/gan/run-folder.ts';
import { runTraining } from '../../../src/core/gan/run.ts';
import { readJsonl } from '../../../src/core/util/jsonl.ts';
import { tinyRunOptions, tinyRunSuite } from '../../helpers/tiny-runs.ts';

const temp = tinyRunSuite('kao-gan-best-');
const common = () =>
  tinyRunOptions(temp, {
    seed: 4,
    sampleEvery: 100,
    checkpointEvery: 1,
    keepCheckpoints: 1,
    swdEvery: 1,
    swdImages: 16,
  });

/** The step with the lowest SWD after training began, from metrics.jsonl. */
async function lowestSwd(runDir: string): Promise<{ step: number; swd: number }> {
  const lines = (await readJsonl(join(runDir, 'metrics.jsonl'))) as MetricLine[];
  const scored = lines.filter((l) => l.step > 0 && l.swd !== undefined);
  const best = scored.reduce((a, b) => (b.swd! < a.swd! ? b : a));
  return { step: best.step, swd: best.swd! };
}

describe('the best checkpoint', () => {
  it('rotation never deletes the protected step', async () => {
    const runDir = join(temp.dir, 'rotation');
    const tensors = { a: { shape: [1], data: Float32Array.from([1]) } };
    for (const step of [10, 20, 30, 40]) await saveCheckpoint(runDir, step, {}, tensors, 2, 10);
    expect(await listCheckpoints(runDir)).toEqual([10, 30, 40]);
    await saveCheckpoint(runDir, 50, {}, tensors, 2, 40);
    expect(await listCheckpoints(runDir)).toEqual([40, 50]);
  });

  it('is the lowest in-training SWD, kept beside the newest, and what readers open by default', async () => {
    const runDir = join(temp.dir, 'run');
    const result = await runTraining({ ...common(), runDir, steps: 8 });
    const lowest = await lowestSwd(runDir);
    expect(result.best).toMatchObject(lowest);
    expect(await readBestCheckpoint(runDir)).toEqual(result.best);
    // keepCheckpoints 1 rotates every other checkpoint away; the best stays beside the newest.
    expect(await listCheckpoints(runDir)).toEqual([...new Set([lowest.step, 8])].sort((a, b) => a - b));
    // Its grid is written when it becomes the best (sampleEvery alone would give steps 0 and 8).
    await expect(readFile(join(runDir, 'samples', `step-${lowest.step}.png`))).resolves.toBeTruthy();

    expect((await readGeneratorWeights(runDir)).step).toBe(lowest.step);
    expect((await readGeneratorWeights(runDir, { step: 8 })).step).toBe(8);

    // Resuming keeps the record as the bar to beat: the best after more steps is at most as high.
    const resumed = await runTraining({ ...common(), runDir, steps: 12 });
    expect(resumed.resumedFrom).toBe(8);
    expect(resumed.best!.swd).toBeLessThanOrEqual(lowest.swd);
    expect(resumed.best).toMatchObject(await lowestSwd(runDir));
  });

  it('reads as none when best.json is torn, foreign or names a missing checkpoint; a corrupt one falls back with a warning', async () => {
    const runDir = join(temp.dir, 'broken');
    const tensors = { a: { shape: [1], data: Float32Array.from([7]) } };
    for (const step of [5, 10]) await saveCheckpoint(runDir, step, {}, tensors, 3);
    const write = (text: string) => writeFile(bestCheckpointPath(runDir), text);

    await write('{"step": 5, "swd": 1.5, "ti');
    expect(await readBestCheckpoint(runDir)).toBeUndefined();
    await write(JSON.stringify({ step: 5, swd: 'low', time: 'x' }));
    expect(await readBestCheckpoint(runDir)).toBeUndefined();
    await write(JSON.stringify({ step: 7, swd: 1.5, time: 'x' }));
    expect(await readBestCheckpoint(runDir)).toBeUndefined();
    expect((await loadPreferredCheckpoint(runDir)).checkpoint?.step).toBe(10);

    await write(JSON.stringify({ step: 5, swd: 1.5, time: 'x' }));
    expect((await loadPreferredCheckpoint(runDir)).checkpoint?.step).toBe(5);
    expect((await loadPreferredCheckpoint(runDir, { step: 10 })).checkpoint?.step).toBe(10);

    await rm(join(runDir, 'checkpoints', checkpointFolderName(5), 'tensors.bin'));
    const fallback = await loadPreferredCheckpoint(runDir);
    expect(fallback.checkpoint?.step).toBe(10);
    expect(fallback.warnings).toEqual([expect.stringMatching(/best checkpoint at step 5 .*newest/)]);
  });

  it('a run without SWD records none, and a restart from scratch drops an earlier attempt’s', async () => {
    const runDir = join(temp.dir, 'restart');
    await runTraining({ ...common(), runDir, steps: 3 });
    expect(await readBestCheckpoint(runDir)).toBeDefined();
    await rm(join(runDir, 'checkpoints'), { recursive: true });
    const again = await runTraining({ ...common(), runDir, steps: 2, swdEvery: 0 });
    expect(again.best).toBeUndefined();
    await expect(readFile(bestCheckpointPath(runDir))).rejects.toThrow(/ENOENT/);
  });

  it('patience ends a run once its best is that many steps old, counting from a resume', async () => {
    expect(outlastsPatience(undefined, 100, 10)).toBe(false);
    expect(outlastsPatience({ step: 90 }, 100, 0)).toBe(false);
    expect(outlastsPatience({ step: 90 }, 99, 10)).toBe(false);
    expect(outlastsPatience({ step: 90 }, 100, 10)).toBe(true);
    expect(outlastsPatience({ step: 90 }, 100, 10, 95)).toBe(false);

    const runDir = join(temp.dir, 'patience');
    const result = await runTraining({ ...common(), runDir, steps: 40, patience: 2 });
    // A tiny run's SWD is noisy enough to go two steps without a record well before step 40.
    expect(result.plateaued).toBe(true);
    expect(result.step).toBeLessThan(40);
    expect(result.best).toMatchObject(await lowestSwd(runDir));
    expect(result.step - result.best!.step).toBe(2);
    expect((await listCheckpoints(runDir)).at(-1)).toBe(result.step);

    // Continuing gets a full window: at least `patience` more steps before it can stop again.
    const continued = await runTraining({ ...common(), runDir, steps: 60, patience: 2 });
    expect(continued.resumedFrom).toBe(result.step);
    expect(continued.step).toBeGreaterThanOrEqual(result.step + 2);
    expect(continued.plateaued).toBe(continued.step < 60);
  });
});
