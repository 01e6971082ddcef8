import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createNodeAppServices } from '../../src/services/node-services.ts';
import type { AppServices } from '../../src/services/app-services.ts';
import type { EventName } from '../../src/shared/contract.ts';
import type { TrainerToHost } from '../../src/shared/trainer-protocol.ts';
import type { ExplorerRun } from '../../src/shared/explorer-schemas.ts';
import { TrainingProgressEvent, type RunDetail } from '../../src/shared/training-schemas.ts';
import { RunControl } from '../../src/core/util/run-control.ts';
import { startTrainingJob } from '../../src/trainer/train-job.ts';
import { facesDir } from '../helpers/shared-data.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';

const offered: Array<{ file: string; fileName: string }> = [];
let services: AppServices;
let cleanup: () => Promise<void>;
let dataDir: string;
const events: Array<{ name: EventName; payload: unknown }> = [];

beforeAll(async () => {
  const temp = await makeTempDir();
  cleanup = temp.cleanup;
  dataDir = join(temp.dir, 'data');
  await mkdir(join(dataDir, 'faces'), { recursive: true });
  const names = (await readdir(facesDir)).sort().slice(0, 64);
  await Promise.all(names.map((n) => copyFile(join(facesDir, n), join(dataDir, 'faces', n))));
  services = createNodeAppServices({
    configDir: join(temp.dir, 'config'),
    dataDir,
    // As `kao serve` does: the prepared file is handed over for a browser download.
    offerDownload: async (file, fileName) => {
      offered.push({ file, fileName });
      return `/download/${offered.length}`;
    },
  });
  services.events.subscribe((name, payload) => events.push({ name, payload }));
});
afterAll(async () => {
  await services.dispose();
  await cleanup();
});

async function until<T>(check: () => T | undefined, timeoutMs = 120_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() - start > timeoutMs) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

const options = {
  preset: 'tiny',
  batchSize: 16,
  steps: 12,
  seed: 3,
  backend: 'wasm',
  checkpointEvery: 4,
  sampleEvery: 6,
  swdEvery: 0,
} as const;

/** Starts a run of `options` with `extra`, waits for its `finished` event, and reads the run's page. */
async function trainUntilFinished(extra: Record<string, unknown>) {
  events.length = 0;
  const started = await services.dispatch('training.start', { ...options, ...extra });
  if (!started.ok) throw new Error(started.error.message);
  const runId = (started.value as { id: string }).id;
  const finished = await until(() =>
    events.find((e) => e.name === 'training.state' && (e.payload as { state: string }).state === 'finished'),
  );
  const detail = await services.dispatch('training.run', { id: runId });
  if (!detail.ok) throw new Error(detail.error.message);
  return { runId, finished, run: detail.value as RunDetail };
}

