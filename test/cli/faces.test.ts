import { spawn } from 'node:child_process';
import { stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractFaces } from '../../src/core/faces/extract.ts';
import { FaceDataset } from '../../src/core/faces/index-store.ts';
import { cascadePath } from '../helpers/shared-data.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';
import { copyImages } from '../helpers/faces.ts';

const repoRoot = resolve(import.meta.dirname, '../..');

function kao(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(
    join(repoRoot, 'node_modules/.bin/node'),
    [join(repoRoot, 'bin/kao.js'), 'faces', ...args],
    {
      cwd: repoRoot,
      env: { ...process.env, KAO_CASCADE: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((r) => child.on('close', (code) => r({ code, stdout, stderr })));
}

describe('kao faces', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let inputDir: string;

  beforeAll(async () => {
    tmp = await makeTempDir('kao-faces-cli-');
    inputDir = join(tmp.dir, 'in');
    await copyImages(inputDir, 'generated-illustrations', (name) =>
      ['tadne_01.jpg', 'tadne_05.jpg', 'tadne_00.jpg'].includes(name),
    );
  });
  afterAll(() => tmp.cleanup());

  it('writes crops of the chosen size and prints a summary; the cascade can come from KAO_CASCADE', async () => {
    const out = join(tmp.dir, 'faces64');
    const run = await kao(
      ['--in', inputDir, '--out', out, '--size', '64', '--margin', '0.3', '--workers', '2'],
      {
        KAO_CASCADE: cascadePath,
      },
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(
      /^images: 3 \(0 already done, 3 processed, 0 failed\)\nfaces: 3 new, 0 near-duplicates dropped, 0 too small; 3 in /,
    );
    const faces = (await FaceDataset.open(out)).list().faces;
    expect(faces).toHaveLength(3);
    for (const face of faces) {
      const meta = await sharp(face.file).metadata();
      expect([meta.width, meta.height, meta.channels]).toEqual([64, 64, 3]);
      // margin 0.3: the crop side is 1.6× the detection unless the image edge shrank it.
      expect(face.cropSize).toBe(Math.min(Math.round(face.box.width * 1.6), 256));
    }
  });

  it('--rebuild redoes the folder with new settings; exclusions stay only if the detector is unchanged', async () => {
    const out = join(tmp.dir, 'faces64');
    const dataset = await FaceDataset.open(out);
    const excludedId = dataset.list().faces[0]!.id;
    await dataset.setExcluded([excludedId], true);

    const resized = await extractFaces({
      inputDir,
      outputDir: out,
      cascadePath,
      size: 128,
      margin: 0.3,
      rebuild: true,
    });
    expect([resized.processed, resized.faces, resized.excludedFaces]).toEqual([3, 3, 1]);
    const faces = (await FaceDataset.open(out)).list().faces;
    expect((await sharp(faces[0]!.file).metadata()).width).toBe(128);
    expect(faces.find((f) => f.id === excludedId)!.excluded).toBe(true);

    const redetected = await extractFaces({
      inputDir,
      outputDir: out,
      cascadePath,
      minNeighbors: 3,
      rebuild: true,
    });
    expect(redetected.processed).toBe(3);
    expect(redetected.excludedFaces).toBe(0);
    expect((await FaceDataset.open(out)).counts().excluded).toBe(0);
  });

  it('works offline with no cascade flag (the detector ships in resources/); --json prints one document', async () => {
    const out = join(tmp.dir, 'faces-json');
    const cacheHome = join(tmp.dir, 'xdg-cache');
    const run = await kao(['--in', inputDir, '--out', out, '--workers', '1', '--json'], {
      XDG_CACHE_HOME: cacheHome,
    });
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      images: 3,
      processed: 3,
      faces: 3,
      workers: 1,
      failures: [],
      cascade: { from: 'bundled', path: join(repoRoot, 'resources', 'lbpcascade_animeface.xml') },
    });
    // Nothing was downloaded: the cache folder a download would fill was never made.
    await expect(stat(cacheHome)).rejects.toThrow(/ENOENT/);
  });

  it('rejects bad flags and a wrong cascade with clear messages', async () => {
    const usage = await kao(['--in', inputDir]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--in and --out are required/);
    const badSize = await kao(['--in', inputDir, '--out', join(tmp.dir, 'x'), '--size', '100']);
    expect(badSize.code).toBe(2);
    expect(badSize.stderr).toMatch(/--size must be one of 64, 96, 128, got "100"/);
    const unknown = await kao(['--in', inputDir, '--out', join(tmp.dir, 'x'), '--colour']);
    expect(unknown.code).toBe(2);

    const fake = join(tmp.dir, 'fake.xml');
    await writeFile(fake, '<opencv_storage/>');
    const wrong = await kao(['--in', inputDir, '--out', join(tmp.dir, 'y'), '--cascade', fake]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/fake\.xml is not lbpcascade_animeface\.xml: its SHA-256 is/);
    const missingInput = await kao([
      '--in',
      join(tmp.dir, 'nope'),
      '--out',
      join(tmp.dir, 'z'),
      '--cascade',
      cascadePath,
    ]);
    expect(missingInput.code).toBe(1);
    expect(missingInput.stderr).toMatch(/input folder .*nope does not exist/);
  });
});
