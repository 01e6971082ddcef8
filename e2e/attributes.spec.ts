/// <reference lib="dom" />
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Locator, Page } from 'playwright-core';
import { launchChromium, screenshot, startServe, type ServedApp } from './helpers.ts';
import { canvasPixels, openScreen as openScreenIn, paints } from './explorer-page.ts';
import { selectBackend } from '../src/core/gan/backend.ts';
import { facesDir } from '../test/helpers/shared-data.ts';
import { makeTaggedFaceFolder } from '../test/helpers/tagged-faces.ts';
import { makeTempDir } from '../test/helpers/temp-dir.ts';
import { makeAppRun } from '../test/helpers/trained-run.ts';

/**
 * The Explorer's Attributes tab over `kao serve` and the real attributes service: a run trained on face crops
 * tagged dark_hair / warm_hair / solo / glasses (test/helpers/tagged-faces.ts) gets two named sliders, and a
 * run trained on untagged faces says why it has none.
 */
let app: ServedApp;
let browser: Browser;
let cleanup: () => Promise<void>;
let dataDir: string;
let taggedDir: string;

beforeAll(async () => {
  await selectBackend('wasm');
  const temp = await makeTempDir('kao-e2e-attributes-');
  cleanup = temp.cleanup;
  dataDir = join(temp.dir, 'data');
  taggedDir = join(temp.dir, 'tagged-faces');
  await makeTaggedFaceFolder(taggedDir, 300);
  await makeAppRun(dataDir, {
    id: 'tagged-run',
    name: 'Tagged run',
    dataDir: taggedDir,
    steps: 100,
    checkpointEvery: 100,
  });
  app = await startServe({ dataDir, configDir: join(temp.dir, 'config') });
  browser = await launchChromium();
}, 300_000);
afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await cleanup?.();
});

const openScreen = (scheme: 'light' | 'dark', screen: 'explorer' | 'favorites') =>
  openScreenIn(browser, app.url, scheme, screen);

/** Largest per-channel difference between two RGBA pixel arrays. */
const maxDifference = (a: number[], b: number[]) =>
  a.length === b.length ? a.reduce((worst, v, i) => Math.max(worst, Math.abs(v - b[i]!)), 0) : Infinity;

const row = (page: Page, tag: string): Locator =>
  page.locator(`[data-testid="attribute-row"][data-tag="${tag}"]`);
const sliderValue = (page: Page, tag: string) => row(page, tag).locator('.value').textContent();

