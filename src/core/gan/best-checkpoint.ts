/**
 * The run's best checkpoint (Node): the one whose in-training SWD against the training faces was lowest.
 * On a few hundred faces a GAN peaks and then degrades as D over-fits, so the newest checkpoint is not
 * what a user wants to sample from; readers (explorer, `kao sample`, export) open this one by default
 * and training keeps its folder out of checkpoint rotation. Recorded in the run folder's best.json.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BestCheckpointFile } from '../../shared/run-config-schemas.ts';
import { readJsonIfExists, writeJsonAtomic } from '../util/atomic-file.ts';
import { listCheckpoints, loadLatestCheckpoint, type Checkpoint } from './checkpoint.ts';

export type { BestCheckpointFile };

export function bestCheckpointPath(runDir: string): string {
  return join(runDir, 'best.json');
}

/**
 * The recorded best checkpoint, when its folder is still there. A missing, torn or foreign best.json,
 * or one naming a checkpoint that is gone, reads as none (the newest checkpoint is then the default).
 */
export async function readBestCheckpoint(
  runDir: string,
  /** The run's checkpoint steps, when the caller has listed them already. */
  knownSteps?: readonly number[],
): Promise<BestCheckpointFile | undefined> {
  let raw: unknown;
  try {
    raw = await readJsonIfExists(bestCheckpointPath(runDir));
  } catch {
    return undefined;
  }
  const parsed = BestCheckpointFile.safeParse(raw);
  if (!parsed.success) return undefined;
  const steps = knownSteps ?? (await listCheckpoints(runDir).catch(() => [] as number[]));
  return steps.includes(parsed.data.step) ? parsed.data : undefined;
}

export async function writeBestCheckpoint(runDir: string, best: BestCheckpointFile): Promise<void> {
  await writeJsonAtomic(bestCheckpointPath(runDir), best);
}

export async function removeBestCheckpoint(runDir: string): Promise<void> {
  await rm(bestCheckpointPath(runDir), { force: true });
}

/** True when `swd` beats the record (lower; the first evaluation always does). */
export function improvesOn(best: Pick<BestCheckpointFile, 'swd'> | undefined, swd: number): boolean {
  return Number.isFinite(swd) && (best === undefined || swd < best.swd);
}

/**
 * Early stopping: true once the best checkpoint is `patience` steps behind `step` (never when patience is
 * 0 or there is no best yet). Steps count from the resume when that is later, so a continued run gets a
 * full window to improve.
 */
export function outlastsPatience(
  best: Pick<BestCheckpointFile, 'step'> | undefined,
  step: number,
  patience: number,
  resumedFrom = 0,
): boolean {
  return patience > 0 && best !== undefined && step - Math.max(best.step, resumedFrom) >= patience;
}

/**
 * The checkpoint a reader opens: the one at `step` when given, else the run's best when it records one
 * that reads, else the newest valid one (a best that fails to read is reported in `warnings`).
 */
export async function loadPreferredCheckpoint(
  runDir: string,
  options: { step?: number } = {},
): Promise<{ checkpoint: Checkpoint | undefined; warnings: string[] }> {
  if (options.step !== undefined) return loadLatestCheckpoint(runDir, options);
  const best = await readBestCheckpoint(runDir);
  if (!best) return loadLatestCheckpoint(runDir);
  try {
    return await loadLatestCheckpoint(runDir, { step: best.step });
  } catch (error) {
    const newest = await loadLatestCheckpoint(runDir);
    return {
      checkpoint: newest.checkpoint,
      warnings: [`the best ${(error as Error).message}; using the newest instead`, ...newest.warnings],
    };
  }
}