describe('training service over the real trainer process', () => {
  it('refuses a run without enough faces, and invalid options, without creating anything', async () => {
    const bad = await services.dispatch('training.start', { ...options, batchSize: 0 });
    expect(bad).toMatchObject({ ok: false, error: { code: 'invalid-input' } });
    expect(await services.dispatch('training.runs', {})).toEqual({ ok: true, value: [] });
  });

  it('trains a tiny run to the end, relaying progress, metrics, samples and checkpoints', async () => {
    const started = await services.dispatch('training.start', options);
    expect(started).toMatchObject({ ok: true, value: { state: 'running', totalSteps: 12, faces: 64 } });
    const runId = (started as { value: { id: string } }).value.id;
    // The app's own trainer holds the run's lock: that is not "training elsewhere".
    expect(existsSync(join(dataDir, 'runs', runId, 'train.lock'))).toBe(true);
    expect(await services.dispatch('training.locks', {})).toEqual({ ok: true, value: [] });
    const listed = await services.dispatch('training.runs', {});
    expect(listed).toMatchObject({ ok: true, value: [{ id: runId, state: 'running' }] });
    expect((listed as { value: Array<Record<string, unknown>> }).value[0]).not.toHaveProperty(
      'trainingElsewhere',
    );
    await until(() =>
      events.find(
        (e) => e.name === 'training.state' && (e.payload as { state: string }).state === 'finished',
      ),
    );
    const kinds = new Set(events.map((e) => e.name));
    for (const kind of [
      'training.progress',
      'training.metric',
      'training.sample',
      'training.checkpoint',
    ] as const) {
      expect(kinds, kind).toContain(kind);
    }
    const detail = await services.dispatch('training.run', { id: runId });
    if (!detail.ok) throw new Error(detail.error.message);
    const run = detail.value as {
      state: string;
      step: number;
      checkpointStep: number;
      metrics: Array<{ lossD: number }>;
      samples: Array<{ step: number; path: string }>;
    };
    expect(run.state).toBe('finished');
    expect(run.step).toBe(12);
    expect(run.checkpointStep).toBe(12);
    expect(run.metrics.length).toBeGreaterThan(0);
    expect(run.metrics.every((m) => Number.isFinite(m.lossD))).toBe(true);
    expect(run.samples.map((s) => s.step)).toContain(6);
    for (const sample of run.samples)
      expect(sample.path).toBe(`runs/${runId}/samples/step-${sample.step}.png`);
    // The run's config.json arrives parsed: the GAN config with its recipe, the seed, the backend.
    expect((detail.value as RunDetail).config).toMatchObject({
      runId,
      seed: 3,
      preset: 'tiny',
      backend: 'wasm',
      config: { imageSize: 16, batchSize: 16, upsample: 'transposed', loss: 'bce', augment: [], emaDecay: 0 },
    });
    // Progress is the contract's shape end to end (tensor memory included), not a hand-mapped copy.
    const progress = events.filter((e) => e.name === 'training.progress').map((e) => e.payload);
    for (const payload of progress) expect(TrainingProgressEvent.safeParse(payload).success).toBe(true);
    expect(progress.at(-1)).toMatchObject({
      runId,
      step: 12,
      totalSteps: 12,
      tensorBytes: expect.any(Number),
    });
  });

  it('keeps the checkpoint with the lowest SWD, reports it, and the Explorer opens it by default', async () => {
    const { runId, run } = await trainUntilFinished({ swdEvery: 2, checkpointEvery: 5 });
    const scored = run.metrics.filter((m) => m.step > 0 && m.swd !== undefined);
    const lowest = scored.reduce((a, b) => (b.swd! < a.swd! ? b : a));
    expect(run.best).toEqual({ step: lowest.step, swd: lowest.swd });
    // Each checkpoint event says which checkpoint is the best after it; the last one names the run's.
    const checkpoints = events
      .filter((e) => e.name === 'training.checkpoint')
      .map((e) => e.payload as { step: number; best?: { step: number } });
    expect(checkpoints.at(-1)?.best?.step).toBe(lowest.step);
    expect(checkpoints.every((c) => c.best !== undefined && c.best.step <= c.step)).toBe(true);

    const runs = await services.dispatch('explorer.runs', {});
    if (!runs.ok) throw new Error(runs.error.message);
    const explored = (runs.value as ExplorerRun[]).find((r) => r.id === runId);
    expect(explored?.bestStep).toBe(lowest.step);
    expect(explored?.steps).toContain(lowest.step);
    const model = await services.dispatch('explorer.model', { runId });
    expect(model).toMatchObject({ ok: true, value: { step: lowest.step } });
    // The tests after this one start from an empty run list.
    expect(await services.dispatch('training.delete', { id: runId })).toMatchObject({ ok: true });
  });

  it('ends a run early once its best checkpoint is `patience` steps old, and says so on the run', async () => {
    const { runId, run, finished } = await trainUntilFinished({
      steps: 40,
      swdEvery: 1,
      patience: 2,
      checkpointEvery: 5,
    });
    expect(run.step).toBeLessThan(40);
    expect(run.message).toBe(
      `Stopped early at step ${run.step}: no better checkpoint since step ${run.best!.step}. The best is kept.`,
    );
    expect(run.step - run.best!.step).toBe(2);
    expect(finished.payload).toMatchObject({ message: run.message });
    expect(await services.dispatch('training.delete', { id: runId })).toMatchObject({ ok: true });
  });

  it('pauses the running job and resumes it from the same step', async () => {
    events.length = 0;
    const started = await services.dispatch('training.start', { ...options, steps: 100_000 });
    if (!started.ok) throw new Error(started.error.message);
    const id = (started.value as { id: string }).id;
    const stateEvent = (state: string) => () =>
      events.find((e) => e.name === 'training.state' && (e.payload as { state: string }).state === state);
    const lastStep = () =>
      (events.findLast((e) => e.name === 'training.progress')?.payload as { step: number } | undefined)?.step;
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    try {
      await until(() => ((lastStep() ?? 0) >= 2 ? true : undefined));

      expect(await services.dispatch('training.pause', {})).toEqual({ ok: true, value: { ok: true } });
      await until(stateEvent('paused'));
      const pausedAt = lastStep()!;
      const runs = await services.dispatch('training.runs', {});
      if (!runs.ok) throw new Error(runs.error.message);
      expect((runs.value as Array<{ id: string; state: string }>).find((r) => r.id === id)?.state).toBe(
        'paused',
      );
      // The step in flight finishes; then no step runs while paused.
      let settled = lastStep()!;
      for (let waited = 0; waited < 60_000; waited += 3000) {
        await sleep(3000);
        if (lastStep() === settled) break;
        settled = lastStep()!;
      }
      expect(settled - pausedAt).toBeLessThanOrEqual(1);
      await sleep(2000);
      expect(lastStep()).toBe(settled);

      events.length = 0;
      expect(await services.dispatch('training.resume', {})).toEqual({ ok: true, value: { ok: true } });
      await until(stateEvent('running'));
      expect(await until(() => lastStep())).toBeGreaterThan(settled);
    } finally {
      await services.dispatch('training.stop', {});
      await until(stateEvent('stopped'));
    }
    expect(await services.dispatch('training.delete', { id })).toEqual({ ok: true, value: { ok: true } });
  });

  it('continues a finished run to more steps from its checkpoint, then renames, exports and deletes it', async () => {
    const list = await services.dispatch('training.runs', {});
    if (!list.ok) throw new Error('list failed');
    const id = (list.value as Array<{ id: string }>)[0]!.id;
    events.length = 0;
    const continued = await services.dispatch('training.continueFromCheckpoint', { id, steps: 16 });
    expect(continued).toMatchObject({ ok: true, value: { state: 'running', totalSteps: 16 } });
    await until(() =>
      events.find(
        (e) => e.name === 'training.state' && (e.payload as { state: string }).state === 'finished',
      ),
    );
    const firstProgress = events.find((e) => e.name === 'training.progress')!.payload as { step: number };
    expect(firstProgress.step).toBeGreaterThan(12);
    const renamed = await services.dispatch('training.rename', { id, name: 'My first faces' });
    expect(renamed).toMatchObject({ ok: true, value: { name: 'My first faces', step: 16 } });
    const exported = await services.dispatch('training.export', { id });
    if (!exported.ok) throw new Error(exported.error.message);
    const files = await readdir((exported as { value: { path: string } }).value.path);
    expect(files).toContain('model.json');
    // Exporting again asks before replacing the earlier export.
    expect(await services.dispatch('training.export', { id })).toMatchObject({
      ok: false,
      error: { code: 'exists' },
    });
    expect(await services.dispatch('training.export', { id, overwrite: true })).toMatchObject({ ok: true });
    expect(await services.dispatch('training.export', { id, to: 'relative/out' })).toMatchObject({
      ok: false,
      error: { code: 'invalid-input' },
    });
    // The browser's export: one zip named after the run, shell-safe.
    const download = await services.dispatch('training.export', { id, download: true });
    expect(download).toMatchObject({
      ok: true,
      value: {
        downloadUrl: '/download/1',
        fileName: expect.stringMatching(/^My-first-faces-step-\d+-generator\.zip$/),
      },
    });
    const listing = spawnSync('unzip', ['-l', offered[0]!.file], { encoding: 'utf8' }).stdout;
    expect(listing).toMatch(/model\.json/);
    expect(listing).toMatch(/weights\.bin/);
    expect(await services.dispatch('training.delete', { id })).toEqual({ ok: true, value: { ok: true } });
    expect(await services.dispatch('training.runs', {})).toEqual({ ok: true, value: [] });
  });

  it('gives a sample grid redrawn by a resume from an earlier checkpoint a new URL', async () => {
    type Sample = { step: number; path: string; version: string };
    const started = await services.dispatch('training.start', { ...options, steps: 8 });
    if (!started.ok) throw new Error(started.error.message);
    const id = (started.value as { id: string }).id;
    const finished = (): unknown =>
      events.find(
        (e) =>
          e.name === 'training.state' &&
          (e.payload as { runId: string; state: string }).runId === id &&
          (e.payload as { state: string }).state === 'finished',
      );
    await until(finished);
    const before = await services.dispatch('training.run', { id });
    if (!before.ok) throw new Error(before.error.message);
    const grid = (before.value as { samples: Sample[] }).samples.find((s) => s.step === 6)!;
    expect(grid.version).not.toBe('');
    // As after a crash between the grid at step 6 and the checkpoint at step 8: the run goes on from step 4
    // and draws step 6's grid again, under the same file name.
    const checkpoints = join(dataDir, 'runs', id, 'checkpoints');
    const eighth = (await readdir(checkpoints)).find((name) => /^step-0*8$/.test(name));
    expect(eighth).toBeDefined();
    await rm(join(checkpoints, eighth!), { recursive: true });
    events.length = 0;
    expect(await services.dispatch('training.continueFromCheckpoint', { id })).toMatchObject({ ok: true });
    await until(finished);
    const relayed = events.find((e) => e.name === 'training.sample' && (e.payload as Sample).step === 6)
      ?.payload as Sample;
    const after = await services.dispatch('training.run', { id });
    if (!after.ok) throw new Error(after.error.message);
    const redrawn = (after.value as { samples: Sample[] }).samples.find((s) => s.step === 6)!;
    const runs = await services.dispatch('training.runs', {});
    if (!runs.ok) throw new Error(runs.error.message);
    const summary = (
      runs.value as Array<{ id: string; latestSample: string; latestSampleVersion: string }>
    ).find((r) => r.id === id)!;
    const newest = (after.value as { samples: Sample[] }).samples.at(-1)!;

    // The same file, rewritten; the renderer shows it as mediaUrl(path)?v=version, so a new version is a
    // new URL, in the run's detail, in the live event and in the list's thumbnail alike.
    expect(redrawn.path).toBe(grid.path);
    expect(redrawn.version).not.toBe(grid.version);
    expect(relayed).toEqual({ runId: id, ...redrawn });
    expect(summary).toMatchObject({ latestSample: newest.path, latestSampleVersion: newest.version });
    expect(await services.dispatch('training.delete', { id })).toEqual({ ok: true, value: { ok: true } });
  });
});

