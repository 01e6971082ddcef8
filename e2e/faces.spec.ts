/// <reference lib="dom" />
import { readdirSync } from 'node:fs';
import { copyFile, link, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, openApp, screenshot, startServe, type ServedApp } from './helpers.ts';
import { extractFaces } from '../src/core/faces/extract.ts';
import { compactIndex, type ImageRecord } from '../src/core/faces/index-store.ts';
import { faceDetectionSettingsSchema } from '../src/core/faces/options.ts';
import { appendImageTags } from '../src/core/images/tags.ts';
import { cascadePath, facesDir, illustrationsDir } from '../test/helpers/shared-data.ts';
import { makeTempDir } from '../test/helpers/temp-dir.ts';

/** 5 + 0 + 1 + 3 faces with the default options. */
const ILLUSTRATIONS = [
  'jonathonyan_detect_04.jpg',
  'patornjantara_positive-image1.jpg',
  'waifu2x_miku_small.jpg',
  'xavierjiezou_test_3.jpg',
];
const TOTAL_FACES = 9;

let browser: Browser;
const stops: Array<() => Promise<void>> = [];

beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  while (stops.length) await stops.pop()!();
});

/** `kao serve` on a temp data folder whose dataset holds `images`, with `faces` settings stored beforehand. */
async function serveWith(images: string[], faces: Record<string, unknown>): Promise<ServedApp> {
  const temp = await makeTempDir('kao-e2e-faces-');
  stops.push(temp.cleanup);
  const dataDir = join(temp.dir, 'data');
  const configDir = join(temp.dir, 'config');
  await mkdir(join(dataDir, 'dataset'), { recursive: true });
  await mkdir(configDir, { recursive: true });
  for (const name of images) await copyFile(join(illustrationsDir, name), join(dataDir, 'dataset', name));
  await writeFile(join(configDir, 'settings.json'), JSON.stringify({ dataDir, faces }));
  const app = await startServe({ dataDir, configDir });
  stops.push(() => (app.process.exitCode === null && !app.process.killed ? app.stop() : Promise.resolve()));
  return app;
}

async function openFaces(app: ServedApp, scheme: 'light' | 'dark' = 'light'): Promise<Page> {
  const page = await openApp(browser, app.url, scheme);
  await page.locator('[data-screen="faces"]').click();
  await page.getByTestId('faces-screen').waitFor();
  return page;
}

const countOf = (page: Page, key: string) =>
  page
    .getByTestId(`count-${key}`)
    .textContent()
    .then((text) => Number((text ?? '').replace(/\D/g, '')));

/** Crops rendered and actually decoded by the browser. */
const loadedCrops = (page: Page) =>
  page.$$eval(
    '[data-testid="face-crop"]',
    (imgs) =>
      imgs.filter((img) => (img as HTMLImageElement).complete && (img as HTMLImageElement).naturalWidth > 0)
        .length,
  );

const cellAttr = (page: Page, attr: string) =>
  page.$$eval('[data-testid="face-cell"]', (cells, name) => cells.map((c) => c.getAttribute(name)), attr);

