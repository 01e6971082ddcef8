/// <reference lib="dom" />
import { copyFile, link, mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, openApp, screenshot, startServe, type ServedApp } from './helpers.ts';
import {
  illustrationFiles,
  startMoebooruServer,
  type MoebooruServer,
} from '../test/helpers/moebooru-server.ts';
import { generatedIllustrationsDir, illustrationsDir } from '../test/helpers/shared-data.ts';
import { makeTempDir } from '../test/helpers/temp-dir.ts';

const images = illustrationFiles(illustrationsDir);
const POSTS = 12;
/** Post 3 (index 2) is rated explicit, the sample of post 5 (index 4) answers 404. */
const EXPLICIT = 2;
const BROKEN = 4;

let board: MoebooruServer;
let browser: Browser;
const stops: Array<() => Promise<void>> = [];
/** Waits, not speed checks: generous, because this machine may be busy with other work. */
const wait = { timeout: 60_000 };

async function open(url: string, scheme: 'light' | 'dark' = 'light'): Promise<Page> {
  const page = await openApp(browser, url, scheme);
  page.setDefaultTimeout(60_000);
  return page;
}

beforeAll(async () => {
  board = await startMoebooruServer(
    images.slice(0, POSTS).map((image, i) => ({ id: 900 - i, image, rating: i === EXPLICIT ? 'e' : 's' })),
  );
  board.faultAlways(board.pathOf(900 - BROKEN, 'sample'), { kind: 'status', status: 404 });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  while (stops.length) await stops.pop()!();
  await board?.close();
});

async function serve(options: { dataDir?: string; configDir?: string } = {}): Promise<ServedApp> {
  const app = await startServe(options);
  stops.push(() => (app.process.exitCode === null && !app.process.killed ? app.stop() : Promise.resolve()));
  return app;
}

async function fillCrawlForm(page: Page, delayMs: number): Promise<void> {
  await page.getByTestId('crawl-site').fill(board.url);
  await page.getByTestId('crawl-tags').fill('solo');
  await page.getByTestId('crawl-delay').fill(String(delayMs));
  await page.getByTestId('crawl-pages').fill('3');
  await page.getByTestId('crawl-limit').fill('100');
}

const countOf = (page: Page, key: string) =>
  page
    .getByTestId(`crawl-count-${key}`)
    .textContent()
    .then((text) => Number((text ?? '').replace(/\D/g, '')));

/** Thumbnails rendered and actually decoded by the browser. */
const loadedThumbs = (page: Page) =>
  page.$$eval(
    '[data-testid="thumb"]',
    (imgs) =>
      imgs.filter((img) => (img as HTMLImageElement).complete && (img as HTMLImageElement).naturalWidth > 0)
        .length,
  );

