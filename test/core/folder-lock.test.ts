import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, utimes, writeFile, mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FolderLockedError,
  acquireFolderLock,
  assertFolderNotLocked,
  readFolderLock,
  type FolderLockInfo,
  type FolderLockKind,
} from '../../src/core/folder-lock.ts';
import { KaoError } from '../../src/shared/errors.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';

// The run lock's own tests (test/core/gan/run-lock.test.ts) cover stale takeover, other hosts and reading;
// these cover what only the generic module does: processes racing, per-holder activity, release safety.

const repoRoot = resolve(import.meta.dirname, '../..');
const nodeBin = join(repoRoot, 'node_modules/.bin/node');
const moduleUrl = JSON.stringify(join(repoRoot, 'src/core/folder-lock.ts'));

const KIND: FolderLockKind = {
  file: '.test.lock',
  describeFolder: (dir) => `test folder ${dir}`,
  activity: 'tested',
};

let temp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  temp = await makeTempDir('kao-folder-lock-');
});
afterAll(() => temp.cleanup());

/**
 * `count` real processes that each wait for `go` to exist, then try to take the lock and print one JSON
 * line: `{ won: true }` (holding it `holdMs`) or the refusal's message and code.
 */
async function race(dir: string, count: number, holdMs: number) {
  const go = join(temp.dir, `go-${Math.random().toString(36).slice(2)}`);
  const script = `
    const { existsSync } = await import('node:fs');
    const m = await import(${moduleUrl});
    const kind = { file: '.test.lock', describeFolder: (d) => 'test folder ' + d, activity: 'tested' };
    while (!existsSync(${JSON.stringify(go)})) await new Promise((r) => setTimeout(r, 5));
    const warnings = [];
    try {
      const lock = await m.acquireFolderLock(${JSON.stringify(dir)}, kind, {
        command: 'racer', onWarning: (w) => warnings.push(w),
      });
      process.stdout.write(JSON.stringify({ won: true, pid: process.pid, warnings }));
      await new Promise((r) => setTimeout(r, ${holdMs}));
      await lock.release();
    } catch (error) {
      process.stdout.write(JSON.stringify({ won: false, pid: process.pid, code: error.code, message: error.message, warnings }));
    }`;
  const children = Array.from({ length: count }, () => {
    const child = spawn(nodeBin, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    return new Promise<{ won: boolean; pid: number; code?: string; message?: string; warnings: string[] }>(
      (done) => child.on('close', () => done(JSON.parse(out) as never)),
    );
  });
  // Let every child load the module before they all go at once.
  await new Promise((r) => setTimeout(r, 2500));
  await writeFile(go, '');
  return Promise.all(children);
}

describe('folder lock', () => {
  it('lets exactly one of several racing processes take a free lock; the others are told who holds it', async () => {
    const dir = join(temp.dir, 'race-free');
    const results = await race(dir, 4, 1500);
    const winners = results.filter((r) => r.won);
    expect(winners).toHaveLength(1);
    for (const loser of results.filter((r) => !r.won)) {
      expect(loser.code).toBe('busy');
      expect(loser.message).toMatch(
        new RegExp(
          `^test folder .*race-free is being tested by another process \\(pid ${winners[0]!.pid}, racer, since \\d\\d:\\d\\d\\)$`,
        ),
      );
    }
    // Released by the winner, and no temp or stale file left behind by anyone.
    expect(await readdir(dir)).toEqual([]);
  }, 30_000);

  it('lets exactly one of several racing processes take over a stale lock, with one warning', async () => {
    const dir = join(temp.dir, 'race-stale');
    await mkdir(dir);
    const dead = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    await new Promise((r) => dead.on('exit', r));
    const stale: FolderLockInfo = {
      pid: dead.pid!,
      hostname: hostname(),
      startedAt: new Date().toISOString(),
      command: 'kao crashed',
      id: 'old',
    };
    await writeFile(join(dir, KIND.file), JSON.stringify(stale));
    const results = await race(dir, 4, 1500);
    const winners = results.filter((r) => r.won);
    expect(winners).toHaveLength(1);
    // Only the process that removed the stale lock warns; the others find the winner's live lock.
    expect(results.flatMap((r) => r.warnings)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^took over the lock of test folder .*race-stale from pid ${dead.pid} \\(kao crashed, since .*\\): that process is no longer running$`,
        ),
      ),
    ]);
    // Not necessarily the winner: another racer may create its lock between the removal and the remover's
    // own next attempt (seen here: the remover then lost with `busy`).
    for (const loser of results.filter((r) => !r.won)) expect(loser.code).toBe('busy');
    expect(await readdir(dir)).toEqual([]);
  }, 30_000);

  it("records each holder's activity; exceptThisProcess ignores only this process's own lock", async () => {
    const dir = join(temp.dir, 'activity');
    const lock = await acquireFolderLock(dir, KIND, { command: 'kao import', activity: 'imported into' });
    expect(JSON.parse(await readFile(lock.path, 'utf8'))).toMatchObject({
      pid: process.pid,
      command: 'kao import',
      activity: 'imported into',
    });
    const again = await acquireFolderLock(dir, KIND).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(FolderLockedError);
    expect(again).toBeInstanceOf(KaoError);
    expect((again as Error).message).toMatch(
      /^test folder .*activity is already being imported into in this process \(pid \d+, kao import, since /,
    );
    await expect(assertFolderNotLocked(dir, KIND, { exceptThisProcess: true })).resolves.toBeUndefined();
    await expect(assertFolderNotLocked(dir, KIND)).rejects.toThrow(/already being imported into/);
    await lock.release();
    expect(await readFolderLock(dir, KIND)).toBeUndefined();

    // A live process of another program: refused even with exceptThisProcess, and the kind's activity is
    // used when the lock names none.
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      await writeFile(
        join(dir, KIND.file),
        JSON.stringify({
          pid: sleeper.pid,
          hostname: hostname(),
          startedAt: new Date().toISOString(),
          command: 'kao x',
          id: 'y',
        }),
      );
      await expect(assertFolderNotLocked(dir, KIND, { exceptThisProcess: true })).rejects.toThrow(
        /^test folder .*activity is being tested by another process \(pid \d+, kao x, since /,
      );
    } finally {
      sleeper.kill('SIGKILL');
      await new Promise((r) => sleeper.once('exit', r));
    }
  });

  it('takes over a stale lock past a takeover guard its crashed remover left, but waits on a fresh one', async () => {
    const dir = join(temp.dir, 'abandoned-guard');
    await mkdir(dir);
    const dead = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    await new Promise((r) => dead.on('exit', r));
    const lockPath = join(dir, KIND.file);
    const stale = {
      pid: dead.pid,
      hostname: hostname(),
      startedAt: new Date().toISOString(),
      command: 'x',
      id: 'old',
    };
    await writeFile(lockPath, JSON.stringify(stale));
    // A guard written a moment ago: another process is taking over right now, so nobody else may.
    await writeFile(`${lockPath}.takeover`, '1\n');
    const waited = await acquireFolderLock(dir, KIND).catch((e: unknown) => e);
    expect((waited as Error).message).toMatch(/could not take the lock .*other processes keep creating it/);
    expect(JSON.parse(await readFile(lockPath, 'utf8'))).toMatchObject({ id: 'old' });
    // The same guard 20 s old: its process died inside the takeover; it is cleared and the lock taken.
    const old = new Date(Date.now() - 20_000);
    await utimes(`${lockPath}.takeover`, old, old);
    const warnings: string[] = [];
    const lock = await acquireFolderLock(dir, KIND, { onWarning: (w) => warnings.push(w) });
    expect(warnings).toEqual([expect.stringMatching(/that process is no longer running$/)]);
    await lock.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it('a release never removes a lock that is no longer its own', async () => {
    const dir = join(temp.dir, 'not-ours');
    const lock = await acquireFolderLock(dir, KIND);
    // Someone removed it by hand and another process took the folder since.
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      const theirs = JSON.stringify({
        pid: sleeper.pid,
        hostname: hostname(),
        startedAt: new Date().toISOString(),
        command: 'other',
        id: 'theirs',
      });
      await writeFile(lock.path, theirs);
      await lock.release();
      await lock.release();
      expect(await readFile(lock.path, 'utf8')).toBe(theirs);
    } finally {
      sleeper.kill('SIGKILL');
      await new Promise((r) => sleeper.once('exit', r));
    }
  });

  it('drops the lock when its process calls process.exit() while holding it', async () => {
    const dir = join(temp.dir, 'exit');
    const child = spawn(
      nodeBin,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `const m = await import(${moduleUrl});
         await m.acquireFolderLock(${JSON.stringify(dir)}, { file: '.test.lock', describeFolder: (d) => d, activity: 'x' });
         process.stdout.write('held');
         setTimeout(() => process.exit(3), 200);`,
      ],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise((r) => child.on('close', r));
    expect([code, out]).toEqual([3, 'held']);
    expect(existsSync(join(dir, KIND.file))).toBe(false);
  }, 30_000);
});
