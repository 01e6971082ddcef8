import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import {
  crawledFileName,
  datasetMd5s,
  listDataset,
  lockDataset,
  parseDatasetName,
  DatasetBusyError,
} from '../../../src/core/images/dataset.ts';
import { thumbnail } from '../../../src/core/images/thumbnail.ts';
import { InvalidImageError, validateImage } from '../../../src/core/images/validate.ts';
import { illustrationsDir } from '../../helpers/shared-data.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
async function temp(): Promise<string> {
  const t = await makeTempDir('kao-dataset-');
  cleanups.push(t.cleanup);
  return t.dir;
}
const hex = (n: number) => n.toString(16).padStart(32, '0');

describe('dataset listing', () => {
  it('pages through thousands of files in name order, ignoring bookkeeping files, and sees every change', async () => {
    const dataset = join(await temp(), 'dataset');
    await mkdir(join(dataset, '.partial'), { recursive: true });
    const names: string[] = [];
    for (let i = 0; i < 5_000; i++)
      names.push(i % 2 ? crawledFileName('konachan.net', i, hex(i), 'jpg') : `${hex(i)}.png`);
    for (const name of names) closeSync(openSync(join(dataset, name), 'w'));
    await writeFile(join(dataset, 'crawl-journal.jsonl'), '');
    await writeFile(join(dataset, '.dataset.lock'), '');
    await writeFile(join(dataset, '.partial', '1.part'), '');

    const sorted = [...names].sort();
    const page = await listDataset(dataset, { offset: 4_990, limit: 20 });
    expect(page.total).toBe(5_000);
    expect(page.items.map((item) => item.name)).toEqual(sorted.slice(4_990));
    const first = await listDataset(dataset, { limit: 3 });
    expect(first.items.map((item) => item.name)).toEqual(sorted.slice(0, 3));
    expect(first.items[0]).toMatchObject({ source: 'import', md5: hex(0), bytes: 0 });
    const crawled =
      first.items.find((item) => item.source !== 'import') ??
      (await listDataset(dataset, { offset: 2_500, limit: 1 })).items[0]!;
    expect(crawled).toMatchObject({ source: 'konachan.net', postId: expect.any(Number) });
    expect((await datasetMd5s(dataset)).size).toBe(5_000);

    // The cached listing follows the folder: additions, removals and renames show at once.
    await new Promise((r) => setTimeout(r, 150)); // past the racy window, so the next listing is cached
    expect((await listDataset(dataset, { limit: 0 })).total).toBe(5_000);
    const added = `${hex(99_999)}.jpg`;
    await writeFile(join(dataset, added), '');
    const withAdded = [...sorted, added].sort();
    const afterAdd = await listDataset(dataset, { offset: withAdded.indexOf(added), limit: 1 });
    expect([afterAdd.total, afterAdd.items[0]!.name]).toEqual([5_001, added]);
    await rm(join(dataset, sorted[0]!));
    const afterRemoval = await listDataset(dataset, { limit: 1 });
    expect([afterRemoval.total, afterRemoval.items[0]!.name]).toEqual([5_000, withAdded[1]]);
  });

  it('parses names and refuses names that are not ours', () => {
    expect(parseDatasetName(`yande.re-42-${hex(7)}.webp`)).toEqual({
      source: 'yande.re',
      postId: 42,
      md5: hex(7),
    });
    expect(parseDatasetName(`${hex(9)}.gif`)).toEqual({ source: 'import', md5: hex(9) });
    expect(parseDatasetName('holiday.jpg')).toEqual({ source: 'unknown' });
    expect(crawledFileName('Evil/../Host:8080', 1, hex(1), 'jpg')).toBe(`evil_.._host_8080-1-${hex(1)}.jpg`);
  });

  it('lets one job at a time hold a dataset and says who holds it; takes over dead, half-written and corrupt locks', async () => {
    const dataset = await temp();
    const release = await lockDataset(dataset, 'crawl');
    const refused = await lockDataset(dataset, 'import').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DatasetBusyError);
    expect((refused as DatasetBusyError).code).toBe('busy');
    expect((refused as Error).message).toMatch(
      /^dataset folder .* is already being crawled in this process \(pid \d+, [^,]+, since \d\d:\d\d\)$/,
    );
    await release();
    expect(existsSync(join(dataset, '.dataset.lock'))).toBe(false);

    // A live crawl in another process: refused, the holder named, its lock left alone.
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    const lockOf = (pid: number) =>
      JSON.stringify({
        pid,
        hostname: hostname(),
        startedAt: new Date().toISOString(),
        command: 'kao crawl',
        id: 'other',
        activity: 'crawled',
      });
    try {
      const held = lockOf(sleeper.pid!);
      await writeFile(join(dataset, '.dataset.lock'), held);
      await expect(lockDataset(dataset, 'import')).rejects.toThrow(
        new RegExp(
          `^dataset folder ${dataset} is being crawled by another process \\(pid ${sleeper.pid}, kao crawl, since \\d\\d:\\d\\d\\)$`,
        ),
      );
      expect(await readFile(join(dataset, '.dataset.lock'), 'utf8')).toBe(held);
    } finally {
      sleeper.kill('SIGKILL');
      await new Promise((r) => sleeper.once('exit', r));
    }

    // That process is gone now (kill -9): the next job takes its lock over with a warning.
    const warnings: string[] = [];
    const taken = await lockDataset(dataset, 'import', { onWarning: (w) => warnings.push(w) });
    expect(warnings).toEqual([
      expect.stringMatching(
        new RegExp(
          `^took over the lock of dataset folder ${dataset} from pid ${sleeper.pid} \\(kao crawl, since .*\\): that process is no longer running$`,
        ),
      ),
    ]);
    expect(JSON.parse(await readFile(join(dataset, '.dataset.lock'), 'utf8'))).toMatchObject({
      pid: process.pid,
      activity: 'imported into',
    });
    await taken();

    // Half-written (a crash between create and write), corrupt, or in the old format: replaced.
    for (const content of ['', '{"pid": 12', JSON.stringify({ pid: 2 ** 22 + 12345, purpose: 'crawl' })]) {
      await writeFile(join(dataset, '.dataset.lock'), content);
      const replaced: string[] = [];
      const again = await lockDataset(dataset, 'crawl', { onWarning: (w) => replaced.push(w) });
      expect(replaced).toEqual([
        expect.stringMatching(/^replaced the unreadable lock file .*\.dataset\.lock/),
      ]);
      await again();
      expect(existsSync(join(dataset, '.dataset.lock'))).toBe(false);
    }
  });
});

