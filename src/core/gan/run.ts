/**
 * The training loop (Node): trains a GAN in a run folder (see run-folder.ts for its layout) and resumes
 * by itself when the folder already holds a run. The caller selects the tf backend first (backend.ts)
 * and wraps this in whatever process it likes (CLI, trainer utility process).
 */
import * as tf from '@tensorflow/tfjs';
import { mkdir } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { Rng, type RngState } from '../../shared/rng.ts';
import { writeJsonAtomic } from '../util/atomic-file.ts';
import { appendJsonl } from '../util/jsonl.ts';
import { CancelledError, type RunControl } from '../util/run-control.ts';
import {
  configDifferences,
  DEFAULT_PRESET,
  isPresetName,
  resolveGanConfig,
  type GanConfigOverrides,
  type PresetName,
} from './config.ts';
import {
  improvesOn,
  outlastsPatience,
  readBestCheckpoint,
  removeBestCheckpoint,
  writeBestCheckpoint,
  type BestCheckpointFile,
} from './best-checkpoint.ts';
import {
  ganTensors,
  loadLatestCheckpoint,
  removeStaleCheckpointTemps,
  restoreGan,
  saveCheckpoint,
} from './checkpoint.ts';
import { FaceBatchSource, listImageFiles, type DataPosition } from './data.ts';
import { writeSampleGrid } from './images.ts';
import { createGan, disposeGan, type Gan } from './models.ts';
import {
  dataFingerprint,
  readRunConfig,
  runPaths,
  RUN_FORMAT,
  samplePath,
  truncateMetrics,
} from './run-folder.ts';
import type { RunConfigFile } from '../../shared/run-config-schemas.ts';
import type {
  InitialSwdLine,
  MetricLine,
  StepMetricLine,
  TrainingProgress,
} from '../../shared/training-schemas.ts';
import { generateWithGan } from './sampling.ts';
import { deriveSeed } from './seeds.ts';
import { trainStep, type StepResult } from './step.ts';
import { webGpuEngineSupport } from './webgpu/support.ts';
import type { WebGpuTrainer } from './webgpu/trainer.ts';
import { ParallelTrainer } from './parallel/trainer.ts';
import { acquireRunLock, removeEmptyDirs, type RunLock, type RunLockInfo } from './run-lock.ts';
import { createSwdEvaluator } from './swd-evaluator.ts';
import type { SwdResult } from './swd.ts';

// The progress type is the contract's; callers of the loop name it from here.
export type { TrainingProgress };

/** What `runTraining` is given (the app's `TrainJob` and `kao train`'s flags both become one). */
export interface RunTrainingOptions {
  runDir: string;
  /** Training images (the app passes the kept faces). One of `faces` / `dataDir` is required. */
  faces?: string[];
  /** A folder of images (e.g. the output of `kao faces`), read recursively. */
  dataDir?: string;
  /** New run: the preset (default kao-48). Existing run: must match what it was created with, if given. */
  preset?: PresetName;
  overrides?: GanConfigOverrides;
  /** New run: the seed (default 1). Existing run: must match, if given. */
  seed?: number;
  /** Train until this step count. Default: `epochs` worth of steps, else 10 000. */
  steps?: number;
  epochs?: number;
  checkpointEvery?: number;
  keepCheckpoints?: number;
  sampleEvery?: number;
  /**
   * Compute SWD (against the training faces) every N steps (0 = never). A new lowest SWD saves a
   * checkpoint and records it as the run's best (best-checkpoint.ts), kept out of rotation.
   */
  swdEvery?: number;
  /** Images per SWD evaluation (fakes and reals each). */
  swdImages?: number;
  /**
   * Early stopping: end the run once its best checkpoint is this many steps old (0 = never). Needs
   * `swdEvery`; the best checkpoint is kept, so stopping past the peak loses nothing.
   */
  patience?: number;
  /** Write a metrics line every N steps. */
  logEvery?: number;
  /** The backend selected by the caller, recorded in config.json. */
  backend?: string;
  /** Decoded faces kept in memory up to this many bytes. */
  cacheLimitBytes?: number;
  /**
   * Worker threads that split each batch (data-parallel, see parallel/trainer.ts). Worth it on the
   * single-threaded wasm backend; default 1 (in-process `trainStep`). The app and CLI pass one per core.
   */
  workers?: number;
  /** The parallel worker entry for bundled apps (default: parallel/worker.ts through tsx). */
  workerUrl?: URL;
  /** Who trains, recorded in the run folder's lock and shown to a second trainer ("kao train", "Kao Studio"). */
  owner?: string;
  /**
   * Which step implementation trains: 'auto' (default) takes Kao's WebGPU engine (webgpu/) when tfjs runs
   * on WebGPU and the engine implements the config, tfjs otherwise; 'webgpu-engine' insists on the engine
   * whatever tfjs runs on (tfjs then only samples); 'tfjs' never uses it.
   */
  stepper?: 'auto' | 'tfjs' | 'webgpu-engine';
}

