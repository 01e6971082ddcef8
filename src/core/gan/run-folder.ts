/**
 * The run folder's format (Node): where things live, config.json and metrics.jsonl. Readers of a run
 * (explorer, CLI, services) import this module, not the training loop.
 *
 *   config.json            run id, seed, resolved GAN config, data summary
 *   metrics.jsonl          one line per logged step (see MetricLine)
 *   samples/step-N.png     8×8 grid from the same fixed noise all run long
 *   checkpoints/step-…/    manifest.json + tensors.bin (see checkpoint.ts), last K kept
 *   train.lock             while a trainer works on the folder (see run-lock.ts)
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { readJsonIfExists, writeFileAtomic } from '../util/atomic-file.ts';
import { readJsonl } from '../util/jsonl.ts';
import {
  validateGanConfig,
  withRecipeDefaults,
  type GanConfig,
  type GanConfigOverrides,
  type PresetName,
} from './config.ts';

export const RUN_FORMAT = 'kao-run';

export interface RunConfigFile {
  format: typeof RUN_FORMAT;
  version: 1;
  /** The run id is the folder's name. */
  runId: string;
  createdAt: string;
  seed: number;
  preset: PresetName;
  overrides: GanConfigOverrides;
  config: GanConfig;
  data: { dir?: string; count: number; fingerprint: string };
  /** Backend of the process that created the run (resumes may use another). */
  backend?: string;
}

/** A line of metrics.jsonl: a training line, or the step-0 SWD line of a new run. */
export type MetricLine = StepMetricLine | InitialSwdLine;

/** Logged after a training step. */
export interface StepMetricLine {
  step: number;
  epoch: number;
  /** Means over the steps since the previous line. */
  lossD: number;
  lossG: number;
  dReal: number;
  dFake: number;
  imagesPerSec: number;
  /** Average SWD ×10³ over pyramid levels, when computed at this step. */
  swd?: number;
  swdLevels?: Array<{ resolution: number; swd: number }>;
  /** ISO time. */
  time: string;
}

/**
 * The first line of a new run with SWD on: the untrained generator's SWD, before any training step, so
 * the quality curve has its starting point. No step has run, so it has no losses or throughput.
 */
export interface InitialSwdLine {
  step: 0;
  epoch: 0;
  swd: number;
  swdLevels: Array<{ resolution: number; swd: number }>;
  time: string;
  lossD?: undefined;
  lossG?: undefined;
  dReal?: undefined;
  dFake?: undefined;
  imagesPerSec?: undefined;
}

export function runPaths(runDir: string) {
  return {
    config: join(runDir, 'config.json'),
    metrics: join(runDir, 'metrics.jsonl'),
    samples: join(runDir, 'samples'),
    checkpoints: join(runDir, 'checkpoints'),
  };
}

export function samplePath(runDir: string, step: number): string {
  return join(runPaths(runDir).samples, `step-${step}.png`);
}

/** Reads and checks a run's config.json; `undefined` when the folder holds no run. */
export async function readRunConfig(runDir: string): Promise<RunConfigFile | undefined> {
  let raw: unknown;
  try {
    raw = await readJsonIfExists(runPaths(runDir).config);
  } catch (error) {
    throw new Error(`${runPaths(runDir).config} is not valid JSON (${(error as Error).message})`);
  }
  if (raw === undefined) return undefined;
  const file = raw as RunConfigFile;
  if (file.format !== RUN_FORMAT || file.version !== 1 || typeof file.config !== 'object') {
    throw new Error(`${runPaths(runDir).config} is not a Kao run config`);
  }
  // Runs made before the recipe options existed train and sample with the classic recipe.
  file.config = withRecipeDefaults(file.config);
  validateGanConfig(file.config);
  return file;
}

/** Drops metrics lines after the resumed step (and torn lines), so curves continue seamlessly. */
export async function truncateMetrics(path: string, step: number): Promise<void> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const kept = (await readJsonl(path)).filter((line) => (line as MetricLine).step <= step);
  const rewritten = kept.map((line) => JSON.stringify(line) + '\n').join('');
  if (rewritten !== text) await writeFileAtomic(path, rewritten);
}

/** Identifies a training set by its file names (order included), recorded in config.json. */
export function dataFingerprint(paths: string[]): string {
  return createHash('sha256')
    .update(paths.map((p) => basename(p)).join('\n'))
    .digest('hex')
    .slice(0, 16);
}
