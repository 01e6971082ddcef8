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
import { validateGanConfig, withRecipeDefaults } from './config.ts';
import { RUN_FORMAT, RunConfigFile, type StoredGanConfig } from '../../shared/run-config-schemas.ts';
import type { InitialSwdLine, MetricLine, StepMetricLine } from '../../shared/training-schemas.ts';

// The file formats are the contract's (src/shared); readers of a run name them from here.
export { RUN_FORMAT };
export type { InitialSwdLine, MetricLine, RunConfigFile, StepMetricLine };

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
  const head = raw as { format?: unknown; version?: unknown; config?: unknown };
  if (head.format !== RUN_FORMAT || head.version !== 1 || !head.config || typeof head.config !== 'object') {
    throw new Error(`${runPaths(runDir).config} is not a Kao run config`);
  }
  // The GAN config first, for its readable errors; runs made before the recipe options existed train
  // and sample with the classic recipe (the schema's defaults).
  validateGanConfig(withRecipeDefaults(head.config as StoredGanConfig));
  const parsed = RunConfigFile.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`${runPaths(runDir).config} is not a Kao run config (${problems})`);
  }
  return parsed.data;
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
