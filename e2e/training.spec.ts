/// <reference lib="dom" />
import { readdir, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, openApp, screenshot, startServe, type ServedApp } from './helpers.ts';
import { startKaoTrain } from '../test/helpers/kao-train.ts';
import { makeTempDir } from '../test/helpers/temp-dir.ts';
import { seedFaces } from './seed-faces.ts';

let app: ServedApp;
let browser: Browser;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  const temp = await makeTempDir('kao-e2e-training-');
  cleanup = temp.cleanup;
  const dataDir = join(temp.dir, 'data');
  await seedFaces(dataDir, 64);
  app = await startServe({ dataDir, configDir: join(temp.dir, 'config') });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await cleanup?.();
});

async function openTraining(scheme: 'light' | 'dark'): Promise<Page> {
  const page = await openApp(browser, app.url, scheme);
  await page.locator('nav [data-screen="training"]').click();
  await expect.poll(() => page.locator('main h1').textContent()).toBe('Training');
  return page;
}

const text = (page: Page, testId: string) => page.getByTestId(testId).textContent();
const attr = (page: Page, testId: string, name: string) =>
  page.getByTestId(testId).first().getAttribute(name);
const stepOf = async (page: Page) =>
  Number((await text(page, 'run-step'))!.split('/')[0]!.replace(/\D/g, ''));
const points = async (page: Page, chart: string) => Number(await attr(page, chart, 'data-points'));

/** Fills the New run form for a Quick test run on wasm: batch 16, a checkpoint every 10 steps, a grid every 5. */
async function fillQuickTest(page: Page, name: string, steps: number, swdEvery: number): Promise<void> {
  await page.getByText('Quick test (16×16)').click();
  await page.getByTestId('run-name').fill(name);
  await page.getByTestId('run-steps').fill(String(steps));
  await page.getByTestId('run-batch').fill('16');
  await page.getByTestId('run-backend').selectOption('wasm');
  await page.getByTestId('run-checkpoint-every').fill('10');
  await page.getByTestId('run-sample-every').fill('5');
  await page.getByTestId('run-swd-every').fill(String(swdEvery));
}