describe('thumbnail', () => {
  it('writes a cached WebP under cache/thumbs/<size>/, reuses it, regenerates it when missing or stale, and refuses bad names', async () => {
    const root = await temp();
    const dataset = join(root, 'dataset');
    await mkdir(dataset);
    const name = `${hex(1)}.jpg`;
    await copyFile(join(illustrationsDir, 'xavierjiezou_test_1.jpg'), join(dataset, name));

    const path = await thumbnail(dataset, name, 128);
    expect(path).toBe(join(root, 'cache', 'thumbs', '128', `${name}.webp`));
    const meta = await sharp(path).metadata();
    expect(meta.format).toBe('webp');
    expect(Math.max(meta.width!, meta.height!)).toBe(128);

    const before = await stat(path);
    await thumbnail(dataset, name, 128);
    expect((await stat(path)).mtimeMs).toBe(before.mtimeMs);

    // The source changes (here: only its mtime): the thumbnail is rebuilt once, then reused again.
    const changed = new Date(Date.now() - 3_600_000);
    await utimes(join(dataset, name), changed, changed);
    await thumbnail(dataset, name, 128);
    const rebuilt = await stat(path);
    expect(rebuilt.mtimeMs).toBe((await stat(join(dataset, name))).mtimeMs);
    expect(rebuilt.ino === before.ino && rebuilt.ctimeMs === before.ctimeMs).toBe(false);
    await thumbnail(dataset, name, 128);
    expect((await stat(path)).ctimeMs).toBe(rebuilt.ctimeMs);

    await rm(path);
    expect(await thumbnail(dataset, name, 128)).toBe(path);
    expect((await sharp(path).metadata()).format).toBe('webp');

    const [a, b] = await Promise.all([thumbnail(dataset, name, 64), thumbnail(dataset, name, 64)]);
    expect(a).toBe(b);
    expect((await readFile(a)).length).toBeGreaterThan(0);

    await expect(thumbnail(dataset, '../secret.jpg', 128)).rejects.toThrow(/not a dataset image name/);
    await expect(thumbnail(dataset, '.dataset.lock', 128)).rejects.toThrow(/not a dataset image name/);
    await expect(thumbnail(dataset, name, 5000)).rejects.toThrow(/thumbnail size/);
  });
});

describe('validateImage', () => {
  it('accepts real images and refuses bombs, truncation and other formats with reasons', async () => {
    const jpeg = await readFile(join(illustrationsDir, 'xavierjiezou_test_1.jpg'));
    expect(await validateImage(jpeg)).toEqual({
      format: 'jpeg',
      extension: 'jpg',
      width: 1024,
      height: 1024,
    });
    const reason = (input: Buffer, limits = {}) =>
      validateImage(input, limits).then(
        () => 'accepted',
        (error: unknown) =>
          error instanceof InvalidImageError ? error.reason : `unexpected ${String(error)}`,
      );
    expect(await reason(jpeg, { maxPixels: 1000 })).toBe(
      'image exceeds the pixel limit (possible decompression bomb)',
    );
    expect(await reason(jpeg.subarray(0, jpeg.length - 5000))).toMatch(/^truncated image/);
    const svg = Buffer.from(
      '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64"/></svg>',
    );
    expect(await reason(svg)).toBe('unsupported image format svg');
    const tiff = await sharp(jpeg).tiff().toBuffer();
    expect(await reason(tiff)).toBe('unsupported image format tiff');
  });
});
