import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Cookie, type Page } from 'playwright-core';

export const screenshotDir = resolve('e2e/screenshots');
export const chromiumPath = process.env.KAO_CHROMIUM ?? '/usr/bin/chromium';

export interface ServedApp {
  url: string;
  origin: string;
  dataDir: string;
  configDir: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts the real `kao serve` CLI on a fresh data folder and waits for its URL. */
export async function startServe(options: { dataDir?: string; configDir?: string } = {}): Promise<ServedApp> {
  const root = await mkdtemp(join(tmpdir(), 'kao-e2e-'));
  const dataDir = options.dataDir ?? join(root, 'data');
  const configDir = options.configDir ?? join(root, 'config');
  await mkdir(dataDir, { recursive: true });
  const child = spawn(
    process.execPath,
    ['bin/kao.js', 'serve', '--json', '--data', dataDir, '--config', configDir],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const { url, origin } = await new Promise<{ url: string; origin: string }>((resolveUrl, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      try {
        resolveUrl(JSON.parse(out) as { url: string; origin: string });
      } catch {
        /* not complete yet */
      }
    });
    child.once('exit', (code) => reject(new Error(`kao serve exited with ${code}: ${out}`)));
  });
  return {
    url,
    origin,
    dataDir,
    configDir,
    process: child,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      if (!options.dataDir) await rm(root, { recursive: true, force: true });
    },
  };
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

const sessionCookies = new Map<string, Cookie[]>();

export async function openApp(
  browser: Browser,
  url: string,
  colorScheme: 'light' | 'dark' = 'light',
): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme });
  const page = await context.newPage();
  page.on('pageerror', (error) => {
    throw error;
  });
  // The printed URL works once (it is swapped for a session cookie); later pages reuse that cookie.
  const known = sessionCookies.get(url);
  if (known) {
    await context.addCookies(known);
    await page.goto(new URL(url).origin + '/');
  } else {
    await page.goto(url);
    sessionCookies.set(url, await context.cookies());
  }
  await page.getByTestId('status-bar').waitFor();
  return page;
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(screenshotDir, { recursive: true });
  await page.screenshot({ path: join(screenshotDir, `${name}.png`) });
}
