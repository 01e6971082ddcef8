/// <reference lib="dom" />
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, openApp, screenshot, startServe, type ServedApp } from './helpers.ts';
import { seedFaces } from './seed-faces.ts';
import { selectBackend } from '../src/core/gan/backend.ts';
import { makeAppRun } from '../test/helpers/trained-run.ts';
import { makeTempDir } from '../test/helpers/temp-dir.ts';

/**
 * The journey's guidance, as a newcomer with too few faces meets it: what comes next on each screen, how
 * many faces a good run needs, the New run form's estimate and batch check, a failed run's page, and an
 * undertrained checkpoint in the Explorer.
 */
let browser: Browser;
let app: ServedApp;
let cleanup: () => Promise<void>;
const KEPT = 20;

beforeAll(async () => {
  await selectBackend('wasm');
  const temp = await makeTempDir('kao-e2e-guidance-');
  cleanup = temp.cleanup;
  const dataDir = join(temp.dir, 'data');
  await seedFaces(dataDir, KEPT);
  // A barely trained anime-48 checkpoint (2 steps) for the Explorer.
  await makeAppRun(dataDir, {
    id: 'barely',
    name: 'First try',
    preset: 'anime-48',
    steps: 2,
    checkpointEvery: 2,
  });
  // A finished tiny run that computed SWD, so it names a best checkpoint.
  await makeAppRun(dataDir, {
    id: 'best',
    name: 'Kept its best',
    steps: 12,
    checkpointEvery: 4,
    swdEvery: 2,
  });
  app = await startServe({ dataDir, configDir: join(temp.dir, 'config') });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await cleanup?.();
});

async function open(screen: string, scheme: 'light' | 'dark' = 'light', served = app): Promise<Page> {
  const page = await openApp(browser, served.url, scheme);
  await page.locator(`nav [data-screen="${screen}"]`).click();
  return page;
}

/** The element's text with the template's line breaks and indentation collapsed to single spaces. */
const text = async (page: Page, testId: string) =>
  (await page.getByTestId(testId).first().textContent())?.replace(/\s+/g, ' ').trim();

