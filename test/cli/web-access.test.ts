import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  parseTarget,
  readCookie,
  sameSecret,
  URL_TOKEN_GRACE_MS,
  WebAccess,
} from '../../src/cli/web-auth.ts';
import { startWebBridge, type WebBridge } from '../../src/cli/web-bridge.ts';
import { contentDisposition } from '../../src/cli/web-downloads.ts';
import { createNodeAppServices } from '../../src/services/node-services.ts';
import type { AppServices } from '../../src/services/app-services.ts';
import { dataDirProblem } from '../../src/services/data-dir.ts';
import { SettingsService } from '../../src/services/settings.ts';
import { shellSafeFileName } from '../../src/services/export-files.ts';
import { writeStoredZip } from '../../src/services/zip.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';

describe('web access rules', () => {
  it('compares secrets of any byte length without throwing', () => {
    const secret = 'a'.repeat(48);
    expect(sameSecret(secret, secret)).toBe(true);
    expect(sameSecret('a'.repeat(47) + 'é', secret)).toBe(false);
    expect(sameSecret('', secret)).toBe(false);
    expect(sameSecret(undefined, secret)).toBe(false);
    expect(sameSecret('\u{1F600}'.repeat(100), secret)).toBe(false);
  });

  it('accepts the URL token until the grace period after its first use, never longer than a minute', () => {
    let now = 1_000;
    const access = new WebAccess(10_000, () => now);
    expect(access.redeemUrlToken('wrong')).toBe('wrong');
    expect(access.redeemUrlToken(access.token)).toBe('accepted');
    now += 10_000;
    expect(access.redeemUrlToken(access.token)).toBe('accepted');
    now += 1;
    expect(access.redeemUrlToken(access.token)).toBe('spent');
    const capped = new WebAccess(10 * URL_TOKEN_GRACE_MS, () => now);
    expect(capped.redeemUrlToken(capped.token)).toBe('accepted');
    now += URL_TOKEN_GRACE_MS + 1;
    expect(capped.redeemUrlToken(capped.token)).toBe('spent');
  });

  it('answers only its own host and origin, and nothing before it listens', () => {
    const access = new WebAccess();
    expect(access.hostAllowed('127.0.0.1:0')).toBe(false);
    access.port = 4321;
    expect(access.cookieName).toBe('kao_session_4321');
    for (const host of ['127.0.0.1:4321', 'localhost:4321']) expect(access.hostAllowed(host)).toBe(true);
    for (const host of [
      undefined,
      '',
      '127.0.0.1',
      'evil.example:4321',
      '127.0.0.1:43210',
      'LOCALHOST:4321x',
    ])
      expect(access.hostAllowed(host)).toBe(false);
    expect(access.originAllowed('http://localhost:4321')).toBe(true);
    expect(access.originAllowed('null')).toBe(false);
    expect(access.originAllowed('https://127.0.0.1:4321')).toBe(false);
  });

  it('parses request targets and cookies without throwing on hostile input', () => {
    expect(parseTarget('/media/a.png?v=1')).toMatchObject({ path: '/media/a.png' });
    expect(parseTarget('/?token=abc')?.query.get('token')).toBe('abc');
    for (const target of ['//[', 'http://evil.example/', '*', 'example.com:443', '', undefined])
      expect(parseTarget(target)).toBeUndefined();
    expect(readCookie('a=1; kao_session_1=xyz; b=2', 'kao_session_1')).toBe('xyz');
    expect(readCookie('kao_session_10=xyz', 'kao_session_1')).toBeUndefined();
    expect(readCookie(';;;==;', 'x')).toBeUndefined();
  });

  it('names downloads as attachments, with an ASCII fallback', () => {
    expect(contentDisposition('Ayaka-128px.png')).toBe(
      `attachment; filename="Ayaka-128px.png"; filename*=UTF-8''Ayaka-128px.png`,
    );
    expect(contentDisposition('綾香-128px.png')).toMatch(
      /^attachment; filename="__-128px.png"; filename\*=UTF-8''%E7/,
    );
  });
});

