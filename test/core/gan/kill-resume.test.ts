import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listCheckpoints } from '../../../src/core/gan/checkpoint.ts';
import type { MetricLine } from '../../../src/core/gan/run-folder.ts';
import { readJsonl } from '../../../src/core/util/jsonl.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';
import { startKaoTrain } from '../../helpers/kao-train.ts';

let temp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  temp = await makeTempDir('kao-gan-kill-');
});
afterAll(() => temp.cleanup());

async function waitForCheckpoint(runDir: string, atLeast: number): Promise<void> {
  for (;;) {
    const steps = await listCheckpoints(runDir);
    if (steps.some((s) => s >= atLeast)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('kao train survives kill -9 and Ctrl-C', () => {
  it('resumes at the last checkpoint after SIGKILL, stops cleanly on SIGINT, and finishes with seamless metrics', async () => {
    const runDir = join(temp.dir, 'run');

    // 1. Killed without warning once a checkpoint exists.
    const first = startKaoTrain(runDir, 60, ['--log-every', '1', '--json']);
    await waitForCheckpoint(runDir, 5);
    first.kill('SIGKILL');
    expect((await first.exit).signal).toBe('SIGKILL');
    const afterKill = await listCheckpoints(runDir);
    const killedAt = Math.max(...afterKill);
    expect(killedAt).toBeGreaterThanOrEqual(5);

    // 2. Resumes there; Ctrl-C saves a checkpoint at the current step and exits 130.
    const second = startKaoTrain(runDir, 60, ['--log-every', '1', '--json']);
    await waitForCheckpoint(runDir, killedAt + 5);
    second.kill('SIGINT');
    const stopped = await second.exit;
    expect(stopped.stderr).toContain(`resumed from the checkpoint at step ${killedAt}`);
    expect(stopped.code).toBe(130);
    const stopResult = JSON.parse(stopped.stdout);
    expect(stopResult.stopped).toBe(true);
    expect(stopResult.resumedFrom).toBe(killedAt);
    expect(stopResult.lastCheckpoint.step).toBe(stopResult.step);
    expect(Math.max(...(await listCheckpoints(runDir)))).toBe(stopResult.step);

    // 3. Runs to the end from the stop.
    const third = startKaoTrain(runDir, 60, ['--log-every', '1', '--json']);
    const done = await third.exit;
    expect(done.code).toBe(0);
    const result = JSON.parse(done.stdout);
    expect(result).toMatchObject({ step: 60, totalSteps: 60, stopped: false, resumedFrom: stopResult.step });

    const lines = (await readJsonl(join(runDir, 'metrics.jsonl'))) as MetricLine[];
    expect(lines.map((l) => l.step)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(lines.every((l) => Number.isFinite(l.lossD) && Number.isFinite(l.lossG))).toBe(true);
    expect(await listCheckpoints(runDir)).toContain(60);
  }, 180_000);
});
