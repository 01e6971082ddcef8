import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractFaces, type FaceExtractionSummary } from '../../../src/core/faces/extract.ts';
import { trustedFaceTags } from '../../../src/core/faces/face-tags.ts';
import { FACES_INDEX_FILE, FaceDataset, readStoredIndex } from '../../../src/core/faces/index-store.ts';
import { crawl } from '../../../src/core/crawler/crawl.ts';
import { appendImageTags } from '../../../src/core/images/tags.ts';
import { readTaggedImages } from '../../../src/core/attributes/tagged-images.ts';
import { facesReference } from '../../helpers/faces.ts';
import { startMoebooruServer } from '../../helpers/moebooru-server.ts';
import { cascadePath, illustrationsDir } from '../../helpers/shared-data.ts';
import { makeTempDir, tempDirSuite } from '../../helpers/temp-dir.ts';

/** Real illustrations, their detections as native OpenCV counts them (test/fixtures/faces-reference.json). */
const ONE_FACE = 'jonathonyan_detect_03.jpg';
const THREE_FACES = 'xavierjiezou_test_3.jpg';
const FIVE_FACES = 'xavierjiezou_test_4.jpg';
const UNTAGGED = 'waifu2x_miku_small.jpg';
const detections = (name: string) => facesReference.images[`illustrations/${name}`]!.faces.length;

async function copyIllustrations(into: string, names: string[]): Promise<void> {
  await mkdir(into, { recursive: true });
  for (const name of names) await copyFile(join(illustrationsDir, name), join(into, name));
}

describe('trustedFaceTags', () => {
  it('trusts an illustration’s tags for its only face, or for every face when it is tagged solo', () => {
    expect(trustedFaceTags(['blonde_hair'], 1)).toEqual(['blonde_hair']);
    expect(trustedFaceTags(['blonde_hair', 'smile'], 2)).toBeUndefined();
    expect(trustedFaceTags(['solo', 'smile'], 3)).toEqual(['solo', 'smile']);
    expect(trustedFaceTags([], 1)).toBeUndefined();
    expect(trustedFaceTags(undefined, 1)).toBeUndefined();
  });
});

describe('faces inherit their illustration’s tags where they describe them (real extraction)', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let images: string;
  let faces: string;
  let summary: FaceExtractionSummary;

  beforeAll(async () => {
    expect([ONE_FACE, THREE_FACES, FIVE_FACES, UNTAGGED].map(detections)).toEqual([1, 3, 5, 1]);
    tmp = await makeTempDir('kao-face-tags-');
    images = join(tmp.dir, 'dataset');
    faces = join(tmp.dir, 'faces');
    await copyIllustrations(images, [ONE_FACE, THREE_FACES, FIVE_FACES, UNTAGGED]);
    // As a crawl leaves them: one record per image in the images folder's tag store.
    await appendImageTags(images, { file: ONE_FACE, from: 'board', tags: ['1girl', 'blonde_hair'] });
    await appendImageTags(images, { file: THREE_FACES, from: 'board', tags: ['multiple_girls', 'smile'] });
    await appendImageTags(images, { file: FIVE_FACES, from: 'board', tags: ['solo', 'smile'] });
    summary = await extractFaces({ inputDir: images, outputDir: faces, cascadePath, workers: 2 });
  });
  afterAll(() => tmp.cleanup());

  const facesBySource = async () => {
    const stored = await readStoredIndex(faces);
    return (name: string) => stored.images.get(name)!.faces;
  };

  it('gives the tags to the single face and to the faces of a solo illustration, to no other', async () => {
    const of = await facesBySource();
    expect(of(ONE_FACE)).toHaveLength(1);
    expect(of(ONE_FACE)[0]!.tags).toEqual(['1girl', 'blonde_hair']);
    expect(of(FIVE_FACES).length).toBeGreaterThan(1);
    for (const face of of(FIVE_FACES)) expect(face.tags).toEqual(['solo', 'smile']);
    expect(of(THREE_FACES).length).toBeGreaterThan(0);
    for (const face of of(THREE_FACES)) expect(face).not.toHaveProperty('tags');
    for (const face of of(UNTAGGED)) expect(face).not.toHaveProperty('tags');

    const tagged = of(ONE_FACE).length + of(FIVE_FACES).length;
    expect(summary.taggedFaces).toBe(tagged);
    const dataset = await FaceDataset.open(faces);
    expect(dataset.counts()).toMatchObject({ faces: summary.totalFaces, kept: summary.totalFaces, tagged });
    expect(dataset.get(of(ONE_FACE)[0]!.id)?.tags).toEqual(['1girl', 'blonde_hair']);
    expect(dataset.get(of(THREE_FACES)[0]!.id)?.tags).toEqual([]);

    // Only kept faces count.
    const after = await dataset.setExcluded([of(FIVE_FACES)[0]!.id], true);
    expect(after.tagged).toBe(tagged - 1);
    // The named sliders learn from the same kept, tagged faces.
    const forSliders = await readTaggedImages(faces);
    expect(forSliders).toMatchObject({ source: 'faces-index', total: summary.totalFaces - 1 });
    expect(forSliders.images).toHaveLength(tagged - 1);
    expect(forSliders.images).toContainEqual({
      path: join(faces, of(ONE_FACE)[0]!.file),
      tags: ['1girl', 'blonde_hair'],
    });
    await dataset.setExcluded([of(FIVE_FACES)[0]!.id], false);
  });

  it('follows the tag store on the next extraction without detecting again', async () => {
    await appendImageTags(images, { file: UNTAGGED, from: 'miku.txt', tags: ['1girl', 'blue_eyes'] });
    await appendImageTags(images, { file: FIVE_FACES, from: 'edited.txt', tags: ['smile'] });
    const again = await extractFaces({ inputDir: images, outputDir: faces, cascadePath, workers: 1 });
    expect(again).toMatchObject({ processed: 0, skipped: 4 });

    const of = await facesBySource();
    for (const face of of(UNTAGGED)) expect(face.tags).toEqual(['1girl', 'blue_eyes']);
    // No longer solo, five faces: the tags may be any one's.
    for (const face of of(FIVE_FACES)) expect(face).not.toHaveProperty('tags');
    expect(again.taggedFaces).toBe(of(ONE_FACE).length + of(UNTAGGED).length);
    expect((await FaceDataset.open(faces)).counts().tagged).toBe(again.taggedFaces);
  });
});

