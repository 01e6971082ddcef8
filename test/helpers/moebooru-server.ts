import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import sharp from 'sharp';
import { onTestFinished } from 'vitest';
import { makeTempDir } from './temp-dir.ts';

/**
 * A Moebooru-compatible board on 127.0.0.1 for tests: `GET /post.json?limit&page&tags` over a fixed post
 * list, and real image bytes for every rendition (original = the file, sample and preview = real
 * re-encodes, so their md5 differs like on a real board). Faults are injected per path or per page and
 * consumed one per request, so "503 twice, then fine" is `fault(path, 503, 503)`.
 */
export interface ServerPostSpec {
  id: number;
  /** A real image file; its md5 becomes the post's md5. */
  image: string;
  rating?: string;
  deleted?: boolean;
  /** Fields to overwrite in the JSON record (e.g. a file_url on a foreign host). */
  override?: Record<string, unknown>;
}

export type Fault =
  | {
      kind: 'status';
      status: number;
      /** A function is called when the response is sent (an HTTP date relative to that moment). */
      retryAfter?: string | (() => string);
      body?: string;
      contentType?: string;
    }
  /** Send `afterBytes`, go silent for `ms` (Infinity: until the client hangs up), then send the rest. */
  | { kind: 'stall'; afterBytes: number; ms: number }
  | { kind: 'slow'; chunkBytes: number; intervalMs: number }
  /** Send only the first `keepBytes` with a matching Content-Length: a complete response holding a cut image. */
  | { kind: 'truncate'; keepBytes: number }
  | { kind: 'body'; body: Buffer | string; contentType: string }
  /** The right bytes, without Content-Length (chunked), so only the streamed byte count can enforce a cap. */
  | { kind: 'chunked' }
  /** Headers, part of the body, then a reset connection. */
  | { kind: 'reset'; afterBytes: number }
  /** Never answer (no headers) until the client gives up. */
  | { kind: 'hang' }
  | { kind: 'redirect'; location: string; status?: number };

export interface RecordedRequest {
  path: string;
  query: URLSearchParams;
  host: string;
  userAgent: string;
  /** performance.now() when the request arrived and when its response finished or was torn down. */
  at: number;
  endAt: number;
}

interface Rendered {
  original: Buffer;
  sample: Buffer;
  preview: Buffer;
  md5: string;
  width: number;
  height: number;
}

export interface MoebooruServer {
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** md5 of the post's original image. */
  md5(id: number): string;
  /** Path of a rendition of a post, e.g. to inject a fault on it. */
  pathOf(id: number, rendition: 'original' | 'sample' | 'preview'): string;
  bytesOf(id: number, rendition: 'original' | 'sample' | 'preview'): Buffer;
  /** Queue faults on an image path or on `page:N`; each request consumes one. */
  fault(target: string, ...faults: Fault[]): void;
  /** A fault served on every request to the target. */
  faultAlways(target: string, fault: Fault): void;
  /** Serve extra bytes at a path (e.g. where a traversal URL normalises to). */
  route(path: string, body: Buffer, contentType?: string): void;
  imageRequests(): RecordedRequest[];
  pageRequests(): RecordedRequest[];
  close(): Promise<void>;
}

const SAMPLE_SIDE = 400;
const PREVIEW_SIDE = 150;