describe('a run folder another process trains', () => {
  it('is not continued or deleted by the app while the other trainer lives; the message says who', async () => {
    const started = await services.dispatch('training.start', { ...options, steps: 4 });
    if (!started.ok) throw new Error(started.error.message);
    const id = (started.value as { id: string }).id;
    await until(() =>
      events.find(
        (e) =>
          e.name === 'training.state' &&
          (e.payload as { runId: string; state: string }).runId === id &&
          (e.payload as { state: string }).state === 'finished',
      ),
    );
    // A `kao train` in a terminal on the app's run folder: a live process holds the lock.
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    const runDir = join(dataDir, 'runs', id);
    try {
      await writeFile(
        join(runDir, 'train.lock'),
        JSON.stringify({
          pid: other.pid,
          hostname: hostname(),
          startedAt: new Date().toISOString(),
          command: 'kao train',
          id: 'cli',
        }),
      );
      const record = await readFile(join(runDir, 'run.json'), 'utf8');

      // The list shows who trains it, beside the state the app last recorded.
      const holder = {
        pid: other.pid,
        hostname: hostname(),
        command: 'kao train',
        startedAt: expect.any(String),
        thisHost: true,
      };
      const listed = await services.dispatch('training.runs', {});
      expect(listed).toMatchObject({
        ok: true,
        value: [{ id, state: 'finished', trainingElsewhere: holder }],
      });
      expect(await services.dispatch('training.locks', {})).toEqual({
        ok: true,
        value: [{ id, holder }],
      });
      expect(await services.dispatch('training.run', { id })).toMatchObject({
        ok: true,
        value: { id, trainingElsewhere: holder },
      });

      events.length = 0;
      const continued = await services.dispatch('training.continueFromCheckpoint', { id, steps: 8 });
      expect(continued).toMatchObject({
        ok: false,
        error: {
          code: 'busy',
          message: expect.stringMatching(
            new RegExp(
              `^“tiny · .+” is being trained by another process \\(pid ${other.pid}, kao train, since \\d\\d:\\d\\d\\)\\.$`,
            ),
          ),
        },
      });
      expect(await readFile(join(runDir, 'run.json'), 'utf8')).toBe(record);
      expect(events.filter((e) => e.name === 'training.state')).toEqual([]);

      const deleted = await services.dispatch('training.delete', { id });
      expect(deleted).toMatchObject({
        ok: false,
        error: {
          code: 'busy',
          message: expect.stringMatching(
            /^Cannot delete “tiny · .+”: it is being trained by another process \(pid \d+, kao train, since \d\d:\d\d\)\. Stop that trainer first\.$/,
          ),
        },
      });
      expect(await readdir(runDir)).toContain('run.json');

      // The trainer process itself refuses too (the lock taken between the app's check and the start):
      // `start` fails with the lock error and no `state`/`done` message is posted.
      const posted: TrainerToHost[] = [];
      const job = { runDir, faces: [join(dataDir, 'faces', 'any.png')], options: { ...options, steps: 8 } };
      await expect(startTrainingJob(job, new RunControl(), (m) => posted.push(m))).rejects.toMatchObject({
        code: 'busy',
        message: expect.stringMatching(/is being trained by another process/),
      });
      expect(posted.map((m) => m.type)).toEqual(['backend']);
    } finally {
      other.kill('SIGKILL');
      await new Promise((r) => other.once('exit', r));
    }
    // The other trainer is gone: its lock is stale, the run is back to its recorded state, and the lock
    // no longer stands in the way. Listing leaves the stale lock alone (the next trainer takes it over).
    const after = await services.dispatch('training.runs', {});
    expect(after).toMatchObject({ ok: true, value: [{ id, state: 'finished' }] });
    expect((after as { value: Array<Record<string, unknown>> }).value[0]).not.toHaveProperty(
      'trainingElsewhere',
    );
    expect(await services.dispatch('training.locks', {})).toEqual({ ok: true, value: [] });
    expect(existsSync(join(dataDir, 'runs', id, 'train.lock'))).toBe(true);
    expect(await services.dispatch('training.delete', { id })).toEqual({ ok: true, value: { ok: true } });
  }, 120_000);
});