describe('a folder of illustrations with tag sidecars but no tag store', () => {
  it('gives a face the tags of its illustration’s .txt, as an import would have kept them', async () => {
    const tmp = await makeTempDir('kao-face-tags-sidecars-');
    try {
      const images = join(tmp.dir, 'images');
      await copyIllustrations(images, [ONE_FACE, THREE_FACES]);
      await writeFile(join(images, ONE_FACE.replace(/\.jpg$/, '.txt')), '1girl, blonde hair, smile\n');
      await writeFile(join(images, THREE_FACES.replace(/\.jpg$/, '.txt')), 'multiple_girls\n');
      const faces = join(tmp.dir, 'faces');
      const summary = await extractFaces({ inputDir: images, outputDir: faces, cascadePath, workers: 1 });
      const stored = await readStoredIndex(faces);
      expect(stored.images.get(ONE_FACE)!.faces.map((face) => face.tags)).toEqual([
        ['1girl', 'blonde_hair', 'smile'],
      ]);
      // Three faces and not solo: the tags may be any one's.
      for (const face of stored.images.get(THREE_FACES)!.faces) expect(face).not.toHaveProperty('tags');
      expect(summary.taggedFaces).toBe(1);
    } finally {
      await tmp.cleanup();
    }
  });
});

describe('a faces index written before tags existed', () => {
  // test/fixtures/faces-index-before-tags.json: the index the extractor wrote, before it kept tags, for
  // jonathonyan_detect_03.jpg and waifu2x_miku_small.jpg with the default settings.
  const fixture = join(import.meta.dirname, '../../fixtures/faces-index-before-tags.json');
  const tmp = tempDirSuite('kao-face-tags-old-');

  it('opens with no tagged faces, and gains tags from an extraction that detects nothing again', async () => {
    const faces = join(tmp.dir, 'faces');
    const images = join(tmp.dir, 'dataset');
    await mkdir(faces, { recursive: true });
    await copyFile(fixture, join(faces, FACES_INDEX_FILE));
    expect(await readFile(join(faces, FACES_INDEX_FILE), 'utf8')).not.toContain('"tags"');

    const old = await FaceDataset.open(faces);
    expect(old.counts()).toMatchObject({ images: 2, faces: 2, kept: 2, tagged: 0 });
    expect(old.list().faces.map((f) => [f.sourceRelative, f.tags])).toEqual([
      [ONE_FACE, []],
      [UNTAGGED, []],
    ]);

    await copyIllustrations(images, [ONE_FACE, UNTAGGED]);
    await appendImageTags(images, { file: ONE_FACE, from: 'a.txt', tags: ['blonde_hair'] });
    const upgraded = await extractFaces({ inputDir: images, outputDir: faces, cascadePath, workers: 1 });
    expect(upgraded).toMatchObject({ processed: 0, skipped: 2, totalFaces: 2, taggedFaces: 1 });
    const reopened = await FaceDataset.open(faces);
    expect(reopened.counts().tagged).toBe(1);
    expect(reopened.list().faces.map((f) => f.tags)).toEqual([['blonde_hair'], []]);
  });
});

describe('from a crawl to the faces', () => {
  it('a face found alone in a crawled post carries the post’s tags', async () => {
    const tmp = await makeTempDir('kao-face-tags-crawl-');
    const server = await startMoebooruServer([
      { id: 2, image: join(illustrationsDir, ONE_FACE), override: { tags: 'blonde_hair smile' } },
      { id: 1, image: join(illustrationsDir, UNTAGGED), override: { tags: '' } },
    ]);
    try {
      const dataset = join(tmp.dir, 'dataset');
      const crawled = await crawl({
        site: server.url,
        datasetDir: dataset,
        delayMs: 20,
        rendition: 'original',
      });
      expect(crawled).toMatchObject({ downloaded: 2, tagged: 2 });
      const faces = join(tmp.dir, 'faces');
      const summary = await extractFaces({ inputDir: dataset, outputDir: faces, cascadePath, workers: 1 });
      expect(summary).toMatchObject({ totalFaces: 2, taggedFaces: 1 });
      const listed = (await FaceDataset.open(faces)).list().faces;
      expect(listed.map((f) => [f.sourceRelative, f.tags])).toEqual([
        [`127.0.0.1-1-${server.md5(1)}.jpg`, []],
        [`127.0.0.1-2-${server.md5(2)}.jpg`, ['blonde_hair', 'smile']],
      ]);
    } finally {
      await server.close();
      await tmp.cleanup();
    }
  });
});
