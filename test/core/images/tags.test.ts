import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  IMAGE_TAGS_FILE,
  MAX_SIDECAR_BYTES,
  appendImageTags,
  decodeText,
  parseTagString,
  parseTagText,
  readImageTags,
  readSidecarTags,
  tagsFromMetadata,
} from '../../../src/core/images/tags.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
async function temp(): Promise<string> {
  const t = await makeTempDir('kao-tags-');
  cleanups.push(t.cleanup);
  return t.dir;
}

describe('tag lists', () => {
  it('reads a Moebooru tag string as it is, each tag once', () => {
    expect(parseTagString('  blonde_hair blue_eyes  solo smile solo\n')).toEqual([
      'blonde_hair',
      'blue_eyes',
      'solo',
      'smile',
    ]);
    expect(parseTagString('')).toEqual([]);
  });

  it('reads the three .txt conventions: comma-separated captions, one per line, space-separated', () => {
    expect(parseTagText('1girl, Long Hair,  blue eyes , hatsune miku \\(cosplay\\),\n')).toEqual([
      '1girl',
      'long_hair',
      'blue_eyes',
      'hatsune_miku_(cosplay)',
    ]);
    expect(parseTagText('long hair\nblue_eyes\r\nsmile\n')).toEqual(['long_hair', 'blue_eyes', 'smile']);
    expect(parseTagText('1girl solo Smile')).toEqual(['1girl', 'solo', 'smile']);
  });

  it('refuses what is not a tag list: control characters, a paragraph-long tag, thousands of tags', () => {
    expect(() => parseTagText('a\u0001b, c')).toThrow(/control characters/);
    expect(() => parseTagText(`${'x'.repeat(300)}, y`)).toThrow(/tag of 300 characters/);
    expect(() => parseTagString(Array.from({ length: 2500 }, (_, i) => `t${i}`).join(' '))).toThrow(
      /2500 tags/,
    );
  });

  it('reads gallery-dl metadata of a Danbooru post, a Moebooru post and a site with tag lists', () => {
    // Field names as gallery-dl writes them (the post's API record, plus its own fields).
    const danbooru = {
      id: 123,
      category: 'danbooru',
      tag_string: '1girl blonde_hair smile solo',
      tag_string_general: '1girl blonde_hair smile solo',
      tag_string_character: '',
      rating: 'g',
      score: 42,
      filename: 'abc',
      extension: 'jpg',
    };
    expect(tagsFromMetadata(danbooru)).toEqual({
      tags: ['1girl', 'blonde_hair', 'smile', 'solo'],
      rating: 'g',
      score: 42,
    });
    expect(tagsFromMetadata({ id: 5, tags: 'long_hair solo', rating: 's', score: 'high' })).toEqual({
      tags: ['long_hair', 'solo'],
      rating: 's',
    });
    expect(tagsFromMetadata({ tags: ['Blue eyes', 'smile', 7] })).toEqual({ tags: ['blue_eyes', 'smile'] });
    expect(tagsFromMetadata({ tags: { general: ['smile'], character: ['saber'] } })).toEqual({
      tags: ['smile', 'saber'],
    });
    expect(
      tagsFromMetadata({ tag_string_general: 'smile solo', tag_string_character: 'saber', rating: 'q' }),
    ).toEqual({ tags: ['smile', 'solo', 'saber'], rating: 'q' });
    expect(() => tagsFromMetadata({ id: 1, title: 'no tags here' })).toThrow(/no tags field/);
    expect(() => tagsFromMetadata([1, 2])).toThrow(/not a JSON object/);
  });

  it('decodes UTF-8 with or without a BOM and UTF-16 with one, and refuses other bytes', () => {
    expect(decodeText(Buffer.from('\ufeffsmile, café', 'utf8'))).toBe('smile, café');
    expect(decodeText(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('smile', 'utf16le')]))).toBe(
      'smile',
    );
    // "café" in Windows-1252: the é is a lone 0xE9, not UTF-8.
    expect(() => decodeText(Buffer.from([0x63, 0x61, 0x66, 0xe9]))).toThrow(/not UTF-8/);
    expect(() => decodeText(Buffer.from('smile\u0000\u0000', 'utf8'))).toThrow(/not a text file/);
  });
});