describe('data folder and export file rules', () => {
  const home = '/home/me';
  it('refuses relative paths, the disk root, system folders and the home folder itself', () => {
    for (const path of [
      '',
      'data',
      './data',
      '~/data',
      '/',
      '/etc',
      '/etc/kao',
      '/usr/local/kao',
      '/proc/self',
      home,
      '/home/me/',
      '/home',
      '/tmp',
      '/var',
    ])
      expect(dataDirProblem(path, home), path).toBeDefined();
    for (const path of [
      '/home/me/Kao Studio',
      '/tmp/kao-test/data',
      '/var/lib/kao',
      '/srv/kao',
      '/mnt/disk/kao',
    ])
      expect(dataDirProblem(path, home), path).toBeUndefined();
    expect(dataDirProblem('data', home)).toMatch(/full path \(for example \/home\/me\/Kao Studio\)/);
  });

  it('a stored data folder that may not be one falls back to the default and is reported as repaired', () => {
    for (const stored of ['/', 'relative/data', homedir()]) {
      const service = new SettingsService(
        { read: () => ({ dataDir: stored }), write: () => undefined },
        '/srv/kao',
      );
      expect(service.get().dataDir, stored).toBe('/srv/kao');
      expect(service.repaired, stored).toContain('dataDir');
    }
  });

  it('makes shell-safe file names from display names', () => {
    expect(shellSafeFileName('run-20261205-151745-geuw · step 148', 'x')).toBe(
      'run-20261205-151745-geuw-step-148',
    );
    expect(shellSafeFileName('My "best" face / v2', 'x')).toBe('My-best-face-v2');
    expect(shellSafeFileName('-rf *', 'x')).toBe('rf');
    expect(shellSafeFileName('...', 'fallback')).toBe('fallback');
    expect(shellSafeFileName('綾香 ♡', 'x')).toBe('綾香');
    expect(shellSafeFileName('$(reboot)`x`;&|<>', 'x')).toBe('reboot-x');
  });
});

describe('stored zip', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ dir, cleanup } = await makeTempDir());
  });
  afterAll(async () => cleanup());

  it('writes an archive unzip accepts, with the exact bytes, and never over an existing file', async () => {
    await writeFile(join(dir, 'model.json'), '{"format":"layers-model"}');
    await writeFile(join(dir, 'weights.bin'), Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251)));
    const zip = join(dir, 'gen.zip');
    await writeStoredZip(zip, [
      { name: 'model.json', file: join(dir, 'model.json') },
      { name: 'weights.bin', file: join(dir, 'weights.bin') },
    ]);
    const test = spawnSync('unzip', ['-t', zip], { encoding: 'utf8' });
    expect(test.stdout).toMatch(/No errors detected/);
    const out = join(dir, 'out');
    await mkdir(out);
    expect(spawnSync('unzip', ['-q', zip, '-d', out]).status).toBe(0);
    expect(spawnSync('cmp', [join(dir, 'weights.bin'), join(out, 'weights.bin')]).status).toBe(0);
    await expect(writeStoredZip(zip, [])).rejects.toThrow(/EEXIST/);
  });
});

describe('web bridge internals', () => {
  let cleanup: () => Promise<void>;
  let services: AppServices;
  const bridges: WebBridge[] = [];
  let root: string;
  beforeAll(async () => {
    ({ dir: root, cleanup } = await makeTempDir());
    await mkdir(join(root, 'renderer'));
    await writeFile(join(root, 'renderer', 'index.html'), '<!doctype html>');
    services = createNodeAppServices({ configDir: join(root, 'config'), dataDir: join(root, 'data') });
  });
  afterAll(async () => {
    for (const bridge of bridges) await bridge.close();
    await services.dispose();
    await cleanup();
  });

  async function session(bridge: WebBridge): Promise<string> {
    const swap = await fetch(bridge.url, { redirect: 'manual' });
    return /^([^;]+)/.exec(swap.headers.get('set-cookie') ?? '')![1]!;
  }

  it('two servers on one machine keep separate sessions (the cookie name carries the port)', async () => {
    const a = await startWebBridge({ services, rendererDir: join(root, 'renderer'), log: () => undefined });
    const b = await startWebBridge({ services, rendererDir: join(root, 'renderer'), log: () => undefined });
    bridges.push(a, b);
    const [cookieA, cookieB] = [await session(a), await session(b)];
    expect(cookieA.split('=')[0]).not.toBe(cookieB.split('=')[0]);
    // A browser sends both cookies to both ports; each server reads its own.
    const both = `${cookieA}; ${cookieB}`;
    expect((await fetch(a.origin + '/', { headers: { cookie: both } })).status).toBe(200);
    expect((await fetch(b.origin + '/', { headers: { cookie: both } })).status).toBe(200);
    expect((await fetch(b.origin + '/', { headers: { cookie: cookieA } })).status).toBe(401);
  });

  it('a 500 says nothing about the failure; the details go to the server log only', async () => {
    const logged: string[] = [];
    const broken = {
      ...services,
      settings: {
        get: () => {
          throw new Error('EACCES /home/me/secret/path');
        },
      },
    } as unknown as AppServices;
    const bridge = await startWebBridge({
      services: broken,
      rendererDir: join(root, 'renderer'),
      log: (m) => logged.push(m),
    });
    bridges.push(bridge);
    const response = await fetch(`${bridge.origin}/media/faces/a.png`, {
      headers: { cookie: await session(bridge) },
    });
    expect(response.status).toBe(500);
    expect(await response.text()).toBe('Internal error.');
    expect(logged.join('\n')).toContain('/home/me/secret/path');
  });
});
