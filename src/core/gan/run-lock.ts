/**
 * One trainer per run folder. `runTraining` holds `<run>/train.lock` for as long as it trains, so a second
 * trainer (a `kao train` in a terminal and the app's Continue, or two CLI invocations) on the same folder
 * is refused before it touches anything instead of interleaving metrics lines, racing checkpoints and
 * overwriting samples. The locking itself (atomic create, stale takeover) is the generic folder lock.
 */
import { rmdir } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import {
  FolderLockedError,
  acquireFolderLock,
  assertFolderNotLocked,
  readFolderLock,
  type AcquireFolderLockOptions,
  type FolderLock,
  type FolderLockInfo,
  type FolderLockKind,
} from '../folder-lock.ts';

export { describeHolder } from '../folder-lock.ts';

export const RUN_LOCK_FILE = 'train.lock';

/** What `train.lock` holds. */
export type RunLockInfo = FolderLockInfo;
export type RunLock = FolderLock;
export type AcquireOptions = Omit<AcquireFolderLockOptions, 'activity'>;

/** The run folder is locked by a live trainer. Code `busy`, so it crosses the IPC and trainer boundaries. */
export class RunLockedError extends FolderLockedError {
  get runDir(): string {
    return this.dir;
  }
}

/** `run "X" is being trained by another process (pid 1234, kao train, since 12:03)`. */
const RUN_LOCK: FolderLockKind = {
  file: RUN_LOCK_FILE,
  describeFolder: (dir) => `run "${basename(dir)}"`,
  activity: 'trained',
  error: RunLockedError,
};

/**
 * Takes the run folder's lock (creating the folder if needed), or throws `RunLockedError` when a live
 * trainer holds it. A stale lock is replaced, with a warning through `onWarning`.
 */
export function acquireRunLock(runDir: string, options: AcquireOptions = {}): Promise<RunLock> {
  return acquireFolderLock(runDir, RUN_LOCK, options);
}

/** Throws `RunLockedError` when a live trainer holds the run folder; touches nothing. */
export function assertRunNotLocked(runDir: string): Promise<void> {
  return assertFolderNotLocked(runDir, RUN_LOCK);
}

/**
 * Who trains the run folder right now: the live holder of its lock, or `undefined` when it is free (no
 * lock, or a stale or corrupt one). Read-only: a stale lock is left for the next trainer to take over.
 */
export function readRunLock(runDir: string): Promise<RunLockInfo | undefined> {
  return readFolderLock(runDir, RUN_LOCK);
}

/** Removes `dir` and the empty folders above it up to `top` (what `mkdir -p` created), if still empty. */
export async function removeEmptyDirs(dir: string, top: string): Promise<void> {
  let current = resolve(dir);
  const stop = dirname(resolve(top));
  while (current !== stop && current.length > stop.length) {
    try {
      await rmdir(current);
    } catch {
      return;
    }
    current = dirname(current);
  }
}
