/**
 * Where the named sliders' tags come from when a run trained on a plain folder: the tags a crawl kept
 * (served here by the test Moebooru board, decided by the same rules as the sidecar dataset), else sidecars.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { crawl } from '../../../src/core/crawler/crawl.ts';
import { readTaggedImages } from '../../../src/core/attributes/tagged-images.ts';
import { startBoardWithTempDir } from '../../helpers/moebooru-server.ts';
import { makeTaggedFaceFolder, taggedSharedFaces } from '../../helpers/tagged-faces.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';

describe('readTaggedImages', () => {
  it('reads the tags a crawl kept for each downloaded face', async () => {
    const faces = await taggedSharedFaces(24);
    const { server, dir } = await startBoardWithTempDir(
      faces.map((face, i) => ({ id: 100 - i, image: face.path, override: { tags: face.tags.join(' ') } })),
      'kao-tagged-crawl-',
    );
    const summary = await crawl({
      site: server.url,
      datasetDir: dir,
      delayMs: 20,
      retryBaseMs: 10,
      pageSize: 10,
    });
    expect(summary).toMatchObject({ state: 'done', downloaded: 24, tagged: 24 });

    const tagged = await readTaggedImages(dir);
    expect(tagged).toMatchObject({ source: 'dataset', total: 24 });
    const byFile = new Map(tagged.images.map((image) => [image.path, image.tags]));
    faces.forEach((face, i) => {
      const file = join(dir, `127.0.0.1-${100 - i}-${server.md5(100 - i)}.jpg`);
      expect(byFile.get(file)).toEqual(face.tags);
    });
  });

  it('reads .txt sidecars beside a plain folder’s images, and leaves out images without tags', async () => {
    const temp = await makeTempDir('kao-tagged-sidecars-');
    try {
      const faces = await makeTaggedFaceFolder(temp.dir, 12);
      await writeFile(join(temp.dir, faces[3]!.file.replace('.jpg', '.txt')), '\n');
      await writeFile(join(temp.dir, faces[4]!.file.replace('.jpg', '.txt')), 'bad\u0001tag');
      const tagged = await readTaggedImages(temp.dir);
      expect(tagged).toMatchObject({ source: 'sidecars', total: 12 });
      expect(tagged.images.map((image) => image.path)).toEqual(
        faces.filter((_, i) => i !== 3 && i !== 4).map((face) => join(temp.dir, face.file)),
      );
      expect(tagged.images[0]!.tags).toEqual(faces[0]!.tags);
    } finally {
      await temp.cleanup();
    }
  });
});
