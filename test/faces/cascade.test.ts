import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CASCADE_SHA256, CascadeError, resolveCascade } from '../../src/core/faces/cascade.ts';
import { FaceDetector } from '../../src/core/faces/opencv.ts';
import { cascadePath } from '../helpers/shared-data.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';

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
      if (req.url === '/good.xml') res.end(cascade);
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

  it('downloads into the cache on first use, verifies it, and reuses the cached copy', async () => {
    const cacheDir = join(tmp.dir, 'cache');
    const first = await resolveCascade({ cacheDir, url: `${base}/good.xml`, env: {} });
    expect(first.from).toBe('download');
    expect(first.path).toBe(join(cacheDir, 'lbpcascade_animeface.xml'));
    expect(Buffer.from(await readFile(first.path)).equals(cascade)).toBe(true);
    const second = await resolveCascade({ cacheDir, url: `${base}/good.xml`, env: {} });
    expect(second.from).toBe('cache');
    expect(hits.filter((h) => h === '/good.xml')).toHaveLength(1);
    // And what came down is a cascade OpenCV.js can load.
    await expect(FaceDetector.create(second.bytes)).resolves.toBeInstanceOf(FaceDetector);
  });

  it('refuses a download whose hash is wrong and caches nothing', async () => {
    const cacheDir = join(tmp.dir, 'cache-tampered');
    await expect(resolveCascade({ cacheDir, url: `${base}/tampered.xml`, env: {} })).rejects.toThrow(
      new RegExp(`has SHA-256 [0-9a-f]{64}, expected ${CASCADE_SHA256}; not using it`),
    );
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
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CascadeError);
    expect((error as Error).message).toMatch(
      /^could not download the face cascade from http:\/\/127\.0\.0\.1:\d+\/x\.xml \(.*ECONNREFUSED.*\); download it yourself and pass --cascade FILE \/ set KAO_CASCADE$/,
    );
    await expect(
      resolveCascade({ cacheDir: join(tmp.dir, 'c4'), url: `${base}/missing.xml`, env: {} }),
    ).rejects.toThrow(/could not download the face cascade .*HTTP 404/);
  });

  it('uses a local copy from the option or KAO_CASCADE, and refuses one with the wrong hash', async () => {
    const fromOption = await resolveCascade({ cascadePath, env: { KAO_CASCADE: '/nowhere.xml' } });
    expect([fromOption.from, fromOption.path]).toEqual(['option', cascadePath]);
    const fromEnv = await resolveCascade({ env: { KAO_CASCADE: cascadePath } });
    expect(fromEnv.from).toBe('env');

    const wrong = join(tmp.dir, 'haarcascade_frontalface.xml');
    await writeFile(wrong, '<opencv_storage></opencv_storage>\n');
    await expect(resolveCascade({ cascadePath: wrong, env: {} })).rejects.toThrow(
      /haarcascade_frontalface\.xml is not lbpcascade_animeface\.xml: its SHA-256 is [0-9a-f]{64} \(34 bytes\)/,
    );
    await expect(resolveCascade({ env: { KAO_CASCADE: join(tmp.dir, 'missing.xml') } })).rejects.toThrow(
      /cannot read KAO_CASCADE .*missing\.xml/,
    );
  });
});
