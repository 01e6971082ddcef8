/**
 * Named sliders end to end on real faces: 300 shared face crops tagged by rules measurable on any image
 * (dark_hair: dark top third; warm_hair: warm top third; see test/helpers/tagged-faces.ts), a real tiny run
 * trained on that folder, then the learned sliders moved on generated faces and the rules measured there.
 */
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attributesCachePath, getCheckpointAttributes } from '../../../src/core/attributes/cache.ts';
import { EFFECT_STEP, learnAttributes } from '../../../src/core/attributes/learn.ts';
import { selectBackend } from '../../../src/core/gan/backend.ts';
import { bestCheckpointPath } from '../../../src/core/gan/best-checkpoint.ts';
import { loadRunGenerator } from '../../../src/core/library/model.ts';
import { Rng } from '../../../src/shared/rng.ts';
import type { AttributeDirections } from '../../../src/shared/explorer-schemas.ts';
import { makeTaggedFaceFolder, ruleEffects, type TaggedFace } from '../../helpers/tagged-faces.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';
import { makeTrainedRun } from '../../helpers/trained-run.ts';

let tmp: { dir: string; cleanup: () => Promise<void> };
let facesDir: string;
let runDir: string;
let faces: TaggedFace[];
let learned: AttributeDirections;

const OPTIONS = { samples: 1000, checkFaces: 100 };

beforeAll(async () => {
  await selectBackend('wasm');
  tmp = await makeTempDir('kao-attributes-');
  facesDir = join(tmp.dir, 'faces');
  runDir = join(tmp.dir, 'run');
  faces = await makeTaggedFaceFolder(facesDir, 300);
  await makeTrainedRun(runDir, { dataDir: facesDir, steps: 100, checkpointEvery: 100 });
  learned = await learnAttributes(runDir, OPTIONS);
}, 120_000);
afterAll(() => tmp?.cleanup());

