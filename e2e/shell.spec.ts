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

const screens = ['dataset', 'faces', 'training', 'explorer', 'favorites', 'settings'] as const;

describe('the app shell in Chromium over kao serve', () => {
  for (const scheme of ['light', 'dark'] as const) {
    it(`opens every screen (${scheme})`, async () => {
      const page = await openApp(browser, app.url, scheme);
      await expect.poll(() => page.evaluate(() => document.documentElement.dataset.theme)).toBe(scheme);
      for (const screen of screens) {
        await page.locator(`nav [data-screen="${screen}"]`).click();
        await expect
          .poll(() => page.locator('main h1').textContent())
          .toBe(screen[0]!.toUpperCase() + screen.slice(1));
        await expect
          .poll(() => page.locator(`nav [data-screen="${screen}"]`).getAttribute('aria-current'))
          .toBe('page');
        await screenshot(page, `shell-${screen}-${scheme}`);
      }
      await page.context().close();
    });
  }

  it('round-trips the API: status bar, settings persistence, keyboard navigation', async () => {
    const page = await openApp(browser, app.url);
    await expect.poll(() => page.getByTestId('status-bar').textContent()).toContain(app.dataDir);
    await page.keyboard.press('Control+6');
    await expect.poll(() => page.locator('main h1').textContent()).toBe('Settings');
    await page.getByText('Dark', { exact: true }).click();
    await expect.poll(() => page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark');
    await page.reload();
    await page.getByTestId('status-bar').waitFor();
    await expect.poll(() => page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark');
    await page.getByText('Follow the system').click();
    await page.context().close();
  });

  it('runs a real training step in the trainer process from the Settings screen', async () => {
    const page = await openApp(browser, app.url);
    await page.locator('nav [data-screen="settings"]').click();
    // Automatic: on a machine without CUDA or tfjs-node this lands on wasm and says why not the others.
    await page.getByLabel('Backend preference').selectOption('auto');
    await page.getByTestId('self-test').click();
    const result = page.getByTestId('self-test-result');
    await result.waitFor({ timeout: 120_000 });
    const text = (await result.textContent())!.replace(/\s+/g, ' ');
    const chosen = /Using (tensorflow-gpu|webgpu|tensorflow|wasm|cpu)/.exec(text)?.[1];
    expect(chosen).toBeDefined();
    // Every faster backend that was passed over is listed with its reason.
    if (chosen !== 'tensorflow-gpu') expect(text).toMatch(/✗ tensorflow-gpu — \S/);
    await expect.poll(() => page.getByTestId('backend-name').textContent()).toBe(chosen);
    await screenshot(page, 'shell-settings-self-test');
    await page.context().close();
  });
});
