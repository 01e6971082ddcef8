/** `kao attributes` and `kao sample --attr` on a real tiny run trained on rule-tagged real faces. */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/core/gan/backend.ts';
import { startKao } from '../helpers/kao-train.ts';
import { hairLuma, makeTaggedFaceFolder } from '../helpers/tagged-faces.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';
import { makeTrainedRun } from '../helpers/trained-run.ts';

const kao = (args: string[]) => startKao(args).done;

let tmp: { dir: string; cleanup: () => Promise<void> };
let run: string;

beforeAll(async () => {
  await selectBackend('wasm');
  tmp = await makeTempDir('kao-cli-attributes-');
  const faces = join(tmp.dir, 'faces');
  run = join(tmp.dir, 'run');
  await makeTaggedFaceFolder(faces, 300);
  await makeTrainedRun(run, { dataDir: faces, steps: 100, checkpointEvery: 100 });
}, 120_000);
afterAll(() => tmp?.cleanup());

describe('kao attributes', () => {
  it('lists the named sliders with counts, held-out accuracy and effect, then answers from the cache', async () => {
    const first = await kao(['attributes', '--run', run, '--backend', 'wasm', '--json']);
    expect(first.code, first.stderr).toBe(0);
    const learned = JSON.parse(first.stdout);
    expect(learned).toMatchObject({ step: 100, faces: 300, taggedFaces: 300, cached: false });
    expect(learned.attributes.map((a: { tag: string }) => a.tag).sort()).toEqual(['dark_hair', 'warm_hair']);
    for (const a of learned.attributes) {
      expect(a.accuracy).toBeGreaterThan(0.85);
      expect(a.positives).toBeGreaterThan(20);
      expect(a.effect.moved).toBeGreaterThanOrEqual(0.9);
    }

    const text = await kao(['attributes', '--run', run, '--backend', 'wasm']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/named sliders of step 100: 2 from 300 tagged of 300 faces \(cached\)/);
    expect(text.stdout).toMatch(
      /dark_hair: learned from \d+ faces with it and \d+ without, \d+ % accurate on \d+ held-out faces/,
    );
    expect(text.stdout).toMatch(/solo: on every tagged face/);
  }, 120_000);

  it('says why a run has none', async () => {
    const untagged = join(tmp.dir, 'untagged');
    await makeTrainedRun(untagged, { steps: 5, checkpointEvery: 5 });
    const result = await kao(['attributes', '--run', untagged, '--backend', 'wasm']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/named sliders of step 5: 0/);
    expect(result.stdout).toMatch(/does not record the folder of faces it trained on/);
  }, 60_000);
});

describe('kao sample --attr', () => {
  it('moves every sampled face along a named slider', async () => {
    const plain = join(tmp.dir, 'plain');
    const darker = join(tmp.dir, 'darker');
    const base = ['sample', '--run', run, '--n', '12', '--seed', '40', '--backend', 'wasm'];
    expect((await kao([...base, '--out', plain])).code).toBe(0);
    const moved = await kao([...base, '--out', darker, '--attr', 'dark_hair=+3', '--json']);
    expect(moved.code, moved.stderr).toBe(0);
    expect(JSON.parse(moved.stdout)).toMatchObject({ attributes: { dark_hair: 3 }, kind: 'files' });

    const luma = async (dir: string) =>
      Promise.all(
        (await readdir(dir)).sort().map(async (file) => {
          const { data, info } = await sharp(join(dir, file)).raw().toBuffer({ resolveWithObject: true });
          return hairLuma(data, info.width, info.channels);
        }),
      );
    const before = await luma(plain);
    const after = await luma(darker);
    expect(after).toHaveLength(12);
    expect(after.filter((l, i) => l < before[i]!).length).toBeGreaterThanOrEqual(11);
  }, 120_000);

  it('refuses an unknown slider or a malformed value', async () => {
    const sample = (out: string, attr: string) =>
      kao(['sample', '--run', run, '--out', join(tmp.dir, out), '--attr', attr]);
    const unknown = await sample('u.png', 'glasses=1');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(
      /no named slider "glasses" at step 100: this checkpoint has (dark_hair|warm_hair)/,
    );
    const malformed = await sample('m.png', 'dark_hair');
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/--attr must be TAG=VALUE/);
  }, 60_000);
});
