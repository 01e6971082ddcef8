import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listCheckpoints } from '../../../src/core/gan/checkpoint.ts';
import { runTraining } from '../../../src/core/gan/run.ts';
import {
  readRunLock,
  RUN_LOCK_FILE,
  RunLockedError,
  type RunLockInfo,
} from '../../../src/core/gan/run-lock.ts';
import { RunControl } from '../../../src/core/util/run-control.ts';
import { KaoError } from '../../../src/shared/errors.ts';
import { tinyRunOptions, tinyRunSuite } from '../../helpers/tiny-runs.ts';
import { startKaoTrain } from '../../helpers/kao-train.ts';

const temp = tinyRunSuite('kao-gan-lock-');
const common = () => tinyRunOptions(temp, { seed: 4, sampleEvery: 0, checkpointEvery: 0 });

/** Every file under `dir` with its size, mtime and content hash. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const info = await stat(path);
    const hash = createHash('sha256')
      .update(await readFile(path))
      .digest('hex');
    out[path.slice(dir.length)] = `${info.size} ${info.mtimeMs} ${hash}`;
  }
  return out;
}

async function until<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() - start > timeoutMs) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A pid that was alive a moment ago and is not anymore. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((r) => child.on('exit', r));
  return child.pid!;
}

async function writeLock(runDir: string, info: Partial<RunLockInfo> | string): Promise<void> {
  await mkdir(runDir, { recursive: true });
  await writeFile(
    join(runDir, RUN_LOCK_FILE),
    typeof info === 'string'
      ? info
      : JSON.stringify({
          hostname: hostname(),
          startedAt: new Date().toISOString(),
          command: 'kao train',
          id: 'someone-else',
          ...info,
        }),
  );
}

describe('one trainer per run folder', () => {
  it('refuses a second trainer while the first runs, touching nothing; stop releases the lock', async () => {
    const runDir = join(temp.dir, 'busy');
    const control = new RunControl();
    let paused = false;
    const first = runTraining(
      { ...common(), runDir, steps: 1000, checkpointEvery: 2 },
      {
        control,
        // Held between steps 3 and 4 (after step 3's metrics line, the last write of that step).
        onMetric: (line) => {
          if (line.step !== 3) return;
          control.pause();
          paused = true;
        },
      },
    );
    await until(() => (paused ? true : undefined));
    await new Promise((r) => setTimeout(r, 200));
    expect(await listCheckpoints(runDir)).toEqual([2]);
    const lock = JSON.parse(await readFile(join(runDir, RUN_LOCK_FILE), 'utf8')) as RunLockInfo;
    expect(lock).toMatchObject({ pid: process.pid, hostname: hostname() });
    const before = await snapshot(runDir);

    const second = runTraining({ ...common(), runDir, steps: 1000 });
    const error = await second.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RunLockedError);
    expect(error).toBeInstanceOf(KaoError);
    expect((error as RunLockedError).code).toBe('busy');
    expect((error as Error).message).toMatch(
      /^run "busy" is already being trained in this process \(pid \d+, node [^,]+, since \d\d:\d\d\)$/,
    );
    expect(await snapshot(runDir)).toEqual(before);

    // A live process of another program holding the lock: the message names it.
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      const other = join(temp.dir, 'busy-other');
      await writeLock(other, { pid: sleeper.pid });
      const otherBefore = await snapshot(other);
      const refused = await runTraining({ ...common(), runDir: other, steps: 5 }).catch((e: unknown) => e);
      expect((refused as Error).message).toMatch(
        /^run "busy-other" is being trained by another process \(pid \d+, kao train, since \d\d:\d\d\)$/,
      );
      expect(await snapshot(other)).toEqual(otherBefore);
    } finally {
      sleeper.kill('SIGKILL');
    }

    control.cancel('stopped by the test');
    const result = await first;
    expect(result.stopped).toBe(true);
    expect(existsSync(join(runDir, RUN_LOCK_FILE))).toBe(false);
  });

  it('releases the lock after a normal finish and after an error', async () => {
    const runDir = join(temp.dir, 'released');
    const done = await runTraining({ ...common(), runDir, steps: 2 });
    expect(done).toMatchObject({ step: 2, stopped: false, warnings: [] });
    expect(existsSync(join(runDir, RUN_LOCK_FILE))).toBe(false);
    // Resuming with another seed is refused after the lock was taken: it goes all the same.
    await expect(runTraining({ ...common(), runDir, seed: 5, steps: 3 })).rejects.toThrow(/seed 4/);
    expect(existsSync(join(runDir, RUN_LOCK_FILE))).toBe(false);
    expect(await runTraining({ ...common(), runDir, steps: 3 })).toMatchObject({ step: 3, resumedFrom: 2 });
    expect(existsSync(join(runDir, RUN_LOCK_FILE))).toBe(false);
  });

  it('leaves no folder behind for a new run refused before it wrote anything', async () => {
    const runDir = join(temp.dir, 'never', 'made');
    await expect(
      runTraining({ ...common(), runDir, faces: temp.faces.slice(0, 3), steps: 2 }),
    ).rejects.toThrow(/only 3 training images/);
    expect(existsSync(join(temp.dir, 'never'))).toBe(false);
  });

  it('takes over a stale lock of a dead process, and a corrupt or empty lock file, with a warning', async () => {
    const pid = await deadPid();
    const stale = join(temp.dir, 'stale');
    await writeLock(stale, { pid });
    const result = await runTraining({ ...common(), runDir: stale, steps: 2 });
    expect(result.step).toBe(2);
    expect(result.warnings).toEqual([
      expect.stringMatching(
        new RegExp(
          `^took over the lock of run "stale" from pid ${pid} \\(kao train, since .*\\): that process is no longer running$`,
        ),
      ),
    ]);
    expect(existsSync(join(stale, RUN_LOCK_FILE))).toBe(false);

    for (const [name, content] of [
      ['corrupt', '{"pid": 12'],
      ['empty', ''],
    ] as const) {
      const runDir = join(temp.dir, name);
      await writeLock(runDir, content);
      const taken = await runTraining({ ...common(), runDir, steps: 1 });
      expect(taken.step).toBe(1);
      expect(taken.warnings).toEqual([
        expect.stringMatching(/^replaced the unreadable lock file .*train\.lock/),
      ]);
      expect(existsSync(join(runDir, RUN_LOCK_FILE))).toBe(false);
    }
  });

  it('counts a lock from another host as held; one from before this boot, or naming this process, is stale', async () => {
    const remote = join(temp.dir, 'remote');
    await writeLock(remote, { pid: 4242, hostname: 'elsewhere' });
    await expect(runTraining({ ...common(), runDir: remote, steps: 1 })).rejects.toThrow(
      /^run "remote" is being trained by another process \(pid 4242 on elsewhere, kao train, since /,
    );
    // The lock names this very process (a pid reused after a crash) but this process never took it.
    const reused = join(temp.dir, 'reused');
    await writeLock(reused, { pid: process.pid });
    const result = await runTraining({ ...common(), runDir: reused, steps: 1 });
    expect(result.warnings).toEqual([
      expect.stringMatching(/this process does not hold it \(a reused pid\)$/),
    ]);
    // A live pid, but the lock predates this boot: the pid belongs to some later process.
    const rebooted = join(temp.dir, 'rebooted');
    await writeLock(rebooted, { pid: process.ppid, startedAt: '2000-01-01T00:00:00.000Z' });
    const after = await runTraining({ ...common(), runDir: rebooted, steps: 1 });
    expect(after.warnings).toEqual([
      expect.stringMatching(/since 2000-01-01 .*\): it was taken before this machine started$/),
    ]);
  });
});

describe("reading a run folder's lock", () => {
  it('reports only a live holder and changes nothing', async () => {
    expect(await readRunLock(join(temp.dir, 'never-locked'))).toBeUndefined();
    const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      const held = join(temp.dir, 'read-held');
      await writeLock(held, { pid: live.pid! });
      expect(await readRunLock(held)).toMatchObject({ pid: live.pid, command: 'kao train' });
      const remote = join(temp.dir, 'read-remote');
      await writeLock(remote, { pid: 4242, hostname: 'elsewhere' });
      expect(await readRunLock(remote)).toMatchObject({ pid: 4242, hostname: 'elsewhere' });
    } finally {
      live.kill('SIGKILL');
      await new Promise((r) => live.once('exit', r));
    }
    const dead = join(temp.dir, 'read-dead');
    await writeLock(dead, { pid: await deadPid() });
    const corrupt = join(temp.dir, 'read-corrupt');
    await writeLock(corrupt, '{"pid": 12');
    for (const runDir of [dead, corrupt, join(temp.dir, 'read-held')]) {
      const before = await snapshot(runDir);
      expect(await readRunLock(runDir)).toBeUndefined();
      expect(await snapshot(runDir)).toEqual(before);
    }
  });
});

describe('kao train and the run lock', () => {
  it('refuses a second kao train on a busy run; a SIGKILLed trainer leaves a stale lock the next one takes over', async () => {
    const runDir = join(temp.dir, 'cli');
    const first = startKaoTrain(runDir, 100_000, ['--workers', '1']);
    await until(
      async () => ((await listCheckpoints(runDir)).some((s) => s >= 5) ? true : undefined),
      120_000,
    );
    const lock = JSON.parse(await readFile(join(runDir, RUN_LOCK_FILE), 'utf8')) as RunLockInfo;
    expect(lock).toMatchObject({ pid: first.pid, command: 'kao train', hostname: hostname() });

    const second = await startKaoTrain(runDir, 20, ['--workers', '1']).exit;
    expect(second.code).toBe(1);
    expect(second.stderr.trim()).toMatch(
      new RegExp(
        `^kao train: run "cli" is being trained by another process \\(pid ${first.pid}, kao train, since \\d\\d:\\d\\d\\)$`,
      ),
    );

    first.kill('SIGKILL');
    expect((await first.exit).signal).toBe('SIGKILL');
    // Killed without a chance to clean up: the lock is still there, naming a dead process.
    expect(JSON.parse(await readFile(join(runDir, RUN_LOCK_FILE), 'utf8'))).toMatchObject({ pid: first.pid });
    const killedAt = Math.max(...(await listCheckpoints(runDir)));

    const third = await startKaoTrain(runDir, killedAt + 3, ['--workers', '1']).exit;
    expect(third.code).toBe(0);
    expect(third.stderr).toContain(
      `warning: took over the lock of run "cli" from pid ${first.pid} (kao train, since `,
    );
    expect(third.stderr).toContain(`resumed from the checkpoint at step ${killedAt}`);
    expect(third.stdout).toContain(`done at step ${killedAt + 3}/${killedAt + 3}`);
    expect(existsSync(join(runDir, RUN_LOCK_FILE))).toBe(false);
  }, 180_000);
});
