/// <reference lib="dom" />
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { launchChromium, openApp, screenshot, startServe, type ServedApp } from './helpers.ts';
import { makeTempDir } from '../test/helpers/temp-dir.ts';

let app: ServedApp;
let browser: Browser;

beforeAll(async () => {
  app = await startServe();
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await app?.stop();
});

/** A second `kao serve` on a given port (the helper picks free ports), stopped by the caller. */
async function serveOnPort(port: number, dataDir: string, configDir: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ['bin/kao.js', 'serve', '--json', '--port', String(port), '--data', dataDir, '--config', configDir],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((ready, fail) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('"url"')) ready();
    });
    child.once('exit', (code) => fail(new Error(`kao serve exited with ${code}: ${out}`)));
  });
  return child;
}

describe('kao serve in a browser', () => {
  it('drops the token from the address bar and keeps the session out of reach of page scripts', async () => {
    const page = await openApp(browser, app.url);
    expect(page.url()).toBe(`${app.origin}/`);
    expect(await page.evaluate(() => document.cookie)).toBe('');
    const [cookie] = await page.context().cookies();
    expect(cookie).toMatchObject({
      name: `kao_session_${new URL(app.origin).port}`,
      httpOnly: true,
      sameSite: 'Strict',
    });
    await page.context().close();
  });

  it('after a restart of kao serve, the page says its session ended instead of retrying forever', async () => {
    const temp = await makeTempDir('kao-e2e-restart-');
    const first = await startServe({ dataDir: join(temp.dir, 'data'), configDir: join(temp.dir, 'config') });
    const port = Number(new URL(first.origin).port);
    let second: ChildProcess | undefined;
    try {
      const page = await openApp(browser, first.url);
      await first.stop();
      second = await serveOnPort(port, first.dataDir, first.configDir);
      await page.getByText(/session of Kao Studio has ended/).waitFor({ timeout: 20_000 });
      await screenshot(page, 'serve-session-ended-light');
      await page.context().close();
    } finally {
      if (second && second.exitCode === null) {
        second.kill('SIGTERM');
        await new Promise((done) => second!.once('exit', done));
      }
      await temp.cleanup();
    }
  });

  it('Settings explains why a data folder is refused and keeps the current one', async () => {
    const page = await openApp(browser, app.url, 'dark');
    await page.locator('nav [data-screen="settings"]').click();
    const input = page.getByTestId('data-dir-input');
    for (const [typed, reason] of [
      ['/', /root of the disk/],
      ['my-data', /full path/],
      ['/etc/kao', /system folder/],
    ] as const) {
      await input.fill(typed);
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await expect.poll(() => page.getByTestId('data-dir-error').textContent()).toMatch(reason);
    }
    await screenshot(page, 'settings-data-dir-refused-dark');
    await page.reload();
    await page.locator('nav [data-screen="settings"]').click();
    expect(await page.getByTestId('data-dir-input').inputValue()).toBe(app.dataDir);
    await page.context().close();
  });
});