describe('a run.json written by another version', () => {
  it('lists with the options it can read, and is refused a continue that lacks them, untouched', async () => {
    const id = 'stale-options';
    const runDir = join(dataDir, 'runs', id);
    await mkdir(runDir, { recursive: true });
    const stored = {
      id,
      name: 'Stale run',
      createdAt: '2026-01-01T00:00:00.000Z',
      // No intervals, a preset this version does not know, and a field it never had.
      options: { preset: 'retired-preset', batchSize: 16, steps: 10, seed: 2, backend: 'wasm', dropout: 0.1 },
      totalSteps: 10,
      state: 'stopped',
    };
    await writeFile(join(runDir, 'run.json'), JSON.stringify(stored));
    try {
      const runs = await services.dispatch('training.runs', {});
      expect(runs).toMatchObject({ ok: true });
      expect((runs as { value: Array<{ id: string; preset: string }> }).value).toContainEqual(
        expect.objectContaining({ id, preset: 'unknown', state: 'stopped' }),
      );
      const detail = await services.dispatch('training.run', { id });
      expect(detail).toMatchObject({ ok: true });
      expect((detail as { value: RunDetail }).value.options).toEqual({
        batchSize: 16,
        steps: 10,
        seed: 2,
        backend: 'wasm',
      });
      const continued = await services.dispatch('training.continueFromCheckpoint', { id });
      expect(continued).toMatchObject({
        ok: false,
        error: { code: 'invalid-input', message: expect.stringMatching(/preset, checkpointEvery/) },
      });
      expect(JSON.parse(await readFile(join(runDir, 'run.json'), 'utf8'))).toEqual(stored);
    } finally {
      await rm(runDir, { recursive: true });
    }
  });
});
