/**
 * One trainer per run folder. `runTraining` holds `<run>/train.lock` for as long as it trains, so a second
 * trainer (a `kao train` in a terminal and the app's Continue, or two CLI invocations) on the same folder
 * is refused before it touches anything instead of interleaving metrics lines, racing checkpoints and
 * overwriting samples.
 *
 * The lock file is created atomically with its content: the JSON is written to a temp file which is then
 * hard-linked to `train.lock` (the link fails if the lock exists), so nobody ever sees a half-written
 * lock. Filesystems without hard links fall back to an exclusive create (`wx`).
 *
 * A lock whose holder is gone is stale and is taken over with a warning: its pid is on this host and
 * not alive, or it was taken before this machine booted, or it names this very process but not one of
 * the locks this process holds (a pid reused after a crash). A corrupt or empty lock file (a crash while
 * writing it in `wx` mode) is stale too. A lock from another host can't be checked and counts as held.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { link, mkdir, open, readFile, rename, rmdir, unlink } from 'node:fs/promises';
import { hostname, uptime } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { KaoError } from '../../shared/errors.ts';
import { formatSince } from '../../shared/format-since.ts';

export const RUN_LOCK_FILE = 'train.lock';

/** What `train.lock` holds. */
export interface RunLockInfo {
  pid: number;
  hostname: string;
  /** ISO time the lock was taken. */
  startedAt: string;
  /** Who trains: "kao train", "Kao Studio", … */
  command: string;
  /** Random, per acquisition: tells this holder's lock from a later one. */
  id: string;
}

/** The run folder is locked by a live trainer. Code `busy`, so it crosses the IPC and trainer boundaries. */
export class RunLockedError extends KaoError {
  constructor(
    readonly runDir: string,
    readonly holder: RunLockInfo,
    readonly lockPath: string,
  ) {
    super('busy', describeLock(runDir, holder));
  }
}

/** `run "X" is being trained by another process (pid 1234, kao train, since 12:03)`. */
function describeLock(runDir: string, holder: RunLockInfo, now = new Date()): string {
  const who =
    holder.pid === process.pid && holder.hostname === hostname()
      ? 'is already being trained in this process'
      : 'is being trained by another process';
  return `run "${basename(resolve(runDir))}" ${who} (${describeHolder(holder, now)})`;
}

/** `pid 1234, kao train, since 12:03` (`pid 1234 on otherhost, …` for a lock taken on another machine). */
export function describeHolder(holder: RunLockInfo, now = new Date()): string {
  const where = holder.hostname === hostname() ? '' : ` on ${holder.hostname}`;
  return `pid ${holder.pid}${where}, ${holder.command}, since ${formatSince(holder.startedAt, now)}`;
}

export interface RunLock {
  readonly path: string;
  readonly info: RunLockInfo;
  /** Removes the lock file if it is still ours. Safe to call twice. */
  release(): Promise<void>;
}

export interface AcquireOptions {
  /** Recorded in the lock: who trains ("kao train", "Kao Studio"). */
  command?: string;
  /** A stale or corrupt lock was taken over. */
  onWarning?: (message: string) => void;
}

/** Locks held by this process, by lock path → id, for reused-pid detection and the exit safety net. */
const held = new Map<string, string>();
let exitHandlerInstalled = false;

/**
 * Takes the run folder's lock (creating the folder if needed), or throws `RunLockedError` when a live
 * trainer holds it. A stale lock is replaced, with a warning through `onWarning`.
 */
export async function acquireRunLock(runDir: string, options: AcquireOptions = {}): Promise<RunLock> {
  const dir = resolve(runDir);
  const path = join(dir, RUN_LOCK_FILE);
  await mkdir(dir, { recursive: true });
  const info: RunLockInfo = {
    pid: process.pid,
    hostname: hostname(),
    startedAt: new Date().toISOString(),
    command: options.command ?? defaultCommand(),
    id: randomBytes(8).toString('hex'),
  };
  const text = JSON.stringify(info) + '\n';
  // Each pass either creates the lock, throws, or removes one stale lock; a few passes cover races.
  for (let attempt = 0; attempt < 5; attempt++) {
    if (await createExclusive(path, text)) {
      held.set(path, info.id);
      installExitHandler();
      return {
        path,
        info,
        release: async () => {
          if (held.get(path) !== info.id) return;
          held.delete(path);
          await removeIfOurs(path, info.id);
        },
      };
    }
    const current = await inspect(path);
    if (current.state === 'gone') continue;
    if (current.state === 'held') throw new RunLockedError(dir, current.info, path);
    if (await removeStale(path, current.raw)) options.onWarning?.(current.reason);
  }
  throw new Error(`could not take the lock ${path}: other processes keep creating it`);
}

/** Throws `RunLockedError` when a live trainer holds the run folder; touches nothing. */
export async function assertRunNotLocked(runDir: string): Promise<void> {
  const dir = resolve(runDir);
  const holder = await readRunLock(dir);
  if (holder) throw new RunLockedError(dir, holder, join(dir, RUN_LOCK_FILE));
}

