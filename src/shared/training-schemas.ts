import { z } from 'zod';
import { BackendName, BackendPreference, PresetName } from './contract-base.ts';
import { RunConfigFile, SwdLevel } from './run-config-schemas.ts';

/** A run's id is its folder name under `runs/`: letters, digits, dash, underscore. */
export const RunId = z.string().regex(/^[A-Za-z0-9_-]{1,80}$/, 'not a run id');

export const RunState = z.enum(['running', 'paused', 'stopped', 'finished', 'interrupted', 'failed']);
export type RunState = z.infer<typeof RunState>;

export const TrainingOptions = z
  .object({
    name: z.string().trim().min(1).max(80).optional(),
    preset: PresetName,
    batchSize: z.int().min(1).max(1024),
    /** Total optimizer steps for the run. */
    steps: z.int().min(1).max(10_000_000),
    seed: z
      .int()
      .min(0)
      .max(2 ** 31 - 1),
    backend: BackendPreference,
    checkpointEvery: z.int().min(1).max(1_000_000),
    sampleEvery: z.int().min(1).max(1_000_000),
    /** 0 turns the quality metric off. */
    swdEvery: z.int().min(0).max(1_000_000),
    /** Stop once the best checkpoint is this many steps old (needs swdEvery); 0 or absent: never. */
    patience: z.int().min(0).max(10_000_000).optional(),
  })
  .strict();
export type TrainingOptions = z.infer<typeof TrainingOptions>;

/**
 * A trainer in another process that holds a run folder's lock (`train.lock`): a `kao train` in a
 * terminal, or another Kao Studio on the same data folder. Only live holders are reported.
 */
export const RunHolder = z.object({
  pid: z.int(),
  hostname: z.string(),
  /** Who trains: "kao train", "Kao Studio", … */
  command: z.string(),
  /** ISO time the lock was taken. */
  startedAt: z.string(),
  /** False for a lock taken on another machine (a shared data folder), which can't be checked. */
  thisHost: z.boolean(),
});
export type RunHolder = z.infer<typeof RunHolder>;

/** A run's best checkpoint: the lowest in-training SWD so far (the one the Explorer opens). */
export const BestCheckpoint = z.object({ step: z.int(), swd: z.number() });
export type BestCheckpoint = z.infer<typeof BestCheckpoint>;

export const RunSummary = z.object({
  id: RunId,
  name: z.string(),
  preset: z.string(),
  createdAt: z.string(),
  state: RunState,
  step: z.int(),
  totalSteps: z.int(),
  /** Step of the newest valid checkpoint, 0 when none. */
  checkpointStep: z.int(),
  /** When the run computes SWD. */
  best: BestCheckpoint.optional(),
  /** Data-folder-relative path of the newest sample grid. */
  latestSample: z.string().optional(),
  /** Changes when that file is rewritten: the renderer asks for `mediaUrl(latestSample)?v=<this>`. */
  latestSampleVersion: z.string().optional(),
  faces: z.int().optional(),
  /**
   * Another process trains this run right now; `state` is then only what the app last recorded. The app
   * refuses to continue or delete the run until that trainer ends.
   */
  trainingElsewhere: RunHolder.optional(),
  /** Why a failed run failed, in the trainer's words, or why a finished one ended early; shown on the run's page. */
  message: z.string().optional(),
});
export type RunSummary = z.infer<typeof RunSummary>;

/** Where training stands after a step: what both the progress reports and the metrics lines carry. */
const StepStats = z.object({
  step: z.int().min(0),
  /** Fractional epochs done (1.5 = half-way through the second epoch). */
  epoch: z.number(),
  lossD: z.number(),
  lossG: z.number(),
  /** The discriminator's mean output on real and on generated images. */
  dReal: z.number(),
  dFake: z.number(),
  /** Smoothed training throughput. */
  imagesPerSec: z.number(),
});

/** SWD ×10³ at one level of the Laplacian pyramid. */
/** A metrics.jsonl line logged after a training step; the losses are means since the previous line. */
export const StepMetricLine = StepStats.extend({
  /** Average SWD ×10³ over pyramid levels, when computed at this step. */
  swd: z.number().optional(),
  swdLevels: z.array(SwdLevel).optional(),
  /** ISO time the line was written. */
  time: z.string(),
});
export type StepMetricLine = z.infer<typeof StepMetricLine>;

/**
 * The first metrics.jsonl line of a new run with SWD on: the untrained generator's SWD, before any
 * training step, so the quality curve has its starting point. No step has run, so it has no losses or
 * throughput (declared absent, so code can read `line.lossD` on any line).
 */
export const InitialSwdLine = z.object({
  step: z.literal(0),
  epoch: z.literal(0),
  swd: z.number(),
  swdLevels: z.array(SwdLevel),
  time: z.string(),
  lossD: z.undefined().optional(),
  lossG: z.undefined().optional(),
  dReal: z.undefined().optional(),
  dFake: z.undefined().optional(),
  imagesPerSec: z.undefined().optional(),
});
export type InitialSwdLine = z.infer<typeof InitialSwdLine>;

