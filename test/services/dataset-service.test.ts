import { copyFile, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import type { EventOf, RequestOf } from '../../src/shared/contract.ts';
import { CRAWL_MARKER_FILE } from '../../src/services/dataset-service.ts';
import {
  illustrationFiles,
  startMoebooruServer,
  type MoebooruServer,
  type ServerPostSpec,
} from '../helpers/moebooru-server.ts';
import { facesDir, illustrationsDir } from '../helpers/shared-data.ts';
import { recordEvents, startAppServices, testRoot, type ServicesUnderTest } from '../helpers/app-services.ts';

const images = illustrationFiles(illustrationsDir);
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

type CrawlEvent = EventOf<'dataset.crawl'>;
type ImportEvent = EventOf<'dataset.import'>;

interface Harness extends ServicesUnderTest {
  crawlEvents: CrawlEvent[];
  importEvents: ImportEvent[];
  /** Resolves with the first crawl event (past or future) matching `predicate`. */
  crawlEvent(predicate: (event: CrawlEvent) => boolean): Promise<CrawlEvent>;
  importEvent(predicate: (event: ImportEvent) => boolean): Promise<ImportEvent>;
}

/** Real app services (the ones `kao serve` runs) on a fresh data folder; a second harness may share it. */
async function harness(shared?: { root: string }): Promise<Harness> {
  const app = startAppServices(shared?.root ?? (await testRoot('kao-dataset-service-')));
  const crawl = recordEvents(app.services, 'dataset.crawl');
  const imports = recordEvents(app.services, 'dataset.import');
  return {
    ...app,
    crawlEvents: crawl.events,
    importEvents: imports.events,
    crawlEvent: crawl.first,
    importEvent: imports.first,
  };
}

async function board(count: number, extra: (i: number) => Partial<ServerPostSpec> = () => ({})) {
  const posts = images.slice(0, count).map((image, i) => ({ id: 500 - i, image, ...extra(i) }));
  const server = await startMoebooruServer(posts);
  cleanups.push(server.close);
  return { server, posts };
}

/**
 * Eight posts, the fifth one stalling for 1.5 s mid-download: the crawl is certain to still be running when
 * a test reacts to an early progress event (events are throttled to 4 a second), so pause and cancel
 * always land before the end.
 */
async function slowBoard() {
  const { server, posts } = await board(8);
  server.fault(server.pathOf(posts[4]!.id, 'sample'), { kind: 'stall', afterBytes: 64, ms: 1500 });
  return { server, posts };
}

function form(server: MoebooruServer, overrides: Partial<RequestOf<'dataset.crawl.start'>> = {}) {
  return {
    site: server.url,
    tags: 'solo',
    rendition: 'sample' as const,
    pages: 5,
    limit: 100,
    delayMs: 20,
    unsafeRatings: false,
    ...overrides,
  };
}

const isEnd = (event: CrawlEvent | ImportEvent) =>
  event.phase === 'done' || event.phase === 'cancelled' || event.phase === 'failed';

async function datasetImages(dataDir: string): Promise<string[]> {
  const names = await readdir(join(dataDir, 'dataset')).catch(() => [] as string[]);
  return names.filter((name) => /\.(jpe?g|png|webp|gif)$/.test(name) && !name.startsWith('.')).sort();
}

describe('dataset service: crawl', () => {
  it('starts a crawl, pushes progress events, saves the form in settings, and lists and thumbnails the result', async () => {
    const { server, posts } = await board(6, (i) => (i === 5 ? { rating: 'e' } : {}));
    server.faultAlways(server.pathOf(posts[2]!.id, 'sample'), { kind: 'status', status: 404 });
    const h = await harness();

    // Six requests 150 ms apart take at least 750 ms: long enough for progress events between start and end.
    const started = await h.ok('dataset.crawl.start', form(server, { delayMs: 150 }));
    expect(started.phase).toBe('running');
    const end = await h.crawlEvent(isEnd);

    expect(end.phase).toBe('done');
    expect(end.progress).toMatchObject({
      state: 'done',
      found: 5,
      downloaded: 4,
      filtered: 1,
      failed: 1,
      stoppedBecause: 'short-page',
    });
    expect(end.progress!.recentFailures).toEqual([
      {
        postId: posts[2]!.id,
        url: server.url + server.pathOf(posts[2]!.id, 'sample'),
        reason: 'HTTP 404 Not Found',
      },
    ]);
    // Progress came as events while it ran, counts never going back.
    const downloads = h.crawlEvents.map((e) => e.progress?.downloaded ?? 0);
    expect(h.crawlEvents.length).toBeGreaterThan(2);
    expect(downloads).toEqual([...downloads].sort((a, b) => a - b));
    expect(h.crawlEvents.some((e) => e.phase === 'running' && (e.progress?.downloaded ?? 0) > 0)).toBe(true);
    // Events are plain JSON as they travel over IPC or the WebSocket.
    expect(JSON.parse(JSON.stringify(end))).toEqual(end);

    const files = await datasetImages(h.dataDir);
    expect(files).toHaveLength(4);
    expect(files.every((name) => name.startsWith('127.0.0.1-'))).toBe(true);

    // The form is the new default, in memory and on disk.
    const settings = await h.ok('settings.get', {});
    expect(settings.crawl).toEqual(form(server, { delayMs: 150 }));
    const stored = JSON.parse(await readFile(join(h.configDir, 'settings.json'), 'utf8')) as {
      crawl: unknown;
    };
    expect(stored.crawl).toEqual(form(server, { delayMs: 150 }));

    // Gallery: pages in name order, then thumbnails cached under cache/thumbs as data-relative paths.
    const page = await h.ok('dataset.list', { offset: 1, limit: 2 });
    expect(page.total).toBe(4);
    expect(page.items.map((i) => i.name)).toEqual(files.slice(1, 3));
    expect(page.items[0]).toMatchObject({ source: '127.0.0.1', postId: expect.any(Number) });
    expect(page.items[0]!.bytes).toBe((await stat(join(h.dataDir, 'dataset', files[1]!))).size);

    const thumbs = await h.ok('dataset.thumbnails', { names: [...files, 'gone.jpg'], size: 128 });
    expect(thumbs.thumbs.map((t) => t.name)).toEqual([...files, 'gone.jpg']);
    for (const thumb of thumbs.thumbs.slice(0, 4)) {
      expect(thumb.path).toBe(`cache/thumbs/128/${thumb.name}.webp`);
      const meta = await sharp(join(h.dataDir, thumb.path!)).metadata();
      expect(meta.format).toBe('webp');
      expect(Math.max(meta.width, meta.height)).toBeLessThanOrEqual(128);
    }
    expect(thumbs.thumbs[4]).toEqual({ name: 'gone.jpg', error: 'no longer in the dataset' });
    const cachedAt = (await stat(join(h.dataDir, thumbs.thumbs[0]!.path!))).mtimeMs;
    await h.ok('dataset.thumbnails', { names: [files[0]!], size: 128 });
    expect((await stat(join(h.dataDir, thumbs.thumbs[0]!.path!))).mtimeMs).toBe(cachedAt);

    // A name with a path in it never reaches the file system.
    const escape = await h.ok('dataset.thumbnails', { names: ['../config/settings.json'], size: 96 });
    expect(escape.thumbs[0]!.path).toBeUndefined();
    expect(escape.thumbs[0]!.error).toMatch(/not a dataset image name/);

    const state = await h.ok('dataset.crawl.state', {});
    expect(state.job.phase).toBe('done');
    expect(state.interrupted).toBeUndefined();
    expect(state.history).toMatchObject({ downloaded: 4, failedTotal: 1, lastRun: { state: 'done' } });
    expect(state.history.failed[0]).toMatchObject({ postId: posts[2]!.id, reason: 'HTTP 404 Not Found' });
  });

  it('pauses (no more requests) and resumes to the end, downloading each post once', async () => {
    const { server } = await slowBoard();
    const h = await harness();
    await h.ok('dataset.crawl.start', form(server, { delayMs: 40 }));
    await h.crawlEvent((e) => (e.progress?.downloaded ?? 0) >= 1);

    const paused = await h.ok('dataset.crawl.pause', {});
    expect(paused.phase).toBe('paused');
    await h.crawlEvent((e) => e.progress?.state === 'paused');
    const requestsWhenPaused = server.requests.length;
    const downloadedWhenPaused = (await datasetImages(h.dataDir)).length;
    expect(downloadedWhenPaused).toBeLessThan(8);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(server.requests.length).toBe(requestsWhenPaused);
    expect((await h.ok('dataset.crawl.state', {})).job.phase).toBe('paused');
    // A paused crawl is not "interrupted": it is still this app's job.
    expect((await h.ok('dataset.crawl.state', {})).interrupted).toBeUndefined();

    // Pausing twice or resuming a running crawl is a clear error, not a silent no-op.
    expect(await h.call('dataset.crawl.pause', {})).toMatchObject({
      ok: false,
      error: { code: 'not-found' },
    });
    expect((await h.ok('dataset.crawl.resume', {})).phase).toBe('running');
    expect(await h.call('dataset.crawl.resume', {})).toMatchObject({
      ok: false,
      error: { code: 'not-found' },
    });

    const end = await h.crawlEvent(isEnd);
    expect(end).toMatchObject({ phase: 'done', progress: { downloaded: 8, failed: 0 } });
    expect(await datasetImages(h.dataDir)).toHaveLength(8);
    expect(server.imageRequests()).toHaveLength(8);
  });

  it('cancels, and a later crawl skips what the cancelled one already downloaded', async () => {
    const { server } = await slowBoard();
    const h = await harness();
    await h.ok('dataset.crawl.start', form(server, { delayMs: 40 }));
    expect(await h.call('dataset.crawl.start', form(server))).toMatchObject({
      ok: false,
      error: { code: 'busy' },
    });
    await h.crawlEvent((e) => (e.progress?.downloaded ?? 0) >= 2);
    await h.ok('dataset.crawl.cancel', {});
    const end = await h.crawlEvent(isEnd);
    expect(end.phase).toBe('cancelled');
    const kept = (await datasetImages(h.dataDir)).length;
    expect(kept).toBeGreaterThanOrEqual(2);
    expect(kept).toBeLessThan(8);
    expect((await h.ok('dataset.crawl.state', {})).interrupted).toBeUndefined();

    h.crawlEvents.length = 0;
    await h.ok('dataset.crawl.start', form(server));
    const again = await h.crawlEvent(isEnd);
    expect(again).toMatchObject({ phase: 'done', progress: { downloaded: 8 - kept, skipped: kept } });
    expect(await datasetImages(h.dataDir)).toHaveLength(8);
  });

  it('offers a crawl the app was closed in the middle of, and resuming it continues without downloading twice', async () => {
    const { server } = await slowBoard();
    const first = await harness();
    const request = form(server, { delayMs: 40, tags: 'solo', limit: 7 });
    await first.ok('dataset.crawl.start', request);
    await first.crawlEvent((e) => (e.progress?.downloaded ?? 0) >= 2);
    await first.ok('dataset.crawl.pause', {});
    await first.crawlEvent((e) => e.progress?.state === 'paused');

    // A second app on the same data folder sees the first one's crawl as unfinished.
    const second = await harness({ root: first.root });
    const state = await second.ok('dataset.crawl.state', {});
    expect(state.job.phase).toBe('idle');
    expect(state.interrupted).toMatchObject({ form: request, pagesDone: 0 });
    expect(Date.parse(state.interrupted!.startedAt)).not.toBeNaN();

    // The first app goes away (its cancel releases the dataset lock), then the second resumes the crawl.
    const downloadedBefore = (await datasetImages(first.dataDir)).length;
    await first.ok('dataset.crawl.cancel', {});
    await first.crawlEvent(isEnd);
    await second.ok('dataset.crawl.start', state.interrupted!.form);
    const end = await second.crawlEvent(isEnd);
    expect(end).toMatchObject({
      phase: 'done',
      progress: { found: 7, skipped: downloadedBefore, downloaded: 7 - downloadedBefore },
    });
    expect(await datasetImages(first.dataDir)).toHaveLength(7);
    expect((await second.ok('dataset.crawl.state', {})).interrupted).toBeUndefined();
    const marker = JSON.parse(await readFile(join(first.dataDir, 'dataset', CRAWL_MARKER_FILE), 'utf8')) as {
      finished: boolean;
    };
    expect(marker.finished).toBe(true);
  });

  it('rejects bad forms with invalid-input and writes nothing', async () => {
    const { server } = await board(1);
    const h = await harness();
    const before = await h.ok('settings.get', {});
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...form(server), site: 'not a url' }, 'site'],
      [{ ...form(server), site: 'ftp://127.0.0.1/' }, 'site'],
      [{ ...form(server), site: 'http://user:pw@127.0.0.1/' }, 'site'],
      [{ ...form(server), pages: 0 }, 'pages'],
      [{ ...form(server), delayMs: -1 }, 'delayMs'],
      [{ ...form(server), rendition: 'huge' }, 'rendition'],
      [{ ...form(server), extra: true }, '(request)'],
      // The core's own rules: polite delay for public sites, explicit opt-in for unsafe rating tags.
      [{ ...form(server), site: 'https://konachan.net', delayMs: 10 }, 'delayMs'],
      [{ ...form(server), tags: 'solo rating:e' }, 'tags'],
    ];
    for (const [request, field] of cases) {
      const reply = await h.call('dataset.crawl.start', request);
      expect(reply.ok, JSON.stringify(request)).toBe(false);
      if (reply.ok) continue;
      expect(reply.error.code).toBe('invalid-input');
      expect(reply.error.issues?.map((i) => i.path) ?? []).toContain(field);
    }
    expect(server.requests).toHaveLength(0);
    expect(await readdir(h.dataDir).catch(() => [])).toEqual([]);
    expect(await h.ok('settings.get', {})).toEqual(before);
    expect(h.crawlEvents).toHaveLength(0);
    // Nothing running: pause and resume say so.
    expect(await h.call('dataset.crawl.pause', {})).toMatchObject({
      ok: false,
      error: { code: 'not-found' },
    });
  });
});

