import * as tf from '@tensorflow/tfjs';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../src/core/gan/backend.ts';
import { checkpointFolderName, checkpointsDir } from '../../../src/core/gan/checkpoint.ts';
import { randomLatent } from '../../../src/core/explorer/latent.ts';
import {
  deleteFavorite,
  exportFavoritePng,
  favoriteRecordSchema,
  FavoriteNotFoundError,
  getFavorite,
  listFavorites,
  regenerateFavorite,
  renameFavorite,
  saveFavorite,
} from '../../../src/core/library/favorites.ts';
import { exportInterpolation } from '../../../src/core/library/interpolation-export.ts';
import { getCheckpointDirections } from '../../../src/core/library/directions-cache.ts';
import { renderFaces, renderLatentFileToPng } from '../../../src/core/library/render.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';
import { makeTrainedRun, type TrainedRun } from '../../helpers/trained-run.ts';

const run$ = promisify(execFile);

let temp: { dir: string; cleanup: () => Promise<void> };
let run: TrainedRun;
let library: string;

beforeAll(async () => {
  await selectBackend('wasm');
  temp = await makeTempDir('kao-library-');
  run = await makeTrainedRun(join(temp.dir, 'runs', 'tiny-run'), { seed: 3, steps: 40, checkpointEvery: 20 });
  library = join(temp.dir, 'favorites');
}, 120_000);

afterAll(() => temp.cleanup());

async function pngInfo(data: Buffer | string) {
  const meta = await sharp(data).metadata();
  return { format: meta.format, width: meta.width, height: meta.height, channels: meta.channels };
}

describe('renderFaces', () => {
  it('renders the same PNG bytes for the same z and checkpoint, 4× the model size by default', async () => {
    const z = randomLatent(1, run.zDim);
    const [a, b] = await renderFaces(run.dir, [z, randomLatent(2, run.zDim)]);
    const [again] = await renderFaces(run.dir, [z]);
    expect(a!.equals(again!)).toBe(true);
    expect(a!.equals(b!)).toBe(false);
    expect(await pngInfo(a!)).toEqual({ format: 'png', width: 64, height: 64, channels: 3 });
    const [big] = await renderFaces(run.dir, [z], { size: 100, truncation: 0.5 });
    expect(await pngInfo(big!)).toMatchObject({ width: 100, height: 100 });
    // An earlier checkpoint is another model: another face from the same z.
    const [early] = await renderFaces(run.dir, [z], { step: run.steps[0] });
    expect(early!.equals(a!)).toBe(false);
    await expect(renderFaces(run.dir, [randomLatent(1, 5)])).rejects.toThrow(
      /5 values but this model's z has 32/,
    );
    await expect(renderFaces(run.dir, [z], { size: 3 })).rejects.toThrow(/size must be/);
  });
});

