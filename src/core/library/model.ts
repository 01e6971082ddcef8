/**
 * The library's only door into runs on disk: load a checkpoint's generator, and tell whether a checkpoint
 * still exists (training keeps only the last few, so old favorites can outlive theirs).
 */
import { basename, resolve } from 'node:path';
import { listCheckpoints } from '../gan/checkpoint.ts';
import { readGeneratorWeights } from '../gan/generator-node.ts';
import { explorerGeneratorFromWeights, type ExplorerGenerator } from '../explorer/generator.ts';
import type { GanConfig } from '../gan/config.ts';

export interface RunGenerator {
  generator: ExplorerGenerator;
  config: GanConfig;
  /** The checkpoint actually loaded (the run's best, else newest, when no step was asked for). */
  step: number;
  /** The run folder's name (the gan code's definition of a run id). */
  runId: string;
}

/** Loads the generator of `runDir` at `step` (its best, else newest, when omitted). The caller disposes it. */
export async function loadRunGenerator(runDir: string, step?: number): Promise<RunGenerator> {
  const dir = resolve(runDir);
  const loaded = await readGeneratorWeights(dir, { step });
  return {
    generator: explorerGeneratorFromWeights(loaded.config, loaded.weights),
    config: loaded.config,
    step: loaded.step,
    runId: runIdOf(dir),
  };
}

export async function checkpointExists(runDir: string, step: number): Promise<boolean> {
  try {
    return (await listCheckpoints(resolve(runDir))).includes(step);
  } catch {
    return false;
  }
}

export function runIdOf(runDir: string): string {
  return basename(resolve(runDir));
}
