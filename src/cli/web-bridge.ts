import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { extname, relative, resolve, isAbsolute } from 'node:path';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { WsClientMessage, type WsServerMessage } from '../shared/contract.ts';
import { CONTENT_SECURITY_POLICY } from '../shared/security.ts';
import type { AppServices } from '../services/app-services.ts';
import { MEDIA_TYPES, resolveMediaPath } from '../services/media.ts';
import { parseTarget, WebAccess } from './web-auth.ts';
import { contentDisposition, type WebDownloads } from './web-downloads.ts';

export interface WebBridgeOptions {
  services: AppServices;
  /** The built renderer (out/renderer). */
  rendererDir: string;
  port?: number;
  /** Files services prepared for the browser to download (the same object the platform offers them to). */
  downloads?: WebDownloads;
  /** How long the printed URL works after its first use (at most a minute; tests shorten it). */
  urlTokenGraceMs?: number;
  /** Where unexpected errors are reported (the terminal running `kao serve`); never sent to the client. */
  log?: (message: string) => void;
}

export interface WebBridge {
  /** The URL to open, token included; it works until a minute after its first use. */
  url: string;
  origin: string;
  port: number;
  token: string;
  /** The name of the session cookie the URL token is swapped for (it carries the port). */
  cookieName: string;
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

/** Sent on every answer: nothing we serve may be embedded, sniffed or read by another site. */
const COMMON_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

const MAX_PAYLOAD = 4 * 1024 * 1024;
const NOT_AUTHORIZED = 'Kao Studio: open the URL that `kao serve` printed (it carries the access token).';
const URL_SPENT =
  'Kao Studio: this link was already used, and it works only once. Go back to the browser tab where you ' +
  'opened it, or restart `kao serve` for a new link.';

/**
 * `kao serve`: the same services and the same contract as the Electron app, for a browser. Loopback only;
 * only `Host: 127.0.0.1:PORT` or `localhost:PORT`; the printed URL's token is swapped once for a per-server
 * session cookie; WebSocket upgrades need that cookie and this server's own Origin. No request, frame or
 * file error may stop the process: each one ends its own connection at most.
 */
export async function startWebBridge(options: WebBridgeOptions): Promise<WebBridge> {
  const rendererDir = resolve(options.rendererDir);
  const log = options.log ?? ((message: string) => process.stderr.write(`kao serve: ${message}\n`));
  const downloads = options.downloads;
  const access = new WebAccess(options.urlTokenGraceMs);

  const server: Server = createServer((req, res) => {
    handleHttp(req, res).catch((error: unknown) => {
      log(`request ${safeForLog(req.url)} failed: ${(error as Error)?.stack ?? String(error)}`);
      if (!res.headersSent) send(res, 500, 'Internal error.');
      else res.destroy();
    });
  });
  // Malformed HTTP (bad headers, oversized requests, resets): answer 400 when possible, never throw.
  server.on('clientError', (_error, socket: Duplex) => {
    if ((socket as Socket).writable && !(socket as Socket).destroyed) {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    }
    socket.destroy();
  });

  async function handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!access.hostAllowed(req.headers.host)) {
      return send(
        res,
        421,
        `Kao Studio answers only at http://127.0.0.1:${access.port}/ or http://localhost:${access.port}/. ` +
          'Through an SSH tunnel, use the same port on both ends (ssh -L PORT:127.0.0.1:PORT).',
      );
    }
    const target = parseTarget(req.url);
    if (!target) return send(res, 400, 'Bad request target.');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'Method not allowed.');

    const queryToken = target.query.get('token');
    if (target.path === '/' && queryToken !== null) {
      const outcome = access.redeemUrlToken(queryToken);
      const redeemed = outcome === 'accepted';
      if (!redeemed && !access.hasSession(req)) {
        return send(res, 401, outcome === 'spent' ? URL_SPENT : NOT_AUTHORIZED);
      }
      // Swap the URL token for the cookie and drop it from the address bar, history and Referers.
      res.writeHead(303, {
        ...COMMON_HEADERS,
        Location: '/',
        'Cache-Control': 'no-store',
        ...(redeemed ? { 'Set-Cookie': access.sessionCookie } : {}),
      });
      res.end();
      return;
    }
    if (!access.hasSession(req)) return send(res, 401, NOT_AUTHORIZED);

    if (target.path.startsWith('/media/')) return serveMedia(req, res, target.path.slice('/media/'.length));
    if (target.path.startsWith('/download/'))
      return serveDownload(req, res, target.path.slice('/download/'.length));
    return serveStatic(req, res, target.path);
  }

  async function serveMedia(req: IncomingMessage, res: ServerResponse, requested: string): Promise<void> {
    const file = await resolveMediaPath(options.services.settings.get().dataDir, requested);
    if (!file) return send(res, 404, 'Not found.');
    await streamFile(req, res, file, {
      'Content-Type': MEDIA_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'Cache-Control': 'no-cache',
    });
  }

  async function serveDownload(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    if (req.method !== 'GET') return send(res, 405, 'Method not allowed.');
    const offer = /^[0-9a-f]{48}$/.test(id) ? downloads?.take(id) : undefined;
    if (!offer) return send(res, 404, 'This download link was already used or has expired. Export again.');
    res.once('close', () => void downloads?.release(offer));
    await streamFile(req, res, offer.file, {
      'Content-Type': offer.type,
      'Content-Disposition': contentDisposition(offer.fileName),
      'Cache-Control': 'no-store',
    });
  }

  async function serveStatic(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    let relativePath: string;
    try {
      relativePath = path === '/' ? 'index.html' : decodeURIComponent(path.slice(1));
    } catch {
      return send(res, 404, 'Not found.');
    }
    const file = resolve(rendererDir, relativePath);
    const rel = relative(rendererDir, file);
    if (
      relativePath.includes('\0') ||
      !rel ||
      rel.startsWith('..') ||
      isAbsolute(rel) ||
      !(await isFile(file))
    )
      return send(res, 404, 'Not found.');
    const type = STATIC_TYPES[extname(file)] ?? 'application/octet-stream';
    const body = await readFile(file);
    res.writeHead(200, {
      ...COMMON_HEADERS,
      'Content-Type': type,
      'Content-Length': body.length,
      'Content-Security-Policy': CONTENT_SECURITY_POLICY,
      'Cache-Control': type.startsWith('text/html') ? 'no-store' : 'no-cache',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  /** Streams a regular file; a read error (a folder, a file gone meanwhile) ends this response only. */
  async function streamFile(
    req: IncomingMessage,
    res: ServerResponse,
    file: string,
    headers: Record<string, string>,
  ): Promise<void> {
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) return send(res, 404, 'Not found.');
    if (req.method === 'HEAD') {
      res.writeHead(200, { ...COMMON_HEADERS, ...headers, 'Content-Length': info.size });
      res.end();
      return;
    }
    await new Promise<void>((done) => {
      const stream = createReadStream(file);
      stream.once('error', () => {
        if (!res.headersSent) send(res, 404, 'Not found.');
        else res.destroy();
        done();
      });
      stream.once('open', () => {
        res.writeHead(200, { ...COMMON_HEADERS, ...headers, 'Content-Length': info.size });
        stream.pipe(res);
      });
      stream.once('end', () => done());
      res.once('close', () => {
        stream.destroy();
        done();
      });
    });
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD });
  wss.on('error', (error) => log(`WebSocket server error: ${error.message}`));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    try {
      const refuse = (status: string, text: string): void => {
        socket.end(
          `HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
            `Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
        );
        socket.destroy();
      };
      if (!access.hostAllowed(req.headers.host)) return refuse('421 Misdirected Request', 'unknown host');
      if (parseTarget(req.url)?.path !== '/ws') return refuse('404 Not Found', 'not found');
      if (!access.originAllowed(req.headers.origin)) return refuse('403 Forbidden', 'foreign origin');
      // Only the cookie: a token in a WebSocket URL would outlive the page that used it.
      if (!access.hasSession(req)) return refuse('403 Forbidden', 'no session');
      wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws));
    } catch (error) {
      log(`upgrade failed: ${(error as Error)?.message ?? String(error)}`);
      socket.destroy();
    }
  });

  function onConnection(ws: WebSocket): void {
    // Protocol errors (oversized or unmasked frames, bad opcodes, invalid UTF-8) close this socket only.
    // ws has already started the closing handshake with the right code (1009, 1002, 1007) by now.
    ws.on('error', () => {
      if (ws.readyState === ws.OPEN) ws.terminate();
    });
    const sendMessage = (message: WsServerMessage): void => {
      if (ws.readyState !== ws.OPEN) return;
      let text: string;
      try {
        text = JSON.stringify(message);
      } catch (error) {
        // An event payload that cannot be serialised must not throw into the service that emitted it.
        log(`cannot send ${message.kind}: ${(error as Error)?.message ?? String(error)}`);
        return;
      }
      ws.send(text, (error) => {
        if (error) ws.terminate();
      });
    };
    const unsubscribe = options.services.events.subscribe((event, payload) =>
      sendMessage({ kind: 'event', event, payload }),
    );
    ws.on('close', unsubscribe);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      handleMessage(data, isBinary, sendMessage).catch((error: unknown) => {
        log(`message failed: ${(error as Error)?.stack ?? String(error)}`);
      });
    });
  }

  async function handleMessage(
    data: RawData,
    isBinary: boolean,
    sendMessage: (message: WsServerMessage) => void,
  ): Promise<void> {
    const protocolError = (id: number, message: string): void =>
      sendMessage({ kind: 'reply', id, ok: false, error: { code: 'protocol', message } });
    if (isBinary) return protocolError(-1, 'Messages are JSON text.');
    let raw: unknown;
    try {
      raw = JSON.parse(rawText(data));
    } catch {
      return protocolError(-1, 'Message is not JSON.');
    }
    const parsed = WsClientMessage.safeParse(raw);
    if (!parsed.success) {
      const id = (raw as { id?: unknown } | null)?.id;
      return protocolError(
        Number.isSafeInteger(id) ? (id as number) : -1,
        `Malformed message: ${parsed.error.issues[0]?.message ?? ''}`,
      );
    }
    const { id, channel, request } = parsed.data;
    const envelope = await options.services.dispatch(channel, request);
    sendMessage(
      envelope.ok
        ? { kind: 'reply', id, ok: true, value: envelope.value }
        : { kind: 'reply', id, ok: false, error: envelope.error },
    );
  }

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  server.on('error', (error) => log(`server error: ${error.message}`));
  const { port } = server.address() as AddressInfo;
  access.port = port;
  const origin = `http://127.0.0.1:${port}`;

  return {
    url: `${origin}/?token=${access.token}`,
    origin,
    port,
    token: access.token,
    cookieName: access.cookieName,
    async close() {
      for (const client of wss.clients) client.terminate();
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
      await downloads?.dispose();
    },
  };
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data as ArrayBuffer).toString('utf8');
}

function safeForLog(url: string | undefined): string {
  // The printed token must not land in logs.
  return String(url ?? '')
    .replace(/token=[^&]*/g, 'token=…')
    .slice(0, 200);
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    ...COMMON_HEADERS,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    // A refused or failed request gets no kept-alive connection to try again on.
    ...(status >= 400 ? { Connection: 'close' } : {}),
  });
  res.end(body);
}