describe('the Faces screen in Chromium over kao serve', () => {
  it('extracts with progress, shows a face boxed on its source, and keeps keyboard exclusions after a reload', async () => {
    const app = await serveWith(ILLUSTRATIONS, { cascadePath });
    // Tags as a crawl keeps them: the one face of a tagged illustration inherits them, the three of a
    // multi-character one do not.
    const dataset = join(app.dataDir, 'dataset');
    await appendImageTags(dataset, {
      file: 'waifu2x_miku_small.jpg',
      from: 'board',
      tags: ['1girl', 'smile'],
    });
    await appendImageTags(dataset, {
      file: 'xavierjiezou_test_3.jpg',
      from: 'board',
      tags: ['multiple_girls'],
    });
    for (const scheme of ['light', 'dark'] as const) {
      const empty = await openFaces(app, scheme);
      await empty.getByTestId('faces-empty').waitFor();
      expect(await empty.getByTestId('faces-empty').textContent()).toContain('No faces extracted yet');
      expect(await empty.getByTestId('opt-cascade').inputValue()).toBe(cascadePath);
      await screenshot(empty, `faces-empty-${scheme}`);
      await empty.context().close();
    }

    const page = await openFaces(app);
    await page.getByTestId('extract-start').click();
    await page.getByTestId('extract-progress').waitFor();
    expect(await page.getByTestId('extract-progress').getAttribute('data-phase')).toBe('running');
    // Pause while it runs: the job stops after the image it is on, and the crops so far appear in the
    // grid. With the bundled detector this small set can finish before the button is reached; pausing is
    // then not exercised here (the faces service test pauses a real extraction).
    const pause = page.getByTestId('extract-pause');
    const paused = await pause
      .dispatchEvent('click', undefined, { timeout: 2_000 })
      .then(() => true)
      .catch(() => false); // gone: the job ended first
    if (paused) {
      await expect.poll(() => page.getByTestId('extract-status').textContent()).toMatch(/^(Paused|Done)/);
      if ((await page.getByTestId('extract-status').textContent()) === 'Paused') {
        await expect.poll(() => loadedCrops(page), { timeout: 60_000 }).toBeGreaterThan(0);
        expect(await countOf(page, 'faces')).toBeLessThan(TOTAL_FACES);
        await screenshot(page, 'faces-paused-light');
        await page.getByTestId('extract-resume').click();
        await screenshot(page, 'faces-running-light');
      }
    }
    await expect
      .poll(() => page.getByTestId('extract-progress').getAttribute('data-phase'), { timeout: 60_000 })
      .toBe('done');
    expect(await page.getByTestId('extract-status').textContent()).toMatch(/^Done: \d+ new faces? from/);
    expect(
      await page.getByRole('progressbar', { name: 'Extraction progress' }).getAttribute('aria-valuenow'),
    ).toBe('100');
    await expect.poll(() => countOf(page, 'faces')).toBe(TOTAL_FACES);
    await expect.poll(() => loadedCrops(page), { timeout: 30_000 }).toBe(TOTAL_FACES);
    expect(await countOf(page, 'kept')).toBe(TOTAL_FACES);
    await expect.poll(() => countOf(page, 'tagged')).toBe(1);
    await screenshot(page, 'faces-filled-light');

    // Click a face: its source illustration, with the box drawn where the index says, scaled to the display.
    const index = JSON.parse(await readFile(join(app.dataDir, 'faces', 'faces-index.json'), 'utf8')) as {
      images: Array<{
        source: string;
        faces: Array<{ id: string; box: Record<'x' | 'y' | 'width' | 'height', number> }>;
      }>;
    };
    const ids = (await cellAttr(page, 'data-id')) as string[];
    const fifth = page.getByTestId('face-cell').nth(4);
    await fifth.click();
    const record = index.images
      .flatMap((i) => i.faces.map((f) => ({ ...f, source: i.source })))
      .find((f) => f.id === ids[4])!;
    expect(await page.getByTestId('source-name').textContent()).toBe(record.source);
    await expect
      .poll(() => page.getByTestId('source-image').evaluate((img) => (img as HTMLImageElement).naturalWidth))
      .toBeGreaterThan(0);
    const geometry = await page.evaluate(() => {
      const img = document.querySelector('[data-testid="source-image"]') as HTMLImageElement;
      const box = document.querySelector('[data-testid="face-box"]') as HTMLElement;
      const i = img.getBoundingClientRect();
      const b = box.getBoundingClientRect();
      return {
        scale: i.width / img.naturalWidth,
        left: b.left - i.left,
        top: b.top - i.top,
        width: b.width,
        height: b.height,
      };
    });
    expect(geometry.scale).toBeLessThan(1);
    expect(geometry.left).toBeCloseTo(record.box.x * geometry.scale, 0);
    expect(geometry.top).toBeCloseTo(record.box.y * geometry.scale, 0);
    expect(geometry.width).toBeCloseTo(record.box.width * geometry.scale, 0);
    expect(geometry.height).toBeCloseTo(record.box.height * geometry.scale, 0);
    await screenshot(page, 'faces-source-light');
    // Enter opens it large; Escape closes.
    await page.keyboard.press('Enter');
    await page.getByTestId('source-viewer').waitFor();
    await screenshot(page, 'faces-viewer-light');
    await page.keyboard.press('Escape');
    expect(await page.getByTestId('source-viewer').count()).toBe(0);

    // Keyboard: X excludes the focused face, → moves to the next, X excludes it too.
    await page.getByTestId('face-cell').first().click();
    await page.keyboard.press('x');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('x');
    await expect.poll(() => countOf(page, 'excluded')).toBe(2);
    expect(await countOf(page, 'kept')).toBe(TOTAL_FACES - 2);
    await expect
      .poll(() => cellAttr(page, 'data-excluded'))
      .toEqual(['true', 'true', ...Array<string>(TOTAL_FACES - 2).fill('false')]);

    // Selection: shift-click ranges, Ctrl+A selects all, Escape clears; R restores what is selected.
    await page.getByTestId('face-cell').nth(3).click();
    await page
      .getByTestId('face-cell')
      .nth(5)
      .click({ modifiers: ['Shift'] });
    expect(await page.getByTestId('selection-count').textContent()).toBe('3 selected');
    await page
      .getByTestId('face-cell')
      .nth(7)
      .click({ modifiers: ['Control'] });
    expect(await page.getByTestId('selection-count').textContent()).toBe('4 selected');
    await page.keyboard.press('Control+a');
    await expect
      .poll(() => page.getByTestId('selection-count').textContent())
      .toBe(`${TOTAL_FACES} selected`);
    await page.keyboard.press('Escape');
    expect(await page.getByTestId('selection-count').textContent()).toBe('');
    await page.getByTestId('face-cell').nth(2).click();
    await page.keyboard.press('Delete');
    await expect.poll(() => countOf(page, 'excluded')).toBe(3);
    await page.keyboard.press('r');
    await expect.poll(() => countOf(page, 'excluded')).toBe(2);

    // The excluded filter lists exactly the two.
    await page.getByTestId('filter-excluded').click();
    await expect.poll(() => cellAttr(page, 'data-id')).toEqual(ids.slice(0, 2));

    // After a reload (a new page over the same server) they are still excluded.
    await page.reload();
    await page.getByTestId('faces-screen').waitFor();
    await expect.poll(() => countOf(page, 'excluded')).toBe(2);
    await expect
      .poll(() => cellAttr(page, 'data-excluded'))
      .toEqual(['true', 'true', ...Array<string>(TOTAL_FACES - 2).fill('false')]);
    await page.context().close();

    const dark = await openFaces(app, 'dark');
    await expect.poll(() => loadedCrops(dark), { timeout: 30_000 }).toBe(TOTAL_FACES);
    await dark.getByTestId('face-cell').nth(1).click();
    await dark
      .getByTestId('face-cell')
      .nth(5)
      .click({ modifiers: ['Shift'] });
    await expect
      .poll(() => dark.getByTestId('source-image').evaluate((img) => (img as HTMLImageElement).naturalWidth))
      .toBeGreaterThan(0);
    await screenshot(dark, 'faces-filled-dark');
    await dark.context().close();
  });

  it('removes the faces of a deleted illustration when the screen loads, says so once, and keeps them all when the dataset folder is gone', async () => {
    const app = await serveWith(ILLUSTRATIONS, { cascadePath });
    const dataset = join(app.dataDir, 'dataset');
    await extractFaces({ inputDir: dataset, outputDir: join(app.dataDir, 'faces'), cascadePath, workers: 2 });
    const page = await openFaces(app);
    await expect.poll(() => countOf(page, 'faces')).toBe(TOTAL_FACES);
    expect(await page.getByTestId('pruned-notice').count()).toBe(0);

    await rm(join(dataset, ILLUSTRATIONS[3]!));
    await page.reload();
    await page.getByTestId('faces-screen').waitFor();
    const notice = page.getByTestId('pruned-notice');
    await notice.waitFor();
    expect(await notice.textContent()).toContain(
      '3 faces removed because their source illustrations were deleted from the dataset.',
    );
    expect(await notice.getAttribute('role')).toBe('status');
    await expect.poll(() => countOf(page, 'faces')).toBe(TOTAL_FACES - 3);
    await expect.poll(() => loadedCrops(page), { timeout: 30_000 }).toBe(TOTAL_FACES - 3);
    await screenshot(page, 'faces-pruned-light');
    await page.getByTestId('pruned-dismiss').click();
    expect(await notice.count()).toBe(0);
    // Told once: the next load has nothing to say.
    await page.reload();
    await page.getByTestId('faces-screen').waitFor();
    await expect.poll(() => countOf(page, 'faces')).toBe(TOTAL_FACES - 3);
    expect(await page.getByTestId('pruned-notice').count()).toBe(0);

    // The dataset folder goes away (an unmounted drive): every face stays, and the screen says why.
    await rename(dataset, `${dataset}-away`);
    await page.reload();
    await page.getByTestId('faces-screen').waitFor();
    await page.getByTestId('prune-problem').waitFor();
    expect(await page.getByTestId('prune-problem').textContent()).toContain(
      `The images folder ${dataset} is missing; nothing was removed.`,
    );
    await expect.poll(() => countOf(page, 'faces')).toBe(TOTAL_FACES - 3);
    await screenshot(page, 'faces-prune-problem-light');
    await rename(`${dataset}-away`, dataset);
    await page.context().close();
  });

  it('renders only the rows in view of 50,000 faces, and selects and excludes them all from the keyboard', async () => {
    const app = await serveWith([], { cascadePath });
    // With no illustrations at all, the screen sends the user to the Dataset screen first.
    const bare = await openFaces(app);
    await expect.poll(() => bare.getByTestId('faces-empty').textContent()).toContain('No illustrations yet');
    await screenshot(bare, 'faces-no-dataset-light');
    await bare.getByRole('button', { name: 'Go to Dataset' }).click();
    await bare.getByTestId('dataset-screen').waitFor();
    await bare.context().close();

    const ids = await bigFacesFolder(join(app.dataDir, 'faces'), 10_000, 5);
    const page = await openFaces(app, 'dark');
    await expect
      .poll(() => page.getByTestId('count-faces').textContent(), { timeout: 30_000 })
      .toBe('50,000');
    // None of their (made-up) illustrations is in the empty dataset folder: taken for an unmounted drive,
    // so nothing is removed, and the screen says why.
    expect(await page.getByTestId('prune-problem').textContent()).toContain(
      'none of the 10,000 illustrations of the faces index are there',
    );
    await expect.poll(() => loadedCrops(page), { timeout: 30_000 }).toBeGreaterThan(8);
    const rendered = await page.getByTestId('face-cell').count();
    expect(rendered).toBeGreaterThan(8);
    expect(rendered).toBeLessThan(200);

    // End jumps to the last face: its page is fetched, it is shown on (the lack of) its source, still a screenful in the DOM.
    await page.getByTestId('face-cell').first().click();
    await page.keyboard.press('End');
    await expect
      .poll(() => page.locator('[data-testid="face-cell"][aria-selected="true"]').getAttribute('data-id'))
      .toBe(ids.at(-1));
    await page.getByTestId('source-missing').waitFor();
    expect(await page.getByTestId('face-cell').count()).toBeLessThan(200);
    await expect.poll(() => loadedCrops(page), { timeout: 30_000 }).toBeGreaterThan(8);
    await screenshot(page, 'faces-50k-dark');

    // Ctrl+A selects all 50,000 (ids only), X excludes them in batches; the kept view is then empty.
    await page.keyboard.press('Control+a');
    await expect
      .poll(() => page.getByTestId('selection-count').textContent(), { timeout: 30_000 })
      .toBe('50,000 selected');
    await page.keyboard.press('x');
    await expect
      .poll(() => page.getByTestId('count-excluded').textContent(), { timeout: 30_000 })
      .toBe('50,000');
    expect(await page.getByTestId('count-kept').textContent()).toBe('0');
    await page.getByTestId('filter-kept').click();
    await page.getByTestId('filter-empty').waitFor();
    const excluded = JSON.parse(await readFile(join(app.dataDir, 'faces', 'excluded.json'), 'utf8')) as {
      ids: string[];
    };
    expect(excluded.ids).toHaveLength(50_000);
    await page.context().close();
  });

  it('says when the face detector cannot be downloaded, and takes a local copy instead', async () => {
    const offline: Server = createServer((_req, res) => res.writeHead(503).end('offline'));
    await new Promise<void>((resolve) => offline.listen(0, '127.0.0.1', resolve));
    stops.push(() => new Promise((resolve) => offline.close(() => resolve())));
    const url = `http://127.0.0.1:${(offline.address() as AddressInfo).port}/lbpcascade_animeface.xml`;
    // The served process takes its environment at spawn.
    const saved = {
      url: process.env['KAO_CASCADE_URL'],
      env: process.env['KAO_CASCADE'],
      resources: process.env['KAO_RESOURCES_DIR'],
    };
    process.env['KAO_CASCADE_URL'] = url;
    delete process.env['KAO_CASCADE'];
    // An install whose shipped copy is gone (the app normally finds it in resources/, offline).
    const noResources = await mkdtemp(join(tmpdir(), 'kao-no-resources-'));
    stops.push(() => rm(noResources, { recursive: true, force: true }));
    process.env['KAO_RESOURCES_DIR'] = noResources;
    let app: ServedApp;
    try {
      app = await serveWith(ILLUSTRATIONS.slice(0, 1), {});
    } finally {
      restoreEnv('KAO_CASCADE_URL', saved.url);
      restoreEnv('KAO_CASCADE', saved.env);
      restoreEnv('KAO_RESOURCES_DIR', saved.resources);
    }

    const page = await openFaces(app);
    await page.getByTestId('extract-start').click();
    await expect
      .poll(() => page.getByTestId('extract-progress').getAttribute('data-phase'), { timeout: 30_000 })
      .toBe('failed');
    const panel = page.getByTestId('cascade-panel');
    await panel.waitFor();
    expect(await panel.getAttribute('data-state')).toBe('unavailable');
    expect(await page.getByTestId('cascade-message').textContent()).toMatch(
      /^Could not download .*HTTP 503 Service Unavailable\)$/,
    );
    expect(await page.getByTestId('cascade-url').textContent()).toBe(url);
    await screenshot(page, 'faces-cascade-missing-light');
    const darkMissing = await openFaces(app, 'dark');
    await darkMissing.getByTestId('cascade-panel').waitFor();
    await screenshot(darkMissing, 'faces-cascade-missing-dark');
    await darkMissing.context().close();

    // A wrong file is refused with the reason; the real one is taken and saved.
    await page.getByTestId('cascade-path').fill(join(illustrationsDir, ILLUSTRATIONS[0]!));
    await page.getByTestId('cascade-use').click();
    await expect
      .poll(() => page.getByTestId('cascade-error').textContent())
      .toMatch(/is not a readable OpenCV cascade file/);
    await page.getByTestId('cascade-path').fill(cascadePath);
    await page.getByTestId('cascade-use').click();
    await expect.poll(() => panel.count()).toBe(0);
    expect(await page.getByTestId('opt-cascade').inputValue()).toBe(cascadePath);
    // "Use this file" applies it: the failed extraction runs again with it and its error goes away.
    await expect
      .poll(() => page.getByTestId('extract-progress').getAttribute('data-phase'), { timeout: 60_000 })
      .toBe('done');
    expect(await page.getByTestId('extract-job-error').count()).toBe(0);
    await page.context().close();

    // A new window shows the saved file and no problem.
    const again = await openFaces(app, 'dark');
    // With faces extracted the options start folded.
    await again.getByTestId('options-toggle').click();
    await expect.poll(() => again.getByTestId('opt-cascade').inputValue()).toBe(cascadePath);
    expect(await again.getByTestId('cascade-panel').count()).toBe(0);
    await again.context().close();
  });
});