describe('sidecars', () => {
  it('prefers gallery-dl JSON over a .txt, and reports a bad sidecar while using the next one', async () => {
    const dir = await temp();
    const image = join(dir, 'a.png');
    await writeFile(image, 'not read here');
    await writeFile(join(dir, 'a.txt'), 'smile, solo');
    expect(await readSidecarTags(image)).toEqual({
      found: { tags: ['smile', 'solo'], sidecar: join(dir, 'a.txt') },
      problems: [],
    });
    await writeFile(join(dir, 'a.png.json'), JSON.stringify({ tag_string: 'blue_eyes', rating: 's' }));
    expect((await readSidecarTags(image)).found).toEqual({
      tags: ['blue_eyes'],
      rating: 's',
      sidecar: join(dir, 'a.png.json'),
    });
    await writeFile(join(dir, 'a.png.json'), '{"tag_string": "blue_eyes"'); // cut short
    const fallback = await readSidecarTags(image);
    expect(fallback.found?.tags).toEqual(['smile', 'solo']);
    expect(fallback.problems).toEqual([
      { sidecar: join(dir, 'a.png.json'), reason: expect.stringMatching(/^is not valid JSON/) },
    ]);
  });

  it('never throws on garbage: binary, huge, wrongly encoded or a folder in its place', async () => {
    const dir = await temp();
    await writeFile(join(dir, 'binary.txt'), randomBytes(4096));
    await writeFile(join(dir, 'huge.txt'), 'smile, '.repeat(Math.ceil(MAX_SIDECAR_BYTES / 7) + 10));
    await writeFile(join(dir, 'latin1.txt'), Buffer.from('caf\xe9, smile', 'latin1'));
    await mkdir(join(dir, 'folder.txt'));
    const reasons: Record<string, string[]> = {};
    for (const name of ['binary', 'huge', 'latin1', 'folder']) {
      const result = await readSidecarTags(join(dir, `${name}.jpg`));
      expect(result.found, name).toBeUndefined();
      reasons[name] = result.problems.map((p) => p.reason);
    }
    expect(reasons['binary']![0]).toMatch(/not UTF-8 text|not a text file/);
    expect(reasons['huge']).toEqual([
      expect.stringMatching(/^is \d+ bytes, over the 1048576 byte limit for a tag file$/),
    ]);
    expect(reasons['latin1']).toEqual(['is not UTF-8 text']);
    expect(reasons['folder']).toEqual(['is not a regular file']);
  });

  it('an empty tag file is no tags and no problem', async () => {
    const dir = await temp();
    await writeFile(join(dir, 'a.txt'), '\n');
    expect(await readSidecarTags(join(dir, 'a.jpg'))).toEqual({ problems: [] });
  });
});

describe('the tag store', () => {
  it('keeps the latest record per file and skips a torn last line', async () => {
    const dir = await temp();
    await appendImageTags(dir, {
      file: 'a.jpg',
      from: 'konachan.net',
      postId: 1,
      tags: ['smile'],
      rating: 's',
    });
    await appendImageTags(dir, { file: 'b.jpg', from: 'b.txt', tags: ['solo'] });
    await appendImageTags(dir, { file: 'a.jpg', from: 'a.txt', tags: ['blue_eyes'] });
    await appendFile(join(dir, IMAGE_TAGS_FILE), '{"file":"c.jpg","from":"x","tags":["cut');
    const store = await readImageTags(dir);
    expect([...store.keys()]).toEqual(['a.jpg', 'b.jpg']);
    expect(store.get('a.jpg')).toEqual({ file: 'a.jpg', from: 'a.txt', tags: ['blue_eyes'] });
    expect(await readImageTags(join(dir, 'missing'))).toEqual(new Map());
  });
});
