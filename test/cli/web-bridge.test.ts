import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import WebSocket from 'ws';
import { startWebBridge, type WebBridge } from '../../src/cli/web-bridge.ts';
import { createNodeAppServices } from '../../src/services/node-services.ts';
import type { AppServices } from '../../src/services/app-services.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';

let bridge: WebBridge;
let services: AppServices;
let cleanup: () => Promise<void>;
let dataDir: string;
let session: string;

beforeAll(async () => {
  const temp = await makeTempDir();
  cleanup = temp.cleanup;
  const rendererDir = join(temp.dir, 'renderer');
  dataDir = join(temp.dir, 'data');
  await mkdir(join(dataDir, 'faces'), { recursive: true });
  await writeFile(join(dataDir, 'faces', 'a.png'), Buffer.from('89504e470d0a1a0a', 'hex'));
  await writeFile(join(temp.dir, 'secret.png'), 'secret');
  await mkdir(rendererDir);
  await writeFile(join(rendererDir, 'index.html'), '<!doctype html><title>Kao</title>');
  services = createNodeAppServices({ configDir: join(temp.dir, 'config'), dataDir });
  bridge = await startWebBridge({ services, rendererDir, log: () => undefined });
  const swap = await fetch(bridge.url, { redirect: 'manual' });
  session = /^([^;]+)/.exec(swap.headers.get('set-cookie') ?? '')![1]!;
});
afterAll(async () => {
  await bridge.close();
  await services.dispose();
  await cleanup();
});

function connect(options: { origin?: string; cookie?: string; query?: string } = {}): Promise<WebSocket> {
  const headers: Record<string, string> = {};
  if (options.cookie) headers.cookie = options.cookie;
  const ws = new WebSocket(`ws://127.0.0.1:${new URL(bridge.origin).port}/ws${options.query ?? ''}`, {
    headers,
    origin: options.origin ?? bridge.origin,
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

function call(ws: WebSocket, message: unknown): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    ws.once('message', (data) => resolve(JSON.parse(data.toString()) as Record<string, unknown>));
    ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  });
}

describe('kao serve web bridge', () => {
  it('binds to loopback only', () => {
    expect(new URL(bridge.origin).hostname).toBe('127.0.0.1');
  });

  it('refuses pages without the token and swaps a URL token for an HttpOnly cookie and a redirect', async () => {
    expect((await fetch(bridge.origin + '/')).status).toBe(401);
    expect((await fetch(bridge.origin + '/?token=wrong')).status).toBe(401);
    const swap = await fetch(bridge.url, { redirect: 'manual' });
    expect(swap.status).toBe(303);
    expect(swap.headers.get('location')).toBe('/');
    expect(swap.headers.get('set-cookie')).toMatch(
      new RegExp(`^${bridge.cookieName}=[0-9a-f]{64}; HttpOnly; SameSite=Strict`),
    );
    const page = await fetch(bridge.origin + '/', { headers: { cookie: session } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
  });

  it('refuses WebSocket upgrades without the token or from a foreign Origin', async () => {
    await expect(connect()).rejects.toThrow(/403/);
    // The URL token is never accepted on the WebSocket, and neither is the token as a cookie.
    await expect(connect({ query: `?token=${bridge.token}` })).rejects.toThrow(/403/);
    await expect(connect({ cookie: `${bridge.cookieName}=${bridge.token}` })).rejects.toThrow(/403/);
    await expect(connect({ cookie: session, origin: 'http://evil.example' })).rejects.toThrow(/403/);
    await expect(connect({ cookie: session, origin: 'http://localhost:1' })).rejects.toThrow(/403/);
    const ws = await connect({ cookie: session });
    ws.close();
  });

  it('speaks the contract and answers malformed messages with typed errors, changing nothing', async () => {
    const ws = await connect({ cookie: session });
    const info = await call(ws, { id: 1, channel: 'app.info', request: {} });
    expect(info).toMatchObject({ kind: 'reply', id: 1, ok: true, value: { name: 'Kao Studio', dataDir } });
    expect(await call(ws, 'not json')).toMatchObject({ ok: false, error: { code: 'protocol' } });
    expect(await call(ws, { id: 'x', channel: 3 })).toMatchObject({ ok: false, error: { code: 'protocol' } });
    const before = services.settings.get();
    const bad = await call(ws, { id: 2, channel: 'settings.set', request: { ...before, theme: 'neon' } });
    expect(bad).toMatchObject({ id: 2, ok: false, error: { code: 'invalid-input' } });
    expect(services.settings.get()).toEqual(before);
    ws.close();
  });

  it('serves media from the data folder only', async () => {
    const headers = { cookie: session };
    expect((await fetch(`${bridge.origin}/media/faces/a.png`, { headers })).status).toBe(200);
    // The version query the renderer adds to sample grids (`?v=`) is ignored when resolving the file.
    const versioned = await fetch(`${bridge.origin}/media/faces/a.png?v=1a.2b.3c`, { headers });
    expect(versioned.status).toBe(200);
    expect(Buffer.from(await versioned.arrayBuffer())).toEqual(
      await readFile(join(dataDir, 'faces', 'a.png')),
    );
    expect((await fetch(`${bridge.origin}/media/faces/a.png`)).status).toBe(401);
    expect((await fetch(`${bridge.origin}/media/..%2Fsecret.png`, { headers })).status).toBe(404);
    expect((await fetch(`${bridge.origin}/media/%2E%2E/secret.png`, { headers })).status).toBe(404);
  });
});
