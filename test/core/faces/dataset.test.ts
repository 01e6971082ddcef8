import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FaceDataset,
  FACES_EXCLUDED_FILE,
  FACES_LOG_FILE,
  faceId,
  listTrainingFaces,
  compactIndex,
  type ImageRecord,
} from '../../../src/core/faces/index-store.ts';
import { FacesError } from '../../../src/core/faces/errors.ts';
import { faceDetectionSettingsSchema } from '../../../src/core/faces/options.ts';
import { appendJsonl } from '../../../src/core/util/jsonl.ts';
import { Rng } from '../../../src/shared/rng.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';

const settings = faceDetectionSettingsSchema.parse({});

function syntheticImage(index: number, faces: number, rng: Rng): ImageRecord {
  const source = `posts/${String(index).padStart(6, '0')}.jpg`;
  return {
    source,
    bytes: 100_000 + index,
    status: 'ok',
    width: 1000,
    height: 800,
    faces: Array.from({ length: faces }, (_, d) => {
      const id = faceId(source, d);
      const box = { x: 100 * d, y: 50, width: 80, height: 80 };
      const hash = rng.nextU32().toString(16).padStart(8, '0') + rng.nextU32().toString(16).padStart(8, '0');
      return {
        id,
        box,
        crop: { x: 100 * d - 20, y: 30, width: 120, height: 120 },
        cropSize: 120,
        hash,
        file: `${id}.png`,
      };
    }),
    duplicates: [],
    tooSmall: [],
  };
}

describe('FaceDataset at 50,000 faces', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let facesDir: string;
  let openMs = 0;

  beforeAll(async () => {
    tmp = await makeTempDir('kao-faces-dataset-');
    facesDir = join(tmp.dir, 'faces');
    const rng = new Rng(7);
    const images = Array.from({ length: 10_000 }, (_, i) => syntheticImage(i, 5, rng));
    images.push({
      source: 'posts/broken.jpg',
      bytes: 3,
      status: 'failed',
      error: 'unsupported image format',
      faces: [],
      duplicates: [],
      tooSmall: [],
    });
    await compactIndex(facesDir, settings, join(tmp.dir, 'dataset'), images);
    // One more image only in the log, as a crashed run leaves it.
    await appendJsonl(join(facesDir, FACES_LOG_FILE), syntheticImage(10_000, 2, rng));
    const started = performance.now();
    await FaceDataset.open(facesDir);
    openMs = performance.now() - started;
  });
  afterAll(() => tmp.cleanup());

  it('counts faces, failures and the log that was not yet compacted', async () => {
    const dataset = await FaceDataset.open(facesDir);
    expect(dataset.counts()).toEqual({
      images: 10_002,
      failedImages: 1,
      faces: 50_002,
      kept: 50_002,
      excluded: 0,
      duplicatesDropped: 0,
      tooSmallDropped: 0,
      tagged: 0,
    });
    expect(dataset.failures()).toEqual([{ source: 'posts/broken.jpg', error: 'unsupported image format' }]);
    console.info(`opened a 50,002-face index in ${openMs.toFixed(0)} ms`);
  });

  it('pages through in index order with absolute crop and source paths', async () => {
    const dataset = await FaceDataset.open(facesDir);
    const first = dataset.list({ offset: 0, limit: 3 });
    expect(first.total).toBe(50_002);
    expect(first.faces.map((f) => f.id)).toEqual([0, 1, 2].map((d) => faceId('posts/000000.jpg', d)));
    expect(first.faces[1]).toMatchObject({
      file: join(facesDir, `${faceId('posts/000000.jpg', 1)}.png`),
      source: join(tmp.dir, 'dataset', 'posts/000000.jpg'),
      sourceRelative: 'posts/000000.jpg',
      box: { x: 100, y: 50, width: 80, height: 80 },
      imageWidth: 1000,
      imageHeight: 800,
      excluded: false,
    });
    const last = dataset.list({ offset: 49_990, limit: 100 });
    expect(last.faces).toHaveLength(12);
    expect(last.faces.at(-1)!.id).toBe(faceId('posts/010000.jpg', 1));
    expect(dataset.list({ offset: 60_000 }).faces).toEqual([]);
  });

  it('excludes and restores by id, persists atomically, and training skips excluded faces', async () => {
    const dataset = await FaceDataset.open(facesDir);
    const ids = dataset.list({ offset: 1000, limit: 500 }).faces.map((f) => f.id);
    const counts = await dataset.setExcluded(ids, true);
    expect(counts).toMatchObject({ faces: 50_002, excluded: 500, kept: 49_502 });
    await dataset.setExcluded(ids.slice(0, 100), false);
    expect(dataset.list({ filter: 'excluded', limit: 1000 }).faces.map((f) => f.id)).toEqual(ids.slice(100));
    expect(dataset.list({ filter: 'kept', offset: 1000, limit: 1 }).faces[0]!.id).toBe(ids[0]);

    const stored = JSON.parse(await readFile(join(facesDir, FACES_EXCLUDED_FILE), 'utf8')) as {
      ids: string[];
    };
    expect(stored.ids).toHaveLength(400);
    const training = await listTrainingFaces(facesDir);
    expect(training).toHaveLength(49_602);
    expect(training).not.toContain(join(facesDir, `${ids[150]}.png`));
    expect(training).toContain(join(facesDir, `${ids[50]}.png`));
  });

  it('rejects unknown ids without changing anything', async () => {
    const dataset = await FaceDataset.open(facesDir);
    const before = dataset.counts();
    await expect(
      dataset.setExcluded(['nope-0', dataset.list({ limit: 1 }).faces[0]!.id], true),
    ).rejects.toMatchObject({ problem: { code: 'unknown-face-ids', ids: ['nope-0'] } });
    expect(dataset.counts()).toEqual(before);
  });

  it('names a damaged exclusion file instead of silently forgetting the exclusions', async () => {
    const other = join(tmp.dir, 'damaged');
    await compactIndex(other, settings, tmp.dir, [syntheticImage(1, 1, new Rng(1))]);
    await writeFile(join(other, FACES_EXCLUDED_FILE), '{"ids": [1, 2');
    await expect(FaceDataset.open(other)).rejects.toBeInstanceOf(FacesError);
    await expect(FaceDataset.open(other)).rejects.toThrow(/excluded\.json is not valid JSON/);
  });
});