export async function startMoebooruServer(posts: ServerPostSpec[]): Promise<MoebooruServer> {
  const rendered = new Map<number, Rendered>();
  for (const post of posts) rendered.set(post.id, await render(post.image));
  const queued = new Map<string, Fault[]>();
  const always = new Map<string, Fault>();
  const routes = new Map<string, { body: Buffer; contentType: string }>();
  const requests: RecordedRequest[] = [];
  const openSockets = new Set<Socket>();
  let origin = '';

  const pathOf = (id: number, rendition: 'original' | 'sample' | 'preview'): string => {
    const r = rendered.get(id)!;
    // Small originals have no separate sample: the sample URL is the original's (as on Moebooru).
    if (rendition === 'sample' && r.sample === r.original) return pathOf(id, 'original');
    const md5 = r.md5;
    const prefix = { original: 'image', sample: 'sample', preview: 'preview' }[rendition];
    // Like Moebooru: md5 folder, then a descriptive name with spaces (encoded).
    return `/${prefix}/${md5}/Board%20-%20${id}%20${rendition}.jpg`;
  };
  for (const post of posts) {
    for (const rendition of ['original', 'sample', 'preview'] as const) {
      const r = rendered.get(post.id)!;
      routes.set(pathOf(post.id, rendition), { body: r[rendition], contentType: 'image/jpeg' });
    }
  }

  const record = (post: ServerPostSpec) => {
    const r = rendered.get(post.id)!;
    const base = {
      id: post.id,
      tags: `tag_${post.id} solo`,
      created_at: 1_700_000_000 + post.id,
      author: 'tester',
      source: '',
      score: 1,
      rating: post.rating ?? 's',
      status: post.deleted ? 'deleted' : 'active',
      has_children: false,
      parent_id: null,
    };
    if (post.deleted) return { ...base, ...post.override };
    return {
      ...base,
      md5: r.md5,
      file_size: r.original.length,
      file_url: origin + pathOf(post.id, 'original'),
      jpeg_url: origin + pathOf(post.id, 'original'),
      sample_url: origin + pathOf(post.id, 'sample'),
      preview_url: origin + pathOf(post.id, 'preview'),
      width: r.width,
      height: r.height,
      ...post.override,
    };
  };

  const nextFault = (target: string): Fault | undefined => {
    const queue = queued.get(target);
    if (queue && queue.length > 0) return queue.shift();
    return always.get(target);
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://placeholder');
    const entry: RecordedRequest = {
      path: url.pathname,
      query: url.searchParams,
      host: req.headers.host ?? '',
      userAgent: req.headers['user-agent'] ?? '',
      at: performance.now(),
      endAt: Number.NaN,
    };
    requests.push(entry);
    const finish = () => {
      if (Number.isNaN(entry.endAt)) entry.endAt = performance.now();
    };
    res.on('finish', finish);
    res.on('close', finish);

    if (url.pathname === '/post.json') {
      const limit = Number(url.searchParams.get('limit') ?? 100);
      const page = Number(url.searchParams.get('page') ?? 1);
      const slice = posts.slice((page - 1) * limit, page * limit).map(record);
      return respond(
        res,
        Buffer.from(JSON.stringify(slice)),
        'application/json; charset=utf-8',
        nextFault(`page:${page}`),
      );
    }
    const route = routes.get(url.pathname);
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/html' });
      return res.end('<html><body><h1>404 Not Found</h1></body></html>');
    }
    respond(res, route.body, route.contentType, nextFault(url.pathname));
  });
  server.on('connection', (socket) => {
    openSockets.add(socket);
    socket.on('close', () => openSockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  origin = `http://127.0.0.1:${port}`;

  return {
    url: origin,
    port,
    requests,
    md5: (id) => rendered.get(id)!.md5,
    pathOf,
    bytesOf: (id, rendition) => rendered.get(id)![rendition],
    fault: (target, ...faults) => queued.set(target, [...(queued.get(target) ?? []), ...faults]),
    faultAlways: (target, fault) => always.set(target, fault),
    route: (path, body, contentType = 'image/jpeg') => routes.set(path, { body, contentType }),
    imageRequests: () => requests.filter((r) => r.path !== '/post.json'),
    pageRequests: () => requests.filter((r) => r.path === '/post.json'),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of openSockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function respond(res: ServerResponse, body: Buffer, contentType: string, fault: Fault | undefined): void {
  if (!fault) {
    res.writeHead(200, { 'content-type': contentType, 'content-length': body.length });
    res.end(body);
    return;
  }
  switch (fault.kind) {
    case 'status': {
      const payload = fault.body ?? `<html><body><h1>${fault.status}</h1></body></html>`;
      const headers: Record<string, string | number> = {
        'content-type': fault.contentType ?? 'text/html',
        'content-length': Buffer.byteLength(payload),
      };
      if (fault.retryAfter !== undefined) {
        headers['retry-after'] =
          typeof fault.retryAfter === 'function' ? fault.retryAfter() : fault.retryAfter;
      }
      res.writeHead(fault.status, headers);
      res.end(payload);
      return;
    }
    case 'body': {
      const payload = typeof fault.body === 'string' ? Buffer.from(fault.body) : fault.body;
      res.writeHead(200, { 'content-type': fault.contentType, 'content-length': payload.length });
      res.end(payload);
      return;
    }
    case 'truncate': {
      const payload = body.subarray(0, fault.keepBytes);
      res.writeHead(200, { 'content-type': contentType, 'content-length': payload.length });
      res.end(payload);
      return;
    }
    case 'chunked': {
      res.writeHead(200, { 'content-type': contentType });
      for (let offset = 0; offset < body.length; offset += 16 * 1024)
        res.write(body.subarray(offset, offset + 16 * 1024));
      res.end();
      return;
    }
    case 'stall': {
      res.writeHead(200, { 'content-type': contentType, 'content-length': body.length });
      res.write(body.subarray(0, fault.afterBytes));
      if (Number.isFinite(fault.ms)) {
        const timer = setTimeout(() => res.end(body.subarray(fault.afterBytes)), fault.ms);
        res.on('close', () => clearTimeout(timer));
      }
      return;
    }
    case 'slow': {
      res.writeHead(200, { 'content-type': contentType, 'content-length': body.length });
      let offset = 0;
      const tick = () => {
        if (res.destroyed) return;
        const chunk = body.subarray(offset, offset + fault.chunkBytes);
        offset += chunk.length;
        if (offset >= body.length) res.end(chunk);
        else {
          res.write(chunk);
          setTimeout(tick, fault.intervalMs);
        }
      };
      tick();
      return;
    }
    case 'hang':
      return;
    case 'redirect':
      res.writeHead(fault.status ?? 302, { location: fault.location, 'content-length': 0 });
      res.end();
      return;
    case 'reset': {
      res.writeHead(200, { 'content-type': contentType, 'content-length': body.length });
      res.write(body.subarray(0, fault.afterBytes), () => res.socket?.destroy());
      return;
    }
  }
}

async function render(path: string): Promise<Rendered> {
  const original = readFileSync(path);
  const meta = await sharp(original).metadata();
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  const sample =
    Math.max(width, height) > SAMPLE_SIDE
      ? await sharp(original)
          .resize(SAMPLE_SIDE, SAMPLE_SIDE, { fit: 'inside' })
          .jpeg({ quality: 85 })
          .toBuffer()
      : original;
  const preview = await sharp(original)
    .resize(PREVIEW_SIDE, PREVIEW_SIDE, { fit: 'inside' })
    .jpeg({ quality: 80 })
    .toBuffer();
  return { original, sample, preview, md5: createHash('md5').update(original).digest('hex'), width, height };
}

/** The real illustrations (sorted), for building post lists. */
export function illustrationFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => /\.jpe?g$/i.test(name))
    .sort()
    .map((name) => join(dir, name));
}

/** A board serving `posts` and a fresh temp folder to crawl into, both gone when the current test finishes. */
export async function startBoardWithTempDir(
  posts: ServerPostSpec[],
  tempPrefix: string,
): Promise<{ server: MoebooruServer; dir: string }> {
  const server = await startMoebooruServer(posts);
  onTestFinished(server.close);
  const temp = await makeTempDir(tempPrefix);
  onTestFinished(temp.cleanup);
  return { server, dir: temp.dir };
}