describe('guidance from an empty dataset to a first avatar', () => {
  it('an empty dataset says where illustrations come from and what comes next; the logo is an SVG', async () => {
    const bare = await startServe();
    try {
      for (const scheme of ['light', 'dark'] as const) {
        const page = await openApp(browser, bare.url, scheme);
        await page.getByTestId('gallery-empty').waitFor();
        expect(await text(page, 'gallery-empty')).toMatch(/Next, the Faces screen finds the faces in them/);
        // No font glyph: the mark is drawn, so machines without CJK fonts show it too.
        expect(await page.locator('nav [data-testid="logo"]').evaluate((el) => el.tagName)).toBe('svg');
        expect(await page.locator('nav').textContent()).not.toContain('顔');
        expect(await text(page, 'trainer-state')).toBe('Trainer: not started');
        await screenshot(page, `guide-dataset-empty-${scheme}`);
        await page.context().close();
      }
    } finally {
      await bare.stop();
    }
  });

  it('with too few faces, Faces and Training say a good run needs about 400 and set up the crawl', async () => {
    const faces = await open('faces');
    await expect.poll(() => text(faces, 'faces-next')).toMatch(/20 kept faces\..*a good run needs about 400/);
    await faces.getByTestId('faces-next-go').click();
    await expect.poll(() => faces.locator('main h1').textContent()).toBe('Training');
    await faces.context().close();

    for (const scheme of ['light', 'dark'] as const) {
      const page = await open('training', scheme);
      await expect
        .poll(() => text(page, 'data-guide'))
        .toMatch(/20 kept faces: enough to try training, not to learn faces\.[\s\S]*about 400 faces or more/);
      await screenshot(page, `guide-training-few-faces-${scheme}`);
      if (scheme === 'dark') {
        // 20 illustrations gave 20 faces: 380 more at 1 each, a tenth more for misses, in pages of 100.
        expect(await text(page, 'guide-crawl-count')).toBe('500');
        await page.getByTestId('guide-crawl').click();
        await expect.poll(() => page.locator('main h1').textContent()).toBe('Dataset');
        expect(await page.getByTestId('crawl-limit').inputValue()).toBe('500');
        expect(await page.getByTestId('crawl-tags').inputValue()).toBe('solo');
      }
      await page.context().close();
    }
  });

  it('the New run form fits the batch to the faces, refuses a larger one, and estimates the time', async () => {
    const page = await open('training');
    // The Explorer's run is listed: the New run button, not the empty state.
    await page.getByTestId('new-run').click();
    await page.getByTestId('training-form').waitFor();
    await page.getByTestId('run-backend').selectOption('wasm');
    // anime-48 trains in batches of 64: lowered to the 20 kept faces, and said why.
    expect(await page.getByTestId('run-batch').inputValue()).toBe(String(KEPT));
    expect(await text(page, 'batch-note')).toMatch(/Lowered from 64: .*20 kept faces/);
    // The quick test carries its own batch (32), also above 20.
    await page.getByTestId('training-form').getByText('Quick test (16×16)').click();
    expect(await page.getByTestId('run-batch').inputValue()).toBe(String(KEPT));
    expect(await page.getByTestId('run-steps').inputValue()).toBe('300');
    await expect
      .poll(() => text(page, 'run-estimate'), { timeout: 120_000 })
      .toMatch(
        /^About \d+(s|m \d\ds) for 300 steps on WebAssembly \(\d+\.\d+ s a step, measured on this machine\) — less if its faces stop improving sooner\.$/,
      );
    expect(await text(page, 'few-faces-note')).toMatch(
      /20 faces are enough to try Kao Studio, not to learn faces/,
    );
    await screenshot(page, 'guide-new-run-estimate-light');

    await page.getByTestId('run-batch').fill('64');
    expect(await text(page, 'run-problems')).toBe('A batch of 64 is more than your 20 kept faces.');
    expect(await page.getByTestId('start-run').isDisabled()).toBe(true);
    await screenshot(page, 'guide-new-run-batch-too-large-light');
    await page.getByTestId('fit-batch').click();
    expect(await page.getByTestId('run-batch').inputValue()).toBe(String(KEPT));
    expect(await page.getByTestId('start-run').isDisabled()).toBe(false);
    await page.context().close();
  });

  it('a failed run shows its reason on its own page, with empty charts and one toast that goes away', async () => {
    const page = await open('training');
    // The Explorer's run is listed: the New run button, not the empty state.
    await page.getByTestId('new-run').click();
    await page.getByTestId('training-form').getByText('Quick test (16×16)').click();
    await page.getByTestId('run-name').fill('needs a GPU');
    // WebGPU on a machine without a Vulkan driver: the run fails at once, with the reason.
    await page.getByTestId('run-backend').selectOption('webgpu');
    await page.getByTestId('start-run').click();
    await page.getByTestId('start-error').waitFor({ timeout: 60_000 });
    const reason = /webgpu/i;
    expect(await text(page, 'start-error')).toMatch(reason);
    const errors = page.locator('.notices .notice.error');
    await expect.poll(() => errors.count()).toBe(1);

    // The run's own page keeps the reason after the toast is gone.
    await page.locator('[data-testid="run-item"]', { hasText: 'needs a GPU' }).click();
    await expect.poll(() => text(page, 'run-failure-reason')).toMatch(reason);
    expect(await text(page, 'run-state')).toBe('Failed');
    // No points: no axes either (not the previous run's scales).
    expect(await page.getByTestId('chart-loss').getAttribute('data-points')).toBe('0');
    expect(await page.getByTestId('chart-loss').locator('.uplot').count()).toBe(0);
    await screenshot(page, 'guide-failed-run-light');
    await expect.poll(() => errors.count(), { timeout: 20_000 }).toBe(0);
    expect(await text(page, 'trainer-state')).not.toBe('Trainer: running');
    await page.context().close();
  });

  it('the Explorer says a checkpoint is barely trained, on how few faces, and where to go on', async () => {
    for (const scheme of ['light', 'dark'] as const) {
      const page = await open('explorer', scheme);
      await page.getByTestId('explorer-run').selectOption('barely');
      await expect
        .poll(() => text(page, 'explorer-training-note'), { timeout: 60_000 })
        .toMatch(/Barely trained: step 2 of the ~10,000 a face generator needs\.[\s\S]*only 64 faces/);
      await expect.poll(() => page.getByTestId('explorer-canvas').getAttribute('data-paints')).not.toBe('0');
      await screenshot(page, `guide-explorer-undertrained-${scheme}`);
      await page.context().close();
    }
  });

  it('a run that computed SWD names its best checkpoint; the Explorer marks it and opens it', async () => {
    for (const scheme of ['light', 'dark'] as const) {
      const page = await open('training', scheme);
      await page.locator('[data-testid="run-item"]', { hasText: 'Kept its best' }).click();
      await expect.poll(() => text(page, 'run-best')).toMatch(/^step \d+ · SWD \d+\.\d$/);
      const best = Number(/^step (\d+)/.exec((await text(page, 'run-best'))!)![1]);
      expect(await text(page, 'training-next')).toContain(
        `Its best checkpoint (step ${best}, the lowest SWD)`,
      );
      await screenshot(page, `guide-training-best-${scheme}`);

      await page.locator('nav [data-screen="explorer"]').click();
      await page.getByTestId('explorer-run').selectOption('best');
      await expect
        .poll(() => page.getByTestId('explorer-step').inputValue(), { timeout: 60_000 })
        .toBe(String(best));
      const labels = await page.getByTestId('explorer-step').locator('option').allTextContents();
      expect(labels.filter((l) => l.includes('best')).map((l) => l.trim())).toEqual([`step ${best} · best`]);
      await expect.poll(() => page.getByTestId('explorer-canvas').getAttribute('data-paints')).not.toBe('0');
      await screenshot(page, `guide-explorer-best-${scheme}`);
      await page.context().close();
    }
  });
});
