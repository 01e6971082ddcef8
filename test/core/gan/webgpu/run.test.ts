/**
 * runTraining on Kao's WebGPU engine (SwiftShader), with the default preset's recipe (resize-convolution,
 * the average of G's weights): the loop takes the engine's late losses, checkpoints from the GPU state
 * (the average's BN statistics re-estimated from the synced average), resumes exactly on the engine
 * (2 + 2 steps = 4), and a run continues on the tfjs path from the engine's checkpoint.
 */
import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadLatestCheckpoint } from '../../../../src/core/gan/checkpoint.ts';
import { listImageFiles } from '../../../../src/core/gan/data.ts';
import type { MetricLine } from '../../../../src/core/gan/run-folder.ts';
import { runTraining, type RunTrainingOptions } from '../../../../src/core/gan/run.ts';
import { readJsonl } from '../../../../src/core/util/jsonl.ts';
import { facesDir } from '../../../helpers/shared-data.ts';
import { makeTempDir } from '../../../helpers/temp-dir.ts';
import { useSoftwareWebGpu } from '../../../helpers/webgpu.ts';

const skip = useSoftwareWebGpu();
if (skip) console.warn(`WebGPU run tests skipped: ${skip}`);

let faces: string[];
let temp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  await tf.setBackend('cpu');
  faces = (await listImageFiles(facesDir)).slice(0, 32);
  temp = await makeTempDir('kao-webgpu-run-');
});
afterAll(() => temp.cleanup());

const common = (runDir: string, steps: number): RunTrainingOptions => ({
  runDir,
  faces,
  preset: 'tiny',
  overrides: { batchSize: 4, gWidth: 0.25, dWidth: 0.25, upsample: 'resize', emaDecay: 0.999 },
  seed: 3,
  steps,
  sampleEvery: 0,
  checkpointEvery: 0,
  logEvery: 2,
  stepper: 'webgpu-engine',
});

describe.skipIf(skip !== undefined)('training runs on the WebGPU engine', () => {
  it(
    'logs the engine’s losses, resumes exactly, and continues on tfjs from its checkpoint',
    { timeout: 300_000 },
    async () => {
      const logs: string[] = [];
      const straight = join(temp.dir, 'straight');
      await runTraining(common(straight, 4), { onLog: (m) => logs.push(m) });
      expect(logs.some((m) => /WebGPU engine/.test(m))).toBe(true);
      const lines = (await readJsonl(join(straight, 'metrics.jsonl'))) as MetricLine[];
      expect(lines.map((l) => l.step)).toEqual([2, 4]);
      for (const l of lines) expect([l.lossD, l.lossG, l.dReal, l.dFake].every(Number.isFinite)).toBe(true);

      const resumed = join(temp.dir, 'resumed');
      await runTraining(common(resumed, 2));
      const second = await runTraining(common(resumed, 4));
      expect(second.resumedFrom).toBe(2);
      const weights = async (dir: string) => (await loadLatestCheckpoint(dir)).checkpoint!.tensors;
      const [a, b] = [await weights(resumed), await weights(straight)];
      for (const name of [
        'g.out.kernel',
        'd.conv1.kernel',
        'optG.v/g.dense.kernel',
        'g.bn1.movingMean',
        'ema/g.up1.kernel',
        'ema/g.bn1.movingMean',
      ])
        expect(a[name]!.data, name).toEqual(b[name]!.data);
      expect(a['g.out.kernel']!.shape).toEqual([3, 3, 3, 4]);
      expect(a['ema/g.bn1.movingMean']!.data).not.toEqual(a['g.bn1.movingMean']!.data);

      // The same run continues through tfjs (cpu here) from the engine's checkpoint.
      const continued = await runTraining({ ...common(resumed, 6), stepper: 'tfjs' });
      expect(continued.resumedFrom).toBe(4);
      const after = (await readJsonl(join(resumed, 'metrics.jsonl'))) as MetricLine[];
      expect(after.map((l) => l.step)).toEqual([2, 4, 6]);
      expect(Number.isFinite(after.at(-1)!.lossD)).toBe(true);
    },
  );

  it('refuses a recipe the engine does not implement when asked for it, naming the field', async () => {
    await expect(
      runTraining({
        ...common(join(temp.dir, 'recipe'), 2),
        overrides: { batchSize: 4, loss: 'hinge' },
      }),
    ).rejects.toThrow(/does not implement loss="hinge"/);
  });
});