describe('the Training screen in Chromium over kao serve', () => {
  // The steps below share one page and one run, in order.
  let page: Page;
  let runId: string;
  const t0 = Date.now();
  const mark = (what: string) =>
    console.log(`[training e2e] ${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  it('without faces, points to the Faces screen', async () => {
    const bare = await startServe();
    try {
      const view = await openApp(browser, bare.url, 'light');
      await view.locator('nav [data-screen="training"]').click();
      await expect.poll(() => text(view, 'training-empty')).toMatch(/No faces to train on yet/);
      await screenshot(view, 'training-no-faces-light');
      await view.getByTestId('training-empty').getByRole('button', { name: 'Go to Faces' }).click();
      await expect.poll(() => view.locator('main h1').textContent()).toBe('Faces');
      await view.context().close();
    } finally {
      await bare.stop();
    }
  });

  it('shows the empty state with the kept-face count and a way to the Faces screen (light and dark)', async () => {
    for (const scheme of ['light', 'dark'] as const) {
      const view = await openTraining(scheme);
      await view.getByTestId('training-empty').waitFor();
      await expect
        .poll(() => text(view, 'training-empty'))
        .toMatch(/No training runs yet[\s\S]*64 kept faces/);
      await screenshot(view, `training-empty-${scheme}`);
      await view.getByTestId('empty-new-run').click();
      await view.getByTestId('training-form').waitFor();
      await screenshot(view, `training-form-${scheme}`);
      await view.context().close();
    }
    mark('empty state');
  });

  it('starts a tiny run and shows it live: status, charts, sample grids', async () => {
    page = await openTraining('light');
    await page.getByTestId('empty-new-run').click();
    // Far more steps than the test waits for: the run is stopped by hand, never finishes on its own.
    // SWD off: its chart stays empty, and no early stop can end the run.
    await fillQuickTest(page, 'e2e tiny', 100_000, 0);
    await page.getByTestId('start-run').click();

    await expect.poll(() => text(page, 'run-state'), { timeout: 60_000 }).toBe('Running');
    expect(await text(page, 'run-title')).toBe('e2e tiny');
    runId = (await attr(page, 'run-item', 'data-run-id'))!;
    mark('started');
    await expect.poll(() => points(page, 'chart-loss'), { timeout: 60_000 }).toBeGreaterThan(2);
    await expect.poll(() => points(page, 'chart-outputs')).toBeGreaterThan(2);
    expect(await points(page, 'chart-swd')).toBe(0);
    await expect.poll(() => attr(page, 'sample-image', 'data-step'), { timeout: 60_000 }).not.toBeNull();
    const firstGrid = Number(await attr(page, 'sample-image', 'data-step'));
    await expect
      .poll(async () => Number(await attr(page, 'sample-image', 'data-step')), { timeout: 60_000 })
      .toBeGreaterThan(firstGrid);
    await expect.poll(() => text(page, 'run-backend-name')).toBe('wasm');
    expect(await text(page, 'run-throughput')).toMatch(/img\/s/);
    // The grid itself is served from the data folder and decodes.
    await expect
      .poll(() => page.getByTestId('sample-image').evaluate((img) => (img as HTMLImageElement).naturalWidth))
      .toBeGreaterThan(0);
    await screenshot(page, 'training-running-light');
    mark('live charts and grids');
  });

  it('opens the running run in a second window (dark): history first, then live points', async () => {
    const dark = await openTraining('dark');
    await expect.poll(() => text(dark, 'run-state'), { timeout: 30_000 }).toBe('Running');
    const start = await points(dark, 'chart-loss');
    expect(start).toBeGreaterThan(2);
    await expect.poll(() => points(dark, 'chart-loss'), { timeout: 30_000 }).toBeGreaterThan(start);
    await screenshot(dark, 'training-running-dark');
    await dark.context().close();
    mark('second window');
  });

  it('pauses (the step holds still) and resumes', async () => {
    await page.getByTestId('pause').click();
    await expect.poll(() => text(page, 'run-state')).toBe('Paused');
    // The step in flight (and progress already sent) may still land; then the count holds still.
    await expect
      .poll(
        async () => {
          const before = await stepOf(page);
          await page.waitForTimeout(800);
          return (await stepOf(page)) === before;
        },
        { timeout: 30_000 },
      )
      .toBe(true);
    const heldAt = await stepOf(page);
    await page.waitForTimeout(1500);
    expect(await stepOf(page)).toBe(heldAt);
    await page.getByTestId('resume').click();
    await expect.poll(() => text(page, 'run-state')).toBe('Running');
    await expect.poll(() => stepOf(page), { timeout: 30_000 }).toBeGreaterThan(heldAt + 5);
    mark('pause/resume');
  });

  it('zooms a chart by dragging, keeps the zoom while points arrive, resets on double-click', async () => {
    const over = page.getByTestId('chart-loss').locator('.u-over');
    const box = (await over.boundingBox())!;
    const y = box.y + box.height / 2;
    await page.mouse.move(box.x + box.width * 0.1, y);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.4, y, { steps: 5 });
    await page.mouse.up();
    const reset = page.getByTestId('chart-loss').getByRole('button', { name: 'Reset zoom' });
    await reset.waitFor();
    // The charts share their step axis: the other one zoomed with it.
    await page.getByTestId('chart-outputs').getByRole('button', { name: 'Reset zoom' }).waitFor();
    const zoomedAt = await points(page, 'chart-loss');
    await expect.poll(() => points(page, 'chart-loss'), { timeout: 30_000 }).toBeGreaterThan(zoomedAt);
    expect(await reset.count()).toBe(1);
    await over.dblclick();
    await expect.poll(() => reset.count()).toBe(0);
    await expect.poll(() => page.locator('[data-testid^="chart-"] .reset').count()).toBe(0);
  });

  it('scrubs back through the saved grids with the keyboard', async () => {
    const latest = Number(await attr(page, 'sample-image', 'data-step'));
    await page.getByTestId('sample-scrubber').focus();
    await page.keyboard.press('Home');
    await expect.poll(async () => Number(await attr(page, 'sample-image', 'data-step'))).toBeLessThan(latest);
    const first = Number(await attr(page, 'sample-image', 'data-step'));
    await page.keyboard.press('ArrowRight');
    await expect
      .poll(async () => Number(await attr(page, 'sample-image', 'data-step')))
      .toBeGreaterThan(first);
    await page.getByTestId('sample-latest').click();
    await expect.poll(() => page.getByTestId('sample-latest').count()).toBe(0);
  });

  it('stops with a checkpoint, lists the run as stopped and offers to continue it', async () => {
    await page.getByTestId('stop').click();
    await expect.poll(() => text(page, 'run-state'), { timeout: 60_000 }).toBe('Stopped');
    await expect.poll(() => attr(page, 'run-item', 'data-state')).toBe('stopped');
    await page.getByTestId('resume-offer').waitFor();
    expect(await stepOf(page)).toBeGreaterThan(0);
    expect((await readdir(join(app.dataDir, 'runs', runId, 'samples'))).length).toBeGreaterThan(1);
    expect((await readdir(join(app.dataDir, 'runs', runId, 'checkpoints'))).length).toBeGreaterThan(0);
    mark('stopped');
  });

  it('continues the stopped run from its checkpoint', async () => {
    const stoppedAt = await stepOf(page);
    await page.getByTestId('resume-offer-continue').click();
    await expect.poll(() => text(page, 'run-state'), { timeout: 60_000 }).toBe('Running');
    await expect.poll(() => stepOf(page), { timeout: 60_000 }).toBeGreaterThan(stoppedAt + 5);
    mark('continued');
  });

  it('shows a run cut off mid-training (app killed) as interrupted after a restart, and continues it', async () => {
    // Kill the app and its trainer outright, as a power cut would: nothing gets to write "stopped".
    const servePid = app.process.pid!;
    const children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(servePid)], { encoding: 'utf8' })
      .split('\n')
      .map((line) => Number(line.trim()))
      .filter((pid) => pid > 0);
    const exited = new Promise((resolve) => app.process.once('exit', resolve));
    for (const pid of children) process.kill(pid, 'SIGKILL');
    process.kill(servePid, 'SIGKILL');
    await exited;
    await page.context().close();

    app = await startServe({ dataDir: app.dataDir, configDir: app.configDir });
    page = await openTraining('light');
    await expect.poll(() => text(page, 'run-state'), { timeout: 30_000 }).toBe('Interrupted');
    expect(await text(page, 'resume-offer')).toMatch(/was interrupted at step/);
    expect(await attr(page, 'run-item', 'data-state')).toBe('interrupted');
    const checkpoint = Number(
      (await text(page, 'resume-offer'))!.match(/checkpoint at step ([\d,]+)/)![1]!.replace(/,/g, ''),
    );
    expect(checkpoint).toBeGreaterThan(0);
    await screenshot(page, 'training-interrupted-light');

    await page.getByTestId('resume-offer-continue').click();
    await expect.poll(() => text(page, 'run-state'), { timeout: 60_000 }).toBe('Running');
    await expect.poll(() => stepOf(page), { timeout: 60_000 }).toBeGreaterThan(checkpoint + 5);
    await page.getByTestId('stop').click();
    await expect.poll(() => text(page, 'run-state'), { timeout: 60_000 }).toBe('Stopped');
    mark('interrupted, continued and stopped');
  });

  it('smooths the curves with the EMA slider', async () => {
    const dLoss = () =>
      page.getByTestId('chart-loss').locator('.item').first().locator('strong').textContent();
    await page.getByTestId('smoothing').fill('0');
    const raw = await dLoss();
    await page.getByTestId('smoothing').fill('0.95');
    await expect.poll(dLoss).not.toBe(raw);
    await page.getByTestId('smoothing').fill('0.6');
  });

  it('renames the run inline', async () => {
    await page.getByTestId('run-title').click();
    await page.getByTestId('rename-input').fill('renamed run');
    await page.getByTestId('rename-input').press('Enter');
    await expect.poll(() => text(page, 'run-title')).toBe('renamed run');
    await expect.poll(() => page.getByTestId('run-item').textContent()).toContain('renamed run');
  });

  it('exports the generator as a tfjs model and shows where', async () => {
    // In the browser, Export offers a download or a folder on the server; the server folder is checked
    // here (the download is covered by the explorer spec).
    await page.getByTestId('export').click();
    await page.getByTestId('export-server').click();
    // The path, or the error the app showed instead (so a failure says why, at once).
    const outcome = async () =>
      (await page.getByTestId('export-result').count()) > 0
        ? 'exported'
        : (await page.locator('.notice.error').allTextContents()).join(' ') || 'waiting';
    await expect.poll(outcome, { timeout: 60_000 }).not.toBe('waiting');
    expect(await outcome()).toBe('exported');
    const exported = (await page.getByTestId('export-result').locator('code').textContent())!;
    expect(existsSync(join(exported, 'model.json'))).toBe(true);
    await page.getByTestId('export').click(); // closes the panel
    mark('exported');
  });

  it('follows a run a `kao train` in a terminal trains: live step, charts and grids; Continue and Delete off until it ends', async () => {
    // A real `kao train` on this run's folder (the run's own seed, its faces): it resumes from the
    // checkpoint the app's Stop wrote and holds the run folder's lock while it trains.
    const runDir = join(app.dataDir, 'runs', runId);
    const lockPath = join(runDir, 'train.lock');
    const { seed } = JSON.parse(await readFile(join(runDir, 'config.json'), 'utf8')) as { seed: number };
    const stepBefore = await stepOf(page);
    const pointsBefore = await points(page, 'chart-loss');
    const other = startKaoTrain(runDir, 100_000, [
      ...['--data', join(app.dataDir, 'faces'), '--seed', String(seed), '--workers', '1'],
      ...['--log-every', '1', '--sample-every', '5', '--checkpoint-every', '10'],
    ]);
    try {
      // The screen polls the locks every few seconds.
      await expect.poll(() => text(page, 'run-state'), { timeout: 30_000 }).toBe('Training elsewhere');
      const who = new RegExp(`kao train, pid ${other.pid}, since \\d\\d:\\d\\d`);
      expect(await attr(page, 'run-item', 'data-elsewhere')).toBe('true');
      expect(await text(page, 'run-item-elsewhere')).toBe('Training elsewhere');
      // The badge and the step both fit the narrow sidebar: the step wraps below rather than being cut.
      const item = (await page.getByTestId('run-item').boundingBox())!;
      const step = (await page.getByTestId('run-item-step').boundingBox())!;
      expect(step.x + step.width).toBeLessThanOrEqual(item.x + item.width);
      expect(await text(page, 'run-item-step')).toMatch(/^[\d,]+ \/ 100K$/);
      expect(await page.getByTestId('run-item').textContent()).toMatch(who);
      expect(await text(page, 'elsewhere-notice')).toMatch(
        new RegExp(`^\\s*Training elsewhere — ${who.source} · following live, step [\\d,]+`),
      );
      const continueButton = page.getByTestId('continue');
      expect(await continueButton.isDisabled()).toBe(true);
      expect(await continueButton.getAttribute('title')).toMatch(
        new RegExp(`^Another process is training this run \\(${who.source}\\); stop it first$`),
      );
      expect(await page.getByTestId('delete').isDisabled()).toBe(true);
      expect(await page.getByTestId('delete').getAttribute('title')).toMatch(/^Another process is training/);
      // The stopped run is not offered for continuing while someone else trains it.
      expect(await page.getByTestId('resume-offer').count()).toBe(0);

      // Followed live while the page stays open: the step, the chart's points and the newest grid move
      // on (the holder does not change, so no lock-triggered reload is doing it).
      const grid = async () => Number(await attr(page, 'sample-image', 'data-step'));
      const epoch = async () => Number(await text(page, 'run-epoch'));
      const gridBefore = await grid();
      const epochBefore = await epoch();
      await expect.poll(() => stepOf(page), { timeout: 30_000 }).toBeGreaterThan(stepBefore + 10);
      await expect
        .poll(() => points(page, 'chart-loss'), { timeout: 30_000 })
        .toBeGreaterThan(pointsBefore + 10);
      await expect.poll(grid, { timeout: 30_000 }).toBeGreaterThan(gridBefore);
      // The stats strip reads the newest followed point.
      await expect.poll(epoch, { timeout: 30_000 }).toBeGreaterThan(epochBefore);
      const noticeStep = Number((await text(page, 'elsewhere-step'))!.replace(/\D/g, ''));
      const seen = await stepOf(page);
      await expect.poll(() => stepOf(page), { timeout: 30_000 }).toBeGreaterThan(seen);
      expect(noticeStep).toBeGreaterThan(stepBefore);
      await screenshot(page, 'training-elsewhere-light');

      const dark = await openTraining('dark');
      await expect.poll(() => text(dark, 'run-state'), { timeout: 30_000 }).toBe('Training elsewhere');
      expect(await dark.getByTestId('continue').isDisabled()).toBe(true);
      const darkStart = await points(dark, 'chart-loss');
      await expect.poll(() => points(dark, 'chart-loss'), { timeout: 30_000 }).toBeGreaterThan(darkStart);
      await screenshot(dark, 'training-elsewhere-dark');
      await dark.context().close();
    } finally {
      // Ctrl-C in that terminal: it writes a checkpoint, lets go of the lock and exits (130: stopped).
      other.kill('SIGTERM');
    }
    const ended = await other.exit;
    expect(ended.code, ended.stderr).toBe(130);
    const finalStep = Number(/stopped at step (\d+)\//.exec(ended.stdout)![1]);
    // That process ended: the run shows its recorded state again, reloaded with everything it wrote.
    await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('Stopped');
    expect(existsSync(lockPath)).toBe(false);
    expect(await attr(page, 'run-item', 'data-elsewhere')).toBeNull();
    expect(await page.getByTestId('elsewhere-notice').count()).toBe(0);
    await expect.poll(() => stepOf(page)).toBe(finalStep);
    expect(await page.getByTestId('continue').isDisabled()).toBe(false);
    expect(await page.getByTestId('delete').isDisabled()).toBe(false);
    await page.getByTestId('resume-offer').waitFor();
    mark('trained elsewhere');
  });

  it('deletes the run after asking, and the empty state comes back', async () => {
    await page.getByTestId('delete').click();
    await page.getByTestId('confirm-delete').click();
    await page.getByTestId('training-empty').waitFor();
    expect(existsSync(join(app.dataDir, 'runs', runId))).toBe(false);
    await page.context().close();
    mark('deleted');
  });
});

describe('a run that stops improving', () => {
  it('ends by itself once its best checkpoint is `patience` steps old, and says so (light and dark)', async () => {
    const page = await openTraining('light');
    await page.getByTestId('empty-new-run').click();
    await fillQuickTest(page, 'e2e patience', 400, 0);
    // The app's default patience, off while there is no SWD to wait on.
    expect(await page.getByTestId('run-patience').inputValue()).toBe('2000');
    expect(await page.getByTestId('run-patience').isDisabled()).toBe(true);
    await page.getByTestId('run-swd-every').fill('1');
    await page.getByTestId('run-patience').fill('3');
    await page.getByTestId('start-run').click();

    await expect.poll(() => text(page, 'run-state'), { timeout: 180_000 }).toBe('Finished');
    const ended =
      /^Stopped early at step (\d+): no better checkpoint since step (\d+)\. The best is kept\.$/.exec(
        (await text(page, 'run-ended-early'))!.trim(),
      );
    expect(ended).not.toBeNull();
    expect(Number(ended![1]) - Number(ended![2])).toBe(3);
    expect(Number(ended![1])).toBeLessThan(400);
    expect(await text(page, 'run-best')).toContain(`step ${ended![2]}`);
    await screenshot(page, 'training-ended-early-light');
    const dark = await openTraining('dark');
    await dark.getByTestId('run-ended-early').waitFor();
    await screenshot(dark, 'training-ended-early-dark');
    await dark.context().close();

    // It can train on: Continue gives it a fresh window of `patience` steps, then it ends early again.
    await page.getByTestId('continue').click();
    await expect
      .poll(async () => /at step (\d+)/.exec((await text(page, 'run-ended-early')) ?? '')?.[1], {
        timeout: 180_000,
      })
      .not.toBe(ended![1]);
    expect(await text(page, 'run-state')).toBe('Finished');
    expect(await stepOf(page)).toBeGreaterThanOrEqual(Number(ended![1]) + 3);
    await page.context().close();
  });
});
