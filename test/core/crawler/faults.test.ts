import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { crawl, CrawlError, type CrawlOptionsInput } from '../../../src/core/crawler/crawl.ts';
import { readCrawlHistory } from '../../../src/core/crawler/journal.ts';
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

async function setup(posts: ServerPostSpec[]): Promise<{ server: MoebooruServer; dir: string }> {
  const { server, dir } = await startBoardWithTempDir(posts, 'kao-faults-');
  // The dataset is a subfolder so tests can check nothing escapes into its parent.
  return { server, dir: join(dir, 'dataset') };
}

function fast(
  server: MoebooruServer,
  dir: string,
  extra: Partial<CrawlOptionsInput> = {},
): CrawlOptionsInput {
  return {
    site: server.url,
    datasetDir: dir,
    delayMs: 5,
    retryBaseMs: 10,
    maxRetries: 2,
    pageSize: 20,
    ...extra,
  };
}

/** The crawl's journal and the posts' tags, beside the images. */
const BOOKKEEPING = new Set(['crawl-journal.jsonl', 'image-tags.jsonl']);
const datasetFiles = async (dir: string) =>
  (await readdir(dir)).filter((name) => !name.startsWith('.') && !BOOKKEEPING.has(name)).sort();
const requestsTo = (server: MoebooruServer, path: string) => server.requests.filter((r) => r.path === path);
const nameOf = (server: MoebooruServer, id: number) => `127.0.0.1-${id}-${server.md5(id)}.jpg`;
const twoPosts = () => [
  { id: 2, image: images[0]! },
  { id: 1, image: images[1]! },
];

