import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { createAppServices } from '../../src/services/app-services.ts';
import { jsonFileSettingsStore } from '../../src/services/settings.ts';
import { nodeTrainerLauncher } from '../../src/services/node-trainer-launcher.ts';
import { parseSettingsLenient } from '../../src/shared/contract.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';

async function makeServices(settingsFile?: string) {
  const { dir, cleanup } = await makeTempDir();
  const services = createAppServices({
    platform: { adapter: 'web', version: '0.0.0-test' },
    settingsStore: jsonFileSettingsStore(settingsFile ?? join(dir, 'settings.json')),
    dataDirDefault: join(dir, 'data'),
    launchTrainer: nodeTrainerLauncher(),
  });
  return { services, dir, cleanup };
}

describe('the dispatcher validates every request against the contract', () => {
  it('answers a valid request', async () => {
    const { services, dir, cleanup } = await makeServices();
    const reply = await services.dispatch('app.info', {});
    expect(reply).toMatchObject({
      ok: true,
      value: { name: 'Kao Studio', adapter: 'web', dataDir: join(dir, 'data') },
    });
    await cleanup();
  });

  it('rejects an unknown channel with a typed error', async () => {
    const { services, cleanup } = await makeServices();
    const reply = await services.dispatch('fs.deleteEverything', {});
    expect(reply).toEqual({
      ok: false,
      error: { code: 'unknown-channel', message: expect.stringContaining('fs.deleteEverything') },
    });
    await cleanup();
  });

  it('rejects malformed settings and changes nothing', async () => {
    const { services, dir, cleanup } = await makeServices();
    const before = services.settings.get();
    const reply = await services.dispatch('settings.set', {
      ...before,
      crawl: { ...before.crawl, delayMs: -5, site: 'ftp://x' },
    });
    expect(reply.ok).toBe(false);
    if (reply.ok) throw new Error('unreachable');
    expect(reply.error.code).toBe('invalid-input');
    expect(reply.error.issues?.map((i) => i.path).sort()).toEqual(['crawl.delayMs', 'crawl.site']);
    expect(services.settings.get()).toEqual(before);
    await expect(readFile(join(dir, 'settings.json'))).rejects.toThrow(/ENOENT/);
    await cleanup();
  });

  it('rejects extra fields on strict requests and non-object requests', async () => {
    const { services, cleanup } = await makeServices();
    expect(await services.dispatch('trainer.selfTest', { backend: 'cpu', evil: true })).toMatchObject({
      ok: false,
      error: { code: 'invalid-input' },
    });
    expect(await services.dispatch('trainer.selfTest', 'cpu')).toMatchObject({
      ok: false,
      error: { code: 'invalid-input' },
    });
    expect(await services.dispatch('trainer.selfTest', { backend: 'cuda' })).toMatchObject({
      ok: false,
      error: { code: 'invalid-input' },
    });
    await cleanup();
  });

  it('reports folder dialogs as unsupported in the browser', async () => {
    const { services, cleanup } = await makeServices();
    expect(await services.dispatch('dialog.pickFolder', { title: 'x' })).toMatchObject({
      ok: false,
      error: { code: 'unsupported' },
    });
    await cleanup();
  });
});

describe('settings', () => {
  it('has defaults for everything but the data folder', () => {
    const { settings, repaired } = parseSettingsLenient(undefined, '/data');
    expect(repaired).toEqual(['(all)']);
    expect(settings.dataDir).toBe('/data');
    expect(settings.crawl).toMatchObject({
      site: 'https://konachan.net',
      rendition: 'sample',
      delayMs: 1000,
      unsafeRatings: false,
    });
    expect(settings.training).toMatchObject({ preset: 'kao-48', batchSize: 64, backend: 'auto' });
    expect(settings.faces).toMatchObject({ size: 96, scaleFactor: 1.1, minNeighbors: 5, minSize: 24 });
    expect(settings.theme).toBe('system');
  });

  it('keeps good stored values and resets only the bad ones', () => {
    const { settings, repaired } = parseSettingsLenient(
      {
        dataDir: '/mine',
        theme: 'purple',
        crawl: { tags: 'solo smile', delayMs: 'fast' },
        training: { batchSize: 32 },
      },
      '/default',
    );
    expect(settings.dataDir).toBe('/mine');
    expect(settings.theme).toBe('system');
    expect(settings.crawl.tags).toBe('solo smile');
    expect(settings.crawl.delayMs).toBe(1000);
    expect(settings.training.batchSize).toBe(32);
    expect(repaired.sort()).toEqual(['crawl.delayMs', 'theme']);
  });

  it('recovers from a corrupt settings file and persists a repaired one on save', async () => {
    const { dir, cleanup } = await makeTempDir();
    const file = join(dir, 'settings.json');
    await writeFile(file, '{"dataDir": "/x", "theme": "dark", ');
    const { services } = await makeServices(file);
    expect(services.settings.repaired).toEqual(['(unreadable settings file)']);
    expect(services.settings.get().theme).toBe('system');
    const reply = await services.dispatch('settings.set', {
      ...services.settings.get(),
      dataDir: join(dir, 'd'),
      theme: 'dark',
    });
    expect(reply.ok).toBe(true);
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({
      theme: 'dark',
      dataDir: join(dir, 'd'),
    });
    await cleanup();
  });
});
