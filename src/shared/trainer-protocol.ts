/**
 * Messages between the TrainerHost (main process, or the Node web bridge) and the trainer process
 * (an Electron utility process, or a plain Node child in tests and the CLI). One tagged union each
 * way; the host validates every message it receives and treats anything else as a protocol error.
 */
import { z } from 'zod';
import { WireError } from './errors.ts';
import { BackendPreference, BackendStatus, PresetName, SelfTestResult, TrainerState } from './contract.ts';
import { BestCheckpoint, MetricLine, TrainingOptions, TrainingProgress } from './training-schemas.ts';

/** A training job: what the training service sends the trainer with `start`. */
export const TrainJob = z
  .object({
    /** The run folder; the trainer continues from its newest checkpoint when it holds one. */
    runDir: z.string().min(1),
    /** Absolute paths of the kept face crops (exclusions already applied). */
    faces: z.array(z.string().min(1)).min(1),
    options: TrainingOptions,
  })
  .strict();
export type TrainJob = z.infer<typeof TrainJob>;

export const HostToTrainer = z.discriminatedUnion('type', [
  z.object({ type: z.literal('selfTest'), requestId: z.int(), backend: BackendPreference }),
  z.object({ type: z.literal('start'), requestId: z.int(), job: TrainJob }),
  /** Times one training step of a preset (after a warm-up step); refused while a job trains. */
  z.object({
    type: z.literal('estimate'),
    requestId: z.int(),
    preset: PresetName,
    batchSize: z.int().min(1).max(1024),
    backend: BackendPreference,
  }),
  /** Pause the job between steps; `resume` goes on from there (the same verbs as `training.pause/resume`). */
  z.object({ type: z.literal('pause') }),
  z.object({ type: z.literal('resume') }),
  /** Stop the job: the trainer saves a checkpoint, reports `stopped`, and stays alive. */
  z.object({ type: z.literal('stop') }),
  /** Leave: the trainer finishes what it must persist and exits. */
  z.object({ type: z.literal('shutdown') }),
]);
export type HostToTrainer = z.infer<typeof HostToTrainer>;

export const TrainerToHost = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready'), pid: z.int() }),
  z.object({
    type: z.literal('reply'),
    requestId: z.int(),
    ok: z.boolean(),
    value: z.unknown().optional(),
    error: WireError.optional(),
  }),
  z.object({ type: z.literal('backend'), backend: BackendStatus }),
  z.object({ type: z.literal('progress'), progress: TrainingProgress }),
  /** One metrics.jsonl line, as it is appended. */
  z.object({ type: z.literal('metric'), metric: MetricLine }),
  z.object({ type: z.literal('samples'), step: z.int(), path: z.string() }),
  /** A checkpoint on disk, and the run's best checkpoint after it (when the run computes SWD). */
  z.object({
    type: z.literal('checkpoint'),
    step: z.int(),
    path: z.string(),
    best: BestCheckpoint.optional(),
  }),
  z.object({ type: z.literal('log'), level: z.enum(['info', 'warning', 'error']), message: z.string() }),
  z.object({ type: z.literal('state'), state: TrainerState.extract(['idle', 'running', 'paused']) }),
  z.object({
    type: z.literal('done'),
    reason: z.enum(['finished', 'stopped', 'failed']),
    error: WireError.optional(),
    /** A finished run that patience ended early: where it stopped and its best checkpoint's step. */
    plateau: z.object({ step: z.int(), bestStep: z.int() }).optional(),
  }),
]);
export type TrainerToHost = z.infer<typeof TrainerToHost>;

export { SelfTestResult };