export interface TrainingHooks {
  control?: RunControl;
  onProgress?: (progress: TrainingProgress) => void;
  onSamples?: (event: { step: number; path: string }) => void;
  /** A checkpoint is on disk; `best` is the run's best checkpoint after it (when SWD is computed). */
  onCheckpoint?: (event: { step: number; path: string; best: BestCheckpointFile | undefined }) => void;
  onMetric?: (line: MetricLine) => void;
  onWarning?: (message: string) => void;
  /** One-off status lines ("resumed from step 500", "decoding faces…"). */
  onLog?: (message: string) => void;
  /** The run folder's lock is taken (before anything in the folder is read or written). */
  onLocked?: (lock: RunLockInfo) => void;
}

export interface TrainingResult {
  runDir: string;
  runId: string;
  step: number;
  totalSteps: number;
  /** True when stopped by the control (cancel) before reaching totalSteps; a checkpoint was saved. */
  stopped: boolean;
  /** True when `patience` ended the run before totalSteps: no better checkpoint for that many steps. */
  plateaued: boolean;
  /** The checkpoint step this call resumed from (undefined for a fresh start). */
  resumedFrom: number | undefined;
  lastCheckpoint: { step: number; path: string } | undefined;
  /** The checkpoint with the lowest in-training SWD, when the run computes SWD. */
  best: BestCheckpointFile | undefined;
  warnings: string[];
}

interface TrainState {
  step: number;
  position: DataPosition;
  zRngState: RngState;
}

async function resolveFaces(options: RunTrainingOptions): Promise<string[]> {
  if (options.faces) return options.faces;
  if (options.dataDir) return listImageFiles(resolve(options.dataDir));
  throw new Error('no training data: pass a list of faces or a data folder');
}

/** A fresh z batch from the run's noise stream, leaving no Box–Muller spare behind (so the state is exact). */
function nextZ(rng: Rng, length: number): Float32Array {
  const z = rng.normalArray(length);
  if (length % 2 === 1) rng.normal();
  return z;
}

export async function runTraining(
  options: RunTrainingOptions,
  hooks: TrainingHooks = {},
): Promise<TrainingResult> {
  const runDir = resolve(options.runDir);
  const warnings: string[] = [];
  const warn = (message: string) => {
    warnings.push(message);
    hooks.onWarning?.(message);
  };
  const log = (message: string) => hooks.onLog?.(message);

  // One trainer per run folder: nothing in it is read or written before this process holds its lock,
  // and the lock goes on every way out (finish, stop, error). A killed process leaves a stale lock that
  // the next trainer takes over.
  const createdDir = await mkdir(runDir, { recursive: true });
  let lock: RunLock;
  try {
    lock = await acquireRunLock(runDir, { command: options.owner, onWarning: warn });
  } catch (error) {
    if (createdDir) await removeEmptyDirs(runDir, createdDir);
    throw error;
  }
  hooks.onLocked?.(lock.info);
  try {
    return await trainLocked(runDir, options, hooks, warn, log, warnings);
  } finally {
    await lock.release();
    // A new run refused before it wrote anything (no images, bad options) leaves no empty folder.
    if (createdDir) await removeEmptyDirs(runDir, createdDir);
  }
}