describe('learnAttributes on a run trained on rule-tagged real faces', () => {
  it('makes sliders of the tags it can learn, with counts and held-out accuracy, and says why not the others', () => {
    expect(learned).toMatchObject({ faces: 300, taggedFaces: 300, zDim: 32, step: 100, cached: false });
    expect(learned.note).toBeUndefined();
    expect(learned.attributes.map((a) => a.tag).sort()).toEqual(['dark_hair', 'warm_hair']);
    for (const attribute of learned.attributes) {
      const withTag = faces.filter((f) => f.tags.includes(attribute.tag)).length;
      // Learned from the training and validation folds; the rest measured the accuracy.
      expect(attribute.positives + attribute.negatives + attribute.heldOut).toBe(300);
      expect(attribute.positives).toBeLessThan(withTag);
      expect(attribute.positives).toBeGreaterThan(withTag / 2);
      expect(attribute.heldOut).toBeGreaterThan(30);
      expect(attribute.accuracy).toBeGreaterThan(0.85);
      expect(attribute.label).toBe(attribute.tag.replace('_', ' '));
      expect(Math.hypot(...attribute.vector)).toBeCloseTo(1, 4);
    }
    expect(learned.skipped).toEqual(
      expect.arrayContaining([
        { tag: 'solo', reason: 'on every tagged face' },
        { tag: 'glasses', reason: 'on 6 of 300 tagged faces (needs 20)' },
      ]),
    );
  });

  it('moves each attribute’s own score up on ≥ 90 % of faces at +2, the other’s less than a quarter as much', () => {
    for (const { tag, effect } of learned.attributes) {
      expect(effect.moved, tag).toBeGreaterThanOrEqual(0.9);
      expect(effect.change, tag).toBeGreaterThan(0);
      expect(effect.crossTalk, tag).toBeLessThan(0.25);
      expect(effect.mostAffected).toBe(tag === 'dark_hair' ? 'warm_hair' : 'dark_hair');
    }
  });

  it('changes the measured rule on ≥ 90 % of generated images, not only the classifier’s score', async () => {
    const { generator } = await loadRunGenerator(runDir);
    try {
      // Faces neither learning nor its effect check saw.
      const zs = Array.from({ length: 100 }, (_, i) => Float32Array.from(new Rng(5000 + i).normalArray(32)));
      const effects = await ruleEffects(generator, learned.attributes, zs, EFFECT_STEP);
      expect(effects.map((e) => e.tag).sort()).toEqual(['dark_hair', 'warm_hair']);
      for (const effect of effects) {
        expect(effect.rose, effect.tag).toBeGreaterThanOrEqual(0.9);
        // A visible change: a quarter of the spread random faces show, on average.
        expect(effect.change, effect.tag).toBeGreaterThan(0.25);
      }
    } finally {
      generator.dispose();
    }
  });

  it('gives the same sliders for the same checkpoint and tags, and leaves no tensor behind', async () => {
    const tensors = tf.memory().numTensors;
    const again = await learnAttributes(runDir, OPTIONS);
    expect(again.attributes.map((a) => a.vector)).toEqual(learned.attributes.map((a) => a.vector));
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('learns from a fixed sample when there are more tagged faces than it takes', async () => {
    const sampled = await learnAttributes(runDir, { ...OPTIONS, maxFaces: 150 });
    expect(sampled).toMatchObject({ faces: 300, taggedFaces: 300 });
    for (const a of sampled.attributes) expect(a.positives + a.negatives + a.heldOut).toBe(150);
    const again = await learnAttributes(runDir, { ...OPTIONS, maxFaces: 150 });
    expect(again.attributes).toEqual(sampled.attributes.map((a) => ({ ...a })));
  });

  it('stops when cancelled', async () => {
    const controller = new AbortController();
    const learning = learnAttributes(runDir, {
      ...OPTIONS,
      signal: controller.signal,
      onProgress: (p) => p.phase === 'sampling' && controller.abort(new Error('stop here')),
    });
    await expect(learning).rejects.toThrow('stop here');
  });
});

describe('getCheckpointAttributes', () => {
  it('caches per checkpoint, learns again when the tags change or the cache is torn', async () => {
    const first = await getCheckpointAttributes(runDir, OPTIONS);
    expect(first.cached).toBe(false);
    const second = await getCheckpointAttributes(runDir, OPTIONS);
    expect(second).toMatchObject({ cached: true, seconds: 0 });
    expect(second.attributes).toEqual(first.attributes);

    // One more tagged face: the tags are not the ones the cache was learned from.
    const sidecar = join(facesDir, faces[1]!.file.replace('.jpg', '.txt'));
    await appendFile(sidecar, 'smile\n');
    expect((await getCheckpointAttributes(runDir, OPTIONS)).cached).toBe(false);
    expect((await getCheckpointAttributes(runDir, OPTIONS)).cached).toBe(true);

    const path = attributesCachePath(runDir, 100);
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.slice(0, text.length / 2));
    expect((await getCheckpointAttributes(runDir, OPTIONS)).cached).toBe(false);
    expect((await getCheckpointAttributes(runDir, { ...OPTIONS, recompute: true })).cached).toBe(false);
    await expect(getCheckpointAttributes(runDir, { ...OPTIONS, step: 7 })).rejects.toThrow(
      'no checkpoint at step 7 (available: 100)',
    );
  }, 120_000);
});

describe('runs without tags to learn from', () => {
  it('say why there are no named sliders', async () => {
    const untagged = join(tmp.dir, 'untagged-run');
    // Trained on shared faces by file list: the run records no data folder.
    await makeTrainedRun(untagged, { steps: 5, checkpointEvery: 5 });
    const noFolder = await learnAttributes(untagged, OPTIONS);
    expect(noFolder.attributes).toEqual([]);
    expect(noFolder.note).toMatch(/does not record the folder of faces it trained on/);

    // A folder whose images have no sidecars.
    const bare = join(tmp.dir, 'bare');
    await makeTaggedFaceFolder(bare, 30);
    for (const face of faces.slice(0, 30)) await writeFile(join(bare, face.file.replace('.jpg', '.txt')), '');
    const noTags = await learnAttributes(untagged, { ...OPTIONS, facesDir: bare });
    expect(noTags).toMatchObject({ attributes: [], faces: 30, taggedFaces: 0 });
    expect(noTags.note).toMatch(/None of the 30 faces this run trained on carries tags/);

    // Tags, but on too few faces either way.
    const few = join(tmp.dir, 'few');
    await makeTaggedFaceFolder(few, 30);
    const tooFew = await learnAttributes(untagged, { ...OPTIONS, facesDir: few });
    expect(tooFew.attributes).toEqual([]);
    expect(tooFew.note).toMatch(/No tag is on at least 20 and off at least 20 of the 30 tagged faces/);
    expect(tooFew.skipped.map((s) => s.tag)).toContain('dark_hair');
  }, 60_000);
});

describe('which checkpoint', () => {
  it('is the run’s best checkpoint when no step is named, as the Explorer opens it', async () => {
    const dir = join(tmp.dir, 'best-run');
    await makeTrainedRun(dir, { steps: 10, checkpointEvery: 5 });
    expect((await learnAttributes(dir, OPTIONS)).step).toBe(10);
    await writeFile(bestCheckpointPath(dir), JSON.stringify({ step: 5, swd: 80, time: 'then' }));
    expect((await learnAttributes(dir, OPTIONS)).step).toBe(5);
    expect((await getCheckpointAttributes(dir, OPTIONS)).step).toBe(5);
    expect((await getCheckpointAttributes(dir, { ...OPTIONS, step: 10 })).step).toBe(10);
  }, 60_000);
});