describe('favorites library', () => {
  it('saves, lists newest first, renames, regenerates, exports and deletes — all on disk', async () => {
    const tensorsBefore = tf.memory().numTensors;
    const z1 = randomLatent(11, run.zDim);
    const z2 = randomLatent(12, run.zDim);
    const first = await saveFavorite(library, {
      z: z1,
      runDir: run.dir,
      truncation: 0.8,
      name: 'Blue hair',
      now: new Date('2026-01-01T10:00:00Z'),
    });
    const second = await saveFavorite(library, {
      z: z2,
      runDir: run.dir,
      now: new Date('2026-01-02T10:00:00Z'),
    });
    expect(first.step).toBe(run.steps.at(-1));
    expect(first.runId).toBe('tiny-run');
    expect(second.name).toBe(`tiny-run · step ${run.steps.at(-1)}`);

    // Both files exist; the JSON on disk is a valid record holding exactly the saved z.
    const onDisk = favoriteRecordSchema.parse(
      JSON.parse(await readFile(join(library, `${first.id}.json`), 'utf8')),
    );
    expect(onDisk).toMatchObject({
      name: 'Blue hair',
      truncation: 0.8,
      runDir: run.dir,
      createdAt: '2026-01-01T10:00:00.000Z',
    });
    expect(Float32Array.from(onDisk.z)).toEqual(z1);
    expect(await pngInfo(first.pngPath)).toEqual({ format: 'png', width: 64, height: 64, channels: 3 });

    let listing = await listFavorites(library);
    expect(listing.problems).toEqual([]);
    expect(listing.favorites.map((f) => f.id)).toEqual([second.id, first.id]);
    expect(listing.favorites.every((f) => f.modelAvailable)).toBe(true);

    // Same z + checkpoint → the very same image as the one saved.
    const regenerated = await regenerateFavorite(library, first.id);
    expect(regenerated.equals(await readFile(first.pngPath))).toBe(true);

    const renamed = await renameFavorite(library, first.id, '  Blue hair, smiling ');
    expect(renamed.name).toBe('Blue hair, smiling');
    expect((await getFavorite(library, first.id)).name).toBe('Blue hair, smiling');
    await expect(renameFavorite(library, first.id, '   ')).rejects.toThrow(/non-empty name/);

    const out = join(temp.dir, 'exports', 'avatar.png');
    const exported = await exportFavoritePng(library, first.id, out, { size: 128 });
    expect(exported).toEqual({ path: out, size: 128, source: 'model' });
    expect(await pngInfo(out)).toEqual({ format: 'png', width: 128, height: 128, channels: 3 });

    await deleteFavorite(library, second.id);
    expect(existsSync(second.pngPath)).toBe(false);
    expect(existsSync(join(library, `${second.id}.json`))).toBe(false);
    listing = await listFavorites(library);
    expect(listing.favorites.map((f) => f.id)).toEqual([first.id]);
    await expect(getFavorite(library, second.id)).rejects.toBeInstanceOf(FavoriteNotFoundError);
    await expect(deleteFavorite(library, second.id)).rejects.toBeInstanceOf(FavoriteNotFoundError);
    await expect(getFavorite(library, '../../etc/passwd')).rejects.toBeInstanceOf(FavoriteNotFoundError);
    // Every save/regenerate/export loaded and freed a generator: nothing may stay behind.
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it('reports and skips corrupt files without losing the good ones', async () => {
    const dir = join(temp.dir, 'corrupt-library');
    const good = await saveFavorite(dir, { z: randomLatent(21, run.zDim), runDir: run.dir, name: 'good' });
    await writeFile(join(dir, '20260101-000000-aaaaaa.json'), '{"version": 1, "id": "20260101-000000-aaaa');
    await writeFile(
      join(dir, '20260101-000000-bbbbbb.json'),
      JSON.stringify({ version: 1, id: '20260101-000000-bbbbbb' }),
    );
    await writeFile(join(dir, '.20260101-000000-cccccc.json.1234.tmp'), 'half a write');
    const { favorites, problems } = await listFavorites(dir);
    expect(favorites.map((f) => f.id)).toEqual([good.id]);
    expect(problems.map((p) => p.file)).toEqual([
      '20260101-000000-aaaaaa.json',
      '20260101-000000-bbbbbb.json',
    ]);
    expect(problems[0]!.reason).toMatch(/not valid JSON/);
    expect(problems[1]!.reason).toMatch(/not a favorite record .*name/);
    await expect(getFavorite(dir, '20260101-000000-aaaaaa')).rejects.toThrow(/unreadable: not valid JSON/);
    // A corrupt record can still be deleted by id (the UI's "remove" on a problem entry).
    await deleteFavorite(dir, '20260101-000000-aaaaaa');
    expect((await listFavorites(dir)).problems.map((p) => p.file)).toEqual(['20260101-000000-bbbbbb.json']);
  });

  it('keeps the named-slider positions a face was saved with; records from before them still read', async () => {
    const dir = join(temp.dir, 'attributes-library');
    const z = randomLatent(41, run.zDim);
    const named = await saveFavorite(dir, {
      z,
      runDir: run.dir,
      name: 'named',
      attributes: { dark_hair: 2, warm_hair: -0.5, solo: 0 },
      now: new Date('2026-02-01T10:00:00Z'),
    });
    // Zero offsets say nothing: only moved sliders are stored.
    expect(named.attributes).toEqual({ dark_hair: 2, warm_hair: -0.5 });
    const onDisk = JSON.parse(await readFile(join(dir, `${named.id}.json`), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(onDisk.attributes).toEqual({ dark_hair: 2, warm_hair: -0.5 });
    const plain = await saveFavorite(dir, { z, runDir: run.dir, attributes: { solo: 0 } });
    expect('attributes' in JSON.parse(await readFile(join(dir, `${plain.id}.json`), 'utf8'))).toBe(false);

    // A record written before named sliders existed: exactly the old fields, no `attributes`.
    const oldId = '20251101-120000-abcdef';
    const oldRecord: Record<string, unknown> = {
      ...onDisk,
      id: oldId,
      image: { file: `${oldId}.png`, size: 64 },
    };
    delete oldRecord.attributes;
    expect(Object.keys(oldRecord).sort()).toEqual([
      'createdAt',
      'id',
      'image',
      'name',
      'runDir',
      'runId',
      'step',
      'truncation',
      'version',
      'z',
    ]);
    await writeFile(join(dir, `${oldId}.json`), JSON.stringify(oldRecord));
    await writeFile(join(dir, `${oldId}.png`), await readFile(named.pngPath));
    const { favorites, problems } = await listFavorites(dir);
    expect(problems).toEqual([]);
    expect(favorites.map((f) => [f.id, f.attributes])).toEqual([
      [plain.id, undefined],
      [named.id, { dark_hair: 2, warm_hair: -0.5 }],
      [oldId, undefined],
    ]);
    // Renaming keeps the positions.
    expect((await renameFavorite(dir, named.id, 'renamed')).attributes).toEqual({
      dark_hair: 2,
      warm_hair: -0.5,
    });

    await expect(saveFavorite(dir, { z, runDir: run.dir, attributes: { dark_hair: 11 } })).rejects.toThrow(
      /attribute dark_hair: .*10/,
    );
    await expect(saveFavorite(dir, { z, runDir: run.dir, attributes: { '': 1 } })).rejects.toThrow(
      RangeError,
    );
    expect((await listFavorites(dir)).favorites).toHaveLength(3);
  });

  it('rejects bad input without writing anything', async () => {
    const dir = join(temp.dir, 'bad-input');
    await expect(saveFavorite(dir, { z: randomLatent(1, 7), runDir: run.dir })).rejects.toThrow(/7 values/);
    await expect(
      saveFavorite(dir, { z: [NaN, ...randomLatent(1, run.zDim - 1)], runDir: run.dir }),
    ).rejects.toThrow(/not a finite number/);
    await expect(
      saveFavorite(dir, { z: randomLatent(1, run.zDim), runDir: run.dir, truncation: -1 }),
    ).rejects.toThrow(/truncation/);
    await expect(
      saveFavorite(dir, { z: randomLatent(1, run.zDim), runDir: join(temp.dir, 'no-such-run') }),
    ).rejects.toThrow();
    expect(existsSync(dir)).toBe(false);
  });

  it('still lists and exports a favorite whose checkpoint is gone, from its saved PNG', async () => {
    const dir = join(temp.dir, 'orphan-library');
    const early = await saveFavorite(dir, {
      z: randomLatent(31, run.zDim),
      runDir: run.dir,
      step: run.steps[0],
    });
    expect(early.step).toBe(run.steps[0]);
    await rm(join(checkpointsDir(run.dir), checkpointFolderName(run.steps[0]!)), { recursive: true });
    const [listed] = (await listFavorites(dir)).favorites;
    expect(listed!.modelAvailable).toBe(false);
    const out = join(temp.dir, 'orphan.png');
    expect(await exportFavoritePng(dir, early.id, out, { size: 96 })).toEqual({
      path: out,
      size: 96,
      source: 'saved-image',
    });
    expect(await pngInfo(out)).toEqual({ format: 'png', width: 96, height: 96, channels: 3 });
    await expect(regenerateFavorite(dir, early.id)).rejects.toThrow(/no checkpoint at step/);
  });
});

describe('interpolation export', () => {
  it('writes an animated GIF and WebP with the requested number of frames', async () => {
    const from = randomLatent(41, run.zDim);
    const to = randomLatent(42, run.zDim);
    const gif = await exportInterpolation({
      runDir: run.dir,
      from,
      to,
      frames: 6,
      outPath: join(temp.dir, 'morph.gif'),
    });
    expect(gif).toMatchObject({ format: 'gif', frames: 6, size: 64 });
    const gifMeta = await sharp(gif.path, { animated: true }).metadata();
    expect([gifMeta.format, gifMeta.pages, gifMeta.width, gifMeta.pageHeight]).toEqual(['gif', 6, 64, 64]);

    const progress: number[] = [];
    const webp = await exportInterpolation({
      runDir: run.dir,
      from,
      to,
      frames: 5,
      mode: 'linear',
      size: 48,
      pingPong: true,
      frameDelayMs: 50,
      outPath: join(temp.dir, 'morph.webp'),
      onProgress: (p) => progress.push(p.done),
    });
    expect(webp.frames).toBe(8);
    expect(progress.at(-1)).toBe(8);
    const webpMeta = await sharp(webp.path, { animated: true }).metadata();
    expect([
      webpMeta.format,
      webpMeta.pages,
      webpMeta.width,
      webpMeta.pageHeight,
      webpMeta.delay?.[0],
    ]).toEqual(['webp', 8, 48, 48, 50]);
    // GIF frames are palette-quantized, so compare loosely: frame 0 looks like `from`, the last like `to`.
    const frame = (page: number) => sharp(gif.path, { page }).removeAlpha().raw().toBuffer();
    const [still0, still1] = await Promise.all(
      (await renderFaces(run.dir, [from, to])).map((png) => sharp(png).raw().toBuffer()),
    );
    const distance = (a: Buffer, b: Buffer) =>
      a.reduce((sum, v, i) => sum + Math.abs(v - b[i]!), 0) / a.length;
    const [first, last] = [await frame(0), await frame(5)];
    expect(distance(first, still0!)).toBeLessThan(distance(first, still1!));
    expect(distance(last, still1!)).toBeLessThan(distance(last, still0!));
    expect(distance(first, still0!)).toBeLessThan(6);

    await expect(
      exportInterpolation({ runDir: run.dir, from, to, frames: 4, outPath: join(temp.dir, 'morph.mp4') }),
    ).rejects.toThrow(/\.webp or \.gif/);
    await expect(
      exportInterpolation({ runDir: run.dir, from, to, frames: 1, outPath: join(temp.dir, 'x.gif') }),
    ).rejects.toThrow(/frames/);
  });
});

describe('directions cache', () => {
  it('computes directions once per checkpoint and settings, then reads them back; a torn cache is recomputed', async () => {
    const cacheDir = join(temp.dir, 'cache', 'directions');
    const phases = new Set<string>();
    const options = {
      cacheDir,
      samples: 256,
      components: 4,
      onProgress: (p: { phase: string }) => phases.add(p.phase),
    };
    const first = await getCheckpointDirections(run.dir, options);
    expect(first.cached).toBe(false);
    expect(first.step).toBe(run.steps.at(-1));
    expect(first.directions.directions).toHaveLength(4);
    expect([...phases]).toEqual(['sampling', 'iterating', 'regression']);
    const second = await getCheckpointDirections(run.dir, options);
    expect(second.cached).toBe(true);
    expect(second.path).toBe(first.path);
    second.directions.directions.forEach((d, k) =>
      expect(Array.from(d.vector)).toEqual(Array.from(first.directions.directions[k]!.vector)),
    );
    // Other settings are another cache entry.
    const other = await getCheckpointDirections(run.dir, { ...options, components: 3 });
    expect([other.cached, other.path === first.path]).toEqual([false, false]);
    await writeFile(first.path, '{"zDim": 32, "direc');
    const recomputed = await getCheckpointDirections(run.dir, options);
    expect(recomputed.cached).toBe(false);
    expect(Array.from(recomputed.directions.directions[0]!.vector)).toEqual(
      Array.from(first.directions.directions[0]!.vector),
    );
  });
});

describe('CLI', () => {
  const kao = (...args: string[]) =>
    run$(join(process.cwd(), 'node_modules/.bin/node'), [join(process.cwd(), 'bin/kao.js'), ...args], {
      cwd: process.cwd(),
      maxBuffer: 16 * 1024 * 1024,
    });

  it('lists and exports favorites', async () => {
    const dir = join(temp.dir, 'cli-library');
    const saved = await saveFavorite(dir, {
      z: randomLatent(51, run.zDim),
      runDir: run.dir,
      name: 'CLI face',
    });
    const { stdout } = await kao('favorites', 'list', '--library', dir, '--json');
    const listing = JSON.parse(stdout) as {
      favorites: Array<{ id: string; name: string; modelAvailable: boolean }>;
    };
    expect(listing.favorites.map((f) => [f.id, f.name, f.modelAvailable])).toEqual([
      [saved.id, 'CLI face', true],
    ]);

    const out = join(temp.dir, 'cli-export.png');
    await kao(
      'favorites',
      'export',
      '--library',
      dir,
      '--id',
      saved.id,
      '--out',
      out,
      '--size',
      '80',
      '--backend',
      'wasm',
    );
    expect(await pngInfo(out)).toEqual({ format: 'png', width: 80, height: 80, channels: 3 });
    const inProcess = await exportFavoritePng(dir, saved.id, join(temp.dir, 'in-process.png'), { size: 80 });
    expect((await readFile(out)).equals(await readFile(inProcess.path))).toBe(true);

    await expect(
      kao('favorites', 'export', '--library', dir, '--id', 'nope', '--out', out),
    ).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/no favorite with id "nope"/),
    });
    await expect(kao('favorites', 'frobnicate')).rejects.toMatchObject({ code: 2 });
  });

  it('kao sample --z regenerates a face pixel-identically, run to run and against the in-process render', async () => {
    const z = randomLatent(61, run.zDim);
    const zFile = join(temp.dir, 'face-z.json');
    await writeFile(zFile, JSON.stringify(Array.from(z)));
    const outs = [join(temp.dir, 'sample-1.png'), join(temp.dir, 'sample-2.png')];
    for (const out of outs) {
      await kao('sample', '--run', run.dir, '--z', zFile, '--out', out, '--size', '96', '--backend', 'wasm');
    }
    const [a, b] = await Promise.all(outs.map((o) => readFile(o)));
    expect(a!.equals(b!)).toBe(true);
    expect(await pngInfo(a!)).toEqual({ format: 'png', width: 96, height: 96, channels: 3 });
    const direct = await renderLatentFileToPng(run.dir, zFile, join(temp.dir, 'sample-direct.png'), {
      size: 96,
    });
    expect((await readFile(direct.path)).equals(a!)).toBe(true);
    // A saved favorite's JSON works as the z file too, with its truncation.
    const fav = await saveFavorite(join(temp.dir, 'sample-lib'), { z, runDir: run.dir, truncation: 0.7 });
    const favOut = join(temp.dir, 'sample-fav.png');
    await kao(
      'sample',
      '--run',
      run.dir,
      '--z',
      join(temp.dir, 'sample-lib', `${fav.id}.json`),
      '--out',
      favOut,
      '--backend',
      'wasm',
    );
    expect((await readFile(favOut)).equals(await readFile(fav.pngPath))).toBe(true);
    expect(await readdir(join(temp.dir, 'sample-lib'))).toHaveLength(2);
  });
});
