import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { extname, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { WsClientMessage, type WsServerMessage } from '../shared/contract.ts';
import { CONTENT_SECURITY_POLICY } from '../shared/security.ts';
import type { AppServices } from '../services/app-services.ts';
import { MEDIA_TYPES, resolveMediaPath } from '../services/media.ts';

export interface WebBridgeOptions {
  services: AppServices;
  /** The built renderer (out/renderer). */
  rendererDir: string;
  port?: number;
}

export interface WebBridge {
  /** The URL to open, token included. */
  url: string;
  origin: string;
  token: string;
  close(): Promise<void>;
}

const STATIC_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.wasm': 'application/wasm',
  '.woff2': 'font/woff2',
  ...MEDIA_TYPES,
};

/**
 * `kao serve`: the same services and the same contract as the Electron app, for a browser. Loopback
 * only; every request needs the per-launch token (URL once, then an HttpOnly cookie); WebSocket
 * upgrades must come from this server's own Origin.
 */
export async function startWebBridge(options: WebBridgeOptions): Promise<WebBridge> {
  const token = randomBytes(24).toString('hex');
  const rendererDir = resolve(options.rendererDir);
  let origin = '';

  const server = createServer((req, res) => {
    handleHttp(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, 'text/plain', `Internal error: ${(error as Error).message}`);
    });
  });

  async function handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', origin);
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return send(res, 405, 'text/plain', 'Method not allowed');
    const queryToken = url.searchParams.get('token');
    const authorized = tokenMatches(queryToken) || tokenMatches(cookieToken(req));
    if (!authorized) {
      return send(
        res,
        401,
        'text/plain',
        'Kao Studio: open the URL that `kao serve` printed (it carries the access token).',
      );
    }
    if (queryToken) {
      // Swap the URL token for a cookie so it does not linger in history or get sent as a Referer.
      res.setHeader('Set-Cookie', `kao_token=${token}; HttpOnly; SameSite=Strict; Path=/`);
    }
    if (url.pathname.startsWith('/media/')) {
      const file = await resolveMediaPath(
        options.services.settings.get().dataDir,
        url.pathname.slice('/media/'.length),
      );
      if (!file) return send(res, 404, 'text/plain', 'Not found');
      res.writeHead(200, {
        'Content-Type': MEDIA_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
        'Cache-Control': 'no-cache',
        'X-Content-Type-Options': 'nosniff',
      });
      createReadStream(file).pipe(res);
      return;
    }
    const relativePath = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname.slice(1));
    const file = resolve(rendererDir, relativePath);
    if (!file.startsWith(rendererDir + '/') || !(await isFile(file)))
      return send(res, 404, 'text/plain', 'Not found');
    const type = STATIC_TYPES[extname(file)] ?? 'application/octet-stream';
    res.writeHead(200, {
      'Content-Type': type,
      'Content-Security-Policy': CONTENT_SECURITY_POLICY,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': type.startsWith('text/html') ? 'no-store' : 'no-cache',
    });
    res.end(req.method === 'HEAD' ? undefined : await readFile(file));
  }

  function tokenMatches(candidate: string | null | undefined): boolean {
    if (!candidate || candidate.length !== token.length) return false;
    return timingSafeEqual(Buffer.from(candidate), Buffer.from(token));
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: 4 * 1024 * 1024 });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', origin);
    const okOrigin = req.headers.origin === origin;
    const okToken = tokenMatches(url.searchParams.get('token')) || tokenMatches(cookieToken(req));
    if (url.pathname !== '/ws' || !okOrigin || !okToken) {
      socket.write(
        `HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n${okOrigin ? 'bad token' : 'foreign origin'}`,
      );
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws));
  });

  function onConnection(ws: WebSocket): void {
    const sendMessage = (message: WsServerMessage): void => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
    };
    const unsubscribe = options.services.events.subscribe((event, payload) =>
      sendMessage({ kind: 'event', event, payload }),
    );
    ws.on('close', unsubscribe);
    ws.on('message', async (data) => {
      let raw: unknown;
      try {
        raw = JSON.parse(data.toString());
      } catch {
        return sendMessage({
          kind: 'reply',
          id: -1,
          ok: false,
          error: { code: 'protocol', message: 'Message is not JSON.' },
        });
      }
      const parsed = WsClientMessage.safeParse(raw);
      if (!parsed.success) {
        const id = typeof (raw as { id?: unknown })?.id === 'number' ? (raw as { id: number }).id : -1;
        return sendMessage({
          kind: 'reply',
          id,
          ok: false,
          error: { code: 'protocol', message: `Malformed message: ${parsed.error.issues[0]?.message ?? ''}` },
        });
      }
      const { id, channel, request } = parsed.data;
      const envelope = await options.services.dispatch(channel, request);
      sendMessage(
        envelope.ok
          ? { kind: 'reply', id, ok: true, value: envelope.value }
          : { kind: 'reply', id, ok: false, error: envelope.error },
      );
    });
  }

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolveListen());
  });
  const { port } = server.address() as AddressInfo;
  origin = `http://127.0.0.1:${port}`;

  return {
    url: `${origin}/?token=${token}`,
    origin,
    token,
    async close() {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

function cookieToken(req: IncomingMessage): string | undefined {
  const cookie = req.headers.cookie ?? '';
  return /(?:^|;\s*)kao_token=([0-9a-f]+)/.exec(cookie)?.[1];
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'Content-Type': `${type}; charset=utf-8`, 'X-Content-Type-Options': 'nosniff' });
  res.end(body);
}