/**
 * Who trains the run folder right now: the live holder of its lock, or `undefined` when it is free (no
 * lock, or a stale or corrupt one). Read-only: a stale lock is left for the next trainer to take over.
 */
export async function readRunLock(runDir: string): Promise<RunLockInfo | undefined> {
  const current = await inspect(join(resolve(runDir), RUN_LOCK_FILE));
  return current.state === 'held' ? current.info : undefined;
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

type Inspection =
  { state: 'gone' } | { state: 'held'; info: RunLockInfo } | { state: 'stale'; raw: string; reason: string };

async function inspect(path: string): Promise<Inspection> {
  let raw = await readIfExists(path);
  if (raw === undefined) return { state: 'gone' };
  let info = parseLock(raw);
  if (!info) {
    // Only the `wx` fallback can expose a lock before its content is written: look once more.
    await new Promise((r) => setTimeout(r, 150));
    raw = await readIfExists(path);
    if (raw === undefined) return { state: 'gone' };
    info = parseLock(raw);
    if (!info)
      return {
        state: 'stale',
        raw,
        reason: `replaced the unreadable lock file ${path} (left by a trainer that crashed while taking it)`,
      };
  }
  const dead = deadReason(info, path);
  if (dead === undefined) return { state: 'held', info };
  return {
    state: 'stale',
    raw,
    reason: `took over the lock of run "${basename(dirname(path))}" from pid ${info.pid} (${info.command}, since ${formatSince(info.startedAt)}): ${dead}`,
  };
}

/** The file's text, or `undefined` when it does not exist. */
async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function parseLock(raw: string): RunLockInfo | undefined {
  try {
    const value = JSON.parse(raw) as Partial<RunLockInfo> | null;
    if (
      value &&
      Number.isInteger(value.pid) &&
      (value.pid as number) > 0 &&
      typeof value.hostname === 'string' &&
      typeof value.startedAt === 'string' &&
      !Number.isNaN(Date.parse(value.startedAt)) &&
      typeof value.command === 'string'
    ) {
      return { ...(value as RunLockInfo), id: typeof value.id === 'string' ? value.id : '' };
    }
  } catch {
    /* corrupt */
  }
  return undefined;
}

/** Why the holder is certainly gone, or `undefined` when it may be alive. */
function deadReason(info: RunLockInfo, path: string): string | undefined {
  if (info.hostname !== hostname()) return undefined;
  const bootedAt = Date.now() - uptime() * 1000;
  // A minute of slack: uptime and the wall clock are not read at the same instant, clocks get adjusted.
  if (Date.parse(info.startedAt) < bootedAt - 60_000) return 'it was taken before this machine started';
  if (info.pid === process.pid) {
    return held.get(path) === info.id ? undefined : 'this process does not hold it (a reused pid)';
  }
  try {
    process.kill(info.pid, 0);
    return undefined;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'ESRCH'
      ? 'that process is no longer running'
      : undefined;
  }
}

/** Creates `path` with `text` unless it exists. Never leaves a partly written lock behind on success. */
async function createExclusive(path: string, text: string): Promise<boolean> {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeSynced(temp, text, 'wx');
  try {
    await link(temp, path);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    // No hard links here (FAT, some network shares): exclusive create, then write.
    if (
      code === 'EPERM' ||
      code === 'ENOTSUP' ||
      code === 'EOPNOTSUPP' ||
      code === 'ENOSYS' ||
      code === 'EXDEV'
    ) {
      try {
        await writeSynced(path, text, 'wx');
        return true;
      } catch (fallbackError) {
        if ((fallbackError as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw fallbackError;
      }
    }
    throw error;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

async function writeSynced(path: string, text: string, flags: string): Promise<void> {
  const handle = await open(path, flags);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Moves the stale lock aside and deletes it, unless it changed since it was judged stale (another
 * process took it over in between): then it is put back. True when the stale lock was removed.
 */
async function removeStale(path: string, staleRaw: string): Promise<boolean> {
  const aside = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.stale`;
  try {
    await rename(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  const moved = await readFile(aside, 'utf8').catch(() => staleRaw);
  if (moved !== staleRaw) {
    // Someone else's fresh lock: restore it (unless yet another lock appeared meanwhile).
    await link(aside, path).catch(() => undefined);
    await unlink(aside).catch(() => undefined);
    return false;
  }
  await unlink(aside).catch(() => undefined);
  return true;
}

async function removeIfOurs(path: string, id: string): Promise<void> {
  const raw = await readFile(path, 'utf8').catch(() => undefined);
  if (raw === undefined || parseLock(raw)?.id !== id) return;
  await unlink(path).catch(() => undefined);
}

/** On `process.exit()` mid-run no finally block runs: drop this process's locks synchronously. */
function installExitHandler(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.on('exit', () => {
    for (const [path, id] of held) {
      try {
        if (parseLock(readFileSync(path, 'utf8'))?.id === id) unlinkSync(path);
      } catch {
        /* already gone */
      }
    }
    held.clear();
  });
}

function defaultCommand(): string {
  const script = process.argv[1];
  return script ? `node ${basename(script)}` : 'node';
}
