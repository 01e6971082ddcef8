import * as tf from '@tensorflow/tfjs';
import { readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../src/core/gan/backend.ts';
import {
  checkpointFolderName,
  listCheckpoints,
  loadLatestCheckpoint,
  saveCheckpoint,
} from '../../../src/core/gan/checkpoint.ts';
import { resolveGanConfig } from '../../../src/core/gan/config.ts';
import { FaceBatchSource, listImageFiles } from '../../../src/core/gan/data.ts';
import { createGan, disposeGan } from '../../../src/core/gan/models.ts';
import { ganTensors, restoreGan } from '../../../src/core/gan/checkpoint.ts';
import type { MetricLine } from '../../../src/core/gan/run-folder.ts';
import { runTraining } from '../../../src/core/gan/run.ts';
import { trainStep } from '../../../src/core/gan/step.ts';
import { readJsonl } from '../../../src/core/util/jsonl.ts';
import { RunControl } from '../../../src/core/util/run-control.ts';
import { facesDir } from '../../helpers/shared-data.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';

let faces: string[];
let temp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  await selectBackend('wasm');
  faces = (await listImageFiles(facesDir)).slice(0, 128);
  temp = await makeTempDir('kao-gan-ckpt-');
});
afterAll(() => temp.cleanup());

const config = resolveGanConfig('tiny', { batchSize: 16 });
const common = () => ({
  faces,
  preset: 'tiny' as const,
  overrides: { batchSize: 16 },
  sampleEvery: 0,
  logEvery: 1,
});

