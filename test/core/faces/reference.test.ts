import { readFile, writeFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  extractFaces,
  type FaceExtractionProgress,
  type FaceExtractionSummary,
} from '../../../src/core/faces/extract.ts';
import { FaceDataset, listTrainingFaces, readStoredIndex } from '../../../src/core/faces/index-store.ts';
import { cascadePath } from '../../helpers/shared-data.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';
import { copyImages, facesReference, sharedFolders } from '../../helpers/faces.ts';

describe('extraction over all 63 shared illustrations (2 workers)', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let inputDir: string;
  let outputDir: string;
  let first: FaceExtractionSummary;
  const progress: FaceExtractionProgress[] = [];

  beforeAll(async () => {
    tmp = await makeTempDir('kao-faces-ref-');
    inputDir = join(tmp.dir, 'input');
    outputDir = join(tmp.dir, 'faces');
    await copyImages(inputDir, 'illustrations');
    await copyImages(inputDir, 'generated-illustrations');
    // A corrupt JPEG and a text file posing as a PNG: reported, skipped, and the run goes on.
    const jpeg = await readFile(join(sharedFolders.illustrations, 'waifu2x_miku_small.jpg'));
    await writeFile(join(inputDir, 'broken.jpg'), jpeg.subarray(0, 300));
    await writeFile(join(inputDir, 'notes.png'), 'not an image at all\n');
    first = await extractFaces(
      { inputDir, outputDir, cascadePath, workers: 2 },
      { onProgress: (p) => progress.push(p) },
    );
  });
  afterAll(() => tmp.cleanup());

  it('finds exactly the faces native OpenCV finds, image for image, box for box', async () => {
    const stored = await readStoredIndex(outputDir);
    const keys = Object.keys(facesReference.images);
    expect(keys).toHaveLength(63);
    for (const key of keys) {
      const reference = facesReference.images[key]!;
      const record = stored.images.get(key);
      expect(record, key).toBeDefined();
      expect(record!.status, key).toBe('ok');
      expect([record!.width, record!.height], key).toEqual([reference.width, reference.height]);
      // Every detection ends up kept, dropped as a duplicate, or dropped as too small.
      const detections = [
        ...record!.faces.map((f) => f.box),
        ...record!.duplicates.map((d) => d.box),
        ...record!.tooSmall,
      ]
        .map((b) => [b.x, b.y, b.width, b.height])
        .sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
      expect(detections, key).toEqual(reference.faces);
    }
    expect(first.faces + first.duplicates + first.tooSmall).toBe(facesReference.totalFaces);
  });

  it('writes every kept face as a 96×96 RGB PNG that the index and training list point at', async () => {
    const dataset = await FaceDataset.open(outputDir);
    const page = dataset.list({ limit: 1000 });
    expect(page.total).toBe(first.faces);
    expect(first.faces).toBeGreaterThan(60);
    for (const face of page.faces) {
      const meta = await sharp(face.file).metadata();
      expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(['png', 96, 96, 3]);
      expect(face.cropSize).toBe(face.crop.width);
      expect(face.cropSize).toBeGreaterThanOrEqual(48);
      // The crop square contains the detection box and lies inside the illustration.
      expect(face.crop.x).toBeLessThanOrEqual(face.box.x);
      expect(face.crop.y).toBeLessThanOrEqual(face.box.y);
      expect(face.crop.x + face.crop.width).toBeLessThanOrEqual(face.imageWidth);
      expect(face.crop.y + face.crop.height).toBeLessThanOrEqual(face.imageHeight);
      expect(face.source).toBe(join(inputDir, face.sourceRelative));
    }
    expect(await listTrainingFaces(outputDir)).toEqual(page.faces.map((f) => f.file));
  });

  it('reports the corrupt and non-image files with a reason and processes everything else', () => {
    expect(first.images).toBe(65);
    expect(first.processed).toBe(65);
    expect(first.failures.map((f) => f.source).sort()).toEqual(['broken.jpg', 'notes.png']);
    for (const failure of first.failures) expect(failure.error.length).toBeGreaterThan(5);
    const last = progress.at(-1)!;
    expect(last.phase).toBe('done');
    expect(last.processed).toBe(65);
    expect(last.failed).toBe(2);
    expect(progress.filter((p) => p.phase === 'extracting').map((p) => p.processed)).toEqual(
      Array.from({ length: 66 }, (_, i) => i),
    );
  });

  it('skips everything on a re-run, and processes only an added image', async () => {
    const again = await extractFaces({ inputDir, outputDir, cascadePath, workers: 2 });
    expect([again.processed, again.skipped, again.faces]).toEqual([0, 65, 0]);
    expect(again.totalFaces).toBe(first.faces);

    // A mirrored illustration is a new image with new faces.
    await sharp(join(sharedFolders['generated-illustrations'], 'tadne_01.jpg'))
      .flop()
      .toFile(join(inputDir, 'added-mirrored.png'));
    const added = await extractFaces({ inputDir, outputDir, cascadePath, workers: 2 });
    expect([added.processed, added.skipped]).toEqual([1, 65]);
    expect(added.faces).toBe(1);
    expect(added.totalFaces).toBe(first.faces + 1);
  });

  it('drops near-duplicates of faces already in the set', async () => {
    // Same portrait re-encoded at 90 %: both faces are near-duplicates of the originals.
    const original = join(sharedFolders['generated-illustrations'], 'tadne_24.jpg');
    await sharp(original).resize(230).jpeg({ quality: 80 }).toFile(join(inputDir, 'zz-resized-copy.jpg'));
    await copyFile(original, join(inputDir, 'zz-exact-copy.jpg'));
    const run = await extractFaces({ inputDir, outputDir, cascadePath, workers: 2 });
    expect([run.processed, run.faces, run.duplicates]).toEqual([2, 0, 4]);
    const stored = await readStoredIndex(outputDir);
    const originals = new Set(
      stored.images.get('generated-illustrations/tadne_24.jpg')!.faces.map((f) => f.id),
    );
    for (const source of ['zz-resized-copy.jpg', 'zz-exact-copy.jpg']) {
      const record = stored.images.get(source)!;
      expect(record.faces).toEqual([]);
      for (const duplicate of record.duplicates) expect(originals.has(duplicate.duplicateOf)).toBe(true);
    }
    expect(stored.images.get('zz-exact-copy.jpg')!.duplicates.map((d) => d.distance)).toEqual([0, 0]);
  });

  it('refuses to mix crops made with other settings into the folder', async () => {
    await expect(extractFaces({ inputDir, outputDir, cascadePath, size: 64 })).rejects.toThrow(
      /different settings \(size 96.*now size 64/,
    );
    expect((await readStoredIndex(outputDir)).settings?.size).toBe(96);
  });
});
