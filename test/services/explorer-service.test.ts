import { readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/core/gan/backend.ts';
import { readGeneratorWeights } from '../../src/core/gan/generator-node.ts';
import type { GanConfig } from '../../src/core/gan/config.ts';
import type { WeightRecord } from '../../src/core/gan/models.ts';
import {
  computePrincipalDirections,
  explorerGeneratorFromWeights,
  generateImages,
  principalDirectionsToJson,
  randomLatent,
} from '../../src/core/explorer/index.ts';
import { renderFaces } from '../../src/core/library/render.ts';
import { resolveMediaPath } from '../../src/services/media.ts';
import { createNodeAppServices } from '../../src/services/node-services.ts';
import type { AppServices } from '../../src/services/app-services.ts';
import type { GeneratorManifest, InterpolationExportResult } from '../../src/shared/explorer-schemas.ts';
import type { EventName } from '../../src/shared/contract.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';
import { makeAppRun, type AppRun } from '../helpers/trained-run.ts';

let services: AppServices;
let cleanup: () => Promise<void>;
let dataDir: string;
let run: AppRun;
const events: Array<{ name: EventName; payload: unknown }> = [];

beforeAll(async () => {
  await selectBackend('wasm');
  const temp = await makeTempDir('kao-explorer-service-');
  cleanup = temp.cleanup;
  dataDir = join(temp.dir, 'data');
  run = await makeAppRun(dataDir);
  services = createNodeAppServices({ configDir: join(temp.dir, 'config'), dataDir });
  services.events.subscribe((name, payload) => events.push({ name, payload }));
}, 120_000);

afterAll(async () => {
  await services?.dispose();
  await cleanup?.();
});

async function call<T>(channel: string, request: unknown): Promise<T> {
  const envelope = await services.dispatch(channel, request);
  if (!envelope.ok) throw new Error(`${envelope.error.code}: ${envelope.error.message}`);
  return envelope.value as T;
}

async function failure(channel: string, request: unknown) {
  const envelope = await services.dispatch(channel, request);
  if (envelope.ok) throw new Error(`${channel} unexpectedly succeeded`);
  return envelope.error;
}

/** The renderer's side: Float32Array views over the fetched file, keyed by the manifest. */
function weightsFromFile(bytes: Buffer, manifest: GeneratorManifest): WeightRecord {
  const aligned = new Uint8Array(bytes.byteLength);
  aligned.set(bytes);
  const weights: WeightRecord = {};
  for (const t of manifest.tensors) {
    weights[t.name] = { shape: t.shape, data: new Float32Array(aligned.buffer, t.byteOffset, t.length) };
  }
  return weights;
}

describe('explorer service over a real tiny run', () => {
  it('lists runs with checkpoints, newest step last, with their model sizes', async () => {
    expect(run.steps).toEqual([5, 10]);
    const runs = await call<unknown[]>('explorer.runs', {});
    expect(runs).toEqual([
      expect.objectContaining({
        id: run.id,
        name: run.name,
        preset: 'tiny',
        zDim: 32,
        imageSize: 16,
        steps: [5, 10],
      }),
    ]);
  });

  it('writes the checkpoint generator as one float32 file whose floats equal the checkpoint', async () => {
    const manifest = await call<GeneratorManifest>('explorer.model', { runId: run.id });
    expect(manifest.step).toBe(10);
    expect(manifest.weightsPath).toBe(`cache/generators/${run.id}-step-10.bin`);
    expect(manifest.directions).toBeUndefined();
    const file = await resolveMediaPath(dataDir, manifest.weightsPath);
    expect(file).toBe(join(dataDir, manifest.weightsPath));
    const bytes = await readFile(file!);
    expect(bytes.byteLength).toBe(manifest.byteLength);

    const checkpoint = await readGeneratorWeights(run.dir, { step: 10 });
    const fromFile = weightsFromFile(bytes, manifest);
    expect(Object.keys(fromFile).sort()).toEqual(Object.keys(checkpoint.weights).sort());
    for (const [name, tensor] of Object.entries(checkpoint.weights)) {
      expect(fromFile[name]!.shape, name).toEqual(tensor.shape);
      expect(
        Buffer.from(fromFile[name]!.data.buffer, fromFile[name]!.data.byteOffset, tensor.data.byteLength),
      ).toEqual(Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength));
    }

    // The renderer's generator from these weights draws what Node renders from the checkpoint.
    const generator = explorerGeneratorFromWeights(manifest.config as unknown as GanConfig, fromFile);
    const z = randomLatent(7, run.zDim);
    const [image] = await generateImages(generator, [z]);
    generator.dispose();
    const [png] = await renderFaces(run.dir, [z], { size: 16 });
    const { data } = await sharp(png!).raw().toBuffer({ resolveWithObject: true });
    const rgb = Buffer.from(image!.data.filter((_, i) => i % 4 !== 3));
    expect(rgb.equals(data)).toBe(true);

    // A second open reuses the file; an earlier checkpoint gets its own.
    const before = (await stat(file!)).mtimeMs;
    await call('explorer.model', { runId: run.id, step: 10 });
    expect((await stat(file!)).mtimeMs).toBe(before);
    const early = await call<GeneratorManifest>('explorer.model', { runId: run.id, step: 5 });
    expect(early.weightsPath).toBe(`cache/generators/${run.id}-step-5.bin`);
    expect((await readFile(join(dataDir, early.weightsPath))).equals(bytes)).toBe(false);

    // Weights of a checkpoint training has since deleted are dropped from the cache on the next write.
    const step5 = join(run.dir, 'checkpoints', 'step-00000005');
    await rename(step5, join(dataDir, '..', 'step-5-aside'));
    await rm(file!);
    await call('explorer.model', { runId: run.id });
    expect(await readdir(join(dataDir, 'cache', 'generators'))).toEqual([`${run.id}-step-10.bin`]);
    await rename(join(dataDir, '..', 'step-5-aside'), step5);
  });

  it('refuses unknown runs, steps and malformed ids with clear errors', async () => {
    expect(await failure('explorer.model', { runId: 'nope' })).toMatchObject({
      code: 'not-found',
      message: expect.stringMatching(/no checkpoint/),
    });
    expect(await failure('explorer.model', { runId: run.id, step: 7 })).toMatchObject({
      code: 'not-found',
      message: expect.stringMatching(/no checkpoint at step 7 \(it has 5, 10\)/),
    });
    expect(await failure('explorer.model', { runId: '../etc' })).toMatchObject({ code: 'invalid-input' });
  });

  it('caches GANSpace directions per checkpoint so the next open has them', async () => {
    const manifest = await call<GeneratorManifest>('explorer.model', { runId: run.id });
    const bytes = await readFile(join(dataDir, manifest.weightsPath));
    const generator = explorerGeneratorFromWeights(
      manifest.config as unknown as GanConfig,
      weightsFromFile(bytes, manifest),
    );
    const directions = principalDirectionsToJson(
      await computePrincipalDirections(generator.project, generator.zDim, { samples: 128, components: 6 }),
    );
    generator.dispose();
    await call('explorer.saveDirections', { runId: run.id, step: 10, directions });
    const again = await call<GeneratorManifest>('explorer.model', { runId: run.id });
    expect(again.directions).toEqual(directions);
    // Other checkpoints have their own (none yet).
    expect(
      (await call<GeneratorManifest>('explorer.model', { runId: run.id, step: 5 })).directions,
    ).toBeUndefined();

    const wrongSize = { ...directions, directions: [{ ...directions.directions[0]!, vector: [1, 2] }] };
    expect(
      await failure('explorer.saveDirections', { runId: run.id, step: 10, directions: wrongSize }),
    ).toMatchObject({
      code: 'invalid-input',
    });
    expect(await failure('explorer.saveDirections', { runId: run.id, step: 6, directions })).toMatchObject({
      code: 'not-found',
    });
    // A damaged cache is ignored, never fatal.
    await rm(join(run.dir, 'directions-step-10.json'));
    await sharp({ create: { width: 1, height: 1, channels: 3, background: 'red' } })
      .png()
      .toFile(join(run.dir, 'directions-step-10.json'));
    expect((await call<GeneratorManifest>('explorer.model', { runId: run.id })).directions).toBeUndefined();
  });

  it('exports an interpolation as an animated GIF and WebP with the requested frame count', async () => {
    const from = Array.from(randomLatent(1, run.zDim));
    const to = Array.from(randomLatent(2, run.zDim));
    events.length = 0;
    const gif = await call<InterpolationExportResult>('explorer.exportInterpolation', {
      runId: run.id,
      step: 10,
      from,
      to,
      frames: 6,
      mode: 'spherical',
      format: 'gif',
      size: 32,
    });
    expect(gif).toMatchObject({ format: 'gif', frames: 6, size: 32 });
    expect(gif.mediaPath).toMatch(/^exports\/interpolation-tiny-run-step-10-\d{8}-\d{6}\.gif$/);
    expect(gif.path).toBe(join(dataDir, gif.mediaPath!));
    const gifMeta = await sharp(gif.path, { animated: true }).metadata();
    expect(gifMeta).toMatchObject({ format: 'gif', pages: 6, width: 32, pageHeight: 32 });
    expect(gif.bytes).toBe((await stat(gif.path)).size);
    const progress = events.filter((e) => e.name === 'explorer.export').map((e) => e.payload);
    expect(progress.at(-1)).toEqual({ done: 6, total: 6 });

    const outDir = join(dataDir, '..', 'elsewhere');
    const webp = await call<InterpolationExportResult>('explorer.exportInterpolation', {
      runId: run.id,
      step: 10,
      from,
      to,
      frames: 4,
      mode: 'linear',
      format: 'webp',
      pingPong: true,
      outPath: join(outDir, 'loop.webp'),
    });
    expect(webp).toMatchObject({ path: join(outDir, 'loop.webp'), format: 'webp', frames: 6, size: 64 });
    expect(webp.mediaPath).toBeUndefined();
    // Lossy WebP merges neighbouring frames that look alike into one longer frame (a 10-step model draws
    // near-identical faces, and can collapse to a still): the running time is what stays exact.
    const webpMeta = await sharp(webp.path, { animated: true }).metadata();
    expect(webpMeta).toMatchObject({ format: 'webp', width: 64 });
    if ((webpMeta.pages ?? 1) > 1) {
      expect(webpMeta.pageHeight).toBe(64);
      expect(webpMeta.delay!.reduce((a, b) => a + b, 0)).toBe(6 * 80);
    } else {
      expect(webpMeta.height).toBe(64);
    }

    expect(
      await failure('explorer.exportInterpolation', { runId: run.id, step: 10, from: [1, 2], to, frames: 4 }),
    ).toMatchObject({ code: 'invalid-input', message: expect.stringMatching(/32 latent values/) });
    expect(
      await failure('explorer.exportInterpolation', { runId: run.id, step: 10, from, to, frames: 500 }),
    ).toMatchObject({ code: 'invalid-input' });
    expect(
      await failure('explorer.exportInterpolation', {
        runId: run.id,
        step: 10,
        from,
        to,
        frames: 3,
        format: 'gif',
        outPath: join(outDir, 'x.webp'),
      }),
    ).toMatchObject({ code: 'invalid-input', message: expect.stringMatching(/format is gif/) });
    // The same file again is replaced only when the request says so; relative paths are refused.
    const again = { runId: run.id, step: 10, from, to, frames: 3, outPath: join(outDir, 'loop.webp') };
    const before = await readFile(join(outDir, 'loop.webp'));
    expect(await failure('explorer.exportInterpolation', again)).toMatchObject({ code: 'exists' });
    expect(await readFile(join(outDir, 'loop.webp'))).toEqual(before);
    expect(await call('explorer.exportInterpolation', { ...again, overwrite: true })).toMatchObject({
      frames: 3,
    });
    expect(
      await failure('explorer.exportInterpolation', { ...again, outPath: 'exports/loop.webp' }),
    ).toMatchObject({ code: 'invalid-input', message: expect.stringMatching(/full path/) });
  });
});