describe('crawler faults', () => {
  it('accepts a slow body and retries a stalled one', async () => {
    const { server, dir } = await setup(twoPosts());
    server.fault(server.pathOf(2, 'sample'), { kind: 'slow', chunkBytes: 4096, intervalMs: 5 });
    server.fault(server.pathOf(1, 'sample'), { kind: 'stall', afterBytes: 1000, ms: Infinity });
    const summary = await crawl(fast(server, dir, { stallTimeoutMs: 200 }));
    expect(summary).toMatchObject({ downloaded: 2, failed: 0 });
    expect(requestsTo(server, server.pathOf(1, 'sample'))).toHaveLength(2);
    expect(await datasetFiles(dir)).toEqual([nameOf(server, 1), nameOf(server, 2)]);
  });

  it('gives up on a body that always stalls, and on a server that never answers, with the reason', async () => {
    const { server, dir } = await setup(twoPosts());
    server.faultAlways(server.pathOf(2, 'sample'), { kind: 'stall', afterBytes: 500, ms: Infinity });
    server.faultAlways(server.pathOf(1, 'sample'), { kind: 'hang' });
    const summary = await crawl(
      fast(server, dir, { stallTimeoutMs: 150, connectTimeoutMs: 150, maxRetries: 1 }),
    );
    expect(summary).toMatchObject({ downloaded: 0, failed: 2 });
    expect(summary.failures.map((f) => [f.postId, f.reason])).toEqual([
      [2, 'body stalled: no bytes for 150 ms'],
      [1, 'no response within 150 ms'],
    ]);
    expect(requestsTo(server, server.pathOf(2, 'sample'))).toHaveLength(2);
    expect(await datasetFiles(dir)).toEqual([]);
  });

  it('honours Retry-After in seconds and as an HTTP date, capped by maxRetryWaitMs', async () => {
    const posts = [{ id: 3, image: images[2]! }, ...twoPosts()];
    const { server, dir } = await setup(posts);
    server.fault(server.pathOf(3, 'sample'), { kind: 'status', status: 429, retryAfter: '1' });
    server.fault(server.pathOf(2, 'sample'), {
      kind: 'status',
      status: 503,
      // Dated when the 503 is sent: the crawl reaches post 2 only after post 3's 1-s wait.
      retryAfter: () => new Date(Date.now() + 3000).toUTCString(),
    });
    server.fault(server.pathOf(1, 'sample'), { kind: 'status', status: 429, retryAfter: '3600' });
    const summary = await crawl(fast(server, dir, { maxRetryWaitMs: 1500 }));
    expect(summary).toMatchObject({ downloaded: 3, failed: 0 });
    const gap = (id: number) => {
      const [first, second] = requestsTo(server, server.pathOf(id, 'sample'));
      return second!.at - first!.endAt;
    };
    expect(gap(3)).toBeGreaterThanOrEqual(1000);
    // The HTTP date is 2–3 s ahead (1 s resolution) and an hour for post 1: only the 1.5 s cap lets this test end.
    expect(gap(2)).toBeGreaterThanOrEqual(1000);
    expect(gap(1)).toBeGreaterThanOrEqual(1500);
  });

  it('backs off exponentially through a 503 burst and gives up on a persistent 500 but not on the crawl', async () => {
    const { server, dir } = await setup(twoPosts());
    server.fault(
      server.pathOf(2, 'sample'),
      ...Array.from({ length: 3 }, () => ({ kind: 'status' as const, status: 503 })),
    );
    server.faultAlways(server.pathOf(1, 'sample'), { kind: 'status', status: 500 });
    const summary = await crawl(fast(server, dir, { maxRetries: 3, retryBaseMs: 40 }));
    expect(summary.downloaded).toBe(1);
    expect(summary.failures).toEqual([
      { postId: 1, url: server.url + server.pathOf(1, 'sample'), reason: 'HTTP 500 Internal Server Error' },
    ]);
    const burst = requestsTo(server, server.pathOf(2, 'sample'));
    expect(burst).toHaveLength(4);
    const gaps = burst.slice(1).map((r, i) => r.at - burst[i]!.endAt);
    expect(gaps[0]).toBeGreaterThanOrEqual(40);
    expect(gaps[1]).toBeGreaterThanOrEqual(80);
    expect(gaps[2]).toBeGreaterThanOrEqual(160);
    expect(requestsTo(server, server.pathOf(1, 'sample'))).toHaveLength(4);
  });

  it('does not retry a 404 and retries a connection reset', async () => {
    const { server, dir } = await setup(twoPosts());
    server.faultAlways(server.pathOf(2, 'sample'), { kind: 'status', status: 404 });
    server.fault(server.pathOf(1, 'sample'), { kind: 'reset', afterBytes: 2000 });
    const summary = await crawl(fast(server, dir));
    expect(summary.failures.map((f) => f.reason)).toEqual(['HTTP 404 Not Found']);
    expect(requestsTo(server, server.pathOf(2, 'sample'))).toHaveLength(1);
    expect(requestsTo(server, server.pathOf(1, 'sample'))).toHaveLength(2);
    expect(await datasetFiles(dir)).toEqual([nameOf(server, 1)]);
  });

  it('rejects truncated, corrupt, HTML and wrong-md5 responses, records why, and retries them on the next run', async () => {
    const posts = images.slice(0, 5).map((image, i) => ({ id: 20 - i, image }));
    const { server, dir } = await setup(posts);
    const original = (id: number) => server.pathOf(id, 'original');
    const jpegHeaderThenNoise = Buffer.concat([
      server.bytesOf(20, 'original').subarray(0, 600),
      Buffer.alloc(4000, 0x5a),
    ]);
    server.fault(original(20), {
      kind: 'truncate',
      keepBytes: Math.floor(server.bytesOf(20, 'original').length / 2),
    });
    server.fault(original(19), { kind: 'body', body: jpegHeaderThenNoise, contentType: 'image/jpeg' });
    server.fault(original(18), {
      kind: 'body',
      body: '<html><body>Rate limited, try later</body></html>',
      contentType: 'text/html',
    });
    server.fault(original(17), {
      kind: 'body',
      body: server.bytesOf(20, 'original'),
      contentType: 'image/jpeg',
    });
    server.fault(original(16), {
      kind: 'body',
      body: '<!doctype html><title>oops</title>'.repeat(20),
      contentType: 'image/jpeg',
    });

    const first = await crawl(fast(server, dir, { rendition: 'original' }));
    expect(first).toMatchObject({ downloaded: 0, failed: 5 });
    const reasons = Object.fromEntries(first.failures.map((f) => [f.postId, f.reason]));
    expect(reasons[20]).toMatch(/^truncated image/);
    expect(reasons[19]).toMatch(/^(truncated|corrupt) image/);
    expect(reasons[18]).toBe('server sent text/html instead of an image');
    expect(reasons[17]).toBe(`md5 mismatch: expected ${server.md5(17)}, got ${server.md5(20)}`);
    expect(reasons[16]).toBe('not an image (unrecognised content)');
    expect(await readdir(dir)).toEqual(['crawl-journal.jsonl']);
    expect((await readCrawlHistory(dir)).failed.map((f) => f.postId).sort()).toEqual([16, 17, 18, 19, 20]);

    // The faults were one-off: the next crawl retries every failed post and gets them all.
    const second = await crawl(fast(server, dir, { rendition: 'original' }));
    expect(second).toMatchObject({ downloaded: 5, failed: 0 });
    expect(await datasetFiles(dir)).toEqual(posts.map((p) => nameOf(server, p.id)).sort());
    expect((await readCrawlHistory(dir)).failed).toEqual([]);
  });

  it('retries a page that is not JSON, and fails the crawl with a one-line reason when it stays so', async () => {
    const { server, dir } = await setup(twoPosts());
    server.fault('page:1', { kind: 'body', body: '<html>Just a moment…</html>', contentType: 'text/html' });
    const ok = await crawl(fast(server, dir));
    expect(ok).toMatchObject({ state: 'done', downloaded: 2 });
    expect(server.pageRequests()).toHaveLength(2);

    server.faultAlways('page:1', { kind: 'body', body: '{"truncated": ', contentType: 'application/json' });
    const failure = await crawl(fast(server, dir)).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(CrawlError);
    const error = failure as CrawlError;
    expect(error.message).toBe('page 1: response is not JSON (application/json): "{"truncated":"');
    expect(error.summary).toMatchObject({ state: 'failed', stoppedBecause: 'error' });
    expect(await datasetFiles(dir)).toHaveLength(2);
    expect((await readCrawlHistory(dir)).lastRun).toMatchObject({ state: 'failed' });
  });

  it('enforces the size cap on Content-Length, on streamed bytes, and on the post file_size', async () => {
    const big = images.find((path) => path.endsWith('xavierjiezou_test_1.jpg'))!; // 446 KB
    const posts: ServerPostSpec[] = [
      { id: 3, image: big },
      { id: 2, image: big, override: { file_size: 10 } }, // lies about its size: caught while streaming
      { id: 1, image: images[0]! },
    ];
    const { server, dir } = await setup(posts);
    server.fault(server.pathOf(2, 'original'), { kind: 'chunked' });
    const cap = 300 * 1024;
    // Post 3 declares file_size > cap and is refused before any request.
    const summary = await crawl(fast(server, dir, { rendition: 'original', maxFileBytes: cap }));
    const reasons = Object.fromEntries(summary.failures.map((f) => [f.postId, f.reason]));
    expect(reasons[3]).toBe(
      `file is ${server.bytesOf(3, 'original').length} bytes, over the ${cap} byte cap`,
    );
    expect(reasons[2]).toBe('download passed the 300.0 KB cap');
    expect(requestsTo(server, server.pathOf(3, 'original'))).toHaveLength(0);
    expect(summary.downloaded).toBe(1);

    // A sample has no declared size in the post, so the response's Content-Length is what refuses it.
    const temp = await makeTempDir('kao-cap-');
    cleanups.push(temp.cleanup);
    posts[2]!.override = { sample_url: server.url + '/big-sample.jpg' };
    server.route('/big-sample.jpg', server.bytesOf(3, 'original'));
    const viaSample = await crawl(fast(server, temp.dir, { maxFileBytes: cap }));
    const sampleReasons = Object.fromEntries(viaSample.failures.map((f) => [f.postId, f.reason]));
    expect(sampleReasons[1]).toBe('file is 435.9 KB, over the 300.0 KB cap');
    expect(requestsTo(server, '/big-sample.jpg')).toHaveLength(1);
  });

  it('refuses URLs on foreign hosts (also via redirect) and never names files from the server path', async () => {
    const posts: ServerPostSpec[] = [
      { id: 4, image: images[0]! },
      { id: 3, image: images[1]! },
      { id: 2, image: images[2]! },
      { id: 1, image: images[3]! },
      { id: 5, image: images[4]! },
    ];
    const { server, dir } = await setup(posts);
    const foreign = `http://localhost:${server.port}${server.pathOf(4, 'original')}`;
    posts[0]!.override = { sample_url: foreign };
    posts[1]!.override = { sample_url: 'file:///etc/passwd' };
    posts[2]!.override = { sample_url: `${server.url}/image/${server.md5(2)}/..%2F..%2Fevil.jpg` };
    server.route(`/image/${server.md5(2)}/..%2F..%2Fevil.jpg`, server.bytesOf(2, 'sample'));
    server.fault(server.pathOf(1, 'sample'), { kind: 'redirect', location: foreign });
    // A literal ../../ in file_url: the URL normalises to /evil.jpg, which serves this post's original.
    posts[4]!.override = { file_url: `${server.url}/image/${server.md5(5)}/../../evil.jpg` };
    server.route('/evil.jpg', server.bytesOf(5, 'original'));

    const summary = await crawl(fast(server, dir));
    const reasons = Object.fromEntries(summary.failures.map((f) => [f.postId, f.reason]));
    expect(reasons[4]).toBe(`refused host localhost: not 127.0.0.1, its subdomains, or an extra host`);
    expect(reasons[3]).toBe('refused file: URL (only http and https)');
    expect(reasons[1]).toBe(reasons[4]);
    expect(server.requests.filter((r) => r.host.startsWith('localhost'))).toHaveLength(0);
    // The traversal-looking URL downloads fine but lands under a name built from id and md5 only.
    expect(await datasetFiles(dir)).toEqual([nameOf(server, 2), nameOf(server, 5)].sort());
    expect((await readdir(dirname(dir))).sort()).toEqual(['dataset']);

    // The literal ../../ file_url, fetched as the original: md5-verified, saved under the safe name.
    const originals = await makeTempDir('kao-traversal-');
    cleanups.push(originals.cleanup);
    const inner = join(originals.dir, 'a', 'b', 'dataset');
    const viaOriginal = await crawl(fast(server, inner, { rendition: 'original' }));
    expect(viaOriginal).toMatchObject({ downloaded: 5, failed: 0 });
    expect(server.requests.filter((r) => r.path === '/evil.jpg')).toHaveLength(1);
    expect(await datasetFiles(inner)).toContain(nameOf(server, 5));
    expect(await readdir(join(originals.dir, 'a', 'b'))).toEqual(['dataset']);
    expect(await readdir(originals.dir)).toEqual(['a']);

    // An explicit extra host is allowed.
    const temp = await makeTempDir('kao-extra-');
    cleanups.push(temp.cleanup);
    const allowed = await crawl(fast(server, temp.dir, { extraHosts: ['localhost'], maxPosts: 1 }));
    expect(allowed).toMatchObject({ downloaded: 1, failed: 0 });
  });

  it('reports malformed post records and keeps going', async () => {
    const posts: ServerPostSpec[] = [
      { id: 2, image: images[0]!, override: { rating: 7 } },
      { id: 1, image: images[1]! },
    ];
    const { server, dir } = await setup(posts);
    const summary = await crawl(fast(server, dir));
    expect(summary.downloaded).toBe(1);
    expect(summary.failures).toEqual([
      { postId: 2, reason: expect.stringMatching(/^invalid post record \(rating: /) },
    ]);
  });
});
