import { createHash } from 'node:crypto';
import { copyFile, lstat, mkdir, readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { importFolder, type ImportProgress } from '../../../src/core/crawler/import.ts';
import { RunControl } from '../../../src/core/util/run-control.ts';
import { facesDir, generatedIllustrationsDir, illustrationsDir } from '../../helpers/shared-data.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const md5 = (bytes: Buffer) => createHash('md5').update(bytes).digest('hex');

async function temp(): Promise<string> {
  const t = await makeTempDir('kao-import-');
  cleanups.push(t.cleanup);
  return t.dir;
}

/** A source folder of real images plus every kind of bad input, in nested subfolders. */
async function messyFolder(root: string) {
  const src = join(root, 'src');
  const illustrations = (await readdir(illustrationsDir)).sort().slice(0, 3);
  const generated = (await readdir(generatedIllustrationsDir))
    .filter((n) => /\.(jpe?g|png|webp)$/i.test(n))
    .sort()
    .slice(0, 2);
  await mkdir(join(src, 'nested/deeper'), { recursive: true });
  await mkdir(join(src, '.hidden'), { recursive: true });
  for (const name of illustrations) await copyFile(join(illustrationsDir, name), join(src, name));
  for (const name of generated)
    await copyFile(join(generatedIllustrationsDir, name), join(src, 'nested/deeper', name));
  // The same content under another name and as PNG with a misleading .jpg name.
  await copyFile(join(illustrationsDir, illustrations[0]!), join(src, 'nested/copy-of-first.jpeg'));
  const png = await sharp(join(illustrationsDir, illustrations[1]!)).png().toBuffer();
  await writeFile(join(src, 'nested/actually-png.jpg'), png);
  // Bad inputs.
  const whole = await readFile(join(illustrationsDir, illustrations[2]!));
  await writeFile(join(src, 'nested/truncated.jpg'), whole.subarray(0, Math.floor(whole.length / 2)));
  await writeFile(join(src, 'nested/page.jpg'), '<html><body>404</body></html>');
  await writeFile(join(src, 'notes.txt'), 'not an image');
  await writeFile(
    join(src, 'tiny.png'),
    await sharp({ create: { width: 8, height: 8, channels: 3, background: '#f00' } })
      .png()
      .toBuffer(),
  );
  await copyFile(join(illustrationsDir, illustrations[0]!), join(src, '.hidden/secret.jpg'));
  return { src, illustrations, generated, png };
}

describe('importFolder', () => {
  it('imports valid images recursively by content hash, skips duplicates, rejects and ignores with reasons', async () => {
    const root = await temp();
    const { src, illustrations, generated, png } = await messyFolder(root);
    const dataset = join(root, 'dataset');
    const progress: ImportProgress[] = [];
    const summary = await importFolder(
      { from: src, datasetDir: dataset },
      { onProgress: (p) => progress.push(p) },
    );

    expect(summary.state).toBe('done');
    expect(summary.total).toBe(11); // every file outside the hidden folder
    expect(summary.imported).toBe(3 + 2 + 1);
    expect(summary.duplicates).toEqual([
      { path: 'nested/copy-of-first.jpeg', existing: expect.stringMatching(/^[0-9a-f]{32}\.jpg$/) },
    ]);
    expect(Object.fromEntries(summary.rejectedFiles.map((r) => [r.path, r.reason]))).toEqual({
      'nested/truncated.jpg': expect.stringMatching(/^truncated image/),
      'nested/page.jpg': 'not an image (unrecognised content)',
      'tiny.png': 'image is 8×8, smaller than 32 px on a side',
    });
    expect(summary.ignoredFiles).toEqual([
      { path: '.hidden', reason: 'hidden folder' },
      { path: 'notes.txt', reason: 'not an image file (.txt)' },
    ]);

    const expectedNames = [
      ...illustrations.map(async (n) => `${md5(await readFile(join(illustrationsDir, n)))}.jpg`),
      ...generated.map(async (n) => {
        const bytes = await readFile(join(generatedIllustrationsDir, n));
        return `${md5(bytes)}.${(await sharp(bytes).metadata()).format === 'jpeg' ? 'jpg' : (await sharp(bytes).metadata()).format}`;
      }),
      Promise.resolve(`${md5(png)}.png`),
    ];
    expect((await readdir(dataset)).sort()).toEqual((await Promise.all(expectedNames)).sort());
    expect(progress.at(-1)).toMatchObject({
      state: 'done',
      processed: 11,
      total: 11,
      imported: 6,
      skipped: 1,
      rejected: 3,
      ignored: 2,
    });

    // Importing again adds nothing.
    const again = await importFolder({ from: src, datasetDir: dataset });
    expect(again).toMatchObject({ imported: 0, skipped: 7 });
  });

  it('links instead of copying in link mode, and never follows the dataset into itself', async () => {
    const root = await temp();
    const src = join(root, 'src');
    await mkdir(src);
    const names = (await readdir(facesDir)).sort().slice(0, 5);
    for (const name of names) await copyFile(join(facesDir, name), join(src, name));
    await symlink(join(facesDir, names[0]!), join(src, 'link-to-face.jpg'));
    const dataset = join(src, 'dataset'); // inside the source on purpose
    const summary = await importFolder({ from: src, datasetDir: dataset, mode: 'link' });
    expect(summary.imported).toBe(5);
    expect(summary.skipped).toBe(1); // the symlink has the same content as the first face
    expect(summary.linkKinds).toEqual({ hardlink: 5, symlink: 0 });
    for (const name of await readdir(dataset)) {
      const info = await stat(join(dataset, name));
      expect(info.nlink).toBeGreaterThan(1);
    }
    const again = await importFolder({ from: src, datasetDir: dataset, mode: 'link' });
    expect(again.ignoredFiles).toContainEqual({ path: 'dataset', reason: 'the dataset folder itself' });
    expect(again.imported).toBe(0);
    expect((await lstat(join(src, names[0]!))).isFile()).toBe(true);
  });

  it('refuses a missing folder and stops on cancel without partial files', async () => {
    const root = await temp();
    await expect(
      importFolder({ from: join(root, 'nope'), datasetDir: join(root, 'dataset') }),
    ).rejects.toThrow(/^not a folder: /);
    const control = new RunControl();
    const summary = await importFolder(
      { from: facesDir, datasetDir: join(root, 'dataset') },
      { control, onProgress: (p) => p.imported === 20 && control.cancel() },
    );
    expect(summary.state).toBe('cancelled');
    expect(summary.imported).toBe(20);
    expect(await readdir(join(root, 'dataset'))).toHaveLength(20);
  });
});
