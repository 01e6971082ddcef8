import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveGanConfig } from '../../../src/core/gan/config.ts';
import { createGan, disposeGan } from '../../../src/core/gan/models.ts';
import type { MetricLine } from '../../../src/core/gan/run-folder.ts';
import { runTraining } from '../../../src/core/gan/run.ts';
import { createSwdEvaluator } from '../../../src/core/gan/swd-evaluator.ts';
import { readJsonl } from '../../../src/core/util/jsonl.ts';
import { MetricSeries } from '../../../src/renderer/src/lib/training-series.ts';
import { MetricPoint } from '../../../src/shared/training-schemas.ts';
import { tinyRunOptions, tinyRunSuite } from '../../helpers/tiny-runs.ts';

const temp = tinyRunSuite('kao-gan-swd0-');
const common = () =>
  tinyRunOptions(temp, { seed: 3, sampleEvery: 0, checkpointEvery: 0, swdEvery: 2, swdImages: 16 });

const metrics = async (runDir: string) => (await readJsonl(join(runDir, 'metrics.jsonl'))) as MetricLine[];

describe('SWD at step 0', () => {
  it('logs the untrained generator’s SWD before the first step of a new run, once', async () => {
    const runDir = join(temp.dir, 'run');
    const seen: MetricLine[] = [];
    await runTraining({ ...common(), runDir, steps: 3 }, { onMetric: (line) => seen.push(line) });
    const lines = await metrics(runDir);
    expect(lines.map((l) => [l.step, l.swd !== undefined])).toEqual([
      [0, true],
      [1, false],
      [2, true],
      [3, true],
    ]);
    // The step-0 line has no losses (no step ran) and is the same value as evaluating the untrained GAN.
    const first = lines[0]!;
    expect(Object.keys(first).sort()).toEqual(['epoch', 'step', 'swd', 'swdLevels', 'time']);
    expect(first.epoch).toBe(0);
    const config = resolveGanConfig('tiny', { batchSize: 16 });
    const evaluator = await createSwdEvaluator(temp.faces, config, 3, 16, () => undefined);
    const untrained = createGan(config, 3);
    expect(first.swd).toBeCloseTo((await evaluator.evaluate(untrained)).average, 6);
    disposeGan(untrained);
    expect(seen.map((l) => l.step)).toEqual([0, 1, 2, 3]);

    // Resuming from the checkpoint at step 3 logs no second step-0 line.
    const resumed = await runTraining({ ...common(), runDir, steps: 5 });
    expect(resumed.resumedFrom).toBe(3);
    expect((await metrics(runDir)).map((l) => l.step)).toEqual([0, 1, 2, 3, 4, 5]);

    // Without a usable checkpoint the run starts over: the old lines go, step 0 is logged once again.
    await rm(join(runDir, 'checkpoints'), { recursive: true });
    const restarted = await runTraining({ ...common(), runDir, steps: 2 });
    expect(restarted.resumedFrom).toBeUndefined();
    const again = await metrics(runDir);
    expect(again.map((l) => l.step)).toEqual([0, 1, 2]);
    expect(again[0]!.swd).toBe(first.swd);
  });

  it('logs no step-0 line with SWD off', async () => {
    const runDir = join(temp.dir, 'off');
    await runTraining({ ...common(), runDir, steps: 2, swdEvery: 0 });
    expect((await metrics(runDir)).map((l) => l.step)).toEqual([1, 2]);
  });

  it('the app reads the step-0 line: the service schema accepts it, the charts put it on the SWD axis only', async () => {
    const lines = await metrics(join(temp.dir, 'run'));
    const points = lines.map((line) => MetricPoint.parse(line));
    expect(points[0]).toMatchObject({ step: 0, swd: lines[0]!.swd });
    expect(points[0]!.lossD).toBeUndefined();
    const series = new MetricSeries();
    series.appendAll(points);
    expect(series.swdSteps).toEqual([0, 2]);
    expect(series.steps).toEqual([1, 2]);
    expect(series.lossD).toHaveLength(2);
  });
});
