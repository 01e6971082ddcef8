import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractFaces } from '../../../src/core/faces/extract.ts';
import { readStoredIndex } from '../../../src/core/faces/index-store.ts';
import { setFaceWorkerUrl } from '../../../src/core/faces/worker-pool.ts';
import { cascadePath } from '../../helpers/shared-data.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';
import { copyImages } from '../../helpers/faces.ts';

describe('a worker that dies', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    tmp = await makeTempDir('kao-faces-pool-');
    setFaceWorkerUrl(new URL('./dying-worker.mjs', import.meta.url));
  });
  afterAll(async () => {
    setFaceWorkerUrl(undefined);
    await tmp.cleanup();
  });

  it('fails only the image it was working on, is replaced, and the run completes', async () => {
    const inputDir = join(tmp.dir, 'in');
    const images = await copyImages(inputDir, 'generated-illustrations', (_, i) => i < 5);
    const summary = await extractFaces({
      inputDir,
      outputDir: join(tmp.dir, 'faces'),
      cascadePath,
      workers: 1,
    });
    expect(summary.processed).toBe(5);
    // Each replacement dies on its own second image too: images 2 and 4 fail, the rest go through.
    const died = 'extraction worker died (exit code 3)';
    expect(summary.failures).toEqual([
      { source: images[1], error: died },
      { source: images[3], error: died },
    ]);
    const stored = await readStoredIndex(join(tmp.dir, 'faces'));
    expect([...stored.images.values()].map((r) => r.status)).toEqual(['ok', 'failed', 'ok', 'failed', 'ok']);
  });
});
