import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bundledCascadePath,
  CASCADE_SHA256,
  resolveCascade,
  sha256Hex,
} from '../../../src/core/faces/cascade.ts';
import { FacesError } from '../../../src/core/faces/errors.ts';
import { FaceDetector } from '../../../src/core/faces/opencv.ts';
import { facesProblemForCli } from '../../../src/cli/faces-errors.ts';
import { facesProblemForApp } from '../../../src/services/faces-errors.ts';
import { cascadePath } from '../../helpers/shared-data.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';

describe('the face cascade', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let server: Server;
  let base: string;
  let cascade: Buffer;
  const hits: string[] = [];

  beforeAll(async () => {
    tmp = await makeTempDir('kao-faces-cascade-');
    cascade = await readFile(cascadePath);
    server = createServer((req, res) => {
      hits.push(req.url!);
      if (req.url === '/good.xml' || req.url === '/good.xml?fallback') res.end(cascade);
      else if (req.url === '/tampered.xml') res.end(Buffer.concat([cascade, Buffer.from('<!-- -->')]));
      else res.writeHead(404).end('not found');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await tmp.cleanup();
  });

  it('ships with the app: resources/ holds the pinned cascade with its MIT licence, used offline by default', async () => {
    const shipped = bundledCascadePath({});
    expect(shipped).toBe(resolve(import.meta.dirname, '../../../resources/lbpcascade_animeface.xml'));
    const bytes = await readFile(shipped!);
    expect(sha256Hex(bytes)).toBe(CASCADE_SHA256);
    expect(bytes.toString('utf8', 0, 1200)).toMatch(
      /The MIT License \(MIT\)[\s\S]*Copyright \(C\) 2011 by nagadomi/,
    );
    // No cache folder, an address that refuses: the shipped copy is used and nothing is fetched.
    const before = hits.length;
    const found = await resolveCascade({
      cacheDir: join(tmp.dir, 'unused'),
      url: `${base}/good.xml`,
      env: {},
    });
    expect([found.from, found.path]).toEqual(['bundled', shipped]);
    expect(hits.length).toBe(before);
    await expect(readdir(join(tmp.dir, 'unused'))).rejects.toThrow(/ENOENT/);
    // KAO_RESOURCES_DIR relocates the folder; one without the file means no shipped copy.
    expect(bundledCascadePath({ KAO_RESOURCES_DIR: tmp.dir })).toBeUndefined();
    // A damaged shipped copy falls back to the cache/download instead of failing.
    const damaged = join(tmp.dir, 'damaged.xml');
    await writeFile(damaged, '<opencv_storage/>');
    const fallback = await resolveCascade({
      cacheDir: join(tmp.dir, 'cache-fallback'),
      url: `${base}/good.xml?fallback`,
      env: {},
      bundledPath: damaged,
    });
    expect(fallback.from).toBe('download');
  });

  it('downloads into the cache on first use, verifies it, and reuses the cached copy', async () => {
    const cacheDir = join(tmp.dir, 'cache');
    const first = await resolveCascade({ cacheDir, url: `${base}/good.xml`, env: {}, bundledPath: null });
    expect(first.from).toBe('download');
    expect(first.path).toBe(join(cacheDir, 'lbpcascade_animeface.xml'));
    expect(Buffer.from(await readFile(first.path)).equals(cascade)).toBe(true);
    const second = await resolveCascade({ cacheDir, url: `${base}/good.xml`, env: {}, bundledPath: null });
    expect(second.from).toBe('cache');
    expect(hits.filter((h) => h === '/good.xml')).toHaveLength(1);
    // And what came down is a cascade OpenCV.js can load.
    await expect(FaceDetector.create(second.bytes)).resolves.toBeInstanceOf(FaceDetector);
  });

  it('refuses a download whose hash is wrong and caches nothing', async () => {
    const cacheDir = join(tmp.dir, 'cache-tampered');
    await expect(
      resolveCascade({ cacheDir, url: `${base}/tampered.xml`, env: {}, bundledPath: null }),
    ).rejects.toThrow(new RegExp(`has SHA-256 [0-9a-f]{64}, expected ${CASCADE_SHA256}; not using it`));
    await expect(readdir(cacheDir)).rejects.toThrow();
  });

  it('offline without a copy, says exactly what to do', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const error = await resolveCascade({
      cacheDir: join(tmp.dir, 'c3'),
      url: `http://127.0.0.1:${port}/x.xml`,
      env: {},
      bundledPath: null,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FacesError);
    const problem = (error as FacesError).problem;
    expect(problem).toEqual({
      code: 'cascade-download-failed',
      url: `http://127.0.0.1:${port}/x.xml`,
      reason: expect.stringMatching(/ECONNREFUSED/),
    });
    // The CLI names its own way out; the app asks for the file in a field instead.
    expect(facesProblemForCli(problem)).toMatch(
      /^could not download the face cascade from http:\/\/127\.0\.0\.1:\d+\/x\.xml \(.*ECONNREFUSED.*\); download it yourself and pass --cascade FILE \/ set KAO_CASCADE$/,
    );
    expect(facesProblemForApp(problem)).toEqual({
      code: 'not-found',
      message: expect.stringMatching(/^Could not download the face cascade from .*ECONNREFUSED.*\)$/),
    });
    await expect(
      resolveCascade({
        cacheDir: join(tmp.dir, 'c4'),
        url: `${base}/missing.xml`,
        env: {},
        bundledPath: null,
      }),
    ).rejects.toThrow(/could not download the face cascade .*HTTP 404/);
  });

  it('uses a local copy from the option or KAO_CASCADE, and refuses one with the wrong hash', async () => {
    const fromOption = await resolveCascade({ cascadePath, env: { KAO_CASCADE: '/nowhere.xml' } });
    expect([fromOption.from, fromOption.path]).toEqual(['option', cascadePath]);
    const fromEnv = await resolveCascade({ env: { KAO_CASCADE: cascadePath } });
    expect(fromEnv.from).toBe('env');

    const wrong = join(tmp.dir, 'haarcascade_frontalface.xml');
    await writeFile(wrong, '<opencv_storage></opencv_storage>\n');
    await expect(resolveCascade({ cascadePath: wrong, env: {}, bundledPath: null })).rejects.toThrow(
      /haarcascade_frontalface\.xml is not lbpcascade_animeface\.xml: its SHA-256 is [0-9a-f]{64} \(34 bytes\)/,
    );
    const unreadable = await resolveCascade({ env: { KAO_CASCADE: join(tmp.dir, 'missing.xml') } }).catch(
      (e: unknown) => e,
    );
    expect(unreadable).toMatchObject({
      problem: { code: 'cascade-unreadable', given: 'env', path: join(tmp.dir, 'missing.xml') },
    });
    expect(facesProblemForCli((unreadable as FacesError).problem)).toMatch(
      /^cannot read KAO_CASCADE .*missing\.xml: /,
    );
  });
});
