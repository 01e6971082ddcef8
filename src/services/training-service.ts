import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, relative } from 'node:path';
import { z } from 'zod';
import type { ServiceContext } from './context.ts';
import { ensureInferenceBackend } from './inference-backend.ts';
import { exportDestination, makeDownloadDir, shellSafeFileName } from './export-files.ts';
import { writeStoredZip } from './zip.ts';
import { mediaVersion } from './media.ts';
import type { ChannelsOf, Handlers } from './dispatcher.ts';
import type { TrainerEvent } from './trainer-host.ts';
import { KaoError } from '../shared/errors.ts';
import { formatDateTime } from '../shared/format-since.ts';
import {
  MetricPoint,
  type BestCheckpoint,
  type FollowCursor,
  type RunFollowUpdate,
  type RunHolder,
  type RunSummary,
  type RunDetail,
  type RunState,
  type SampleRef,
  TrainingOptions,
} from '../shared/training-schemas.ts';
import { readJsonIfExists, writeJsonAtomic } from '../core/util/atomic-file.ts';
import { readJsonl, readJsonlAfter } from '../core/util/jsonl.ts';
import { readBestCheckpoint } from '../core/gan/best-checkpoint.ts';
import { listCheckpoints } from '../core/gan/checkpoint.ts';
import { readRunConfig } from '../core/gan/run-folder.ts';
import { describeHolder, readRunLock } from '../core/gan/run-lock.ts';
import { exportGenerator } from '../core/gan/generator-node.ts';
import { listTrainingImages } from '../core/faces/index.ts';
import type { TrainJob } from '../shared/trainer-protocol.ts';

/** Every `training.*` channel but the step estimate, which estimate-service.ts answers. */
type TrainingChannel = Exclude<ChannelsOf<'training'>, 'training.estimate'>;

/**
 * A run.json's options, read field by field against `TrainingOptions`: a field that a run.json from
 * another version lacks or holds in a form this one refuses is left out, so the run still lists.
 */
const RecordedOptions = z
  .record(z.string(), z.unknown())
  .transform((stored) =>
    TrainingOptions.partial().parse(
      Object.fromEntries(
        Object.entries(TrainingOptions.shape).flatMap(([key, field]) =>
          stored[key] !== undefined && field.safeParse(stored[key]).success ? [[key, stored[key]]] : [],
        ),
      ),
    ),
  );

/** The app's own record of a run (`run.json`), beside the engine's config, metrics, samples and checkpoints. */
const RunRecord = z.object({
  id: z.string(),
  name: z.string(),
  createdAt: z.string(),
  options: RecordedOptions,
  totalSteps: z.int(),
  /** What the app last knew. `running` with no live job means the app or the machine died mid-run. */
  state: z.enum(['running', 'stopped', 'finished', 'failed']),
  faces: z.int().optional(),
  message: z.string().optional(),
});
type RunRecord = z.infer<typeof RunRecord>;

const MAX_CHART_POINTS = 2000;
/** Metrics bytes one `training.follow` reads at most (some 3,000 lines); the next poll reads on. */
const FOLLOW_MAX_BYTES = 1 << 20;

/**
 * Sample grids a follower gets: those its metrics have moved past. A trainer draws step s's grid after
 * step s's metrics line, and one resumed from an earlier checkpoint redraws grids that already exist
 * (same file, new version): once the metrics are past s, grid s is the new drawing.
 */
function gridsPassed<T extends { step: number }>(
  samples: readonly T[],
  after: number,
  lastMetricStep: number,
): T[] {
  return samples.filter((s) => s.step > after && s.step < lastMetricStep);
}
/** The fewest kept faces a run may start with (any fewer and one batch already repeats most of them). */
const MIN_TRAINING_FACES = 16;

/**
 * Refuses, before a trainer starts, a run that could not take one step: too few faces, or a batch larger
 * than the face set (the trainer would fail at once with "fewer than one batch").
 */
