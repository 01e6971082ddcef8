/// <reference lib="dom" />
/** The Explorer and Favorites screens as the specs drive them: opening a screen, and reading the face canvas. */
import { expect } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { openApp } from './helpers.ts';

export async function openScreen(
  browser: Browser,
  url: string,
  scheme: 'light' | 'dark',
  screen: 'explorer' | 'favorites',
): Promise<Page> {
  const page = await openApp(browser, url, scheme);
  await page.locator(`nav [data-screen="${screen}"]`).click();
  await expect
    .poll(() => page.locator('main h1').textContent())
    .toBe(screen === 'explorer' ? 'Explorer' : 'Favorites');
  return page;
}

export const canvasUrl = (page: Page) =>
  page.getByTestId('explorer-canvas').evaluate((c) => (c as HTMLCanvasElement).toDataURL());

/** How many faces the canvas has painted (it counts them in data-paints). */
export const paints = async (page: Page) =>
  Number(await page.getByTestId('explorer-canvas').getAttribute('data-paints'));

export const canvasPixels = (page: Page) =>
  page.getByTestId('explorer-canvas').evaluate((c) => {
    const canvas = c as HTMLCanvasElement;
    return Array.from(canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data);
  });
