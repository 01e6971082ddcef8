import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  appendFile,
  copyFile,
  cp,
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { createNodeAppServices } from '../../src/services/node-services.ts';
import type { AppServices } from '../../src/services/app-services.ts';
import type { ResponseOf } from '../../src/shared/contract.ts';
import { MetricPoint, type FollowCursor } from '../../src/shared/training-schemas.ts';
import { startKaoTrain, type TrainerChild } from '../helpers/kao-train.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';

type Update = ResponseOf<'training.follow'>;
type Progress = Extract<Update, { reload: false }>;

let services: AppServices;
let cleanup: () => Promise<void>;
let runsDir: string;
const children: TrainerChild[] = [];

beforeAll(async () => {
  const temp = await makeTempDir('kao-follow-');
  cleanup = temp.cleanup;
  const dataDir = join(temp.dir, 'data');
  runsDir = join(dataDir, 'runs');
  await mkdir(runsDir, { recursive: true });
  services = createNodeAppServices({ configDir: join(temp.dir, 'config'), dataDir });
});
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(children.map((c) => c.exit));
  await services.dispose();
  await cleanup();
});

async function call<T>(channel: string, request: unknown): Promise<T> {
  const reply = await services.dispatch(channel, request);
  if (!reply.ok) throw new Error(`${channel}: ${reply.error.code}: ${reply.error.message}`);
  return reply.value as T;
}
const runDetail = (id: string) => call<ResponseOf<'training.run'>>('training.run', { id });
const follow = (id: string, cursor: FollowCursor) => call<Update>('training.follow', { id, cursor });

function progressed(update: Update): Progress {
  if (update.reload) throw new Error('unexpected reload');
  return update;
}

/** The app's record of a run it created (what `training.start` writes before the trainer runs). */
async function createRun(id: string): Promise<string> {
  const dir = join(runsDir, id);
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'run.json'),
    JSON.stringify({
      id,
      name: `followed ${id}`,
      createdAt: new Date().toISOString(),
      options: { preset: 'tiny' },
      totalSteps: 100_000,
      state: 'stopped',
    }),
  );
  return dir;
}

/** The complete lines of a metrics file, as the contract's points. */
async function fileMetrics(dir: string): Promise<MetricPoint[]> {
  const text = await readFile(join(dir, 'metrics.jsonl'), 'utf8');
  return text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter(Boolean)
    .map((line) => MetricPoint.parse(JSON.parse(line)));
}

/**
 * Follows a run the way the Training screen does, every 150 ms, until `done` says so (or a reload);
 * returns every update in order.
 */
