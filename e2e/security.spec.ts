/// <reference lib="dom" />
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { launchChromium, openApp, screenshot, startServe, type ServedApp } from './helpers.ts';

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
