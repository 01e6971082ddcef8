/**
 * One writer per folder, across processes: a run folder (one trainer), a dataset folder (one crawl or
 * import), a faces folder (one extraction). The holder keeps a lock file in the folder for as long as it
 * writes there, so a second process (a CLI in a terminal and the app, or two CLI invocations) is refused
 * before it touches anything instead of interleaving its writes with the first one's.
 *
 * The lock file is created atomically with its content: the JSON is written to a temp file which is then
 * hard-linked to the lock's name (the link fails if the lock exists), so nobody ever sees a half-written
 * lock. Filesystems without hard links fall back to an exclusive create (`wx`).
 *
 * A lock whose holder is gone is stale and is taken over with a warning: its pid is on this host and
 * not alive, or it was taken before this machine booted, or it names this very process but not one of
 * the locks this process holds (a pid reused after a crash). A corrupt or empty lock file (a crash while
 * writing it in `wx` mode) is stale too. A lock from another host can't be checked and counts as held.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { link, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { hostname, uptime } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { KaoError } from '../shared/errors.ts';
import { formatSince } from '../shared/format-since.ts';

/** What a lock file holds. */
export interface FolderLockInfo {
  pid: number;
  hostname: string;
  /** ISO time the lock was taken. */
  startedAt: string;
  /** Who holds it: "kao train", "Kao Studio", … */
  command: string;
  /** Random, per acquisition: tells this holder's lock from a later one. */
  id: string;
  /** What the holder does to the folder ("crawled", "imported into"); the kind's own when absent. */
  activity?: string;
}

/** The folder is locked by a live holder. Code `busy`, so it crosses the IPC and trainer boundaries. */
export class FolderLockedError extends KaoError {
  constructor(
    readonly dir: string,
    readonly holder: FolderLockInfo,
    readonly lockPath: string,
    message: string,
  ) {
    super('busy', message);
  }
}

/** One kind of folder lock: which file, and how its messages name the folder and the work. */
export interface FolderLockKind {
  /** The lock file's name inside the folder: `train.lock`, `.dataset.lock`, `.faces.lock`. */
  file: string;
  /** The folder as messages name it: `run "first"`, `dataset folder /data/dataset`. */
  describeFolder(dir: string): string;
  /** What a holder does to the folder, for `… is being <activity> by another process`: "trained". */
  activity: string;
  /** The error a refusal throws, when callers tell this kind's refusals apart by class. */
  error?: new (dir: string, holder: FolderLockInfo, lockPath: string, message: string) => FolderLockedError;
}

export interface FolderLock {
  readonly path: string;
  readonly info: FolderLockInfo;
  /** Removes the lock file if it is still ours. Safe to call twice. */
  release(): Promise<void>;
}

export interface AcquireFolderLockOptions {
  /** Recorded in the lock: who holds it ("kao train", "Kao Studio"). */
  command?: string;
  /** Recorded in the lock when this holder's work is not the kind's default ("imported into"). */
  activity?: string;
  /** A stale or corrupt lock was taken over. */
  onWarning?: (message: string) => void;
}

/** A takeover guard older than this was left by a process killed while taking over a stale lock. */
const GUARD_ABANDONED_MS = 10_000;

/** Locks held by this process, by lock path → id, for reused-pid detection and the exit safety net. */
const held = new Map<string, string>();
/**
 * Ids this process is writing as a lock right now (between the link and `held.set`): another acquire in
 * this process that reads the new lock in that gap must see it as live, not as a reused pid's.
 */
const creating = new Set<string>();
let exitHandlerInstalled = false;

/**
 * Takes the folder's lock (creating the folder if needed), or throws the kind's `FolderLockedError` when a
 * live holder has it. A stale lock is replaced, with a warning through `onWarning`.
 */
