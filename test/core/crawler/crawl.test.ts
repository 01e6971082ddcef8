import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import {
  crawl,
  DEFAULT_USER_AGENT,
  type CrawlOptionsInput,
  type CrawlProgress,
} from '../../../src/core/crawler/crawl.ts';
import { readCrawlHistory } from '../../../src/core/crawler/journal.ts';
import { RunControl } from '../../../src/core/util/run-control.ts';
import {
  illustrationFiles,
  startBoardWithTempDir,
  type MoebooruServer,
  type ServerPostSpec,
} from '../../helpers/moebooru-server.ts';
import { illustrationsDir } from '../../helpers/shared-data.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';

const images = illustrationFiles(illustrationsDir);
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const setup = (posts: ServerPostSpec[]) => startBoardWithTempDir(posts, 'kao-crawl-');

/** Fast, still polite in shape: tiny delay and backoff for loopback. */
function fast(
  server: MoebooruServer,
  dir: string,
  extra: Partial<CrawlOptionsInput> = {},
): CrawlOptionsInput {
  return { site: server.url, datasetDir: dir, delayMs: 20, retryBaseMs: 10, pageSize: 5, ...extra };
}

/** The crawl's journal and the posts' tags, beside the images. */
const BOOKKEEPING = new Set(['crawl-journal.jsonl', 'image-tags.jsonl']);
const datasetFiles = async (dir: string) =>
  (await readdir(dir)).filter((name) => !name.startsWith('.') && !BOOKKEEPING.has(name)).sort();

