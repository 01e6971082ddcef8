import { readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  appendJournal,
  journalPath,
  readCrawlHistory,
  type JournalRecord,
} from '../../../src/core/crawler/journal.ts';
import { runPaths, truncateMetrics } from '../../../src/core/gan/run-folder.ts';
import { appendJsonl, readJsonl, readJsonlAfter, readJsonlReport } from '../../../src/core/util/jsonl.ts';
import type { MetricLine } from '../../../src/shared/training-schemas.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
async function temp(): Promise<string> {
  const t = await makeTempDir('kao-jsonl-');
  cleanups.push(t.cleanup);
  return t.dir;
}

/** Cuts the file `bytes` before its end, as a kill in the middle of the last append leaves it. */
async function tear(path: string, bytes: number): Promise<void> {
  const { size } = await stat(path);
  await truncate(path, size - bytes);
}

describe('appendJsonl after a torn last line', () => {
  it('ends the torn line first: every complete record and the new one read back, the torn one skipped and counted', async () => {
    const path = join(await temp(), 'records.jsonl');
    await appendJsonl(path, { n: 1 });
    await appendJsonl(path, { n: 2 });
    // A kill mid-write: half of the third record, no newline.
    await writeFile(path, '{"n":3,"note":"cut mi', { flag: 'a' });
    expect(await readJsonlReport(path)).toEqual({ records: [{ n: 1 }, { n: 2 }], unreadable: 1 });

    await appendJsonl(path, { n: 4 });
    expect(await readFile(path, 'utf8')).toBe('{"n":1}\n{"n":2}\n{"n":3,"note":"cut mi\n{"n":4}\n');
    expect(await readJsonlReport(path)).toEqual({ records: [{ n: 1 }, { n: 2 }, { n: 4 }], unreadable: 1 });
    // Later appends add nothing extra: the file ends with a newline now.
    await appendJsonl(path, { n: 5 });
    expect(await readJsonl(path)).toEqual([{ n: 1 }, { n: 2 }, { n: 4 }, { n: 5 }]);
  });

  it('leaves a file that ends with its newline as it is before the append', async () => {
    const path = join(await temp(), 'records.jsonl');
    await appendJsonl(path, { n: 1 });
    await appendJsonl(path, { n: 2 });
    const before = await readFile(path);
    await appendJsonl(path, { n: 3 });
    const after = await readFile(path);
    expect(after.subarray(0, before.length).equals(before)).toBe(true);
    expect(after.subarray(before.length).toString('utf8')).toBe('{"n":3}\n');
    expect(await readJsonlReport(path)).toEqual({ records: [{ n: 1 }, { n: 2 }, { n: 3 }], unreadable: 0 });
  });

  it('creates a missing file (and its folder) and ends a file torn down to a single byte', async () => {
    const dir = await temp();
    const path = join(dir, 'sub', 'records.jsonl');
    await appendJsonl(path, { n: 1 });
    expect(await readFile(path, 'utf8')).toBe('{"n":1}\n');

    const cut = join(dir, 'cut.jsonl');
    await writeFile(cut, '{');
    await appendJsonl(cut, { n: 2 });
    expect(await readJsonlReport(cut)).toEqual({ records: [{ n: 2 }], unreadable: 1 });
  });
});

describe('the crawl journal after a kill mid-append', () => {
  it('keeps every complete record and the next one, and reports the torn one', async () => {
    const dir = await temp();
    const post = (postId: number, outcome: 'downloaded' | 'failed'): JournalRecord => ({
      type: 'post',
      at: '2026-01-01T00:00:00.000Z',
      site: 'konachan.net',
      postId,
      outcome,
      ...(outcome === 'failed' ? { reason: 'HTTP 503' } : { file: `${postId}.jpg` }),
    });
    await appendJournal(dir, post(1, 'downloaded'));
    await appendJournal(dir, post(2, 'failed'));
    await appendJournal(dir, post(3, 'downloaded'));
    // The third record loses its last 10 bytes (its newline included).
    await tear(journalPath(dir), 10);
    expect(await readCrawlHistory(dir)).toMatchObject({ postsSeen: 2, downloaded: 1, unreadableLines: 1 });

    await appendJournal(dir, post(4, 'failed'));
    await appendJournal(dir, {
      type: 'end',
      at: '2026-01-01T00:01:00.000Z',
      site: 'konachan.net',
      tags: 'solo',
      state: 'done',
    });
    const history = await readCrawlHistory(dir);
    expect(history).toMatchObject({
      postsSeen: 3,
      downloaded: 1,
      unreadableLines: 1,
      lastRun: { state: 'done' },
    });
    expect(history.failed.map((f) => f.postId)).toEqual([2, 4]);
  });
});

describe('metrics.jsonl after a trainer killed mid-append', () => {
  const line = (step: number): MetricLine => ({
    step,
    epoch: step / 100,
    lossD: 1.25,
    lossG: 0.75,
    dReal: 0.6,
    dFake: 0.4,
    imagesPerSec: 512,
    time: '2026-01-01T00:00:00.000Z',
  });

  it('the follower and the resume both get every complete line and the next one', async () => {
    const dir = await temp();
    const path = runPaths(dir).metrics;
    for (const step of [10, 20, 30]) await appendJsonl(path, line(step));
    await tear(path, 7);

    // A follower reading now stops before the torn line: it may still be being written.
    const early = await readJsonlAfter(path);
    expect(early.replaced).toBe(false);
    if (early.replaced) return;
    expect(early.records.map((r) => (r as MetricLine).step)).toEqual([10, 20]);

    await appendJsonl(path, line(40));
    const later = await readJsonlAfter(path, early.position);
    expect(later.replaced).toBe(false);
    if (later.replaced) return;
    expect(later.records.map((r) => (r as MetricLine).step)).toEqual([40]);

    // A resume from step 40 keeps 10, 20 and 40 and drops the torn line from the file.
    await truncateMetrics(path, 40);
    expect((await readJsonlReport(path)).unreadable).toBe(0);
    expect((await readJsonl(path)).map((r) => (r as MetricLine).step)).toEqual([10, 20, 40]);
  });
});
