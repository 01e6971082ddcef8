import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readImageTags } from '../../src/core/images/tags.ts';
import { illustrationFiles, startMoebooruServer, type MoebooruServer } from '../helpers/moebooru-server.ts';
import { illustrationsDir } from '../helpers/shared-data.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';

const repoRoot = resolve(import.meta.dirname, '../..');
const node = join(repoRoot, 'node_modules/.bin/node');
const kao = join(repoRoot, 'bin/kao.js');
const images = illustrationFiles(illustrationsDir);

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function start(args: string[]): {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>;
} {
  const child = spawn(node, [kao, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>(
    (resolveDone) => child.on('close', (code, signal) => resolveDone({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

const runKao = (args: string[]) => start(args).done;
/** The progress bar prints plain lines on a non-terminal stderr; the error is the last line. */
const lastLine = (text: string) => text.trimEnd().split('\n').at(-1);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Name → md5 of every dataset image (bookkeeping files excluded). */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) {
    if (name.startsWith('.') || name === 'crawl-journal.jsonl' || name === 'image-tags.jsonl') continue;
    result[name] = createHash('md5')
      .update(await readFile(join(dir, name)))
      .digest('hex');
  }
  return result;
}

describe('kao crawl (CLI)', () => {
  it('killed with SIGKILL mid-download, twice, resumes to exactly the files of an uninterrupted crawl', async () => {
    const posts = images.slice(0, 8).map((image, i) => ({ id: 80 - i, image }));
    const server: MoebooruServer = await startMoebooruServer(posts);
    const temp = await makeTempDir('kao-cli-resume-');
    cleanups.push(temp.cleanup, server.close);
    const killedDir = join(temp.dir, 'killed');
    const cleanDir = join(temp.dir, 'clean');
    const args = (out: string) => [
      'crawl',
      '--site',
      server.url,
      '--out',
      out,
      '--delay-ms',
      '20',
      '--rendition',
      'original',
      '--limit',
      '8',
    ];

    // Two stalls the server holds long enough for a kill; each is consumed by the first request to it.
    const stalledA = server.pathOf(78, 'original');
    const stalledB = server.pathOf(75, 'original');
    server.fault(stalledA, { kind: 'stall', afterBytes: 4000, ms: 60_000 });
    server.fault(stalledB, { kind: 'stall', afterBytes: 4000, ms: 60_000 });

    for (const stalled of [stalledA, stalledB]) {
      const run = start(args(killedDir));
      await waitFor(() => server.requests.some((r) => r.path === stalled), `request to ${stalled}`);
      // Let the first bytes land in the partial file, then kill without warning.
      await new Promise((r) => setTimeout(r, 100));
      run.child.kill('SIGKILL');
      const { signal } = await run.done;
      expect(signal).toBe('SIGKILL');
      const leftovers = await readdir(join(killedDir, '.partial'));
      expect(leftovers.length).toBe(1); // the half-downloaded file, outside the dataset proper
    }
    const finish = await runKao(args(killedDir));
    expect(finish.stderr).not.toMatch(/kao crawl:/);
    expect(finish.code).toBe(0);

    const clean = await runKao(args(cleanDir));
    expect(clean.code).toBe(0);
    const expected = await snapshot(cleanDir);
    expect(Object.keys(expected)).toHaveLength(8);
    expect(await snapshot(killedDir)).toEqual(expected);
    for (const [name, md5] of Object.entries(expected)) expect(name).toContain(md5);
    expect((await readdir(killedDir)).filter((n) => n.startsWith('.'))).toEqual([]);
    // Every image has its post's tags, as after the uninterrupted crawl.
    const tags = await readImageTags(cleanDir);
    expect(tags.size).toBe(8);
    expect(await readImageTags(killedDir)).toEqual(tags);

    // Nothing was downloaded twice: only the two killed downloads were requested again.
    const killedRuns = server.requests.slice(0, server.requests.length - (8 + 1)); // the clean run made 1 page + 8 images
    const perPath = new Map<string, number>();
    for (const r of killedRuns.filter((r) => r.path !== '/post.json'))
      perPath.set(r.path, (perPath.get(r.path) ?? 0) + 1);
    expect(perPath.size).toBe(8);
    for (const [path, count] of perPath)
      expect(count, path).toBe(path === stalledA || path === stalledB ? 2 : 1);
  });

  it('prints the summary as JSON with --json and a readable summary without', async () => {
    const server = await startMoebooruServer([
      { id: 2, image: images[0]! },
      { id: 1, image: images[1]!, rating: 'e' },
    ]);
    const temp = await makeTempDir('kao-cli-json-');
    cleanups.push(temp.cleanup, server.close);
    const crawlArgs = [
      'crawl',
      '--site',
      server.url,
      '--out',
      temp.dir,
      '--delay-ms',
      '20',
      '--tags',
      'solo',
    ];
    const json = await runKao([...crawlArgs, '--json']);
    expect(json.code).toBe(0);
    const summary = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(summary).toMatchObject({
      state: 'done',
      found: 1,
      downloaded: 1,
      skipped: 0,
      failed: 0,
      filtered: 1,
      tags: 'solo rating:s',
    });

    const text = await runKao(crawlArgs);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/Crawl finished \(no more posts\)/);
    expect(text.stdout).toMatch(/skipped: +1 already in the dataset/);
  });

  it('exits non-zero with a one-line error on a bad --site, an unreachable site, and a bad option', async () => {
    const temp = await makeTempDir('kao-cli-bad-');
    cleanups.push(temp.cleanup);
    const bad = await runKao(['crawl', '--site', 'ftp://example.com', '--out', temp.dir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(
      'kao crawl: invalid crawl option site: must be an http(s) URL such as https://konachan.net\n',
    );

    const notUrl = await runKao(['crawl', '--site', 'konachan', '--out', temp.dir]);
    expect(notUrl.code).toBe(2);
    expect(notUrl.stderr.trim().split('\n')).toHaveLength(1);

    const tooFast = await runKao([
      'crawl',
      '--site',
      'https://konachan.net',
      '--out',
      temp.dir,
      '--delay-ms',
      '10',
    ]);
    expect(tooFast.code).toBe(2);
    expect(tooFast.stderr).toMatch(/^kao crawl: delay must be at least 500 ms for konachan.net/);

    // A loopback port nobody listens on: the connection is refused at once.
    const closedPort = await freePort();
    const unreachable = await runKao([
      'crawl',
      '--site',
      `http://127.0.0.1:${closedPort}`,
      '--out',
      temp.dir,
      '--retries',
      '0',
      '--json',
    ]);
    expect(unreachable.code).toBe(1);
    expect(lastLine(unreachable.stderr)).toBe(
      'kao crawl: page 1: network error: fetch failed (ECONNREFUSED)',
    );
    expect(JSON.parse(unreachable.stdout)).toMatchObject({ state: 'failed', stoppedBecause: 'error' });
  });
});

describe('kao import (CLI)', () => {
  it('imports a folder and reports as JSON', async () => {
    const temp = await makeTempDir('kao-cli-import-');
    cleanups.push(temp.cleanup);
    const result = await runKao([
      'import',
      '--from',
      illustrationsDir,
      '--out',
      join(temp.dir, 'dataset'),
      '--json',
    ]);
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout) as { imported: number; total: number; rejected: number };
    expect(summary).toMatchObject({
      state: 'done',
      total: images.length,
      imported: images.length,
      rejected: 0,
    });
    const again = await runKao(['import', '--from', illustrationsDir, '--out', join(temp.dir, 'dataset')]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(new RegExp(`skipped: +${images.length} duplicate`));
  });
});