async function followUntil(
  id: string,
  cursor: FollowCursor,
  done: (all: Progress[]) => boolean,
  timeoutMs = 120_000,
): Promise<{ updates: Progress[]; reloaded: boolean }> {
  const updates: Progress[] = [];
  const start = Date.now();
  for (;;) {
    const update = await follow(id, cursor);
    if (update.reload) return { updates, reloaded: true };
    updates.push(update);
    cursor = update.cursor;
    if (done(updates)) return { updates, reloaded: false };
    if (Date.now() - start > timeoutMs) throw new Error(`timed out following ${id}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

const stepsOf = (updates: Progress[]) => updates.flatMap((u) => u.metrics.map((m) => m.step));

describe('following a run that `kao train` trains in another process', () => {
  it('returns exactly the lines the trainer appends, new sample grids and the step; a restart asks for a reload', async () => {
    const id = 'followed';
    const dir = await createRun(id);
    const opened = await runDetail(id);
    expect(opened.metrics).toEqual([]);
    expect(opened.cursor).toEqual({ offset: 0, file: '', tail: '', step: -1, sampleStep: -1 });

    // No checkpoints: killed and started again, the trainer starts the run over and rewrites metrics.jsonl.
    const args = '--workers 1 --log-every 1 --sample-every 5 --checkpoint-every 100000'.split(' ');
    const first = startKaoTrain(dir, 100_000, args);
    children.push(first);
    // Until several polls each brought new lines, and the run is well under way.
    const withLines = (all: Progress[]) => all.filter((u) => u.metrics.length > 0).length;
    const { updates, reloaded } = await followUntil(
      id,
      opened.cursor,
      (all) => withLines(all) >= 4 && (stepsOf(all).at(-1) ?? 0) >= 40,
    );
    expect(reloaded).toBe(false);
    console.log(`[follow] lines per poll: ${updates.map((u) => u.metrics.length).join(' ')}`);
    const last = updates.at(-1)!;
    expect(last.trainingElsewhere).toMatchObject({ pid: first.pid, command: 'kao train', thisHost: true });
    expect(last.state).toBe('stopped');
    expect(last.step).toBe(last.cursor.step);
    expect(last.checkpointStep).toBe(0);

    first.kill('SIGKILL');
    expect((await first.exit).signal).toBe('SIGKILL');
    // Drain what it wrote before it died: its lock names a dead process, so nobody trains the run now.
    const drained = progressed(await follow(id, last.cursor));
    expect(drained.trainingElsewhere).toBeUndefined();
    const all = [...updates, drained];

    // Across the polls: exactly the file's lines, in order, each once (logged every step: 1, 2, 3, …).
    const written = await fileMetrics(dir);
    expect(all.flatMap((u) => u.metrics)).toEqual(written);
    expect(stepsOf(all)).toEqual(written.map((_, i) => i + 1));
    expect(drained.cursor.step).toBe(written.at(-1)!.step);
    // Every grid the metrics have passed once, in step order, each where the file is (a grid at the very
    // last step is the reload's to show, once the lock is gone).
    // (A grid the SIGKILL cut off mid-write is a temp file, not a grid.)
    const grids = (await readdir(join(dir, 'samples')))
      .flatMap((f) => /^step-(\d+)\.png$/.exec(f)?.slice(1, 2) ?? [])
      .map(Number)
      .filter((step) => step < drained.cursor.step);
    const sent = all.flatMap((u) => u.samples);
    expect(sent.map((s) => s.step)).toEqual(grids.sort((a, b) => a - b));
    expect(sent.map((s) => s.path)).toEqual(grids.map((s) => `runs/${id}/samples/step-${s}.png`));
    // The cursor makes the next poll cheap: nothing new, nothing sent again.
    const idle = progressed(await follow(id, drained.cursor));
    expect(idle.metrics).toEqual([]);
    expect(idle.samples).toEqual([]);
    expect(idle.cursor).toEqual(drained.cursor);

    // Keep a copy of the run as the killed trainer left it, for the hand-made cases below.
    await cp(dir, join(runsDir, 'copy'), { recursive: true });

    // Started again without a checkpoint, the trainer rewrites metrics.jsonl: the client must reload.
    const second = startKaoTrain(dir, 100_000, args);
    children.push(second);
    const restarted = await followUntil(id, drained.cursor, () => false);
    expect(restarted.reloaded).toBe(true);
    // The reload's cursor follows the new file from where the reload read it.
    const reopened = await runDetail(id);
    expect(reopened.trainingElsewhere).toMatchObject({ pid: second.pid });
    const resumed = await followUntil(
      id,
      reopened.cursor,
      (got) => (got.at(-1)?.cursor.step ?? 0) >= reopened.cursor.step + 5,
    );
    expect(resumed.reloaded).toBe(false);
    // Ctrl-C in the terminal: it checkpoints and exits 130 (stopped).
    second.kill('SIGTERM');
    expect((await second.exit).code).toBe(130);
    const end = progressed(await follow(id, resumed.updates.at(-1)!.cursor));
    const afterRestart = [...reopened.metrics, ...[...resumed.updates, end].flatMap((u) => u.metrics)];
    expect(afterRestart).toEqual(await fileMetrics(dir));
    expect(afterRestart.map((m) => m.step)).toEqual(afterRestart.map((_, i) => i + 1));
    // Stopped: it wrote a checkpoint and let go of the lock.
    expect(end.trainingElsewhere).toBeUndefined();
    expect(end.checkpointStep).toBe(end.step);
  }, 240_000);

  it('leaves a half-written last line for the next poll', async () => {
    const dir = join(runsDir, 'copy');
    const opened = await runDetail('copy');
    const lines = await fileMetrics(dir);
    expect(opened.metrics).toEqual(lines);
    const size = (await readFile(join(dir, 'metrics.jsonl'))).length;
    expect(opened.cursor.offset).toBe(size);

    const line = {
      step: lines.length + 1,
      epoch: 1,
      lossD: 1.25,
      lossG: 0.5,
      dReal: 0.6,
      dFake: 0.4,
      imagesPerSec: 80,
      time: new Date().toISOString(),
    };
    const text = JSON.stringify(line) + '\n';
    await appendFile(join(dir, 'metrics.jsonl'), text.slice(0, 30));
    const half = progressed(await follow('copy', opened.cursor));
    expect(half.metrics).toEqual([]);
    expect(half.cursor).toEqual(opened.cursor);
    // training.run does not show it either: the cursor it hands out is before it.
    expect((await runDetail('copy')).cursor).toEqual(opened.cursor);

    await appendFile(join(dir, 'metrics.jsonl'), text.slice(30));
    const whole = progressed(await follow('copy', half.cursor));
    expect(whole.metrics).toEqual([line]);
    expect(whole.step).toBe(line.step);
    expect(whole.cursor).toMatchObject({ offset: size + Buffer.byteLength(text), step: line.step });
  });

  it('sends a grid a resumed trainer redraws again, with its new version', async () => {
    // The killed run as a trainer resumed from step 10 leaves it: metrics rewritten up to 10, every old
    // grid (5, 10, …, past 10) still on disk until it is drawn again.
    await cp(join(runsDir, 'copy'), join(runsDir, 'resumed'), { recursive: true });
    const dir = join(runsDir, 'resumed');
    const lines = (await readFile(join(dir, 'metrics.jsonl'), 'utf8')).split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(20);
    await writeFile(join(dir, 'metrics.jsonl'), lines.slice(0, 10).join('\n') + '\n');
    const reopened = await runDetail('resumed');
    expect(reopened.cursor.step).toBe(10);
    // Grids the metrics have not passed may be redrawn: they are not counted as seen.
    expect(reopened.cursor.sampleStep).toBe(5);
    const oldVersion = reopened.samples.find((s) => s.step === 15)!.version;

    // The resumed trainer reaches step 16: it has redrawn grids 10 and 15.
    const grid15 = join(dir, 'samples', 'step-15.png');
    await writeFile(grid15, Buffer.concat([await readFile(grid15), Buffer.from('redrawn')]));
    await appendFile(join(dir, 'metrics.jsonl'), lines.slice(10, 16).join('\n') + '\n');
    const update = progressed(await follow('resumed', reopened.cursor));
    expect(update.metrics.map((m) => m.step)).toEqual([11, 12, 13, 14, 15, 16]);
    expect(update.samples.map((s) => s.step)).toEqual([10, 15]);
    expect(update.samples[1]!.version).not.toBe(oldVersion);
    expect(update.cursor.sampleStep).toBe(15);
    // Sent once: the next poll has nothing new.
    expect(progressed(await follow('resumed', update.cursor)).samples).toEqual([]);
  });

  it('asks for a reload when metrics.jsonl got shorter, was replaced or was rewritten in place', async () => {
    const dir = join(runsDir, 'copy');
    const metrics = join(dir, 'metrics.jsonl');
    const { cursor } = await runDetail('copy');
    const original = await readFile(metrics);

    await truncate(metrics, Math.floor(cursor.offset / 2));
    expect(await follow('copy', cursor)).toEqual({ reload: true });
    await rm(metrics);
    expect(await follow('copy', cursor)).toEqual({ reload: true });

    // Replaced by a longer file (a rename over it, as the trainer's rewrite on resume does): the lines up
    // to a checkpoint kept, then new ones from there — whatever inode number the new file gets.
    const lines = original.toString('utf8').split('\n').filter(Boolean);
    const kept = lines.slice(0, lines.length >> 1);
    const redone = lines.map((line, i) => {
      const point = JSON.parse(line) as { step: number; time: string };
      return JSON.stringify({
        ...point,
        step: kept.length + i + 1,
        time: new Date(Date.now() + i).toISOString(),
      });
    });
    await writeFile(join(dir, 'new.jsonl'), [...kept, ...redone].join('\n') + '\n');
    await rename(join(dir, 'new.jsonl'), metrics);
    expect(await follow('copy', cursor)).toEqual({ reload: true });

    // Same file, but what ends at the cursor is not a line end any more.
    const fresh = await runDetail('copy');
    await writeFile(metrics, Buffer.concat([Buffer.from(' '), original, original]), { flag: 'r+' });
    expect(await follow('copy', fresh.cursor)).toEqual({ reload: true });

    // Reloaded, following goes on.
    await copyFile(join(runsDir, 'followed', 'metrics.jsonl'), metrics);
    const reloaded = await runDetail('copy');
    expect(progressed(await follow('copy', reloaded.cursor)).metrics).toEqual([]);
  });

  it('says clearly when the run is gone, and validates the cursor', async () => {
    const { cursor } = await runDetail('copy');
    await rm(join(runsDir, 'copy'), { recursive: true });
    expect(await services.dispatch('training.follow', { id: 'copy', cursor })).toEqual({
      ok: false,
      error: { code: 'not-found', message: 'The run "copy" is gone: its folder was deleted or moved.' },
    });
    expect(
      await services.dispatch('training.follow', { id: 'followed', cursor: { ...cursor, offset: -1 } }),
    ).toMatchObject({ ok: false, error: { code: 'invalid-input' } });
    expect(
      await services.dispatch('training.follow', { id: 'followed', cursor: { ...cursor, extra: 1 } }),
    ).toMatchObject({ ok: false, error: { code: 'invalid-input' } });
  });
});