async function trainLocked(
  runDir: string,
  options: RunTrainingOptions,
  hooks: TrainingHooks,
  warn: (message: string) => void,
  log: (message: string) => void,
  warnings: string[],
): Promise<TrainingResult> {
  const runId = basename(runDir);
  const paths = runPaths(runDir);
  const control = hooks.control;

  const faces = await resolveFaces(options);
  const existing = await readRunConfig(runDir);
  let runConfig: RunConfigFile;
  if (existing) {
    runConfig = existing;
    if (options.preset !== undefined || options.overrides !== undefined) {
      const wanted = resolveGanConfig(options.preset ?? existing.preset, {
        ...existing.overrides,
        ...options.overrides,
      });
      const diff = configDifferences(existing.config, wanted);
      if (diff.length) {
        throw new Error(
          `${runDir} already holds a run with a different config (${diff.map((k) => `${k}: ${JSON.stringify(existing.config[k])} ≠ ${JSON.stringify(wanted[k])}`).join(', ')}); use a new run folder`,
        );
      }
    }
    if (options.seed !== undefined && options.seed !== existing.seed) {
      throw new Error(
        `${runDir} already holds a run with seed ${existing.seed}, not ${options.seed}; use a new run folder`,
      );
    }
    if (existing.data.count !== faces.length || existing.data.fingerprint !== dataFingerprint(faces)) {
      warn(
        `the training images changed since the run started (${existing.data.count} → ${faces.length} images); the data order from here on differs`,
      );
    }
  } else {
    const preset = options.preset ?? DEFAULT_PRESET;
    if (!isPresetName(preset)) throw new Error(`unknown preset "${String(preset)}"`);
    const overrides = options.overrides ?? {};
    runConfig = {
      format: RUN_FORMAT,
      version: 1,
      runId,
      createdAt: new Date().toISOString(),
      seed: options.seed ?? 1,
      preset,
      overrides,
      config: resolveGanConfig(preset, overrides),
      data: {
        dir: options.dataDir ? resolve(options.dataDir) : undefined,
        count: faces.length,
        fingerprint: dataFingerprint(faces),
      },
      backend: options.backend,
    };
  }
  const { config, seed } = runConfig;
  if (faces.length < config.batchSize) {
    throw new Error(
      faces.length === 0
        ? 'no training images found'
        : `only ${faces.length} training images, fewer than one batch of ${config.batchSize}`,
    );
  }
  if (!existing) {
    await mkdir(runDir, { recursive: true });
    await writeJsonAtomic(paths.config, runConfig);
  }

  const batchesPerEpoch = Math.floor(faces.length / config.batchSize);
  const totalSteps =
    options.steps ?? (options.epochs !== undefined ? Math.ceil(options.epochs * batchesPerEpoch) : 10_000);
  const checkpointEvery = options.checkpointEvery ?? 500;
  const sampleEvery = options.sampleEvery ?? 250;
  const swdEvery = options.swdEvery ?? 0;
  const patience = options.patience ?? 0;
  const logEvery = Math.max(1, options.logEvery ?? 10);
  const keep = options.keepCheckpoints ?? 3;

  const gan = createGan(config, seed);
  let state: TrainState = {
    step: 0,
    position: { epoch: 0, index: 0 },
    zRngState: new Rng(deriveSeed(seed, 'z')).state,
  };
  let resumedFrom: number | undefined;
  let lastCheckpoint: TrainingResult['lastCheckpoint'];
  let parallel: ParallelTrainer | undefined;
  let engine: WebGpuTrainer | undefined;
  try {
    await removeStaleCheckpointTemps(runDir);
    const loaded = await loadLatestCheckpoint(runDir);
    loaded.warnings.forEach(warn);
    if (loaded.checkpoint) {
      restoreGan(gan, loaded.checkpoint);
      const s = loaded.checkpoint.state as unknown as TrainState;
      state = { step: loaded.checkpoint.step, position: s.position, zRngState: s.zRngState };
      resumedFrom = state.step;
      lastCheckpoint = { step: state.step, path: loaded.checkpoint.path };
      log(`resumed from the checkpoint at step ${state.step}`);
    } else if (existing) {
      log('the run has no usable checkpoint yet: starting from step 0');
    }
    // Without a checkpoint the run starts over: lines of an earlier attempt (its step-0 SWD included) go,
    // and so does its best. A best past the resumed step is an attempt whose newer checkpoints were lost.
    await truncateMetrics(paths.metrics, loaded.checkpoint ? state.step : -1);
    let best = loaded.checkpoint ? await readBestCheckpoint(runDir) : undefined;
    if (best && best.step > state.step) best = undefined;
    if (!best) await removeBestCheckpoint(runDir);

    const zRng = new Rng(state.zRngState);
    const fixedNoise = new Rng(deriveSeed(seed, 'fixed-noise')).normalArray(64 * config.zDim);
    const source = new FaceBatchSource(
      {
        paths: faces,
        imageSize: config.imageSize,
        batchSize: config.batchSize,
        seed,
        flip: config.flip,
        onWarning: warn,
        cacheLimitBytes: options.cacheLimitBytes,
      },
      state.position,
    );
    const workers = Math.min(options.workers ?? 1, Math.floor(config.batchSize / 2));
    const engineWanted =
      options.stepper === 'webgpu-engine' ||
      ((options.stepper ?? 'auto') === 'auto' && tf.getBackend() === 'webgpu');
    parallel =
      workers > 1 && !engineWanted
        ? await ParallelTrainer.create(gan, {
            workers,
            ...(options.workerUrl ? { workerUrl: options.workerUrl } : {}),
          })
        : undefined;
    engine = await createEngine(options.stepper ?? 'auto', gan, logEvery, log);
    if (parallel) log(`training on ${parallel.workerCount} worker threads`);
    // The workers (or the GPU) hold the live weights; samples, SWD and checkpoints read `gan`, so bring it
    // up to date — once per step at most (a step that samples and checkpoints copies the state once), and
    // not before the first step (the workers were just created from `gan`).
    let workersAhead = false;
    const syncFromWorkers = async () => {
      if (!workersAhead) return;
      await (engine ?? parallel)?.syncTo(gan);
      workersAhead = false;
    };
    const swd =
      swdEvery > 0
        ? await createSwdEvaluator(faces, config, seed, options.swdImages ?? 256, warn)
        : undefined;

    /** Saves a checkpoint of this step; `newBest` records it as the run's best once it is on disk. */
    const saveNow = async (newBest?: BestCheckpointFile) => {
      await syncFromWorkers();
      const path = await saveCheckpoint(
        runDir,
        state.step,
        {
          position: state.position,
          zRngState: zRng.state,
          epoch: epochOf(state.position, batchesPerEpoch, config.batchSize),
          optGStep: gan.optG.step,
          optDStep: gan.optD.step,
          seed,
        },
        await ganTensors(gan),
        keep,
        best?.step,
      );
      lastCheckpoint = { step: state.step, path };
      // The previous best stayed protected until here: the record never names a deleted folder.
      if (newBest) {
        best = newBest;
        await writeBestCheckpoint(runDir, best);
      }
      hooks.onCheckpoint?.({ step: state.step, path, best });
    };
    let lastSampleStep = -1;
    const samplesNow = async () => {
      lastSampleStep = state.step;
      await syncFromWorkers();
      const path = samplePath(runDir, state.step);
      await writeSampleGrid(await generateWithGan(gan, fixedNoise), path);
      hooks.onSamples?.({ step: state.step, path });
    };

    if (state.step === 0 && sampleEvery > 0) await samplesNow();
    // The untrained generator's SWD: the quality curve's starting point. Only when the run starts from
    // scratch; a run resumed from a checkpoint (even one at step 0) already has the line if it was logged.
    if (swd && !loaded.checkpoint) {
      await syncFromWorkers();
      const initial = await swd.evaluate(gan);
      const line: InitialSwdLine = {
        step: 0,
        epoch: 0,
        swd: initial.average,
        swdLevels: initial.levels,
        time: new Date().toISOString(),
      };
      await appendJsonl(paths.metrics, line);
      hooks.onMetric?.(line);
    }

    // Throughput counts training steps only (data wait included), not samples, SWD or checkpoint time.
    const window = { steps: 0, losses: 0, lossD: 0, lossG: 0, dReal: 0, dFake: 0, seconds: 0 };
    /** The newest step whose losses the WebGPU engine has read back. */
    let lossStep = 0;
    let smoothedRate = 0;
    let stopped = false;
    let plateaued = false;
    while (state.step < totalSteps && !plateaued) {
      try {
        await control?.checkpoint();
      } catch (error) {
        if (!(error instanceof CancelledError)) throw error;
        stopped = true;
        break;
      }
      // A macrotask boundary each step, so pause/stop messages to this process are handled promptly.
      await new Promise<void>((resolveYield) => setImmediate(resolveYield));
      const stepStarted = performance.now();
      const batch = await source.next();
      const zData = nextZ(zRng, config.batchSize * config.zDim);
      // DiffAugment's draws for this step come from the same checkpointed stream (only when used, so
      // classic runs keep their noise sequence).
      const augmentSeed = config.augment.length > 0 ? zRng.int(2 ** 32) : 0;
      let result: StepResult;
      // Losses of the WebGPU engine arrive a few steps late (lossStep); only new ones are checked and
      // averaged, and a log point waits for the current step's (one blocking read per logEvery steps).
      let fresh = true;
      if (engine) {
        const next = state.step + 1;
        const logPoint =
          next % logEvery === 0 ||
          next === totalSteps ||
          (swdEvery > 0 && next % swdEvery === 0) ||
          lossStep === 0;
        let r = await engine.step(batch.data, zData);
        if (logPoint) r = await engine.flush();
        fresh = r.lossStep > lossStep;
        lossStep = Math.max(lossStep, r.lossStep);
        result = r;
        workersAhead = true;
      } else if (parallel) {
        result = await parallel.step(batch.data, zData, augmentSeed);
        workersAhead = true;
      } else {
        const real = tf.tensor4d(batch.data, [config.batchSize, config.imageSize, config.imageSize, 3]);
        const z = tf.tensor2d(zData, [config.batchSize, config.zDim]);
        try {
          result = await trainStep(gan, real, z, augmentSeed);
        } finally {
          real.dispose();
          z.dispose();
        }
      }
      if (fresh && ![result.lossD, result.lossG].every(Number.isFinite)) {
        throw new Error(
          `training diverged at step ${engine ? lossStep : state.step + 1} (loss D ${result.lossD}, G ${result.lossG}); ` +
            (lastCheckpoint
              ? `the checkpoint at step ${lastCheckpoint.step} is intact`
              : 'no checkpoint was written'),
        );
      }
      state = { step: state.step + 1, position: batch.next, zRngState: zRng.state };
      const epoch = epochOf(state.position, batchesPerEpoch, config.batchSize);
      const stepSeconds = (performance.now() - stepStarted) / 1000;
      const rate = config.batchSize / stepSeconds;
      smoothedRate = smoothedRate === 0 ? rate : 0.9 * smoothedRate + 0.1 * rate;
      window.steps++;
      window.seconds += stepSeconds;
      if (fresh) {
        window.losses++;
        window.lossD += result.lossD;
        window.lossG += result.lossG;
        window.dReal += result.dReal;
        window.dFake += result.dFake;
      }

      const memory = tf.memory();
      hooks.onProgress?.({
        step: state.step,
        totalSteps,
        epoch,
        lossD: result.lossD,
        lossG: result.lossG,
        dReal: result.dReal,
        dFake: result.dFake,
        imagesPerSec: smoothedRate,
        etaSeconds:
          smoothedRate > 0 ? ((totalSteps - state.step) * config.batchSize) / smoothedRate : undefined,
        numTensors: memory.numTensors,
        tensorBytes: memory.numBytes,
        rssBytes: process.memoryUsage.rss(),
      });

      const last = state.step === totalSteps;
      let swdResult: SwdResult | undefined;
      if (swd && (state.step % swdEvery === 0 || last)) {
        await syncFromWorkers();
        swdResult = await swd.evaluate(gan);
      }
      if (state.step % logEvery === 0 || last || swdResult) {
        const line: StepMetricLine = {
          step: state.step,
          epoch: round(epoch, 4),
          lossD: window.lossD / window.losses,
          lossG: window.lossG / window.losses,
          dReal: window.dReal / window.losses,
          dFake: window.dFake / window.losses,
          imagesPerSec: round((window.steps * config.batchSize) / window.seconds, 2),
          ...(swdResult ? { swd: swdResult.average, swdLevels: swdResult.levels } : {}),
          time: new Date().toISOString(),
        };
        await appendJsonl(paths.metrics, line);
        hooks.onMetric?.(line);
        Object.assign(window, { steps: 0, losses: 0, lossD: 0, lossG: 0, dReal: 0, dFake: 0, seconds: 0 });
      }
      const newBest =
        swdResult && improvesOn(best, swdResult.average)
          ? {
              step: state.step,
              swd: swdResult.average,
              swdLevels: swdResult.levels,
              time: new Date().toISOString(),
            }
          : undefined;
      if (sampleEvery > 0 && (state.step % sampleEvery === 0 || last || newBest)) await samplesNow();
      if ((checkpointEvery > 0 && state.step % checkpointEvery === 0) || newBest) await saveNow(newBest);
      plateaued =
        swdResult !== undefined && !last && outlastsPatience(best, state.step, patience, resumedFrom);
    }
    // Stop (or the end) always leaves a checkpoint, and a sample grid, of the current step.
    if (stopped && sampleEvery > 0 && lastSampleStep !== state.step && state.step > (resumedFrom ?? 0))
      await samplesNow();
    if (lastCheckpoint?.step !== state.step) await saveNow();
    return {
      runDir,
      runId,
      step: state.step,
      totalSteps,
      stopped,
      plateaued,
      resumedFrom,
      lastCheckpoint,
      best,
      warnings,
    };
  } finally {
    await parallel?.dispose();
    await engine?.dispose();
    disposeGan(gan);
  }
}