/** A faces folder of `images` × `perImage` faces in the core's own index format, every crop a real JPEG. */
async function bigFacesFolder(dir: string, images: number, perImage: number): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const crops = readdirSync(facesDir)
    .filter((name) => name.endsWith('.jpg'))
    .map((name) => join(facesDir, name));
  const records: ImageRecord[] = [];
  const ids: string[] = [];
  for (let i = 0; i < images; i++) {
    const source = `gone/illustration-${String(i).padStart(5, '0')}.jpg`;
    const faces = Array.from({ length: perImage }, (_, j) => {
      const id = `${i.toString(16).padStart(12, '0')}-${j}`;
      ids.push(id);
      const box = { x: 40 + 120 * j, y: 50, width: 100, height: 100 };
      return {
        id,
        box,
        crop: { x: box.x - 10, y: 40, width: 120, height: 120 },
        cropSize: 120,
        hash: id,
        file: `${id}.jpg`,
      };
    });
    records.push({
      source,
      bytes: 1000,
      status: 'ok',
      width: 800,
      height: 600,
      faces,
      duplicates: [],
      tooSmall: [],
    });
  }
  for (let i = 0; i < ids.length; i += 500) {
    await Promise.all(
      ids.slice(i, i + 500).map((id, j) => link(crops[(i + j) % crops.length]!, join(dir, `${id}.jpg`))),
    );
  }
  await compactIndex(dir, faceDetectionSettingsSchema.parse({}), join(dir, '..', 'dataset'), records);
  return ids;
}

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}