describe('dataset service: folder import', () => {
  it('imports a folder with progress events, lists rejected and ignored files with reasons', async () => {
    const h = await harness();
    const source = join(h.root, 'incoming');
    await mkdir(join(source, 'nested'), { recursive: true });
    for (const image of images.slice(0, 3)) await copyFile(image, join(source, image.split('/').pop()!));
    await copyFile(images[3]!, join(source, 'nested', 'deep.jpg'));
    await copyFile(images[0]!, join(source, 'nested', 'duplicate.jpg'));
    const whole = await readFile(images[4]!);
    await writeFile(join(source, 'cut.jpg'), whole.subarray(0, Math.floor(whole.length / 3)));
    await writeFile(join(source, 'notes.txt'), 'not an image');
    // Sidecars: one with tags, one that is not JSON (its image still comes in, or here is skipped as a duplicate).
    await writeFile(join(source, 'nested', 'deep.txt'), 'smile, Blue Eyes');
    await writeFile(join(source, 'nested', 'duplicate.json'), '{not json');

    const started = await h.ok('dataset.import.start', { from: source, mode: 'copy' });
    expect(started.phase).toBe('running');
    const end = await h.importEvent(isEnd);
    expect(end.phase).toBe('done');
    expect(end.progress).toMatchObject({
      state: 'done',
      total: 9,
      processed: 9,
      imported: 4,
      skipped: 1,
      rejected: 1,
      ignored: 1,
      tagged: 1,
    });
    expect(end.progress!.tagProblems).toEqual([
      { path: 'nested/duplicate.json', reason: expect.stringMatching(/^is not valid JSON/) },
    ]);
    expect(end.progress!.rejectedFiles).toEqual([{ path: 'cut.jpg', reason: expect.stringMatching(/\S/) }]);
    expect(end.progress!.ignoredFiles).toEqual([{ path: 'notes.txt', reason: 'not an image file (.txt)' }]);
    expect(end.progress!.recentRejections.map((r) => r.path)).toEqual(['cut.jpg']);
    expect(await datasetImages(h.dataDir)).toHaveLength(4);
    expect((await h.ok('dataset.list', {})).items.every((item) => item.source === 'import')).toBe(true);
    expect((await h.ok('dataset.import.state', {})).phase).toBe('done');

    // Importing again finds everything already there.
    h.importEvents.length = 0;
    await h.ok('dataset.import.start', { from: source });
    expect(await h.importEvent(isEnd)).toMatchObject({ progress: { imported: 0, skipped: 5 } });
  });

  it('refuses missing, relative and non-folder paths up front, and imports while a crawl runs', async () => {
    const h = await harness();
    const file = join(h.root, 'file.jpg');
    await copyFile(images[0]!, file);
    for (const from of [join(h.root, 'missing'), 'relative/folder', file, '']) {
      const reply = await h.call('dataset.import.start', { from });
      expect(reply, from).toMatchObject({ ok: false, error: { code: 'invalid-input' } });
    }
    expect(h.importEvents).toHaveLength(0);

    const { server } = await board(4);
    await h.ok('dataset.crawl.start', form(server, { delayMs: 60 }));
    expect(await h.call('dataset.import.start', { from: illustrationsDir })).toMatchObject({
      ok: false,
      error: { code: 'busy', message: expect.stringMatching(/crawl/) },
    });
    await h.ok('dataset.crawl.cancel', {});
    await h.crawlEvent(isEnd);
  });

  it('cancels an import part way', async () => {
    const h = await harness();
    const total = (await readdir(facesDir)).length;
    await h.ok('dataset.import.start', { from: facesDir, mode: 'link' });
    await h.importEvent((e) => (e.progress?.processed ?? 0) >= 1);
    await h.ok('dataset.import.cancel', {});
    const end = await h.importEvent(isEnd);
    expect(end.phase).toBe('cancelled');
    expect(end.progress!.processed).toBeLessThan(total);
    expect(await datasetImages(h.dataDir)).toHaveLength(end.progress!.imported);
  });
});
