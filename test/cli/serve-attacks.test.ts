/**
 * Attacks on a real `kao serve` process from outside, over loopback: raw sockets, plain HTTP and `ws`
 * clients. Every attempt must be refused, and the server must still answer after each one (the process
 * alive, an authenticated page 200). Bounded: every socket has a deadline, every loop a fixed count.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import WebSocket from 'ws';
import { makeTempDir } from '../helpers/temp-dir.ts';

const GRACE_MS = 1500;
const FAVORITE_ID = '20261205-120000-abcdef';

let root: string;
let cleanup: () => Promise<void>;
let dataDir: string;
let serverCwd: string;
let child: ChildProcess;
let stderr = '';
let url: string;
let origin: string;
let port: number;
let token: string;
let cookie: string;
let firstUse: number;
let reuse: Response;

beforeAll(async () => {
  const temp = await makeTempDir();
  root = temp.dir;
  cleanup = temp.cleanup;
  dataDir = join(root, 'data');
  serverCwd = join(root, 'cwd');
  const rendererDir = join(root, 'renderer');
  await mkdir(serverCwd, { recursive: true });
  await mkdir(rendererDir, { recursive: true });
  await writeFile(join(rendererDir, 'index.html'), '<!doctype html><title>Kao</title>');
  await prepareDataFolder();

  child = spawn(
    process.execPath,
    [
      resolve('bin/kao.js'),
      'serve',
      '--json',
      '--data',
      dataDir,
      '--config',
      join(root, 'config'),
      '--renderer',
      rendererDir,
    ],
    { cwd: serverCwd, env: { ...process.env, KAO_SERVE_URL_GRACE_MS: String(GRACE_MS) } },
  );
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  ({ url, origin } = await new Promise<{ url: string; origin: string }>((done, fail) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      try {
        done(JSON.parse(out) as { url: string; origin: string });
      } catch {
        /* not complete yet */
      }
    });
    child.once('exit', (code) => fail(new Error(`kao serve exited with ${code}: ${out} ${stderr}`)));
  }));
  port = Number(new URL(origin).port);
  token = new URL(url).searchParams.get('token')!;
  const swap = await fetch(url, { redirect: 'manual' });
  // The server saw the first use before this answer arrived: its grace period ends before firstUse + grace.
  firstUse = Date.now();
  cookie = /^([^;]+)/.exec(swap.headers.get('set-cookie') ?? '')?.[1] ?? '';
  // A second use right away, inside the grace period however slow the tests run later.
  reuse = await fetch(url, { redirect: 'manual' });
}, 60_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await new Promise((done) => child.once('exit', done));
  }
  await cleanup?.();
});

async function prepareDataFolder(): Promise<void> {
  const outside = join(root, 'outside');
  await mkdir(outside, { recursive: true });
  await writeFile(join(outside, 'secret.png'), 'secret');
  await writeFile(join(outside, 'victim.png'), 'do not overwrite');
  await mkdir(join(outside, 'export-here'), { recursive: true });
  await writeFile(join(outside, 'export-here', 'model.json'), '{"earlier":"export"}');

  const faces = join(dataDir, 'faces');
  await mkdir(faces, { recursive: true });
  const png = await sharp({
    create: { width: 192, height: 192, channels: 3, background: { r: 200, g: 120, b: 160 } },
  })
    .png()
    .toBuffer();
  await writeFile(join(faces, 'a.png'), png);
  await writeFile(join(dataDir, 'private.json'), '{"not":"media"}');
  // Folders named like media files (settings.set's mkdir -p could make one): a read of them was EISDIR.
  await mkdir(join(faces, 'folder.png'));
  await mkdir(join(dataDir, 'top-folder.png'));
  await symlink(join(outside, 'secret.png'), join(faces, 'out.png'));
  await symlink('/dev/zero', join(faces, 'zero.png'));
  spawnSync('mkfifo', [join(faces, 'pipe.png')]);

  // A favorite whose run is gone: exporting it resizes the saved PNG, no model needed.
  const favorites = join(dataDir, 'favorites');
  await mkdir(favorites, { recursive: true });
  await writeFile(join(favorites, `${FAVORITE_ID}.png`), png);
  await writeFile(
    join(favorites, `${FAVORITE_ID}.json`),
    JSON.stringify({
      version: 1,
      id: FAVORITE_ID,
      name: 'Ayaka · smile / v2',
      createdAt: '2026-12-05T12:00:00.000Z',
      runId: 'run-gone',
      runDir: join(dataDir, 'runs', 'run-gone'),
      step: 100,
      truncation: 1,
      z: Array.from({ length: 8 }, () => 0.1),
      image: { file: `${FAVORITE_ID}.png`, size: 192 },
    }),
  );
  const run = join(dataDir, 'runs', 'run-a');
  await mkdir(run, { recursive: true });
  await writeFile(
    join(run, 'run.json'),
    JSON.stringify({
      id: 'run-a',
      name: 'My run',
      createdAt: '2026-12-05T12:00:00.000Z',
      options: {},
      totalSteps: 100,
      state: 'stopped',
    }),
  );
}