describe('the Dataset screen in Chromium over kao serve', () => {
  it('crawls a board from the form: progress, counts, pause/resume, failure log, gallery thumbnails', async () => {
    const app = await serve();
    for (const scheme of ['light', 'dark'] as const) {
      const empty = await open(app.url, scheme);
      await empty.getByTestId('gallery-empty').waitFor();
      expect(await empty.getByTestId('gallery-empty').textContent()).toContain(`${app.dataDir}/dataset`);
      await screenshot(empty, `dataset-empty-${scheme}`);
      await empty.context().close();
    }

    const page = await open(app.url, 'light');
    await fillCrawlForm(page, 150);
    // Unsafe ratings need an explicit opt-in, with a warning.
    await page.getByTestId('crawl-unsafe').check();
    expect(await page.getByTestId('unsafe-warning').textContent()).toMatch(/Not safe for work/);
    await page.getByTestId('crawl-unsafe').uncheck();
    expect(await page.getByTestId('unsafe-warning').count()).toBe(0);

    // One post stalls 2 s mid-download, so the crawl is surely still running when the test pauses it.
    board.fault(board.pathOf(900 - 6, 'sample'), { kind: 'stall', afterBytes: 64, ms: 2000 });
    await page.getByTestId('crawl-start').click();
    await page.getByTestId('crawl-progress').waitFor();
    // Counts update while it runs; pause stops them, resume goes on.
    await expect.poll(() => countOf(page, 'downloaded'), wait).toBeGreaterThan(0);
    await page.getByTestId('crawl-pause').click();
    await expect.poll(() => page.getByTestId('crawl-status').textContent(), wait).toBe('Paused');
    const pausedAt = await countOf(page, 'downloaded');
    expect(pausedAt).toBeLessThan(POSTS - 2);
    await expect.poll(() => loadedThumbs(page), wait).toBeGreaterThan(0);
    await screenshot(page, 'dataset-crawl-paused-light');
    await page.getByTestId('crawl-resume').click();

    await expect.poll(() => page.getByTestId('crawl-progress').getAttribute('data-phase'), wait).toBe('done');
    await expect.poll(() => countOf(page, 'downloaded'), wait).toBe(POSTS - 2);
    expect(await countOf(page, 'filtered')).toBe(1);
    expect(await countOf(page, 'failed')).toBe(1);
    expect(await page.getByTestId('crawl-status').textContent()).toMatch(/^Finished/);
    expect(
      await page.getByRole('progressbar', { name: 'Crawl progress' }).getAttribute('aria-valuenow'),
    ).toBe('100');

    // The failure is listed with its post and reason.
    const failure = page.getByTestId('failure');
    await expect.poll(() => failure.count(), wait).toBe(1);
    expect(await failure.textContent()).toContain(`#${900 - BROKEN}`);
    expect(await failure.textContent()).toContain('HTTP 404');

    // Every downloaded image shows as a decoded thumbnail in the gallery.
    await expect
      .poll(() => page.getByTestId('gallery-count').textContent(), wait)
      .toBe(`${POSTS - 2} images`);
    await expect.poll(() => loadedThumbs(page), wait).toBe(POSTS - 2);
    await screenshot(page, 'dataset-filled-light');

    // The preview opens the full image; Escape closes it.
    await page.getByTestId('gallery-cell').first().click();
    await page.getByTestId('preview').waitFor();
    await expect
      .poll(
        () => page.$eval('[data-testid="preview"] img', (img) => (img as HTMLImageElement).naturalWidth),
        wait,
      )
      .toBeGreaterThan(0);
    await screenshot(page, 'dataset-preview-light');
    await page.keyboard.press('Escape');
    expect(await page.getByTestId('preview').count()).toBe(0);

    // The form was saved: a reload shows it again, with the journal's failure marked as from an earlier crawl.
    await page.context().close();
    const reopened = await open(app.url);
    await expect.poll(() => reopened.getByTestId('crawl-site').inputValue(), wait).toBe(board.url);
    expect(await reopened.getByTestId('crawl-delay').inputValue()).toBe('150');
    await reopened.context().close();

    const dark = await open(app.url, 'dark');
    await expect.poll(() => loadedThumbs(dark), wait).toBe(POSTS - 2);
    await dark.getByTestId('failure').first().waitFor();
    await screenshot(dark, 'dataset-filled-dark');
    await dark.context().close();

    // Import a folder by typed path: good images in, a cut file rejected with its reason.
    const source = await makeTempDir('kao-e2e-import-');
    stops.push(source.cleanup);
    const portraits = illustrationFiles(generatedIllustrationsDir).slice(0, 3);
    for (const file of portraits) await copyFile(file, join(source.dir, basename(file)));
    // One comes with its tags, as anime training tools keep them.
    await writeFile(join(source.dir, basename(portraits[0]!).replace(/\.\w+$/, '.txt')), '1girl, smile');
    const whole = await readFile(images[20]!);
    await writeFile(join(source.dir, 'cut.jpg'), whole.subarray(0, whole.length >> 2));
    await writeFile(join(source.dir, 'readme.txt'), 'not an image');
    const importer = await open(app.url, 'light');
    await importer.getByTestId('import-path').fill(source.dir);
    await importer.getByTestId('import-start').click();
    await expect
      .poll(() => importer.getByTestId('import-progress').getAttribute('data-phase'), wait)
      .toBe('done');
    expect(await importer.getByTestId('import-summary').textContent()).toMatch(/3 imported/);
    expect(await importer.getByTestId('import-summary').textContent()).toMatch(/1 with tags/);
    expect(await importer.getByTestId('import-rejected').textContent()).toMatch(/cut\.jpg/);
    await expect
      .poll(() => importer.getByTestId('gallery-count').textContent(), wait)
      .toBe(`${POSTS + 1} images`);
    await expect.poll(() => loadedThumbs(importer), wait).toBe(POSTS + 1);
    await screenshot(importer, 'dataset-imported-light');
    // A path that is not a folder is refused with a clear message.
    await importer.getByTestId('import-path').fill(join(source.dir, 'readme.txt'));
    await importer.getByTestId('import-start').click();
    await expect.poll(() => importer.getByTestId('import-error').textContent(), wait).toMatch(/Not a folder/);
    await importer.context().close();
  });

  it('offers to resume a crawl the app was killed in the middle of, and resuming finishes it', async () => {
    const temp = await makeTempDir('kao-e2e-resume-');
    stops.push(temp.cleanup);
    const dirs = { dataDir: join(temp.dir, 'data'), configDir: join(temp.dir, 'config') };
    const first = await serve(dirs);
    const page = await open(first.url);
    await fillCrawlForm(page, 250);
    board.fault(board.pathOf(900 - 7, 'sample'), { kind: 'stall', afterBytes: 64, ms: 3000 });
    await page.getByTestId('crawl-start').click();
    await expect.poll(() => countOf(page, 'downloaded'), wait).toBeGreaterThanOrEqual(2);
    await page.context().close();
    first.process.kill('SIGKILL');
    await new Promise((resolve) => first.process.once('exit', resolve));

    const second = await serve(dirs);
    const again = await open(second.url);
    await again.getByTestId('interrupted').waitFor();
    expect(await again.getByTestId('interrupted').textContent()).toContain(board.url);
    await expect.poll(() => loadedThumbs(again), wait).toBeGreaterThanOrEqual(2);
    await screenshot(again, 'dataset-interrupted-light');
    await again.getByTestId('resume-interrupted').click();
    await expect
      .poll(() => again.getByTestId('crawl-progress').getAttribute('data-phase'), wait)
      .toBe('done');
    const skipped = await countOf(again, 'skipped');
    expect(skipped).toBeGreaterThanOrEqual(2);
    expect((await countOf(again, 'downloaded')) + skipped).toBe(POSTS - 2);
    expect(await again.getByTestId('interrupted').count()).toBe(0);
    await again.context().close();
  });

  it('renders only the rows in view of a 50,000-image dataset and fetches thumbnails where it scrolls', async () => {
    const temp = await makeTempDir('kao-e2e-big-');
    stops.push(temp.cleanup);
    const datasetDir = join(temp.dir, 'data', 'dataset');
    await mkdir(datasetDir, { recursive: true });
    const TOTAL = 50_000;
    const names = Array.from({ length: TOTAL }, (_, i) => `${i.toString(16).padStart(32, '0')}.jpg`);
    for (let i = 0; i < TOTAL; i += 500) {
      await Promise.all(
        names
          .slice(i, i + 500)
          .map((name, j) => link(images[(i + j) % images.length]!, join(datasetDir, name))),
      );
    }
    const app = await serve({ dataDir: join(temp.dir, 'data'), configDir: join(temp.dir, 'config') });
    const page = await open(app.url, 'dark');
    await expect.poll(() => page.getByTestId('gallery-count').textContent(), wait).toBe('50,000 images');
    await expect.poll(() => loadedThumbs(page), wait).toBeGreaterThan(8);
    const rendered = await page.getByTestId('gallery-cell').count();
    expect(rendered).toBeGreaterThan(8);
    expect(rendered).toBeLessThan(200);

    // Jump to the end: the last file is there, with its thumbnail, and still only a screenful is in the DOM.
    await page.getByTestId('gallery').evaluate((el) => (el.scrollTop = el.scrollHeight));
    await expect
      .poll(() => page.getByTestId('gallery-cell').last().getAttribute('title'), wait)
      .toBe(names.at(-1));
    await expect.poll(() => page.getByTestId('gallery-cell').last().locator('img').count(), wait).toBe(1);
    expect(await page.getByTestId('gallery-cell').count()).toBeLessThan(200);
    await screenshot(page, 'dataset-50k-dark');
    await page.context().close();
  });
});