describe('the Explorer’s named sliders in Chromium over kao serve', () => {
  it('learns sliders from the tags, moves the face, undoes, and a favorite brings its position back', async () => {
    const page = await openScreen('light', 'explorer');
    // Learning starts when the run opens; catch its progress bar while it runs (the first visit only).
    await page.getByTestId('tab-attributes').click();
    const progress = page.getByTestId('attributes-progress');
    const caught = await progress
      .filter({ hasText: /step \d of 5/ })
      .waitFor({ timeout: 30_000 })
      .then(() => true)
      .catch(() => false);
    if (caught) {
      expect(await progress.textContent()).toMatch(/Learning named sliders .* step \d of 5: /);
      await screenshot(page, 'explorer-attributes-learning-light');
    }
    console.log(`[attributes] learning progress ${caught ? 'seen and captured' : 'not caught'}`);
    await expect.poll(() => paints(page), { timeout: 60_000 }).toBeGreaterThan(0);

    await expect.poll(() => page.getByTestId('attribute-slider').count(), { timeout: 180_000 }).toBe(2);
    const tags = await page
      .getByTestId('attribute-row')
      .evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.tag).sort());
    expect(tags).toEqual(['dark_hair', 'warm_hair']);
    for (const [tag, label] of [
      ['dark_hair', 'dark hair'],
      ['warm_hair', 'warm hair'],
    ] as const) {
      expect(await row(page, tag).locator('.label').textContent()).toBe(label);
      expect(await row(page, tag).getByTestId('attribute-stats').textContent()).toMatch(
        /^learned from \d+ with, \d+ without · \d+ % accurate on \d+ held-out faces$/,
      );
      expect(await sliderValue(page, tag)).toBe('0.00');
    }
    // solo (on every face) and glasses (too few) are listed as not used, with reasons.
    const skipped = page.getByTestId('attributes-skipped');
    expect(await skipped.locator('summary').textContent()).toMatch(/^\d+ tags? not used$/);
    await skipped.locator('summary').click();
    expect(await skipped.textContent()).toMatch(/solo — .+/);
    expect(await skipped.textContent()).toMatch(/glasses — .+/);
    expect(await page.getByTestId('attributes-summary').textContent()).toMatch(
      /300 of 300 training faces tagged · (learned in [\d.]+ s|read from the run folder)/,
    );
    await screenshot(page, 'explorer-attributes-light');

    // Drag "dark hair" with the mouse: the face changes.
    const before = await canvasPixels(page);
    const slider = row(page, 'dark_hair').getByTestId('attribute-slider');
    const box = (await slider.boundingBox())!;
    const painted = await paints(page);
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    for (let i = 1; i <= 8; i++)
      await page.mouse.move(box.x + box.width / 2 + i * (box.width / 20), box.y + box.height / 2);
    await page.mouse.up();
    await expect.poll(() => paints(page)).toBeGreaterThan(painted);
    await expect.poll(async () => maxDifference(await canvasPixels(page), before)).toBeGreaterThan(8);
    const dragged = await sliderValue(page, 'dark_hair');
    expect(Number(dragged!.replace('−', '-'))).toBeGreaterThan(0.5);
    const draggedPixels = await canvasPixels(page);

    // The whole drag is one undo step (Ctrl+Z from the focused slider): the face and the slider come back.
    await page.keyboard.press('Control+z');
    await expect.poll(async () => maxDifference(await canvasPixels(page), before)).toBe(0);
    expect(await sliderValue(page, 'dark_hair')).toBe('0.00');
    await page.keyboard.press('Control+Shift+z');
    await expect.poll(async () => maxDifference(await canvasPixels(page), draggedPixels)).toBe(0);
    expect(await sliderValue(page, 'dark_hair')).toBe(dragged);
    await page.getByTestId('attributes-reset').click();
    await expect.poll(() => sliderValue(page, 'dark_hair')).toBe('0.00');

    // Keyboard: Shift+arrow moves ten steps of 0.05. Then save the face with S.
    await row(page, 'warm_hair').getByTestId('attribute-slider').focus();
    await page.keyboard.press('Shift+ArrowRight');
    await page.keyboard.press('Shift+ArrowRight');
    await page.keyboard.press('Shift+ArrowRight');
    await expect.poll(() => sliderValue(page, 'warm_hair')).toBe('+1.50');
    await expect.poll(async () => maxDifference(await canvasPixels(page), before)).toBeGreaterThan(8);
    const savedPixels = await canvasPixels(page);
    await page.locator('main').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('s');
    await page.getByTestId('explorer-save-name').fill('Warm-haired face');
    await page.getByTestId('explorer-save-name').press('Enter');
    await page.getByText(/Saved “Warm-haired face” to Favorites/).waitFor();

    // A new face puts every slider back to 0.
    await page.keyboard.press('n');
    await expect.poll(() => sliderValue(page, 'warm_hair')).toBe('0.00');

    // Favorites shows the position; opening the favorite shows the same face with the slider where it was.
    await page.locator('nav [data-screen="favorites"]').click();
    const card = page.getByTestId('favorite-card').filter({ hasText: 'Warm-haired face' });
    await card.waitFor();
    expect(await card.getByTestId('favorite-attributes').textContent()).toBe('warm hair +1.5');
    await screenshot(page, 'favorites-attributes-light');
    await card.getByTestId('favorite-open').click();
    await expect.poll(() => page.locator('main h1').textContent()).toBe('Explorer');
    await page.getByTestId('tab-attributes').click();
    await expect.poll(() => sliderValue(page, 'warm_hair'), { timeout: 60_000 }).toBe('+1.50');
    expect(await sliderValue(page, 'dark_hair')).toBe('0.00');
    await expect
      .poll(async () => maxDifference(await canvasPixels(page), savedPixels), { timeout: 30_000 })
      .toBeLessThanOrEqual(1);
    // Its base is the face the slider was moved on: back at 0, the unedited face from before.
    await page.getByTestId('attributes-reset').click();
    await expect.poll(() => sliderValue(page, 'warm_hair')).toBe('0.00');
    await expect.poll(async () => maxDifference(await canvasPixels(page), before)).toBeLessThanOrEqual(1);
    await page.context().close();

    // A fresh window (dark mode) opening the favorite before the Explorer ever loaded: the sliders arrive
    // after the face, read from the run folder's cache, and still take the saved position.
    const dark = await openScreen('dark', 'favorites');
    await dark
      .getByTestId('favorite-card')
      .filter({ hasText: 'Warm-haired face' })
      .getByTestId('favorite-open')
      .click();
    await expect.poll(() => dark.locator('main h1').textContent()).toBe('Explorer');
    await dark.getByTestId('tab-attributes').click();
    await expect.poll(() => sliderValue(dark, 'warm_hair'), { timeout: 60_000 }).toBe('+1.50');
    await expect
      .poll(async () => maxDifference(await canvasPixels(dark), savedPixels), { timeout: 30_000 })
      .toBeLessThanOrEqual(1);
    expect(await dark.getByTestId('attributes-summary').textContent()).toMatch(/read from the run folder/);
    await row(dark, 'dark_hair').getByTestId('attribute-slider').focus();
    await dark.keyboard.press('Shift+ArrowRight');
    await dark.keyboard.press('Shift+ArrowRight');
    await expect.poll(() => sliderValue(dark, 'dark_hair')).toBe('+1.00');
    await screenshot(dark, 'explorer-attributes-dark');

    // Learn again, cancelled: the sliders learned before stay, positions and face included; Retry reads the cache.
    const darkPixels = await canvasPixels(dark);
    await dark.getByTestId('attributes-relearn').click();
    await dark.getByTestId('attributes-cancel').click();
    await dark.getByTestId('attributes-cancelled').waitFor({ timeout: 30_000 });
    expect(await dark.getByTestId('attribute-slider').count()).toBe(2);
    expect(await sliderValue(dark, 'dark_hair')).toBe('+1.00');
    expect(maxDifference(await canvasPixels(dark), darkPixels)).toBe(0);
    await dark.getByTestId('attributes-retry').click();
    await dark.getByTestId('attributes-cancelled').waitFor({ state: 'detached' });
    await expect
      .poll(() => dark.getByTestId('attributes-summary').textContent(), { timeout: 30_000 })
      .toMatch(/read from the run folder/);
    expect(await sliderValue(dark, 'dark_hair')).toBe('+1.00');
    await dark.context().close();
  }, 420_000);

  it('says why a run trained on untagged faces has no named sliders (light and dark)', async () => {
    // The same kind of face crops, without tag files beside them.
    const untagged = join(dataDir, '..', 'untagged-faces');
    await mkdir(untagged);
    const files = (await readdir(facesDir))
      .filter((f) => f.endsWith('.jpg'))
      .sort()
      .slice(0, 64);
    for (const file of files) await copyFile(join(facesDir, file), join(untagged, file));
    await makeAppRun(dataDir, {
      id: 'plain-run',
      name: 'Untagged run',
      dataDir: untagged,
      steps: 10,
      checkpointEvery: 10,
    });
    for (const scheme of ['light', 'dark'] as const) {
      const page = await openScreen(scheme, 'explorer');
      await expect.poll(() => paints(page), { timeout: 60_000 }).toBeGreaterThan(0);
      await page.getByTestId('explorer-run').selectOption('plain-run');
      await page.getByTestId('tab-attributes').click();
      const note = page.getByTestId('attributes-note');
      await note.waitFor({ timeout: 120_000 });
      expect(await note.textContent()).toMatch(
        /No named sliders for this run\.\s+None of the 64 faces .+ tags/,
      );
      // …and what to do about it.
      expect((await note.textContent())!.replace(/\s+/g, ' ')).toMatch(
        /crawl a booru or import images with tag files \(image\.txt: blonde hair, smile\)/,
      );
      expect(await page.getByTestId('attribute-slider').count()).toBe(0);
      await screenshot(page, `explorer-attributes-no-tags-${scheme}`);
      await page.context().close();
    }
  }, 300_000);
});
