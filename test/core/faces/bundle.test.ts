import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStoredIndex } from '../../../src/core/faces/index-store.ts';
import { cascadePath } from '../../helpers/shared-data.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';
import { copyImages, facesReference } from '../../helpers/faces.ts';

const repoRoot = resolve(import.meta.dirname, '../../..');

describe('bundled like the app bundles it', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let outDir: string;

  beforeAll(async () => {
    tmp = await makeTempDir('kao-faces-bundle-');
    // Inside the repo (gitignored .tmp/) so the bundle's external packages resolve from node_modules.
    await mkdir(join(repoRoot, '.tmp'), { recursive: true });
    outDir = await mkdtemp(join(repoRoot, '.tmp', 'faces-bundle-'));
  });
  afterAll(async () => {
    await rm(outDir, { recursive: true, force: true });
    await tmp.cleanup();
  });

  it('finds worker.js beside the bundle and runs without tsx', async () => {
    await build({
      stdin: {
        contents: `import { extractFaces } from './src/core/faces/index.ts';
          const [inputDir, outputDir, cascadePath] = process.argv.slice(2);
          const summary = await extractFaces({ inputDir, outputDir, cascadePath, workers: 2 });
          process.stdout.write(JSON.stringify(summary));`,
        resolveDir: repoRoot,
        loader: 'ts',
        sourcefile: 'main.ts',
      },
      outfile: join(outDir, 'main.js'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      packages: 'external',
      logLevel: 'silent',
    });
    await build({
      entryPoints: [join(repoRoot, 'src/core/faces/worker.ts')],
      outfile: join(outDir, 'worker.js'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      packages: 'external',
      logLevel: 'silent',
    });
    const inputDir = join(tmp.dir, 'in');
    const images = await copyImages(inputDir, 'generated-illustrations', (_, i) => i < 4);
    const facesDir = join(tmp.dir, 'faces');
    // Plain node, no --import tsx: the worker must be the bundled worker.js.
    const { stdout } = await promisify(execFile)(join(repoRoot, 'node_modules/.bin/node'), [
      join(outDir, 'main.js'),
      inputDir,
      facesDir,
      cascadePath,
    ]);
    const summary = JSON.parse(stdout) as { processed: number; failures: unknown[] };
    expect(summary).toMatchObject({ processed: 4, failures: [] });
    const stored = await readStoredIndex(facesDir);
    for (const key of images) {
      const record = stored.images.get(key)!;
      expect(record.faces.map((f) => [f.box.x, f.box.y, f.box.width, f.box.height])).toEqual(
        facesReference.images[key]!.faces,
      );
    }
  });
});