export async function acquireFolderLock(
  folder: string,
  kind: FolderLockKind,
  options: AcquireFolderLockOptions = {},
): Promise<FolderLock> {
  const dir = resolve(folder);
  const path = join(dir, kind.file);
  await mkdir(dir, { recursive: true });
  const info: FolderLockInfo = {
    pid: process.pid,
    hostname: hostname(),
    startedAt: new Date().toISOString(),
    command: options.command ?? defaultCommand(),
    id: randomBytes(8).toString('hex'),
    ...(options.activity ? { activity: options.activity } : {}),
  };
  const text = JSON.stringify(info) + '\n';
  // Each pass either creates the lock, throws, removes one stale lock or waits out another process's
  // takeover; a few dozen passes cover races.
  for (let attempt = 0; attempt < 50; attempt++) {
    creating.add(info.id);
    let created: boolean;
    try {
      created = await createExclusive(path, text);
    } finally {
      creating.delete(info.id);
    }
    if (created) {
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
    const current = await inspect(dir, kind);
    if (current.state === 'gone') continue;
    if (current.state === 'held') throw lockedError(dir, kind, current.info);
    if (await removeStale(path, current.raw)) options.onWarning?.(current.reason);
  }
  throw new Error(`could not take the lock ${path}: other processes keep creating it`);
}

/**
 * Throws the kind's `FolderLockedError` when a live holder has the folder; touches nothing. With
 * `exceptThisProcess`, a lock this very process holds does not count (its own writes are ordered by it).
 */
export async function assertFolderNotLocked(
  folder: string,
  kind: FolderLockKind,
  options: { exceptThisProcess?: boolean } = {},
): Promise<void> {
  const dir = resolve(folder);
  const holder = await readFolderLock(dir, kind);
  if (!holder || (options.exceptThisProcess && isThisProcess(holder))) return;
  throw lockedError(dir, kind, holder);
}

/**
 * Who holds the folder right now: the live holder of its lock, or `undefined` when it is free (no lock, or
 * a stale or corrupt one). Read-only: a stale lock is left for the next holder to take over.
 */
export async function readFolderLock(
  folder: string,
  kind: FolderLockKind,
): Promise<FolderLockInfo | undefined> {
  const current = await inspect(resolve(folder), kind);
  return current.state === 'held' ? current.info : undefined;
}

/** `pid 1234, kao train, since 12:03` (`pid 1234 on otherhost, …` for a lock taken on another machine). */
export function describeHolder(holder: FolderLockInfo, now = new Date()): string {
  const where = holder.hostname === hostname() ? '' : ` on ${holder.hostname}`;
  return `pid ${holder.pid}${where}, ${holder.command}, since ${formatSince(holder.startedAt, now)}`;
}

function isThisProcess(holder: FolderLockInfo): boolean {
  return holder.pid === process.pid && holder.hostname === hostname();
}

/** `run "X" is being trained by another process (pid 1234, kao train, since 12:03)`. */
function lockedError(dir: string, kind: FolderLockKind, holder: FolderLockInfo): FolderLockedError {
  const activity = holder.activity ?? kind.activity;
  const who = isThisProcess(holder)
    ? `is already being ${activity} in this process`
    : `is being ${activity} by another process`;
  const message = `${kind.describeFolder(dir)} ${who} (${describeHolder(holder)})`;
  return new (kind.error ?? FolderLockedError)(dir, holder, join(dir, kind.file), message);
}

type Inspection =
  | { state: 'gone' }
  | { state: 'held'; info: FolderLockInfo }
  | { state: 'stale'; raw: string; reason: string };

async function inspect(dir: string, kind: FolderLockKind): Promise<Inspection> {
  const path = join(dir, kind.file);
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
        reason: `replaced the unreadable lock file ${path} (left by a process that crashed while taking it)`,
      };
  }
  const dead = deadReason(info, path);
  if (dead === undefined) return { state: 'held', info };
  return {
    state: 'stale',
    raw,
    reason: `took over the lock of ${kind.describeFolder(dir)} from pid ${info.pid} (${info.command}, since ${formatSince(info.startedAt)}): ${dead}`,
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

function parseLock(raw: string): FolderLockInfo | undefined {
  try {
    const value = JSON.parse(raw) as Partial<FolderLockInfo> | null;
    if (
      value &&
      Number.isInteger(value.pid) &&
      (value.pid as number) > 0 &&
      typeof value.hostname === 'string' &&
      typeof value.startedAt === 'string' &&
      !Number.isNaN(Date.parse(value.startedAt)) &&
      typeof value.command === 'string'
    ) {
      const { activity, ...rest } = value as FolderLockInfo;
      return {
        ...rest,
        id: typeof value.id === 'string' ? value.id : '',
        ...(typeof activity === 'string' && activity ? { activity } : {}),
      };
    }
  } catch {
    /* corrupt */
  }
  return undefined;
}

/** Why the holder is certainly gone, or `undefined` when it may be alive. */
function deadReason(info: FolderLockInfo, path: string): string | undefined {
  if (info.hostname !== hostname()) return undefined;
  const bootedAt = Date.now() - uptime() * 1000;
  // A minute of slack: uptime and the wall clock are not read at the same instant, clocks get adjusted.
  if (Date.parse(info.startedAt) < bootedAt - 60_000) return 'it was taken before this machine started';
  if (info.pid === process.pid) {
    return held.get(path) === info.id || creating.has(info.id)
      ? undefined
      : 'this process does not hold it (a reused pid)';
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
 * Deletes the stale lock unless it changed since it was judged stale (another process took it over in
 * between). True when the stale lock was removed. The read-compare-delete runs under a short-lived guard
 * file, so two processes taking over at once cannot delete the lock the first one just created.
 */
async function removeStale(path: string, staleRaw: string): Promise<boolean> {
  const guard = `${path}.takeover`;
  if (!(await createExclusive(guard, `${process.pid}\n`))) {
    // Another process is taking over right now: let it finish, then look again. A guard left by a
    // process killed inside those few milliseconds is removed once it is clearly abandoned.
    const info = await stat(guard).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > GUARD_ABANDONED_MS) await removeAbandonedGuard(guard, info);
    else await new Promise((r) => setTimeout(r, 20));
    return false;
  }
  try {
    if ((await readIfExists(path)) !== staleRaw) return false;
    await unlink(path).catch(() => undefined);
    return true;
  } finally {
    await unlink(guard).catch(() => undefined);
  }
}

/**
 * Removes the abandoned guard that `seen` describes — not a fresh one another process made after removing
 * that same abandoned guard a moment ago: it is moved aside first, and put back if it is not the one seen.
 */
async function removeAbandonedGuard(guard: string, seen: { ino: number; mtimeMs: number }): Promise<void> {
  const aside = `${guard}.${process.pid}.${randomBytes(4).toString('hex')}.abandoned`;
  try {
    await rename(guard, aside);
  } catch {
    return; // gone already
  }
  const moved = await stat(aside).catch(() => undefined);
  if (moved && (moved.ino !== seen.ino || moved.mtimeMs !== seen.mtimeMs)) {
    await link(aside, guard).catch(() => undefined); // someone's live guard: back it goes
  }
  await unlink(aside).catch(() => undefined);
}

async function removeIfOurs(path: string, id: string): Promise<void> {
  const raw = await readFile(path, 'utf8').catch(() => undefined);
  if (raw === undefined || parseLock(raw)?.id !== id) return;
  await unlink(path).catch(() => undefined);
}

/** On `process.exit()` mid-work no finally block runs: drop this process's locks synchronously. */
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

let holderName: string | undefined;

/**
 * Names this process in the locks it takes when the caller names no `command`: each adapter says who it
 * is once at start ("kao faces", "Kao Studio"), so the cores need not carry it through every call.
 */
export function setLockHolderName(name: string): void {
  holderName = name;
}

function defaultCommand(): string {
  if (holderName) return holderName;
  const script = process.argv[1];
  return script ? `node ${basename(script)}` : 'node';
}
