import { describe, expect, it } from 'vitest';
import { pathToFileURL } from 'node:url';
import { appUrlRules } from '../../src/main/app-url.ts';

const rendererDir = '/opt/Kao Studio/resources/app.asar/out/renderer';
const index = pathToFileURL(`${rendererDir}/index.html`).href;

describe('Electron isAppUrl: exact index URL / dev origin', () => {
  const built = appUrlRules({ rendererDir });

  it('accepts the built page and the files inside the renderer folder', () => {
    expect(built.isAppPage(index)).toBe(true);
    expect(built.isAppPage(`${index}#/favorites`)).toBe(true);
    expect(built.isAppResource(pathToFileURL(`${rendererDir}/assets/index-abc.js`).href)).toBe(true);
    expect(built.isAppResource(pathToFileURL(`${rendererDir}/assets/tfjs-backend-wasm.wasm`).href)).toBe(
      true,
    );
  });

  it('refuses look-alikes that a substring test let through', () => {
    const lookAlikes = [
      'file:///home/me/Downloads/out/renderer/evil.html',
      'file:///etc/passwd?/out/renderer/',
      `file:///etc/passwd#${rendererDir}/index.html`,
      `${index}?x=1`,
      pathToFileURL(`${rendererDir}/other.html`).href,
      pathToFileURL(`${rendererDir}/../renderer-evil/index.html`).href,
      `file://evil.example${rendererDir}/index.html`,
      `http://127.0.0.1/${rendererDir}/index.html`,
      'https://example.com/out/renderer/index.html',
      'not a url',
      '',
    ];
    for (const url of lookAlikes) expect(built.isAppPage(url), url).toBe(false);
    const resourceLookAlikes = [
      'file:///home/me/Downloads/out/renderer/evil.js',
      'file:///etc/passwd?/out/renderer/',
      pathToFileURL(`${rendererDir}/../../secret.js`).href,
      pathToFileURL(rendererDir).href,
      `${pathToFileURL(`${rendererDir}/assets/a.js`).href}?q`,
      `file://evil.example${rendererDir}/assets/a.js`,
      'https://cdn.example/out/renderer/a.js',
    ];
    for (const url of resourceLookAlikes) expect(built.isAppResource(url), url).toBe(false);
  });

  it('in development, only the dev server origin itself', () => {
    const dev = appUrlRules({ rendererDir, devServerUrl: 'http://localhost:5173' });
    expect(dev.isAppPage('http://localhost:5173/')).toBe(true);
    expect(dev.isAppResource('http://localhost:5173/src/main.ts?t=1')).toBe(true);
    for (const url of [
      'http://localhost:5173.evil.example/',
      'http://localhost:51730/',
      'https://localhost:5173/',
      'http://localhost.evil.example:5173/',
      'http://user@evil.example/?http://localhost:5173',
      index,
    ]) {
      expect(dev.isAppPage(url), url).toBe(false);
      expect(dev.isAppResource(url), url).toBe(false);
    }
  });
});
