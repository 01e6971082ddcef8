/// <reference lib="dom" />
import { spawnSync } from 'node:child_process';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import sharp from 'sharp';
import { launchChromium, screenshot, startServe, type ServedApp } from './helpers.ts';
import { canvasPixels, canvasUrl, openScreen as openScreenIn, paints } from './explorer-page.ts';
import { selectBackend } from '../src/core/gan/backend.ts';
import { makeTempDir } from '../test/helpers/temp-dir.ts';
import { makeAppRun } from '../test/helpers/trained-run.ts';

let app: ServedApp;
let browser: Browser;
let cleanup: () => Promise<void>;
let dataDir: string;

beforeAll(async () => {
  await selectBackend('wasm');
  const temp = await makeTempDir('kao-e2e-explorer-');
  cleanup = temp.cleanup;
  dataDir = join(temp.dir, 'data');
  app = await startServe({ dataDir, configDir: join(temp.dir, 'config') });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await cleanup?.();
});

const openScreen = (scheme: 'light' | 'dark', screen: 'explorer' | 'favorites') =>
  openScreenIn(browser, app.url, scheme, screen);

describe('the Explorer and Favorites screens in Chromium over kao serve', () => {
  it('shows empty states with a next step when nothing is trained or saved (light and dark)', async () => {
    for (const scheme of ['light', 'dark'] as const) {
      const page = await openScreen(scheme, 'explorer');
      await page.getByTestId('explorer-empty').waitFor();
      expect(await page.getByTestId('explorer-empty').textContent()).toMatch(
        /No trained generator to explore/,
      );
      await screenshot(page, `explorer-empty-${scheme}`);
      await page.locator('nav [data-screen="favorites"]').click();
      await page.getByTestId('favorites-empty').waitFor();
      await screenshot(page, `favorites-empty-${scheme}`);
      await page.context().close();
    }
  });

  it('draws faces in the page, moves them with direction sliders, saves a favorite that survives a reload', async () => {
    await makeAppRun(dataDir, { steps: 40, checkpointEvery: 20 });
    const page = await openScreen('light', 'explorer');

    // A face is drawn by tfjs in the page, and GANSpace directions appear as sliders.
    await expect.poll(() => paints(page), { timeout: 60_000 }).toBeGreaterThan(0);
    expect(await page.getByTestId('explorer-step').inputValue()).toBe('40');
    const backend = await page.getByTestId('explorer-backend').textContent();
    await expect
      .poll(() => page.getByTestId('direction-slider').count(), { timeout: 60_000 })
      .toBeGreaterThan(5);
    const first = await canvasUrl(page);

    // Drag the first direction slider with the mouse: the pixels change.
    const slider = page.getByTestId('direction-slider').first();
    const box = (await slider.boundingBox())!;
    const before = await paints(page);
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    for (let i = 1; i <= 8; i++)
      await page.mouse.move(box.x + box.width / 2 + i * (box.width / 20), box.y + box.height / 2);
    await page.mouse.up();
    await expect.poll(() => paints(page)).toBeGreaterThan(before);
    await expect.poll(() => canvasUrl(page)).not.toBe(first);

    // Keyboard steps on the focused slider: one render each; the time from input to paint is the latency.
    const latencies: number[] = [];
    await slider.focus();
    for (let i = 0; i < 20; i++) {
      const count = await paints(page);
      await page.keyboard.press(i % 2 ? 'ArrowLeft' : 'ArrowRight');
      await expect.poll(() => paints(page)).toBeGreaterThan(count);
      latencies.push(Number(await page.getByTestId('explorer-canvas').getAttribute('data-last-latency')));
    }
    latencies.sort((a, b) => a - b);
    const median = latencies[latencies.length >> 1]!;
    console.log(
      `[explorer] slider latency (input → painted, tiny 16×16 model, ${backend}, headless Chromium): median ${median.toFixed(1)} ms, min ${latencies[0]!.toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms over ${latencies.length} steps`,
    );
    expect(await page.getByTestId('explorer-latency').textContent()).toMatch(/\d+ ms\/frame/);

    // Undo returns to the face before the drag.
    const edited = await canvasUrl(page);
    await page.getByTestId('undo').click();
    await expect.poll(() => canvasUrl(page)).not.toBe(edited);

    // Same seed, same face.
    await page.getByTestId('explorer-seed').fill('42');
    await page.getByTestId('explorer-seed').press('Enter');
    await page.getByTestId('explorer-seed').blur();
    await expect.poll(() => page.getByTestId('undo').isEnabled()).toBe(true);
    const seed42 = await canvasUrl(page);
    await page.keyboard.press('n');
    await expect.poll(() => canvasUrl(page)).not.toBe(seed42);
    await page.getByTestId('explorer-seed').fill('42');
    await page.getByTestId('explorer-seed').press('Enter');
    await expect.poll(() => canvasUrl(page)).toBe(seed42);
    await page.getByTestId('explorer-seed').blur();

    // Move a slider, then save with S: a toast confirms.
    await slider.focus();
    await page.keyboard.press('Shift+ArrowRight');
    await expect.poll(() => canvasUrl(page)).not.toBe(seed42);
    const savedPixels = await canvasPixels(page);
    await page.locator('main').click({ position: { x: 5, y: 5 } });
    // S asks for a name, prefilled with the run's name (not its folder id) and the step.
    await page.keyboard.press('s');
    const nameField = page.getByTestId('explorer-save-name');
    await nameField.waitFor();
    expect(await nameField.inputValue()).toBe('Tiny test run · step 40');
    await screenshot(page, 'explorer-save-name-light');
    await nameField.press('Enter');
    await page.getByText(/Saved “.+” to Favorites/).waitFor();
    await screenshot(page, 'explorer-filled-light');

    // Variations: clicking one continues from it.
    await page.getByTestId('tab-variations').click();
    await expect.poll(() => page.getByTestId('variation-cell').count(), { timeout: 30_000 }).toBe(16);
    await screenshot(page, 'explorer-variations-light');
    const beforePick = await canvasUrl(page);
    await page.getByTestId('variation-cell').nth(5).click();
    await expect.poll(() => canvasUrl(page)).not.toBe(beforePick);

    // Interpolation between the current face and another, exported as a 4-frame GIF.
    await page.getByTestId('tab-interpolation').click();
    await page.getByTestId('set-a').click();
    await page.keyboard.press('n');
    await page.getByTestId('set-b').click();
    await page.getByTestId('export-frames').fill('4');
    await page.getByTestId('export-format').selectOption('gif');
    await page.getByTestId('export-animation').click();
    await page.getByTestId('export-result').waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('export-result').textContent()).toMatch(/4 frames, 64×64/);
    await expect
      .poll(() =>
        page
          .getByTestId('export-result')
          .locator('img')
          .evaluate((img) => (img as HTMLImageElement).naturalWidth),
      )
      .toBe(64);
    await screenshot(page, 'explorer-interpolation-light');
    await page.context().close();

    // Favorites: the saved face is there, in both themes and after a reload.
    const favorites = await openScreen('light', 'favorites');
    await favorites.getByTestId('favorite-card').first().waitFor();
    expect(await favorites.getByTestId('favorite-card').count()).toBe(1);
    expect(await favorites.getByTestId('favorite-name').textContent()).toBe('Tiny test run · step 40');
    await expect
      .poll(() =>
        favorites.getByTestId('favorite-image').evaluate((img) => (img as HTMLImageElement).naturalWidth),
      )
      .toBe(64);
    await favorites.reload();
    await favorites.getByTestId('favorite-card').first().waitFor();
    expect(await favorites.getByTestId('favorite-card').count()).toBe(1);

    // Rename inline.
    await favorites.getByTestId('favorite-name').click();
    await favorites.getByTestId('favorite-rename-input').fill('Blue-eyed test face');
    await favorites.getByTestId('favorite-rename-input').press('Enter');
    await expect.poll(() => favorites.getByTestId('favorite-name').textContent()).toBe('Blue-eyed test face');
    await screenshot(favorites, 'favorites-filled-light');

    // Open in Explorer regenerates the identical face (same run, step, z, ψ).
    await favorites.getByTestId('favorite-open').click();
    await expect.poll(() => favorites.locator('main h1').textContent()).toBe('Explorer');
    await expect
      .poll(
        async () => {
          const pixels = await canvasPixels(favorites);
          return (
            pixels.length === savedPixels.length && pixels.every((v, i) => Math.abs(v - savedPixels[i]!) <= 1)
          );
        },
        { timeout: 30_000 },
      )
      .toBe(true);
    await favorites.context().close();

    const dark = await openScreen('dark', 'favorites');
    await dark.getByTestId('favorite-card').first().waitFor();
    await expect
      .poll(() =>
        dark.getByTestId('favorite-image').evaluate((img) => (img as HTMLImageElement).naturalWidth),
      )
      .toBe(64);
    await screenshot(dark, 'favorites-filled-dark');
    await dark.locator('nav [data-screen="explorer"]').click();
    await expect.poll(() => paints(dark), { timeout: 60_000 }).toBeGreaterThan(0);
    await expect
      .poll(() => dark.getByTestId('direction-slider').count(), { timeout: 60_000 })
      .toBeGreaterThan(5);
    await screenshot(dark, 'explorer-filled-dark');

    // Export in the browser: a download named after the favorite, shell-safe, at the chosen size.
    await dark.locator('nav [data-screen="favorites"]').click();
    await dark.getByTestId('favorite-export').click();
    await dark.getByTestId('favorite-export-form').locator('input[type="number"]').fill('128');
    await screenshot(dark, 'favorites-export-dark');
    const [download] = await Promise.all([
      dark.waitForEvent('download', { timeout: 30_000 }),
      dark.getByTestId('favorite-export-go').click(),
    ]);
    expect(download.suggestedFilename()).toBe('Blue-eyed-test-face-128px.png');
    expect(await sharp(await readFile((await download.path())!)).metadata()).toMatchObject({
      format: 'png',
      width: 128,
    });
    await expect
      .poll(() => dark.getByTestId('favorite-exported').textContent())
      .toMatch(/Downloaded as Blue-eyed-test-face-128px\.png/);

    // Or saved on the server: an existing file is replaced only after asking.
    const existing = join(dataDir, '..', 'already-there.png');
    await writeFile(existing, 'keep me');
    await dark.getByTestId('favorite-export').click();
    await dark.getByTestId('favorite-export-server').check();
    await dark.getByTestId('favorite-export-to').fill(existing);
    await dark.getByTestId('favorite-export-go').click();
    await dark.getByTestId('favorite-export-exists').waitFor({ timeout: 30_000 });
    await dark.getByTestId('favorite-export-replace').scrollIntoViewIfNeeded();
    expect(await readFile(existing, 'utf8')).toBe('keep me');
    await screenshot(dark, 'favorites-export-exists-dark');
    await dark.getByTestId('favorite-export-replace').click();
    await expect
      .poll(() => dark.getByTestId('favorite-exported').textContent(), { timeout: 30_000 })
      .toContain(`Saved to ${existing}`);
    expect((await readFile(existing)).subarray(1, 4).toString()).toBe('PNG');

    // The generator downloads as one zip named after the run.
    await dark.locator('nav [data-screen="training"]').click();
    await dark.getByTestId('export').click();
    await dark.getByTestId('export-panel').waitFor();
    await screenshot(dark, 'training-export-dark');
    const [zip] = await Promise.all([
      dark.waitForEvent('download', { timeout: 60_000 }),
      dark.getByTestId('export-download').click(),
    ]);
    expect(zip.suggestedFilename()).toBe('Tiny-test-run-step-40-generator.zip');
    const entries = spawnSync('unzip', ['-l', (await zip.path())!], { encoding: 'utf8' }).stdout;
    expect(entries).toMatch(/model\.json/);
    expect(entries).toMatch(/weights\.bin/);
    await dark.locator('nav [data-screen="favorites"]').click();

    // The run is gone: the favorite stays, marked, and cannot be opened in the explorer.
    await rename(join(dataDir, 'runs', 'tiny-run'), join(dataDir, 'moved-run'));
    await dark.reload();
    await dark.getByTestId('model-missing').waitFor();
    expect(await dark.getByTestId('favorite-open').isDisabled()).toBe(true);
    await screenshot(dark, 'favorites-model-missing-dark');
    await dark.context().close();
  });

  // Opt-in (KAO_EXPLORER_BENCH=1): the latency of the real preset, for the README. Training even one
  // anime-48 step takes a while on a CPU, so the default run measures the tiny model only.
  it.runIf(!!process.env.KAO_EXPLORER_BENCH)('measures slider latency on an anime-48 generator', async () => {
    await makeAppRun(dataDir, {
      id: 'anime-run',
      name: 'Anime 48',
      preset: 'anime-48',
      steps: 1,
      checkpointEvery: 1,
    });
    const page = await openScreen('light', 'explorer');
    await page.getByTestId('explorer-run').selectOption('anime-run');
    await expect.poll(() => paints(page), { timeout: 120_000 }).toBeGreaterThan(0);
    await expect
      .poll(() => page.getByTestId('direction-slider').count(), { timeout: 120_000 })
      .toBeGreaterThan(5);
    const backend = await page.getByTestId('explorer-backend').textContent();
    const slider = page.getByTestId('direction-slider').first();
    await slider.focus();
    const latencies: number[] = [];
    for (let i = 0; i < 30; i++) {
      const count = await paints(page);
      await page.keyboard.press(i % 2 ? 'ArrowLeft' : 'ArrowRight');
      await expect.poll(() => paints(page)).toBeGreaterThan(count);
      latencies.push(Number(await page.getByTestId('explorer-canvas').getAttribute('data-last-latency')));
    }
    latencies.sort((a, b) => a - b);
    console.log(
      `[explorer] slider latency (input → painted, anime-48 48×48 model, ${backend}, headless Chromium): median ${latencies[15]!.toFixed(1)} ms, p90 ${latencies[27]!.toFixed(1)} ms over 30 steps`,
    );
    await page.context().close();
  });
});
