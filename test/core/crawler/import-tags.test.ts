import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { importFolder } from '../../../src/core/crawler/import.ts';
import { IMAGE_TAGS_FILE, readImageTags } from '../../../src/core/images/tags.ts';
import { illustrationsDir } from '../../helpers/shared-data.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function temp(): Promise<string> {
  const t = await makeTempDir('kao-import-tags-');
  cleanups.push(t.cleanup);
  return t.dir;
}

const md5 = (bytes: Buffer) => createHash('md5').update(bytes).digest('hex');

/**
 * Real illustrations with the sidecars people bring: a training caption, gallery-dl metadata of a Danbooru
 * post, gallery-dl's one-tag-per-line file, and three that cannot be read (binary, huge, Windows-1252).
 */
async function taggedFolder(root: string) {
  const src = join(root, 'src');
  await mkdir(join(src, 'nested'), { recursive: true });
  const names = (await readdir(illustrationsDir)).sort().slice(0, 7);
  const put = async (index: number, name: string) => {
    await copyFile(join(illustrationsDir, names[index]!), join(src, name));
    return `${md5(await readFile(join(src, name)))}.jpg`;
  };
  const files = {
    caption: await put(0, 'caption.jpg'),
    danbooru: await put(1, 'nested/danbooru_123_abc.jpg'),
    binary: await put(3, 'binary.jpg'),
    huge: await put(4, 'huge.jpg'),
    latin1: await put(5, 'latin1.jpg'),
    none: await put(6, 'none.jpg'),
  };
  const png = await sharp(join(illustrationsDir, names[2]!)).png().toBuffer();
  await writeFile(join(src, 'lines.png'), png);
  const lines = `${md5(png)}.png`;

  await writeFile(join(src, 'caption.txt'), '1girl, Blonde Hair, smile, hatsune miku \\(cosplay\\)\n');
  await writeFile(
    join(src, 'nested/danbooru_123_abc.jpg.json'),
    JSON.stringify({
      id: 123,
      category: 'danbooru',
      tag_string: '1girl blue_eyes solo',
      tag_string_general: '1girl blue_eyes solo',
      rating: 's',
      score: 57,
      extension: 'jpg',
    }),
  );
  await writeFile(join(src, 'lines.png.txt'), 'long_hair\nopen mouth\n');
  await writeFile(join(src, 'binary.txt'), randomBytes(2048));
  await writeFile(join(src, 'huge.txt'), 'smile, '.repeat(200_000));
  await writeFile(join(src, 'latin1.txt'), Buffer.from('caf\xe9, smile', 'latin1'));
  await writeFile(join(src, 'orphan.txt'), 'solo');
  return { src, files: { ...files, lines } };
}

describe('import keeps the tags of sidecars', () => {
  it('reads .txt and gallery-dl .json sidecars; a bad one leaves its image untagged and is reported', async () => {
    const root = await temp();
    const { src, files } = await taggedFolder(root);
    const dataset = join(root, 'dataset');
    const summary = await importFolder({ from: src, datasetDir: dataset });

    expect(summary).toMatchObject({ state: 'done', imported: 7, rejected: 0, tagged: 3 });
    // Sidecars are part of their image; only the orphan is an ignored file.
    expect(summary.ignoredFiles).toEqual([{ path: 'orphan.txt', reason: 'not an image file (.txt)' }]);
    expect(summary.processed).toBe(summary.total);
    expect(summary.tagProblems.map((p) => p.path)).toEqual(['binary.txt', 'huge.txt', 'latin1.txt']);
    expect(summary.tagProblems[0]!.reason).toMatch(/^is not (UTF-8 text|a text file)/);
    expect(summary.tagProblems[1]!.reason).toBe(
      'is 1400000 bytes, over the 1048576 byte limit for a tag file',
    );
    expect(summary.tagProblems[2]!.reason).toBe('is not UTF-8 text');

    const store = await readImageTags(dataset);
    expect([...store.values()]).toEqual([
      {
        file: files.caption,
        from: 'caption.txt',
        tags: ['1girl', 'blonde_hair', 'smile', 'hatsune_miku_(cosplay)'],
      },
      { file: files.lines, from: 'lines.png.txt', tags: ['long_hair', 'open_mouth'] },
      {
        file: files.danbooru,
        from: 'nested/danbooru_123_abc.jpg.json',
        tags: ['1girl', 'blue_eyes', 'solo'],
        rating: 's',
        score: 57,
      },
    ]);
    for (const file of [files.binary, files.huge, files.latin1, files.none]) {
      expect(store.has(file)).toBe(false);
      expect((await stat(join(dataset, file))).isFile()).toBe(true);
    }
  });

  it('imports again without repeating records, takes edited tags, and restores records a kill lost', async () => {
    const root = await temp();
    const { src, files } = await taggedFolder(root);
    const dataset = join(root, 'dataset');
    await importFolder({ from: src, datasetDir: dataset });
    const storePath = join(dataset, IMAGE_TAGS_FILE);
    const first = await readFile(storePath, 'utf8');

    const again = await importFolder({ from: src, datasetDir: dataset });
    expect(again).toMatchObject({ imported: 0, skipped: 7, tagged: 0 });
    expect(await readFile(storePath, 'utf8')).toBe(first);

    await writeFile(join(src, 'caption.txt'), 'smile, closed eyes');
    const edited = await importFolder({ from: src, datasetDir: dataset });
    expect(edited.tagged).toBe(1);
    expect((await readImageTags(dataset)).get(files.caption)?.tags).toEqual(['smile', 'closed_eyes']);

    // A kill after the images went in but before their records did, mid-append.
    await writeFile(storePath, '{"file":"');
    const restored = await importFolder({ from: src, datasetDir: dataset });
    expect(restored).toMatchObject({ imported: 0, tagged: 3 });
    expect([...(await readImageTags(dataset)).keys()].sort()).toEqual(
      [files.caption, files.danbooru, files.lines].sort(),
    );
  });
});
