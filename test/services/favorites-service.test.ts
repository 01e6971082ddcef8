import { existsSync } from 'node:fs';
import { readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/core/gan/backend.ts';
import { randomLatent } from '../../src/core/explorer/latent.ts';
import { renderFaces } from '../../src/core/library/render.ts';
import { createAppServices, type AppServices } from '../../src/services/app-services.ts';
import { createNodeAppServices } from '../../src/services/node-services.ts';
import { nodeTrainerLauncher } from '../../src/services/node-trainer-launcher.ts';
import { jsonFileSettingsStore } from '../../src/services/settings.ts';
import { resolveMediaPath } from '../../src/services/media.ts';
import type { Favorite, FavoritesListing } from '../../src/shared/explorer-schemas.ts';
import type { EventName } from '../../src/shared/contract.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';
import { makeAppRun, type AppRun } from '../helpers/trained-run.ts';

let web: AppServices;
let desktop: AppServices;
let cleanup: () => Promise<void>;
let root: string;
let dataDir: string;
let run: AppRun;
const events: Array<{ name: EventName; payload: unknown }> = [];
const copied: string[] = [];
const revealed: string[] = [];

beforeAll(async () => {
  await selectBackend('wasm');
  const temp = await makeTempDir('kao-favorites-service-');
  cleanup = temp.cleanup;
  root = temp.dir;
  dataDir = join(root, 'data');
  run = await makeAppRun(dataDir);
  web = createNodeAppServices({ configDir: join(root, 'config'), dataDir });
  web.events.subscribe((name, payload) => events.push({ name, payload }));
  // The Electron adapter's extras, recorded instead of touching a real clipboard or file manager.
  desktop = createAppServices({
    platform: {
      adapter: 'electron',
      version: '0.0.0',
      copyImage: async (path) => void copied.push(path),
      revealInFolder: async (path) => void revealed.push(path),
    },
    settingsStore: jsonFileSettingsStore(join(root, 'config-desktop', 'settings.json')),
    dataDirDefault: dataDir,
    launchTrainer: nodeTrainerLauncher(),
  });
}, 120_000);

afterAll(async () => {
  await web?.dispose();
  await desktop?.dispose();
  await cleanup?.();
});

async function call<T>(services: AppServices, channel: string, request: unknown): Promise<T> {
  const envelope = await services.dispatch(channel, request);
  if (!envelope.ok) throw new Error(`${envelope.error.code}: ${envelope.error.message}`);
  return envelope.value as T;
}

async function failure(services: AppServices, channel: string, request: unknown) {
  const envelope = await services.dispatch(channel, request);
  if (envelope.ok) throw new Error(`${channel} unexpectedly succeeded`);
  return envelope.error;
}

const list = (services: AppServices = web) => call<FavoritesListing>(services, 'favorites.list', {});

describe('favorites service over a real tiny run', () => {
  it('starts empty, then saves a face rendered from the checkpoint with its z and ψ', async () => {
    expect(await list()).toEqual({ favorites: [], problems: [], canCopy: false, canReveal: false });
    const z = Array.from(randomLatent(21, run.zDim));
    const saved = await call<Favorite>(web, 'favorites.save', {
      runId: run.id,
      step: 10,
      z,
      truncation: 0.7,
      name: '  Pink hair  ',
    });
    expect(saved).toMatchObject({
      name: 'Pink hair',
      // The run as the app names it, beside its folder id.
      runName: run.name,
      runId: run.id,
      step: 10,
      truncation: 0.7,
      imageSize: 64,
      modelAvailable: true,
      imagePath: `favorites/${saved.id}.png`,
    });
    expect(saved.z).toEqual(Array.from(Float32Array.from(z)));
    expect(events).toContainEqual({ name: 'favorites.changed', payload: { reason: 'saved', id: saved.id } });

    // The PNG is served from the data folder and is the same face Node renders for (z, ψ, step).
    const png = await readFile((await resolveMediaPath(dataDir, saved.imagePath))!);
    const [expected] = await renderFaces(run.dir, [randomLatent(21, run.zDim)], {
      step: 10,
      truncation: 0.7,
    });
    expect(png.equals(expected!)).toBe(true);

    const listing = await list();
    expect(listing.favorites).toEqual([saved]);
    // The desktop adapter says it can copy and reveal.
    expect(await list(desktop)).toMatchObject({ canCopy: true, canReveal: true });
  });

  it('renames, exports at a chosen size to a chosen place, copies and reveals', async () => {
    const [favorite] = (await list()).favorites;
    const renamed = await call<Favorite>(web, 'favorites.rename', { id: favorite!.id, name: 'Sakura' });
    expect(renamed.name).toBe('Sakura');
    expect((await list()).favorites[0]!.name).toBe('Sakura');
    expect(await failure(web, 'favorites.rename', { id: favorite!.id, name: '   ' })).toMatchObject({
      code: 'invalid-input',
    });

    // Default in the browser adapter: <data>/exports, named after the favorite and size.
    const exported = await call<{ path: string; size: number; source: string; mediaPath?: string }>(
      web,
      'favorites.export',
      { id: favorite!.id, size: 128 },
    );
    expect(exported).toMatchObject({
      path: join(dataDir, 'exports', 'Sakura-128px.png'),
      size: 128,
      source: 'model',
      mediaPath: 'exports/Sakura-128px.png',
    });
    expect(await sharp(exported.path).metadata()).toMatchObject({ format: 'png', width: 128, height: 128 });
    // Exporting again never overwrites the first file.
    const second = await call<{ path: string }>(web, 'favorites.export', { id: favorite!.id, size: 128 });
    expect(second.path).not.toBe(exported.path);
    expect(existsSync(exported.path)).toBe(true);

    const typed = join(root, 'my exports', 'avatar.png');
    const toFile = await call<{ path: string; mediaPath?: string }>(web, 'favorites.export', {
      id: favorite!.id,
      size: 2048,
      to: typed,
    });
    expect(toFile.path).toBe(typed);
    expect(toFile.mediaPath).toBeUndefined();
    expect(await sharp(typed).metadata()).toMatchObject({ width: 2048, height: 2048 });
    expect(await failure(web, 'favorites.export', { id: favorite!.id, size: 4096 })).toMatchObject({
      code: 'invalid-input',
    });
    const notAFolder = join(root, 'notes.txt');
    await writeFile(notAFolder, 'hello');
    expect(
      await failure(web, 'favorites.export', { id: favorite!.id, size: 128, to: notAFolder }),
    ).toMatchObject({
      code: 'invalid-input',
      message: expect.stringMatching(/is a file/),
    });
    // A typed folder gets a named file inside it.
    const intoFolder = await call<{ path: string }>(web, 'favorites.export', {
      id: favorite!.id,
      size: 64,
      to: join(root, 'my exports'),
    });
    expect(intoFolder.path).toBe(join(root, 'my exports', 'Sakura-64px.png'));
    // A relative path would land wherever the server was started: refused, with what to type instead.
    expect(
      await failure(web, 'favorites.export', { id: favorite!.id, size: 64, to: 'avatars' }),
    ).toMatchObject({
      code: 'invalid-input',
      message: expect.stringMatching(/full path/),
    });
    expect(existsSync(join(dataDir, 'avatars'))).toBe(false);
    // An existing .png is replaced only when the request says so (the UI asks first).
    const before = await readFile(typed);
    expect(await failure(web, 'favorites.export', { id: favorite!.id, size: 64, to: typed })).toMatchObject({
      code: 'exists',
    });
    expect(await readFile(typed)).toEqual(before);
    await call(web, 'favorites.export', { id: favorite!.id, size: 64, to: typed, overwrite: true });
    expect(await sharp(typed).metadata()).toMatchObject({ width: 64 });
    // Downloads need a platform that offers them (`kao serve`); this one does not.
    expect(
      await failure(web, 'favorites.export', { id: favorite!.id, size: 64, download: true }),
    ).toMatchObject({ code: 'unsupported' });

    expect(await call(web, 'favorites.copy', { id: favorite!.id })).toEqual({ copied: false });
    expect(await failure(web, 'favorites.reveal', { id: favorite!.id })).toMatchObject({
      code: 'unsupported',
    });
    const png = join(dataDir, 'favorites', `${favorite!.id}.png`);
    expect(await call(desktop, 'favorites.copy', { id: favorite!.id })).toEqual({ copied: true });
    expect(await call(desktop, 'favorites.reveal', { id: favorite!.id })).toEqual({ ok: true });
    expect(copied).toEqual([png]);
    expect(revealed).toEqual([png]);
  });

  it('refuses faces that do not fit the model and checkpoints that do not exist, saving nothing', async () => {
    const before = await readdir(join(dataDir, 'favorites'));
    const z = Array.from(randomLatent(3, run.zDim));
    expect(await failure(web, 'favorites.save', { runId: run.id, step: 10, z: [1, 2, 3] })).toMatchObject({
      code: 'invalid-input',
      message: expect.stringMatching(/3 values but this model's z has 32/),
    });
    expect(await failure(web, 'favorites.save', { runId: run.id, step: 7, z })).toMatchObject({
      code: 'not-found',
    });
    expect(await failure(web, 'favorites.save', { runId: 'gone', step: 10, z })).toMatchObject({
      code: 'not-found',
    });
    expect(
      await failure(web, 'favorites.save', { runId: run.id, step: 10, z, truncation: 11 }),
    ).toMatchObject({
      code: 'invalid-input',
    });
    expect(await failure(web, 'favorites.rename', { id: '20260101-000000-abcdef', name: 'x' })).toMatchObject(
      {
        code: 'not-found',
      },
    );
    expect(await readdir(join(dataDir, 'favorites'))).toEqual(before);
  });

  it('marks favorites whose run is gone as model-missing; they still list, export and delete', async () => {
    const z = Array.from(randomLatent(22, run.zDim));
    const early = await call<Favorite>(web, 'favorites.save', { runId: run.id, step: 5, z });
    expect(early.name).toBe(`${run.name} · step 5`);
    // A damaged record in the folder is reported, never fatal.
    await writeFile(join(dataDir, 'favorites', '20260101-000000-abcdef.json'), '{ not json');

    const moved = join(root, 'moved-run');
    await rename(run.dir, moved);
    const listing = await list();
    expect(listing.favorites.map((f) => [f.id, f.modelAvailable])).toEqual(
      [...listing.favorites].map((f) => [f.id, false]),
    );
    expect(listing.favorites).toHaveLength(2);
    expect(listing.problems).toEqual([
      { file: '20260101-000000-abcdef.json', reason: expect.stringMatching(/JSON/) },
    ]);

    const exported = await call<{ path: string; source: string }>(web, 'favorites.export', {
      id: early.id,
      size: 64,
    });
    expect(exported.source).toBe('saved-image');
    expect(await sharp(exported.path).metadata()).toMatchObject({ width: 64, height: 64 });
    expect(await failure(web, 'favorites.save', { runId: run.id, step: 10, z })).toMatchObject({
      code: 'not-found',
      message: expect.stringMatching(/gone/),
    });

    // Back in place, the model is available again.
    await rename(moved, run.dir);
    expect((await list()).favorites.every((f) => f.modelAvailable)).toBe(true);

    for (const favorite of listing.favorites) {
      expect(await call(web, 'favorites.delete', { id: favorite.id })).toEqual({ ok: true });
    }
    expect((await list()).favorites).toEqual([]);
    expect(await readdir(join(dataDir, 'favorites'))).toEqual(['20260101-000000-abcdef.json']);
    expect(
      events
        .filter((e) => e.name === 'favorites.changed')
        .map((e) => (e.payload as { reason: string }).reason),
    ).toEqual(['saved', 'renamed', 'saved', 'deleted', 'deleted']);
    expect(await failure(web, 'favorites.delete', { id: early.id })).toMatchObject({ code: 'not-found' });
  });

  it('remembers named-slider positions with a face and refuses offsets out of range', async () => {
    const z = Array.from(randomLatent(23, run.zDim));
    const saved = await call<Favorite>(web, 'favorites.save', {
      runId: run.id,
      step: 10,
      z,
      attributes: { blonde_hair: 1.5, smile: -2 },
    });
    expect(saved.attributes).toEqual({ blonde_hair: 1.5, smile: -2 });
    const listed = (await list()).favorites.find((f) => f.id === saved.id);
    expect(listed?.attributes).toEqual({ blonde_hair: 1.5, smile: -2 });
    // A favorite saved without them has no `attributes` at all.
    const plain = await call<Favorite>(web, 'favorites.save', { runId: run.id, step: 10, z });
    expect('attributes' in (await list()).favorites.find((f) => f.id === plain.id)!).toBe(false);
    expect(
      await failure(web, 'favorites.save', { runId: run.id, step: 10, z, attributes: { smile: 12 } }),
    ).toMatchObject({ code: 'invalid-input' });
    for (const id of [saved.id, plain.id]) await call(web, 'favorites.delete', { id });
  });
});