// ---------------------------------------------------------------- clients

/** Sends raw bytes and collects the answer until the server closes or `ms` passes. */
function raw(bytes: string | Buffer, ms = 2000): Promise<string> {
  return new Promise((done) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      done(answer);
    };
    const timer = setTimeout(finish, ms);
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
    socket.on('error', finish);
    socket.on('close', finish);
    socket.write(bytes);
  });
}

function request(target: string, headers: Record<string, string> = {}, method = 'GET'): Promise<string> {
  const lines = [`${method} ${target} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: close'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return raw(lines.join('\r\n') + '\r\n\r\n');
}

const status = (answer: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);

function get(path: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(origin + path, { headers: { cookie, ...headers }, redirect: 'manual' });
}

/** The process is still running and serves an authenticated page. */
async function expectAlive(after: string): Promise<void> {
  expect(child.exitCode, `kao serve exited after ${after}: ${stderr}`).toBeNull();
  const page = await get('/');
  expect(page.status, `no page after ${after}`).toBe(200);
  await page.arrayBuffer();
}

function ws(options: { path?: string; cookie?: string; origin?: string } = {}): Promise<WebSocket> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}${options.path ?? '/ws'}`, {
    origin: options.origin ?? origin,
    headers: options.cookie === undefined ? { cookie } : options.cookie ? { cookie: options.cookie } : {},
  });
  return new Promise((done, fail) => {
    socket.once('open', () => done(socket));
    socket.once('unexpected-response', (_req, res) => fail(new Error(`HTTP ${res.statusCode}`)));
    socket.once('error', fail);
  });
}

/** The fields these tests read from replies (settings, export results). */
type Reply = { dataDir: string; path: string; downloadUrl: string; fileName: string } & Record<
  string,
  unknown
>;

async function invoke(
  channel: string,
  requestBody: unknown,
): Promise<{ ok: boolean; value?: Reply; error?: { code: string; message: string; issues?: unknown } }> {
  const socket = await ws();
  try {
    return await new Promise((done) => {
      socket.on('message', (data) => {
        const message = JSON.parse(data.toString()) as { kind: string; id: number };
        if (message.kind === 'reply' && message.id === 1) done(message as never);
      });
      socket.send(JSON.stringify({ id: 1, channel, request: requestBody }));
    });
  } finally {
    socket.close();
  }
}

/** A completed WebSocket handshake on a raw socket, to send frames no well-behaved client would. */
function rawWebSocket(): Promise<Socket> {
  return new Promise((done, fail) => {
    const socket = connect(port, '127.0.0.1');
    const timer = setTimeout(() => fail(new Error('no handshake')), 3000);
    socket.once('error', fail);
    socket.write(
      [
        'GET /ws HTTP/1.1',
        `Host: 127.0.0.1:${port}`,
        'Upgrade: websocket',
        'Connection: Upgrade',
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
        'Sec-WebSocket-Version: 13',
        `Origin: ${origin}`,
        `Cookie: ${cookie}`,
      ].join('\r\n') + '\r\n\r\n',
    );
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      clearTimeout(timer);
      if (status(head) === 101) done(socket);
      else fail(new Error(head));
    };
    socket.on('data', onData);
  });
}

