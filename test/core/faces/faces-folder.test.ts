import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FacesError } from '../../../src/core/faces/errors.ts';
import { FacesFolder } from '../../../src/core/faces/faces-folder.ts';
import {
  FACES_INDEX_FILE,
  compactIndex,
  faceId,
  type FaceCounts,
  type ImageRecord,
} from '../../../src/core/faces/index-store.ts';
import { faceDetectionSettingsSchema } from '../../../src/core/faces/options.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';

const settings = faceDetectionSettingsSchema.parse({});

/** An indexed illustration with `faces` faces; its crops and the illustration itself are written too. */
function image(name: string, faces: number): ImageRecord {
  return {
    source: name,
    bytes: 1000,
    status: 'ok',
    width: 400,
    height: 300,
    faces: Array.from({ length: faces }, (_, d) => ({
      id: faceId(name, d),
      box: { x: 10 * d, y: 5, width: 40, height: 40 },
      crop: { x: 10 * d, y: 0, width: 60, height: 60 },
      cropSize: 60,
      hash: `${d}`.padStart(16, '0'),
      file: `${faceId(name, d)}.png`,
    })),
    duplicates: [],
    tooSmall: [],
  };
}

describe('FacesFolder', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let imagesDir: string;
  let facesDir: string;
  let extracting: boolean;
  let pruned: FaceCounts[];
  let folder: FacesFolder;

  beforeEach(async () => {
    tmp = await makeTempDir('kao-faces-folder-');
    imagesDir = join(tmp.dir, 'dataset');
    facesDir = join(tmp.dir, 'faces');
    await mkdir(imagesDir, { recursive: true });
    const images = [image('a.jpg', 2), image('b.jpg', 1), image('c.jpg', 3)];
    for (const record of images) {
      await writeFile(join(imagesDir, record.source), 'jpeg');
      for (const face of record.faces) {
        await mkdir(facesDir, { recursive: true });
        await writeFile(join(facesDir, face.file), 'png');
      }
    }
    await compactIndex(facesDir, settings, imagesDir, images);
    extracting = false;
    pruned = [];
    folder = new FacesFolder(facesDir, {
      extracting: () => extracting,
      onPruned: (counts) => pruned.push(counts),
    });
  });
  afterEach(() => tmp.cleanup());

  it('opens the index once and re-reads it only when asked and its files changed', async () => {
    const first = await folder.dataset();
    expect(first.counts().faces).toBe(6);
    expect(await folder.dataset()).toBe(first);
    expect((await folder.dataset({ reload: true })).counts().faces).toBe(6);

    // Another writer (an extraction in another process) replaces the index: a reload sees it.
    await compactIndex(facesDir, settings, imagesDir, [image('a.jpg', 2), image('b.jpg', 1)]);
    expect((await folder.dataset()).counts().faces).toBe(6);
    expect((await folder.dataset({ reload: true })).counts().faces).toBe(3);
    expect(await folder.settings()).toEqual(settings);
  });

  it('removes the faces of deleted illustrations on load and tells it once', async () => {
    await folder.dataset();
    await rm(join(imagesDir, 'c.jpg'));
    const dataset = await folder.dataset({ reload: true });
    expect(dataset.counts().faces).toBe(3);
    expect(pruned).toEqual([dataset.counts()]);
    expect(folder.takePruned()).toEqual({ faces: 3, images: 1, exclusions: 0 });
    expect(folder.takePruned()).toBeUndefined();
    expect(folder.pruneProblem).toBeUndefined();
    await folder.idle();
  });

  it('prunes nothing while this process extracts, and keeps why it could not prune', async () => {
    await folder.dataset();
    await rm(join(imagesDir, 'c.jpg'));
    extracting = true;
    expect((await folder.dataset({ reload: true })).counts().faces).toBe(6);
    expect(pruned).toEqual([]);

    extracting = false;
    await rm(imagesDir, { recursive: true });
    expect((await folder.dataset({ reload: true })).counts().faces).toBe(6);
    expect(folder.pruneProblem).toBeInstanceOf(FacesError);
    expect((folder.pruneProblem as FacesError).problem).toEqual({
      code: 'images-folder-missing',
      folder: imagesDir,
    });
  });

  it('rejects a damaged index with FacesError index-corrupt, and opens it again once repaired', async () => {
    const indexText = await readFile(join(facesDir, FACES_INDEX_FILE));
    await writeFile(join(facesDir, FACES_INDEX_FILE), '{"version": 1, "images": [');
    const error = await folder.dataset().catch((e: unknown) => e);
    expect((error as FacesError).problem).toMatchObject({
      code: 'index-corrupt',
      file: join(facesDir, FACES_INDEX_FILE),
    });
    await writeFile(join(facesDir, FACES_INDEX_FILE), indexText);
    expect((await folder.dataset()).counts().faces).toBe(6);
  });
});
