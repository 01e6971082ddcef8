import * as tf from '@tensorflow/tfjs';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../src/core/gan/backend.ts';
import {
  exportGenerator,
  listCheckpoints,
  loadGenerator,
  readGeneratorWeights,
} from '../../../src/core/gan/generator-node.ts';
import { generatorFromWeights } from '../../../src/core/gan/generator-web.ts';
import { latentForSeed } from '../../../src/shared/rng.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';
import { makeTrainedRun } from '../../helpers/trained-run.ts';

const run = promisify(execFile);
const kao = resolve('bin/kao.js');
const node = process.execPath;

let temp: { dir: string; cleanup: () => Promise<void> };
let runDir: string;
const samples: Array<{ step: number; path: string }> = [];
beforeAll(async () => {
  await selectBackend('wasm');
  temp = await makeTempDir('kao-gan-gen-');
  runDir = join(temp.dir, 'run');
  await makeTrainedRun(runDir, {
    seed: 2,
    steps: 4,
    checkpointEvery: 2,
    sampleEvery: 2,
    hooks: { onSamples: (s) => samples.push(s) },
  });
});
afterAll(() => temp.cleanup());

describe('generators from a run', () => {
  it('wrote fixed-noise sample grids (8×8 of 16 px tiles) and checkpoints', async () => {
    expect(samples.map((s) => s.step)).toEqual([0, 2, 4]);
    const meta = await sharp(samples[2]!.path).metadata();
    expect([meta.width, meta.height, meta.format]).toEqual([8 * 16 + 9 * 2, 8 * 16 + 9 * 2, 'png']);
    expect(await listCheckpoints(runDir)).toEqual([2, 4]);
  });

  it('loads the newest or a chosen checkpoint; weights are plain data a renderer can rebuild', async () => {
    const newest = await loadGenerator(runDir);
    const older = await loadGenerator(runDir, { step: 2 });
    expect([newest.step, older.step]).toEqual([4, 2]);
    const z = latentForSeed(42, newest.config.zDim);
    const a = await newest.generator.generate(z);
    const b = await older.generator.generate(z);
    expect([a.count, a.width, a.height, a.channels, a.pixels.length]).toEqual([1, 16, 16, 3, 16 * 16 * 3]);
    expect(Buffer.from(a.pixels).equals(Buffer.from(b.pixels))).toBe(false);

    // Structured-clone round trip (what IPC does) gives the same pixels, RGBA with opaque alpha.
    const shipped = structuredClone(await readGeneratorWeights(runDir));
    const rebuilt = generatorFromWeights(shipped.config, shipped.weights);
    const c = await rebuilt.generate(z, { format: 'rgba' });
    for (let p = 0; p < 256; p++) {
      expect([c.pixels[p * 4], c.pixels[p * 4 + 1], c.pixels[p * 4 + 2], c.pixels[p * 4 + 3]]).toEqual([
        a.pixels[p * 3],
        a.pixels[p * 3 + 1],
        a.pixels[p * 3 + 2],
        255,
      ]);
    }
    const projected = tf.tidy(() => rebuilt.project(tf.tensor2d(z, [1, newest.config.zDim])));
    expect(projected.shape).toEqual([1, 2, 2, 64]);
    projected.dispose();
    expect(() => rebuilt.forward(tf.zeros([1, 7]) as tf.Tensor2D)).toThrow(/zDim|shape/);
    for (const g of [newest.generator, older.generator, rebuilt]) g.dispose();
    await expect(loadGenerator(runDir, { step: 3 })).rejects.toThrow(/no checkpoint at step 3/);
  });

  it('exports a tfjs layers model that computes the same images', async () => {
    const out = join(temp.dir, 'export');
    const { modelPath, weightsPath, step } = await exportGenerator(runDir, out);
    expect(step).toBe(4);
    const json = JSON.parse(await readFile(modelPath, 'utf8'));
    const weightData = new Uint8Array(await readFile(weightsPath)).buffer;
    const model = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: json.modelTopology,
        weightSpecs: json.weightsManifest[0].weights,
        weightData,
      }),
    );
    const { generator, config } = await loadGenerator(runDir);
    const z = tf.tensor2d(latentForSeed(7, config.zDim * 3), [3, config.zDim]);
    const expected = generator.forward(z);
    const actual = model.predict(z) as tf.Tensor;
    expect(actual.shape).toEqual([3, 16, 16, 3]);
    const maxDiff = tf.max(tf.abs(tf.sub(actual, expected))).dataSync()[0]!;
    expect(maxDiff).toBeLessThan(1e-4);
    tf.dispose([z, expected, actual]);
    model.dispose();
    generator.dispose();
  });

  it('kao sample writes a grid PNG or one PNG per seed; kao eval prints the SWD', async () => {
    const grid = join(temp.dir, 'grid.png');
    await run(node, [
      kao,
      'sample',
      '--run',
      runDir,
      '--out',
      grid,
      '--n',
      '9',
      '--seed',
      '5',
      '--backend',
      'wasm',
    ]);
    const meta = await sharp(grid).metadata();
    expect([meta.width, meta.height]).toEqual([3 * 16 + 4 * 2, 3 * 16 + 4 * 2]);

    const folder = join(temp.dir, 'singles');
    const { stdout } = await run(node, [
      kao,
      'sample',
      '--run',
      runDir,
      '--out',
      folder,
      '--n',
      '2',
      '--seed',
      '5',
      '--backend',
      'wasm',
      '--json',
    ]);
    const result = JSON.parse(stdout);
    expect(result.paths.map((p: string) => p.slice(folder.length + 1))).toEqual(['seed-5.png', 'seed-6.png']);
    const single = await sharp(result.paths[0]).raw().toBuffer({ resolveWithObject: true });
    expect([single.info.width, single.info.height]).toEqual([16, 16]);
    // Seed 5 is the grid's first tile: same face, same pixels.
    const tile = await sharp(grid)
      .extract({ left: 2, top: 2, width: 16, height: 16 })
      .removeAlpha()
      .raw()
      .toBuffer();
    expect(Buffer.from(single.data).equals(tile)).toBe(true);

    await expect(
      run(node, [kao, 'sample', '--run', join(temp.dir, 'nope'), '--out', grid, '--backend', 'wasm']),
    ).rejects.toMatchObject({
      stderr: expect.stringMatching(/not a training run/),
    });
  });
});