/** One frame; `mask` false makes the (forbidden) unmasked client frame. */
function frame(
  opcode: number,
  payload: Buffer,
  options: { fin?: boolean; mask?: boolean; rsv?: number } = {},
) {
  const first = ((options.fin ?? true) ? 0x80 : 0) | ((options.rsv ?? 0) << 4) | opcode;
  const masked = options.mask ?? true;
  const length = payload.length;
  const header: number[] = [first];
  if (length < 126) header.push((masked ? 0x80 : 0) | length);
  else header.push((masked ? 0x80 : 0) | 126, length >> 8, length & 0xff);
  if (!masked) return Buffer.concat([Buffer.from(header), payload]);
  const key = randomBytes(4);
  const body = Buffer.from(payload.map((byte, i) => byte ^ key[i % 4]!));
  return Buffer.concat([Buffer.from(header), key, body]);
}

/** Resolves true when the server closes the socket within `ms`. */
function closedWithin(socket: Socket, ms = 3000): Promise<boolean> {
  return new Promise((done) => {
    if (socket.destroyed) return done(true);
    const timer = setTimeout(() => {
      socket.destroy();
      done(false);
    }, ms);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      done(true);
    });
    socket.resume();
  });
}

// ---------------------------------------------------------------- attacks

describe('kao serve under attack (a real process on 127.0.0.1)', () => {
  it('the printed URL: 303 to / with a per-port HttpOnly cookie, then refused after its grace period', async () => {
    expect(new URL(origin).hostname).toBe('127.0.0.1');
    expect(cookie).toMatch(new RegExp(`^kao_session_${port}=[0-9a-f]{64}$`));
    expect(cookie).not.toContain(token);
    const again = reuse;
    expect(again.status).toBe(303);
    expect(again.headers.get('location')).toBe('/');
    expect(again.headers.get('set-cookie')).toMatch(
      new RegExp(`^kao_session_${port}=[0-9a-f]{64}; HttpOnly; SameSite=Strict; Path=/$`),
    );
    // Never on the WebSocket, and the token is not a session cookie either (old or new name).
    await expect(ws({ path: `/ws?token=${token}`, cookie: '' })).rejects.toThrow(/403/);
    for (const forged of [`kao_session_${port}=${token}`, `kao_token=${token}`]) {
      expect((await fetch(origin + '/', { headers: { cookie: forged } })).status).toBe(401);
      await expect(ws({ cookie: forged })).rejects.toThrow(/403/);
    }
    // Anywhere but `/`, a query token is no key.
    expect((await fetch(`${origin}/media/faces/a.png?token=${token}`)).status).toBe(401);

    await new Promise((done) => setTimeout(done, Math.max(0, firstUse + GRACE_MS + 300 - Date.now())));
    const late = await fetch(url, { redirect: 'manual' });
    expect(late.status).toBe(401);
    expect(await late.text()).toMatch(/already used/);
    // The browser that swapped it keeps working, and following the old link just goes home.
    const withSession = await fetch(url, { redirect: 'manual', headers: { cookie } });
    expect(withSession.status).toBe(303);
    expect(withSession.headers.get('set-cookie')).toBeNull();
    await expectAlive('the token checks');
  });

  it('crash 1: an upgrade to an unparsable target (`//[`) is refused, the server stays up', async () => {
    for (const target of ['//[', '//[::1', '/%', 'http://[', '*', '//evil.example/ws']) {
      const answer = await raw(
        `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
          `Origin: ${origin}\r\nCookie: ${cookie}\r\n\r\n`,
      );
      expect(status(answer), target).not.toBe(101);
      await expectAlive(`upgrade to ${target}`);
    }
  });

  it('malformed WebSocket handshakes to /ws (with a valid session) are refused, the server stays up', async () => {
    const base = `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nOrigin: ${origin}\r\nCookie: ${cookie}\r\n`;
    const key = `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n`;
    for (const headers of [
      `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n`, // no key
      `Upgrade: websocket\r\nConnection: Upgrade\r\n${key}Sec-WebSocket-Version: 99\r\n`,
      `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n`,
      `Upgrade: h2c\r\nConnection: Upgrade\r\n${key}Sec-WebSocket-Version: 13\r\n`,
      `Upgrade: websocket\r\nConnection: keep-alive\r\n${key}Sec-WebSocket-Version: 13\r\n`,
    ]) {
      expect(status(await raw(base + headers + '\r\n', 1000)), headers).not.toBe(101);
      await expectAlive(headers);
    }
  });

  it('crash 2: tokens and cookies whose UTF-8 byte length differs from the secret are refused', async () => {
    const sameChars = 'a'.repeat(token.length - 1) + 'é';
    await expect(ws({ path: `/ws?token=${encodeURIComponent(sameChars)}`, cookie: '' })).rejects.toThrow(
      /403/,
    );
    await expectAlive('a multi-byte WebSocket token');
    expect(status(await request(`/?token=${encodeURIComponent(sameChars)}`))).toBe(401);
    const cookieChars = 'a'.repeat(63) + 'é';
    expect(status(await request('/', { Cookie: `kao_session_${port}=${cookieChars}` }))).toBe(401);
    await expect(ws({ cookie: `kao_session_${port}=${encodeURIComponent(cookieChars)}` })).rejects.toThrow(
      /403/,
    );
    await expectAlive('multi-byte tokens and cookies');
  });

  it('crash 3: WebSocket protocol errors close that connection only', async () => {
    const oversized = Buffer.from([0x81, 0xff, 0, 0, 0, 0, 0, 0x50, 0, 0, 1, 2, 3, 4]); // 5 MiB text frame
    const attacks: Array<[string, Buffer]> = [
      ['a frame over maxPayload', oversized],
      ['invalid UTF-8', frame(0x1, Buffer.from([0xff, 0xfe, 0xfd]))],
      ['an unmasked frame', frame(0x1, Buffer.from('{"id":1}'), { mask: false })],
      ['a bad opcode', frame(0x3, Buffer.from('x'))],
      ['RSV bits without an extension', frame(0x1, Buffer.from('x'), { rsv: 4 })],
      ['a continuation without a start', frame(0x0, Buffer.from('x'))],
      ['a fragmented control frame', frame(0x9, Buffer.from('x'), { fin: false })],
      ['a control frame over 125 bytes', frame(0x9, Buffer.alloc(200, 1))],
    ];
    for (const [name, bytes] of attacks) {
      const socket = await rawWebSocket();
      socket.write(bytes);
      expect(await closedWithin(socket), name).toBe(true);
      await expectAlive(name);
    }
    // A real message over the limit from a normal client, binary and garbage messages.
    const client = await ws();
    const closed = new Promise<number>((done) => client.once('close', (code) => done(code)));
    client.on('error', () => undefined);
    client.send('x'.repeat(4 * 1024 * 1024 + 1));
    expect(await closed).toBe(1009);
    await expectAlive('an oversized message');
    const chatty = await ws();
    const replies: string[] = [];
    chatty.on('message', (data) => replies.push(data.toString()));
    chatty.send(Buffer.from([1, 2, 3]), { binary: true });
    chatty.send('{"id": 1e309, "channel": "app.info", "request": {}}');
    chatty.send('['.repeat(100_000));
    await expect.poll(() => replies.length, { timeout: 5000 }).toBe(3);
    for (const reply of replies)
      expect(JSON.parse(reply)).toMatchObject({ ok: false, error: { code: 'protocol' } });
    chatty.close();
    await expectAlive('binary and malformed messages');
  });

  it('crash 4 and media: only regular files in the data folder’s own subfolders, same-origin only', async () => {
    const ok = await get('/media/faces/a.png');
    expect(ok.status).toBe(200);
    expect(ok.headers.get('cross-origin-resource-policy')).toBe('same-origin');
    expect(ok.headers.get('x-content-type-options')).toBe('nosniff');
    expect(Buffer.from(await ok.arrayBuffer())).toEqual(await readFile(join(dataDir, 'faces', 'a.png')));
    const refused = [
      '/media/faces/folder.png', // a folder named like a file (was EISDIR)
      '/media/top-folder.png',
      '/media/private.json', // the data folder's root is not media
      '/media/faces/out.png', // symlink out of the folder
      '/media/faces/zero.png', // symlink to a device
      '/media/faces/pipe.png', // a FIFO would block the read forever
      '/media/..%2Foutside%2Fsecret.png',
      '/media/faces/..%2F..%2Foutside%2Fsecret.png',
      '/media/%2E%2E/outside/secret.png',
      '/media/faces/%00.png',
      '/media/faces/%zz.png',
      '/media/' + encodeURIComponent('/etc/hostname.json'),
      '/media/config/settings.json',
    ];
    for (const path of refused) {
      const response = await get(path);
      expect(response.status, path).toBe(404);
      expect(await response.text(), path).not.toContain('secret');
      await expectAlive(path);
    }
    expect((await fetch(`${origin}/media/faces/a.png`)).status).toBe(401);
  });

  it('5: the data folder must be a folder of its own; nothing is created for a refused path', async () => {
    const before = (await invoke('settings.get', {})).value;
    for (const dir of [
      '/',
      'relative/data',
      '~/kao',
      homedir(),
      '/etc/kao',
      '/usr/share/kao',
      '/tmp',
      '/home',
      '',
    ]) {
      const answer = await invoke('settings.set', { ...before, dataDir: dir });
      expect(answer.ok, dir).toBe(false);
      expect(answer.error?.code, dir).toBe('invalid-input');
      if (dir)
        expect(answer.error?.message, dir).toMatch(
          /full path|root of the disk|home folder|system folder|other folders/,
        );
    }
    expect(await readdir(serverCwd)).toEqual([]);
    expect((await invoke('settings.get', {})).value?.dataDir).toBe(dataDir);
    await expectAlive('settings.set attempts');
  });

  it('5: exports refuse relative paths and never overwrite a file unless the request says so', async () => {
    const victim = join(root, 'outside', 'victim.png');
    const relative = await invoke('favorites.export', { id: FAVORITE_ID, size: 64, to: 'exports/x.png' });
    expect(relative.error).toMatchObject({
      code: 'invalid-input',
      message: expect.stringMatching(/full path/),
    });
    const existing = await invoke('favorites.export', { id: FAVORITE_ID, size: 64, to: victim });
    expect(existing.error).toMatchObject({ code: 'exists' });
    expect(await readFile(victim, 'utf8')).toBe('do not overwrite');
    const replaced = await invoke('favorites.export', {
      id: FAVORITE_ID,
      size: 64,
      to: victim,
      overwrite: true,
    });
    expect(replaced.ok).toBe(true);
    expect((await readFile(victim)).subarray(1, 4).toString()).toBe('PNG');
    // Into a folder: a shell-safe name made from the favorite's name.
    const intoFolder = await invoke('favorites.export', {
      id: FAVORITE_ID,
      size: 64,
      to: join(root, 'outside'),
    });
    expect(intoFolder.value?.path).toBe(join(root, 'outside', 'Ayaka-smile-v2-64px.png'));

    const earlier = join(root, 'outside', 'export-here');
    expect((await invoke('training.export', { id: 'run-a', to: 'gen' })).error).toMatchObject({
      code: 'invalid-input',
    });
    expect((await invoke('training.export', { id: 'run-a', to: earlier })).error).toMatchObject({
      code: 'exists',
    });
    expect(await readFile(join(earlier, 'model.json'), 'utf8')).toBe('{"earlier":"export"}');
    expect(existsSync(join(serverCwd, 'gen'))).toBe(false);
    await expectAlive('export attempts');
  });

  it('issue 13: a favorite downloads once over an authenticated one-time URL, as an attachment', async () => {
    const answer = await invoke('favorites.export', { id: FAVORITE_ID, size: 128, download: true });
    expect(answer.ok).toBe(true);
    const { downloadUrl, fileName } = answer.value!;
    expect(fileName).toBe('Ayaka-smile-v2-128px.png');
    expect(downloadUrl).toMatch(/^\/download\/[0-9a-f]{48}$/);
    expect((await fetch(origin + downloadUrl)).status).toBe(401);
    const download = await get(downloadUrl);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-disposition')).toBe(
      `attachment; filename="${fileName}"; filename*=UTF-8''${fileName}`,
    );
    expect(download.headers.get('content-type')).toBe('image/png');
    const png = Buffer.from(await download.arrayBuffer());
    expect((await sharp(png).metadata()).width).toBe(128);
    expect((await get(downloadUrl)).status).toBe(404);
    expect((await get(`/download/${'0'.repeat(48)}`)).status).toBe(404);
    expect((await get('/download/..%2F..%2Fetc%2Fpasswd')).status).toBe(404);
    await expectAlive('downloads');
  });

  it('6–8: only Host 127.0.0.1:PORT / localhost:PORT, only origin-form targets', async () => {
    expect(status(await raw(`GET / HTTP/1.1\r\nHost: evil.example\r\nCookie: ${cookie}\r\n\r\n`))).toBe(421);
    expect(
      status(await raw(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port + 1}\r\nCookie: ${cookie}\r\n\r\n`)),
    ).toBe(421);
    expect(status(await raw(`GET / HTTP/1.0\r\nCookie: ${cookie}\r\n\r\n`))).toBe(421);
    expect(
      status(
        await raw(
          `GET / HTTP/1.1\r\nHost: localhost:${port}\r\nConnection: close\r\nCookie: ${cookie}\r\n\r\n`,
        ),
      ),
    ).toBe(200);
    for (const target of ['http://evil.example/', `http://127.0.0.1:${port}/`, 'evil.example:80', '*']) {
      const answer = await raw(
        `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nCookie: ${cookie}\r\n\r\n`,
      );
      expect(status(answer), target).toBe(400);
    }
    // DNS rebinding against the WebSocket: a foreign Host is refused even with the cookie and Origin.
    const rebinding = await raw(
      `GET /ws HTTP/1.1\r\nHost: evil.example:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
        `Origin: http://evil.example:${port}\r\nCookie: ${cookie}\r\n\r\n`,
    );
    expect(status(rebinding)).toBe(421);
    await expect(ws({ origin: 'http://evil.example' })).rejects.toThrow(/403/);
    await expectAlive('host checks');
  });

  it('10: faces.cascade.use reveals nothing about files that are not cascades', async () => {
    for (const path of [
      '/etc/passwd',
      '/dev/zero',
      join(root, 'outside', 'secret.png'),
      join(dataDir, 'faces'),
    ]) {
      const started = Date.now();
      const answer = await invoke('faces.cascade.use', { path });
      expect(answer.error?.code, path).toBe('invalid-input');
      expect(answer.error?.message, path).toBe(`${path} is not a readable OpenCV cascade file (.xml).`);
      expect(Date.now() - started, path).toBeLessThan(5000);
    }
    // Stored through settings.set instead, the status reports it just as plainly.
    const settings = (await invoke('settings.get', {})).value as unknown as {
      faces: Record<string, unknown>;
    };
    expect(
      (
        await invoke('settings.set', {
          ...settings,
          faces: { ...settings.faces, cascadePath: '/etc/passwd' },
        })
      ).ok,
    ).toBe(true);
    const state = (await invoke('faces.state', {})).value as unknown as { cascade: { message?: string } };
    expect(state.cascade.message).toBe('/etc/passwd is not a readable OpenCV cascade file (.xml).');
    await invoke('settings.set', settings);
    await expectAlive('cascade probes');
  });

  it('garbage HTTP, odd methods and many half-open sockets do not stop it', async () => {
    const garbage = [
      '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03', // a TLS ClientHello
      'GET / HTTP/1.1\r\nHost: \x00\r\n\r\n',
      `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      `GET /%E0%A4%A HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nCookie: ${cookie}\r\n\r\n`,
      `GET /..%2F..%2Fetc%2Fpasswd HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nCookie: ${cookie}\r\n\r\n`,
      `POST /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: 5\r\n\r\nhello`,
      `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nCookie: ${'x'.repeat(8000)}\r\n\r\n`,
      `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`,
      'NOT-HTTP\r\n\r\n',
    ];
    for (const bytes of garbage) {
      await raw(bytes, 1000);
      await expectAlive(JSON.stringify(bytes.slice(0, 40)));
    }
    for (const method of ['POST', 'PUT', 'DELETE', 'TRACE', 'OPTIONS']) {
      expect(status(await request('/', { Cookie: cookie }, method)), method).toBe(405);
    }
    const halfOpen = await Promise.all(
      Array.from({ length: 100 }, () => {
        const socket = connect(port, '127.0.0.1');
        socket.on('error', () => undefined);
        socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`);
        return socket;
      }),
    );
    await expectAlive('100 half-open sockets');
    for (const socket of halfOpen) socket.destroy();
    await expectAlive('closing them');
    expect(stderr).not.toContain(token);
  });
});