describe('crawl', () => {
  it('downloads safe posts page by page, names files from id and md5, and stops at the first short page', async () => {
    const posts = images.slice(0, 7).map((image, i) => ({ id: 100 - i, image }));
    const { server, dir } = await setup(posts);
    const progress: CrawlProgress[] = [];
    const summary = await crawl(fast(server, dir, { tags: 'solo' }), { onProgress: (p) => progress.push(p) });

    expect(summary.state).toBe('done');
    expect(summary.stoppedBecause).toBe('short-page');
    expect(summary).toMatchObject({ found: 7, downloaded: 7, skipped: 0, failed: 0, pagesDone: 2 });
    const files = await datasetFiles(dir);
    expect(files).toEqual(posts.map((p) => `127.0.0.1-${p.id}-${server.md5(p.id)}.jpg`).sort());
    // Sample rendition by default: the bytes are the board's sample, not the original.
    const first = posts[0]!;
    const saved = await readFile(join(dir, `127.0.0.1-${first.id}-${server.md5(first.id)}.jpg`));
    expect(saved.equals(server.bytesOf(first.id, 'sample'))).toBe(true);
    expect(summary.bytes).toBe(posts.reduce((sum, p) => sum + server.bytesOf(p.id, 'sample').length, 0));
    // Tag query carries rating:s and the page size; pages requested in order.
    const pages = server.pageRequests();
    expect(pages.map((r) => r.query.get('page'))).toEqual(['1', '2']);
    for (const request of pages) {
      expect(request.query.get('tags')!.split(' ').sort()).toEqual(['rating:s', 'solo']);
      expect(request.query.get('limit')).toBe('5');
    }
    expect(server.requests.every((r) => r.userAgent === DEFAULT_USER_AGENT)).toBe(true);
    expect(DEFAULT_USER_AGENT).toMatch(/^KaoStudio\/\d+\.\d+\.\d+ \(\+https:\/\//);
    expect(progress.at(-1)).toMatchObject({ state: 'done', downloaded: 7 });
    expect(JSON.parse(JSON.stringify(progress.at(-1)))).toEqual(progress.at(-1));
  });

  it('drops every post not rated s (even if the server ignores the rating tag) and deleted posts', async () => {
    const posts: ServerPostSpec[] = [
      { id: 10, image: images[0]! },
      { id: 9, image: images[1]!, rating: 'q' },
      { id: 8, image: images[2]!, rating: 'e' },
      { id: 7, image: images[3]!, deleted: true },
      { id: 6, image: images[4]! },
    ];
    const { server, dir } = await setup(posts);
    const summary = await crawl(fast(server, dir, { pageSize: 10 }));
    expect(summary).toMatchObject({
      found: 2,
      downloaded: 2,
      filtered: 3,
      filteredReasons: { rating: 2, deleted: 1 },
    });
    expect(await datasetFiles(dir)).toEqual([
      `127.0.0.1-10-${server.md5(10)}.jpg`,
      `127.0.0.1-6-${server.md5(6)}.jpg`,
    ]);
    const fetched = server.imageRequests().map((r) => r.path);
    for (const id of [9, 8]) expect(fetched.some((path) => path.includes(server.md5(id)))).toBe(false);
    expect(server.pageRequests()[0]!.query.get('tags')).toBe('rating:s');
  });

  it('with unsafeRatings sends no rating tag and keeps q/e posts; refuses a positive unsafe rating tag otherwise', async () => {
    const posts: ServerPostSpec[] = [
      { id: 3, image: images[0]!, rating: 'q' },
      { id: 2, image: images[1]!, rating: 'e' },
    ];
    const { server, dir } = await setup(posts);
    await expect(crawl(fast(server, dir, { tags: 'rating:e' }))).rejects.toThrow(/unsafe ratings/);
    expect(server.requests).toHaveLength(0);
    const summary = await crawl(fast(server, dir, { unsafeRatings: true, tags: 'solo' }));
    expect(summary.downloaded).toBe(2);
    expect(server.pageRequests()[0]!.query.get('tags')).toBe('solo');
  });

  it('makes one request at a time with at least delayMs between them', async () => {
    const posts = images.slice(0, 6).map((image, i) => ({ id: 50 - i, image }));
    const { server, dir } = await setup(posts);
    await crawl(fast(server, dir, { delayMs: 40, pageSize: 3, rendition: 'preview' }));
    const requests = [...server.requests].sort((a, b) => a.at - b.at);
    expect(requests.length).toBe(3 + 6); // 3 pages (the last one empty) + 6 previews
    for (let i = 1; i < requests.length; i++) {
      const gap = requests[i]!.at - requests[i - 1]!.endAt;
      expect(gap, `gap before request ${i} (${requests[i]!.path})`).toBeGreaterThanOrEqual(40);
    }
  });

  it('stops at the page limit and at the post limit', async () => {
    const posts = images.slice(0, 12).map((image, i) => ({ id: 200 - i, image }));
    const { server, dir } = await setup(posts);
    const byPages = await crawl(fast(server, dir, { maxPages: 2, pageSize: 4, rendition: 'preview' }));
    expect(byPages).toMatchObject({ stoppedBecause: 'page-limit', found: 8, downloaded: 8, pagesDone: 2 });
    expect(server.pageRequests()).toHaveLength(2);

    const temp = await makeTempDir('kao-crawl-limit-');
    cleanups.push(temp.cleanup);
    const before = server.pageRequests().length;
    const byPosts = await crawl(fast(server, temp.dir, { maxPosts: 5, pageSize: 4, rendition: 'preview' }));
    expect(byPosts).toMatchObject({ stoppedBecause: 'post-limit', found: 5, downloaded: 5 });
    expect(server.pageRequests().length - before).toBe(2);
    expect((await datasetFiles(temp.dir)).length).toBe(5);
  });

  it('verifies the md5 of originals and keeps the decoded format as extension', async () => {
    const { server, dir } = await setup([{ id: 5, image: images[0]! }]);
    const summary = await crawl(fast(server, dir, { rendition: 'original' }));
    expect(summary.downloaded).toBe(1);
    const [file] = await datasetFiles(dir);
    const bytes = await readFile(join(dir, file!));
    expect(createHash('md5').update(bytes).digest('hex')).toBe(server.md5(5));
    expect((await sharp(bytes).metadata()).format).toBe('jpeg');
  });

  it('skips posts already in the dataset and records history in the journal', async () => {
    const posts = images.slice(0, 4).map((image, i) => ({ id: 40 - i, image }));
    const { server, dir } = await setup(posts);
    await crawl(fast(server, dir, { rendition: 'preview' }));
    const firstImageRequests = server.imageRequests().length;
    const again = await crawl(fast(server, dir, { rendition: 'preview' }));
    expect(again).toMatchObject({ found: 4, downloaded: 0, skipped: 4 });
    expect(server.imageRequests().length).toBe(firstImageRequests);
    const history = await readCrawlHistory(dir);
    expect(history).toMatchObject({ postsSeen: 4, failed: [], lastRun: { state: 'done' } });
    expect(history.pagesDone[`127.0.0.1:${server.port} rating:s`]).toBe(1);
  });

  it('pauses between posts and cancels cleanly, leaving only whole files', async () => {
    const posts = images.slice(0, 6).map((image, i) => ({ id: 60 - i, image }));
    const { server, dir } = await setup(posts);
    const control = new RunControl();
    const states: string[] = [];
    const run = crawl(fast(server, dir, { rendition: 'preview', pageSize: 10 }), {
      control,
      onProgress: (p) => {
        states.push(p.state);
        if (p.downloaded === 2 && !control.paused && !states.includes('paused')) control.pause();
        if (p.state === 'paused') setTimeout(() => control.cancel(), 30);
      },
    });
    const summary = await run;
    expect(summary.state).toBe('cancelled');
    expect(states).toContain('paused');
    expect(summary.downloaded).toBe(2);
    expect(await datasetFiles(dir)).toHaveLength(2);
    expect(await readdir(dir)).not.toContain('.partial');
  });

  it('cancels in the middle of a stalled download without leaving anything behind', async () => {
    const posts = images.slice(0, 3).map((image, i) => ({ id: 30 - i, image }));
    const { server, dir } = await setup(posts);
    server.fault(server.pathOf(29, 'preview'), { kind: 'stall', afterBytes: 500, ms: Infinity });
    const control = new RunControl();
    const run = crawl(fast(server, dir, { rendition: 'preview', stallTimeoutMs: 60_000 }), { control });
    while (!server.requests.some((r) => r.path === server.pathOf(29, 'preview')))
      await new Promise((r) => setTimeout(r, 5));
    control.cancel();
    const summary = await run;
    expect(summary).toMatchObject({
      state: 'cancelled',
      stoppedBecause: 'cancelled',
      downloaded: 1,
      failed: 0,
    });
    expect(await datasetFiles(dir)).toEqual([`127.0.0.1-30-${server.md5(30)}.jpg`]);
    expect((await readdir(dir)).sort()).toEqual([
      `127.0.0.1-30-${server.md5(30)}.jpg`,
      'crawl-journal.jsonl',
      'image-tags.jsonl',
    ]);
    expect((await readCrawlHistory(dir)).lastRun).toMatchObject({ state: 'cancelled' });
  });
});