/** A line of metrics.jsonl, as the trainer appends it (and sends it with a `metric` message). */
export const MetricLine = z.union([StepMetricLine, InitialSwdLine]);
export type MetricLine = z.infer<typeof MetricLine>;

/**
 * A metrics line as the charts get it (`training.run`, `training.follow`, `training.metric`): any line of
 * metrics.jsonl, the step-0 SWD line included, without the per-level SWD.
 */
export const MetricPoint = StepMetricLine.omit({ swdLevels: true }).partial().required({ step: true });
export type MetricPoint = z.infer<typeof MetricPoint>;

/**
 * A sample grid: its step, its data-folder-relative path, and a version that changes when the file is
 * rewritten (a resumed run redraws a step's grid under the same name): show it as `mediaUrl(path)?v=version`.
 */
export const SampleRef = z.object({ step: z.int(), path: z.string(), version: z.string() });
export type SampleRef = z.infer<typeof SampleRef>;

/**
 * Where following a run's files stands (`training.follow`): what the UI has been sent so far. It comes
 * with `training.run` and each follow answer; the UI hands it back unchanged.
 */
export const FollowCursor = z
  .object({
    /** Byte offset into metrics.jsonl just past the last complete line sent. */
    offset: z.int().min(0),
    /** Which metrics.jsonl that offset is in (device:inode; '' while there was none). */
    file: z.string().max(100),
    /** A hash of the bytes before the offset: a file rewritten since does not match it. */
    tail: z.string().max(64),
    /** The newest metrics step sent, -1 for none. */
    step: z.int().min(-1),
    /** The newest sample grid's step sent, -1 for none. */
    sampleStep: z.int().min(-1),
  })
  .strict();
export type FollowCursor = z.infer<typeof FollowCursor>;

export const RunDetail = RunSummary.extend({
  /** The run's config.json; absent while the trainer has not written it (or it cannot be read). */
  config: RunConfigFile.optional(),
  /**
   * The options the run was started with (`training.start`'s request). A run.json written by another
   * version may lack a field, or hold one this version refuses: that field is absent.
   */
  options: TrainingOptions.partial(),
  metrics: z.array(MetricPoint),
  samples: z.array(SampleRef),
  /** Where `training.follow` goes on from: the end of what `metrics` and `samples` were read from. */
  cursor: FollowCursor,
});
export type RunDetail = z.infer<typeof RunDetail>;

/**
 * What a run's files gained since a cursor (`training.follow`): the complete metrics lines and the sample
 * grids written after it, with the run's step, checkpoint and lock as they are now. `reload` alone means
 * the metrics file is not the one the cursor points into any more (the other trainer resumed from a
 * checkpoint and rewrote it, or the run was reset): read the run again with `training.run`.
 */
export const RunFollowUpdate = z.union([
  z.object({ reload: z.literal(true) }),
  z.object({
    reload: z.literal(false),
    metrics: z.array(MetricPoint),
    samples: z.array(SampleRef),
    step: z.int(),
    checkpointStep: z.int(),
    best: BestCheckpoint.optional(),
    state: RunState,
    /** Absent once no other process holds the run's lock (that trainer ended). */
    trainingElsewhere: RunHolder.optional(),
    cursor: FollowCursor,
  }),
]);
export type RunFollowUpdate = z.infer<typeof RunFollowUpdate>;

/** Where a training run stands, reported after each step (the trainer forwards at most 4 a second). */
export const TrainingProgress = StepStats.extend({
  totalSteps: z.int(),
  etaSeconds: z.number().optional(),
  /** Live tf tensors and their bytes: a number that keeps growing is a leak. */
  numTensors: z.int(),
  tensorBytes: z.number(),
  /** The training process's resident memory. */
  rssBytes: z.number(),
  /** The backend the steps run on, as the trainer process knows it. */
  backend: BackendName.optional(),
});
export type TrainingProgress = z.infer<typeof TrainingProgress>;

/** `training.progress`: the progress of the app's run. */
export const TrainingProgressEvent = TrainingProgress.extend({ runId: RunId });
export type TrainingProgressEvent = z.infer<typeof TrainingProgressEvent>;

export const TrainingStateEvent = z.object({
  runId: RunId,
  state: RunState,
  message: z.string().optional(),
});

/** What the New run form asks a time estimate for: one preset at one batch size on one backend choice. */
export const StepEstimateRequest = z
  .object({
    preset: PresetName,
    batchSize: z.int().min(1).max(1024),
    backend: BackendPreference,
  })
  .strict();
export type StepEstimateRequest = z.infer<typeof StepEstimateRequest>;

/** One measured training step on this machine (cached per backend, preset, batch and app version). */
export const StepEstimate = z.object({
  /** The backend the choice resolved to ("wasm" for auto on most machines without a GPU). */
  backend: BackendName,
  label: z.string(),
  /** Median wall time of one full training step (D and G updates), after a warm-up step. */
  msPerStep: z.number().positive(),
  /** ISO time of the measurement. */
  measuredAt: z.string(),
  /** True when it came from the cache rather than a measurement just now. */
  cached: z.boolean(),
});
export type StepEstimate = z.infer<typeof StepEstimate>;
