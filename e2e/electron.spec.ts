/// <reference lib="dom" />
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { _electron as electron } from 'playwright-core';

// The Electron binary is downloaded from GitHub by its install script; where that is impossible
// (offline CI), this spec is skipped and the same UI is covered in Chromium over `kao serve`.
function electronBinary(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const pkgDir = dirname(require.resolve('electron/package.json'));
    const pathFile = join(pkgDir, 'path.txt');
    if (!existsSync(pathFile)) return undefined;
    const binary = join(pkgDir, 'dist', readFileSync(pathFile, 'utf8').trim());
    return existsSync(binary) ? binary : undefined;
  } catch {
    return undefined;
  }
}
const binary = electronBinary();
if (!binary) {
  console.warn(
    '[e2e] Skipping the Electron spec: no Electron binary is installed (run `node node_modules/electron/install.js` with internet access).',
  );
}

describe.skipIf(!binary)('the real Electron app', () => {
  it('opens a sandboxed, context-isolated window with the typed bridge', async () => {
    const app = await electron.launch({
      executablePath: binary!,
      args: ['.', '--no-sandbox'],
      env: { ...process.env, KAO_E2E: '1' },
    });
    const page = await app.firstWindow();
    await page.getByTestId('status-bar').waitFor();
    expect(await page.evaluate(() => typeof (window as unknown as { require?: unknown }).require)).toBe(
      'undefined',
    );
    expect(
      await page.evaluate(() => typeof (window as unknown as { kao?: { invoke?: unknown } }).kao?.invoke),
    ).toBe('function');
    const info = await page.evaluate(() =>
      (window as unknown as { kao: { invoke(c: string, r: unknown): Promise<unknown> } }).kao.invoke(
        'app.info',
        {},
      ),
    );
    expect(info).toMatchObject({ ok: true, value: { adapter: 'electron' } });
    await app.close();
  });
});