describe('checkpoints', () => {
  it('round-trip weights, BN statistics and both Adam states exactly', async () => {
    const gan = createGan(config, 21);
    const source = new FaceBatchSource({ paths: faces, imageSize: 16, batchSize: 16, seed: 21, flip: true });
    for (let i = 0; i < 2; i++) {
      const real = tf.tensor4d((await source.next()).data, [16, 16, 16, 3]);
      const z = tf.randomNormal([16, config.zDim], 0, 1, 'float32', i) as tf.Tensor2D;
      await trainStep(gan, real, z);
      real.dispose();
      z.dispose();
    }
    const runDir = join(temp.dir, 'roundtrip');
    const saved = await ganTensors(gan);
    await saveCheckpoint(runDir, 2, { optGStep: gan.optG.step, optDStep: gan.optD.step }, saved);

    const other = createGan(config, 99); // different weights, zero moments
    const { checkpoint, warnings } = await loadLatestCheckpoint(runDir);
    expect(warnings).toEqual([]);
    restoreGan(other, checkpoint!);
    const restored = await ganTensors(other);
    expect(Object.keys(restored).sort()).toEqual(Object.keys(saved).sort());
    // Moments are non-trivial after two steps, so this compares real optimizer state.
    expect(saved['optG.v/g.dense.kernel']!.data.some((v) => v !== 0)).toBe(true);
    const bytes = (t: { data: Float32Array }) =>
      Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const differing = Object.keys(saved).filter(
      (name) =>
        restored[name]!.shape.join() !== saved[name]!.shape.join() ||
        !bytes(restored[name]!).equals(bytes(saved[name]!)),
    );
    expect(differing).toEqual([]);
    expect([other.optG.step, other.optD.step]).toEqual([gan.optG.step, gan.optD.step]);
    expect(gan.optG.step).toBe(2 * config.gStepsPerD);
    disposeGan(gan);
    disposeGan(other);
  });

  it('keeps the last K and falls back from a corrupt or truncated newest one with a warning', async () => {
    const runDir = join(temp.dir, 'fallback');
    const tensors = { a: { shape: [3], data: Float32Array.from([1, 2, 3]) } };
    for (const step of [10, 20, 30, 40]) await saveCheckpoint(runDir, step, { step }, tensors, 3);
    expect(await listCheckpoints(runDir)).toEqual([20, 30, 40]);

    const newest = join(runDir, 'checkpoints', checkpointFolderName(40), 'tensors.bin');
    const bytes = await readFile(newest);
    bytes[5]! ^= 0x40; // one flipped bit
    await writeFile(newest, bytes);
    let loaded = await loadLatestCheckpoint(runDir);
    expect(loaded.checkpoint?.step).toBe(30);
    expect(loaded.warnings).toHaveLength(1);
    expect(loaded.warnings[0]).toMatch(/step 40.*checksum/);

    await truncate(join(runDir, 'checkpoints', checkpointFolderName(30), 'tensors.bin'), 4);
    loaded = await loadLatestCheckpoint(runDir);
    expect(loaded.checkpoint?.step).toBe(20);
    expect(loaded.warnings[1]).toMatch(/step 30.*truncated/);
    expect(Array.from(loaded.checkpoint!.tensors.a!.data)).toEqual([1, 2, 3]);
  });

  it('resumes a stopped run bit-exactly: 3 + 3 steps equal 6 uninterrupted steps', async () => {
    const straight = join(temp.dir, 'straight');
    const resumed = join(temp.dir, 'resumed');
    await runTraining({ ...common(), runDir: straight, seed: 5, steps: 6, checkpointEvery: 0 });
    const first = await runTraining({ ...common(), runDir: resumed, seed: 5, steps: 3, checkpointEvery: 0 });
    expect(first.lastCheckpoint?.step).toBe(3);
    // A line from a crash after the checkpoint: dropped on resume so the curve stays seamless.
    await writeFile(
      join(resumed, 'metrics.jsonl'),
      (await readFile(join(resumed, 'metrics.jsonl'), 'utf8')) + '{"step":4,"lossD":99}\n{"st',
    );
    const second = await runTraining({
      runDir: resumed,
      faces,
      steps: 6,
      checkpointEvery: 0,
      sampleEvery: 0,
      logEvery: 1,
    });
    expect(second.resumedFrom).toBe(3);
    expect(second.step).toBe(6);

    const a = (await readJsonl(join(straight, 'metrics.jsonl'))) as MetricLine[];
    const b = (await readJsonl(join(resumed, 'metrics.jsonl'))) as MetricLine[];
    expect(b.map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6]);
    const losses = (lines: MetricLine[]) => lines.map((l) => [l.lossD, l.lossG, l.dReal, l.dFake]);
    expect(losses(b)).toEqual(losses(a));
    const final = async (dir: string) =>
      (await loadLatestCheckpoint(dir)).checkpoint!.tensors['g.out.kernel']!.data;
    expect(await final(resumed)).toEqual(await final(straight));
  });

  it('pauses and resumes through RunControl; cancel stops with a checkpoint of the current step', async () => {
    const runDir = join(temp.dir, 'control');
    const control = new RunControl();
    const seen: number[] = [];
    const samples: number[] = [];
    let pausedAt: number | undefined;
    const result = await runTraining(
      { ...common(), runDir, seed: 5, steps: 20, checkpointEvery: 0, sampleEvery: 100 },
      {
        control,
        onSamples: (s) => samples.push(s.step),
        onProgress: (p) => {
          seen.push(p.step);
          if (p.step === 2) {
            control.pause();
            pausedAt = seen.length;
            setTimeout(() => {
              // Nothing ran while paused.
              expect(seen.length).toBe(pausedAt);
              control.resume();
            }, 200);
          }
          if (p.step === 4) control.cancel();
        },
      },
    );
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(result).toMatchObject({ step: 4, stopped: true, lastCheckpoint: { step: 4 } });
    expect(await listCheckpoints(runDir)).toEqual([4]);
    // The stop also leaves a sample grid of the stopped step for the UI.
    expect(samples).toEqual([0, 4]);
  });

  it('refuses to resume a run with a different config or seed', async () => {
    const runDir = join(temp.dir, 'straight');
    await expect(runTraining({ ...common(), runDir, overrides: { batchSize: 8 }, steps: 7 })).rejects.toThrow(
      /batchSize: 16 ≠ 8/,
    );
    await expect(runTraining({ ...common(), runDir, seed: 6, steps: 7 })).rejects.toThrow(/seed 5/);
  });
});