/**
 * Kao's WebGPU engine for this run, when the stepper choice and the config allow it (see
 * RunTrainingOptions.stepper); says why not when tfjs runs on WebGPU but the engine cannot take the config.
 */
async function createEngine(
  stepper: NonNullable<RunTrainingOptions['stepper']>,
  gan: Gan,
  logEvery: number,
  log: (message: string) => void,
): Promise<WebGpuTrainer | undefined> {
  if (stepper === 'tfjs' || (stepper === 'auto' && tf.getBackend() !== 'webgpu')) return undefined;
  const support = webGpuEngineSupport(gan.config);
  if (!support.ok) {
    if (stepper === 'webgpu-engine') throw new Error(support.reason);
    log(`${support.reason}: training through TensorFlow.js on WebGPU, op by op (slower)`);
    return undefined;
  }
  // Loaded on demand: the engine's module graph reaches Dawn only when a run really uses it.
  const { WebGpuTrainer } = await import('./webgpu/trainer.ts');
  const engine = await WebGpuTrainer.create(gan, { readbackEvery: logEvery });
  log(`training on Kao's WebGPU engine (${engine.adapter})`);
  return engine;
}

function epochOf(position: DataPosition, batchesPerEpoch: number, batchSize: number): number {
  return position.epoch + position.index / (batchesPerEpoch * batchSize);
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