function refuseImpossibleBatch(faces: number, batchSize: number): void {
  if (faces < MIN_TRAINING_FACES) {
    throw new KaoError(
      'not-found',
      `Training needs at least ${MIN_TRAINING_FACES} kept faces; the face set has ${faces}. Extract faces first.`,
    );
  }
  if (batchSize > faces) {
    throw new KaoError(
      'invalid-input',
      `A batch of ${batchSize} is more than your ${faces} kept faces: choose a batch size of at most ${faces}, ` +
        'or extract more faces.',
      [{ path: 'batchSize', message: `at most ${faces}` }],
    );
  }
}

/**
 * Training runs: start, watch, pause, stop, continue, rename, delete, export. The work happens in the
 * trainer process; this service keeps `run.json`, relays the trainer's events as contract events, and
 * derives each run's state from its files and the live job.
 */
export function trainingHandlers(ctx: ServiceContext): Pick<Handlers, TrainingChannel> {
  let active: { runId: string; paused: boolean } | undefined;
  const runsDir = (): string => ctx.paths().runs;
  const runDir = (id: string): string => join(runsDir(), id);
  const dataRelative = (path: string): string => relative(ctx.paths().root, path).split('\\').join('/');
  const sampleRef = async (file: string, step: number): Promise<SampleRef> => ({
    step,
    path: dataRelative(file),
    version: await mediaVersion(file),
  });
  const sampleRefs = (dir: string, samples: readonly RunSample[]) =>
    Promise.all(samples.map((s) => sampleRef(join(dir, 'samples', s.file), s.step)));

  // One event at a time, in the trainer's order: a sample's version needs a stat first, and it must not
  // arrive after the run's 'done'.
  let relayed: Promise<void> = Promise.resolve();
  ctx.trainer.onEvent((event) => {
    // The run it belongs to is the one active when it arrived (a crash may clear `active` meanwhile).
    const runId = active?.runId;
    if (runId === undefined) return;
    relayed = relayed.then(() => relay(event, runId)).catch(() => undefined);
  });
  ctx.trainer.onStatus((status) => {
    if (status.state === 'crashed' && active) {
      const runId = active.runId;
      active = undefined;
      void markRun(runId, 'failed', status.lastCrash);
    }
  });

  async function relay(event: TrainerEvent, runId: string): Promise<void> {
    switch (event.type) {
      case 'progress':
        ctx.events.emit('training.progress', { ...event.progress, runId });
        break;
      case 'metric':
        // The chart's view of the line: without the per-level SWD.
        ctx.events.emit('training.metric', { ...MetricPoint.parse(event.metric), runId });
        break;
      case 'samples':
        ctx.events.emit('training.sample', { runId, ...(await sampleRef(event.path, event.step)) });
        break;
      case 'checkpoint':
        ctx.events.emit('training.checkpoint', {
          runId,
          step: event.step,
          ...(event.best ? { best: event.best } : {}),
        });
        break;
      case 'state':
        if (active?.runId === runId) active.paused = event.state === 'paused';
        ctx.events.emit('training.state', { runId, state: event.state === 'paused' ? 'paused' : 'running' });
        break;
      case 'done': {
        if (active?.runId === runId) active = undefined;
        const state =
          event.reason === 'finished' ? 'finished' : event.reason === 'stopped' ? 'stopped' : 'failed';
        await markRun(runId, state, event.error?.message ?? (event.plateau && plateauMessage(event.plateau)));
        break;
      }
    }
  }

  /** A run that patience ended early, in words for its page. */
  function plateauMessage({ step, bestStep }: { step: number; bestStep: number }): string {
    const n = (value: number) => value.toLocaleString('en-US');
    return `Stopped early at step ${n(step)}: no better checkpoint since step ${n(bestStep)}. The best is kept.`;
  }

  async function markRun(runId: string, state: RunRecord['state'], message?: string): Promise<void> {
    const record = await readRecord(runId);
    if (record)
      await writeJsonAtomic(join(runDir(runId), 'run.json'), {
        ...record,
        state,
        ...(message ? { message } : {}),
      });
    ctx.events.emit('training.state', { runId, state, ...(message ? { message } : {}) });
    // The one toast of a failure (whichever screen is open); the run's page shows the reason for good.
    if (state === 'failed' && message)
      ctx.events.emit('app.notice', {
        level: 'error',
        message: `Training “${record?.name ?? runId}” failed: ${message}`,
      });
  }

  async function readRecord(id: string): Promise<RunRecord | undefined> {
    try {
      const parsed = RunRecord.safeParse(await readJsonIfExists(join(runDir(id), 'run.json')));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * A run's summary. `read` passes what the caller already read from the folder (its sample grids, its
   * metrics lines), so `training.run` does not list or read them twice.
   */
  async function summarize(
    id: string,
    record: RunRecord,
    read?: { samples: RunSample[]; metrics: unknown[] },
  ): Promise<RunSummary> {
    const dir = runDir(id);
    const [{ checkpointStep, best }, samples, metrics, holder] = await Promise.all([
      runCheckpoints(dir),
      read?.samples ?? listSamples(dir),
      read?.metrics ?? readJsonl(join(dir, 'metrics.jsonl')),
      trainedElsewhere(id),
    ]);
    const lastMetric = metrics.at(-1) as { step?: number } | undefined;
    const state = currentState(id, record);
    const newest = samples.at(-1);
    const latest = newest && (await sampleRef(join(dir, 'samples', newest.file), newest.step));
    return {
      id,
      name: record.name,
      preset: record.options.preset ?? 'unknown',
      createdAt: record.createdAt,
      state,
      step: Math.max(checkpointStep, typeof lastMetric?.step === 'number' ? lastMetric.step : 0),
      totalSteps: record.totalSteps,
      checkpointStep,
      ...(best ? { best } : {}),
      ...(latest ? { latestSample: latest.path, latestSampleVersion: latest.version } : {}),
      ...(record.faces !== undefined ? { faces: record.faces } : {}),
      ...(holder ? { trainingElsewhere: holder } : {}),
      ...((state === 'failed' || state === 'finished') && record.message ? { message: record.message } : {}),
    };
  }

  /**
   * The trainer in another process (a `kao train` in a terminal, another app) that holds the run's lock
   * and is alive, or `undefined`. The app's own trainer process is not "elsewhere": it holds the lock of
   * the active run, also in the moments around a start or an end when `active` does not say so.
   */
  async function trainedElsewhere(id: string): Promise<RunHolder | undefined> {
    if (active?.runId === id) return undefined;
    const lock = await readRunLock(runDir(id)).catch(() => undefined);
    if (!lock) return undefined;
    const thisHost = lock.hostname === hostname();
    if (thisHost && (lock.pid === ctx.trainer.status.pid || lock.pid === process.pid)) return undefined;
    return {
      pid: lock.pid,
      hostname: lock.hostname,
      command: lock.command,
      startedAt: lock.startedAt,
      thisHost,
    };
  }

  /**
   * Throws `busy` when a live trainer (any process, the app's own included) holds the run's lock: `what`,
   * then who holds it, then `advice`.
   */
  async function refuseIfLocked(id: string, what: string, advice?: string): Promise<void> {
    const holder = await readRunLock(runDir(id));
    if (holder)
      throw new KaoError('busy', `${what} (${describeHolder(holder)}).${advice ? ` ${advice}` : ''}`);
  }

  /** The live job's state for the app's own run; else the record's (`running` without a job: cut off). */
  function currentState(id: string, record: RunRecord): RunState {
    if (active?.runId === id) return active.paused ? 'paused' : 'running';
    return record.state === 'running' ? 'interrupted' : record.state;
  }

  async function runFolders(): Promise<string[]> {
    try {
      return (await readdir(runsDir(), { withFileTypes: true }))
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch {
      return [];
    }
  }

  async function listRuns(): Promise<RunSummary[]> {
    const runs: RunSummary[] = [];
    for (const id of await runFolders()) {
      const record = await readRecord(id);
      if (record) runs.push(await summarize(id, record));
    }
    return runs.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  async function requireRecord(id: string): Promise<RunRecord> {
    const record = await readRecord(id);
    if (!record) throw new KaoError('not-found', `There is no run "${id}".`);
    return record;
  }

  async function launch(id: string, record: RunRecord, options: TrainingOptions): Promise<RunSummary> {
    if (active) throw new KaoError('busy', 'A training run is already in progress: stop it first.');
    // Another process (a `kao train` in a terminal) trains this run folder: refuse before touching it.
    const lockedWhat = `“${record.name}” is being trained by another process`;
    await refuseIfLocked(id, lockedWhat);
    const faces = await facesForTraining(ctx.paths().faces);
    refuseImpossibleBatch(faces.length, options.batchSize);
    const updated: RunRecord = { ...record, state: 'running', faces: faces.length };
    delete updated.message;
    await writeJsonAtomic(join(runDir(id), 'run.json'), updated);
    const job: TrainJob = { runDir: runDir(id), faces, options: { ...options, steps: record.totalSteps } };
    active = { runId: id, paused: false };
    try {
      await ctx.trainer.request({ type: 'start', job }, 300_000);
    } catch (error) {
      active = undefined;
      if (error instanceof KaoError && error.code === 'busy') {
        // Refused (the run folder got locked by another process since the check above): nothing ran,
        // so the run keeps the state it had.
        await writeJsonAtomic(join(runDir(id), 'run.json'), record);
        await refuseIfLocked(id, lockedWhat);
        throw error;
      }
      await markRun(id, 'failed', (error as Error).message);
      throw error;
    }
    ctx.events.emit('training.state', { runId: id, state: 'running' });
    return summarize(id, updated);
  }

  return {
    'training.runs': () => listRuns(),

    'training.locks': async () => {
      // One lock read per run folder, no metrics or samples; run.json (only the runs the list shows) is
      // looked for just where a holder was found.
      const ids = await runFolders();
      const holders = await Promise.all(ids.map(async (id) => ({ id, holder: await trainedElsewhere(id) })));
      return holders.flatMap(({ id, holder }) =>
        holder && existsSync(join(runDir(id), 'run.json')) ? [{ id, holder }] : [],
      );
    },

    'training.run': async ({ id }) => {
      const record = await requireRecord(id);
      const dir = runDir(id);
      const [config, tail, samples] = await Promise.all([
        // A run whose trainer has not written config.json yet (or a damaged one) shows without it.
        readRunConfig(dir).catch(() => undefined),
        readJsonlAfter(join(dir, 'metrics.jsonl')),
        listSamples(dir),
      ]);
      // Read from the start, a file can't be "replaced"; the type says it could.
      const { records, position } = tail.replaced
        ? { records: [], position: { offset: 0, file: '', tail: '' } }
        : tail;
      const summary = await summarize(id, record, { samples, metrics: records });
      const metrics = metricPoints(records);
      const detail: RunDetail = {
        ...summary,
        ...(config ? { config } : {}),
        options: record.options,
        metrics: downsample(metrics, MAX_CHART_POINTS),
        samples: await sampleRefs(dir, samples),
        cursor: {
          ...position,
          step: metrics.at(-1)?.step ?? -1,
          // Grids the metrics have not passed yet may be redrawn (a resumed trainer): follow sends them again.
          sampleStep: gridsPassed(samples, -1, metrics.at(-1)?.step ?? -1).at(-1)?.step ?? -1,
        },
      };
      return detail;
    },

    'training.follow': async ({ id, cursor }) => {
      const record = await readRecord(id);
      if (!record)
        throw new KaoError('not-found', `The run "${id}" is gone: its folder was deleted or moved.`);
      const dir = runDir(id);
      const [tail, samples, { checkpointStep, best }, holder] = await Promise.all([
        readJsonlAfter(join(dir, 'metrics.jsonl'), cursor, FOLLOW_MAX_BYTES),
        listSamples(dir),
        runCheckpoints(dir),
        trainedElsewhere(id),
      ]);
      if (tail.replaced) return { reload: true };
      const metrics = metricPoints(tail.records);
      const step = metrics.at(-1)?.step ?? cursor.step;
      const fresh = gridsPassed(samples, cursor.sampleStep, step);
      const next: FollowCursor = {
        ...tail.position,
        step,
        sampleStep: fresh.at(-1)?.step ?? cursor.sampleStep,
      };
      const update: RunFollowUpdate = {
        reload: false,
        metrics,
        samples: await sampleRefs(dir, fresh),
        step: Math.max(checkpointStep, next.step, 0),
        checkpointStep,
        ...(best ? { best } : {}),
        state: currentState(id, record),
        ...(holder ? { trainingElsewhere: holder } : {}),
        cursor: next,
      };
      return update;
    },

    'training.start': async (options) => {
      // Checked before the run folder exists, so a refused start leaves no failed run behind.
      if (!active)
        refuseImpossibleBatch((await facesForTraining(ctx.paths().faces)).length, options.batchSize);
      const id = newRunId();
      await mkdir(runDir(id), { recursive: true });
      const record: RunRecord = {
        id,
        name: options.name ?? `${options.preset} · ${formatDateTime(new Date())}`,
        createdAt: new Date().toISOString(),
        options,
        totalSteps: options.steps,
        state: 'stopped',
      };
      await writeJsonAtomic(join(runDir(id), 'run.json'), record);
      const { name: _name, ...training } = options;
      await ctx.settings.set({
        ...ctx.settings.get(),
        training: { ...ctx.settings.get().training, ...training },
      });
      return launch(id, record, options);
    },

    'training.continueFromCheckpoint': async ({ id, steps }) => {
      const record = await requireRecord(id);
      const options = TrainingOptions.safeParse(record.options);
      if (!options.success) {
        const missing = options.error.issues.map((issue) => issue.path.join('.')).join(', ');
        throw new KaoError(
          'invalid-input',
          `“${record.name}” can't be continued: its run.json lacks options it was started with (${missing}).`,
        );
      }
      const next = steps ? { ...record, totalSteps: steps } : record;
      return launch(id, next, options.data);
    },

    'training.pause': async () => {
      if (!active) throw new KaoError('not-found', 'No training run is in progress.');
      ctx.trainer.send({ type: 'pause' });
      return { ok: true };
    },
    'training.resume': async () => {
      if (!active) throw new KaoError('not-found', 'No training run is in progress.');
      ctx.trainer.send({ type: 'resume' });
      return { ok: true };
    },
    'training.stop': async () => {
      if (!active) throw new KaoError('not-found', 'No training run is in progress.');
      ctx.trainer.send({ type: 'stop' });
      return { ok: true };
    },

    'training.rename': async ({ id, name }) => {
      const record = await requireRecord(id);
      const renamed = { ...record, name };
      await writeJsonAtomic(join(runDir(id), 'run.json'), renamed);
      return summarize(id, renamed);
    },

    'training.delete': async ({ id }) => {
      const record = await requireRecord(id);
      if (active?.runId === id) throw new KaoError('busy', 'Stop this run before deleting it.');
      // A trainer in another process (`kao train` on this folder) would write on into a deleted folder.
      await refuseIfLocked(
        id,
        `Cannot delete “${record.name}”: it is being trained by another process`,
        'Stop that trainer first.',
      );
      await rm(runDir(id), { recursive: true, force: true });
      return { ok: true };
    },

    'training.export': async ({ id, to, overwrite, download }) => {
      const record = await requireRecord(id);
      if (download) return exportGeneratorDownload(ctx, runDir(id), record.name || id);
      const out = to ? exportDestination(to) : join(runDir(id), 'export');
      // One question for the pair: an earlier export in that folder is replaced only when asked.
      for (const file of ['model.json', 'weights.bin']) {
        if (!overwrite && existsSync(join(out, file))) {
          throw new KaoError('exists', `${out} already holds an exported generator. Replace it?`, [
            { path: 'to', message: 'exists' },
          ]);
        }
      }
      if (existsSync(out) && !(await stat(out)).isDirectory()) {
        throw new KaoError('invalid-input', `${out} is a file; give a folder to export into.`);
      }
      await ensureInferenceBackend();
      await exportGenerator(runDir(id), out);
      return { path: out };
    },
  };
}

/**
 * The kept faces of the face set (exclusions applied), decided as `kao train --data` decides
 * (listTrainingImages). A faces folder without an index or log — crops the user made elsewhere and copied
 * in — trains on every image in it; a face set not created yet has none.
 */
export async function facesForTraining(facesDir: string): Promise<string[]> {
  if (!existsSync(facesDir)) return [];
  return listTrainingImages(facesDir);
}

/**
 * The step of a run's newest checkpoint (0 when it has none, or its folder cannot be read) and its best
 * checkpoint (lowest in-training SWD) when it records one, from one listing of the folder.
 */
async function runCheckpoints(
  dir: string,
): Promise<{ checkpointStep: number; best: BestCheckpoint | undefined }> {
  const steps = await listCheckpoints(dir).catch(() => [] as number[]);
  const best = await readBestCheckpoint(dir, steps);
  return {
    checkpointStep: steps.length ? Math.max(...steps) : 0,
    best: best && { step: best.step, swd: best.swd },
  };
}

type RunSample = { step: number; file: string };

async function listSamples(dir: string): Promise<RunSample[]> {
  let files: string[];
  try {
    files = await readdir(join(dir, 'samples'));
  } catch {
    return [];
  }
  return files
    .flatMap((file) => {
      const match = /^step-(\d+)\.png$/.exec(file);
      return match ? [{ step: Number(match[1]), file }] : [];
    })
    .sort((a, b) => a.step - b.step);
}

/** The lines that are metric points (a foreign or future line shape is left out, not an error). */
function metricPoints(lines: unknown[]): MetricPoint[] {
  return lines.flatMap((line) => {
    const parsed = MetricPoint.safeParse(line);
    return parsed.success ? [parsed.data] : [];
  });
}

/** Keeps the first and last points and evenly spaced ones between, so long runs chart quickly. */
export function downsample<T>(points: T[], max: number): T[] {
  if (points.length <= max) return points;
  const out: T[] = [];
  const stride = (points.length - 1) / (max - 1);
  for (let i = 0; i < max; i++) out.push(points[Math.round(i * stride)]!);
  return out;
}

function newRunId(): string {
  const now = new Date();
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `run-${stamp}-${Math.random().toString(36).slice(2, 6)}`;
}

/** The browser's export: the generator as one `<run name>-step-<N>-generator.zip`, offered for download. */
async function exportGeneratorDownload(
  ctx: ServiceContext,
  runFolder: string,
  runName: string,
): Promise<{ path: string; downloadUrl: string; fileName: string }> {
  const offer = ctx.platform.offerDownload;
  if (!offer) throw new KaoError('unsupported', 'Downloads are for the browser; choose where to save.');
  const dir = await makeDownloadDir();
  try {
    await ensureInferenceBackend();
    const staging = join(dir, 'generator');
    const { modelPath, weightsPath, step } = await exportGenerator(runFolder, staging);
    const fileName = `${shellSafeFileName(runName, 'run')}-step-${step}-generator.zip`;
    const zipPath = join(dir, fileName);
    await writeStoredZip(zipPath, [
      { name: 'model.json', file: modelPath },
      { name: 'weights.bin', file: weightsPath },
    ]);
    await rm(staging, { recursive: true, force: true });
    return { path: fileName, fileName, downloadUrl: await offer(zipPath, fileName) };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
