import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../src/core/gan/backend.ts';
import { resolveGanConfig } from '../../../src/core/gan/config.ts';
import { listImageFiles } from '../../../src/core/gan/data.ts';
import { createGan, disposeGan } from '../../../src/core/gan/models.ts';
import type { MetricLine, StepMetricLine } from '../../../src/core/gan/run-folder.ts';
import { runTraining, type TrainingProgress } from '../../../src/core/gan/run.ts';
import { createSwdEvaluator } from '../../../src/core/gan/swd-evaluator.ts';
import { readJsonl } from '../../../src/core/util/jsonl.ts';
import { facesDir } from '../../helpers/shared-data.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';

let temp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  await selectBackend('wasm');
  temp = await makeTempDir('kao-gan-learn-');
});
afterAll(() => temp.cleanup());

describe('a run learns', () => {
  it('brings the SWD to real 16 px faces well below the untrained generator in 120 steps', async () => {
    const faces = (await listImageFiles(facesDir)).slice(0, 512);
    const config = resolveGanConfig('tiny');
    // The same evaluator runTraining builds for seed 1: same real faces, patches and fixed noise.
    const evaluator = await createSwdEvaluator(faces, config, 1, 64, () => undefined);
    const untrained = createGan(config, 1);
    const before = (await evaluator.evaluate(untrained)).average;
    disposeGan(untrained);

    const runDir = join(temp.dir, 'run');
    const progress: TrainingProgress[] = [];
    const result = await runTraining(
      {
        runDir,
        faces,
        preset: 'tiny',
        seed: 1,
        steps: 120,
        swdEvery: 60,
        swdImages: 64,
        sampleEvery: 0,
        checkpointEvery: 0,
        logEvery: 20,
      },
      { onProgress: (p) => progress.push(p) },
    );
    expect(result).toMatchObject({ step: 120, stopped: false, resumedFrom: undefined });
    const lines = (await readJsonl(join(runDir, 'metrics.jsonl'))) as MetricLine[];
    // Step 0: the untrained generator's SWD (the same value the evaluator gives before training).
    expect(lines.map((l) => l.step)).toEqual([0, 20, 40, 60, 80, 100, 120]);
    expect(lines[0]!.swd).toBeCloseTo(before, 6);
    expect(lines[0]!.lossD).toBeUndefined();
    const last = lines.at(-1) as StepMetricLine;
    const after = last.swd!;
    expect(after).toBeLessThan(0.7 * before);
    // D tells real from fake better than chance, and the progress stream carries what the UI shows.
    expect(last.dReal).toBeGreaterThan(last.dFake);
    expect(progress).toHaveLength(120);
    expect(progress.at(-1)).toMatchObject({ step: 120, totalSteps: 120, epoch: 120 / 16 });
    expect(progress.at(-1)!.imagesPerSec).toBeGreaterThan(0);
    expect(progress[10]!.numTensors).toBe(progress.at(-1)!.numTensors);
  }, 240_000);
});
