import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { crawl, type CrawlOptionsInput } from '../../../src/core/crawler/crawl.ts';
import { JOURNAL_FILE } from '../../../src/core/crawler/journal.ts';
import { IMAGE_TAGS_FILE, readImageTags } from '../../../src/core/images/tags.ts';
import {
  illustrationFiles,
  startBoardWithTempDir,
  type MoebooruServer,
  type ServerPostSpec,
} from '../../helpers/moebooru-server.ts';
import { illustrationsDir } from '../../helpers/shared-data.ts';

const images = illustrationFiles(illustrationsDir);

const setup = (posts: ServerPostSpec[]) => startBoardWithTempDir(posts, 'kao-crawl-tags-');

const fast = (server: MoebooruServer, dir: string): CrawlOptionsInput => ({
  site: server.url,
  datasetDir: dir,
  delayMs: 20,
  retryBaseMs: 10,
  pageSize: 10,
});

const fileOf = (server: MoebooruServer, id: number) => `127.0.0.1-${id}-${server.md5(id)}.jpg`;

describe('crawl keeps each post’s tags with its image', () => {
  it('stores tags, rating and score per downloaded image; a malformed tag field loses the tags, not the image', async () => {
    const posts: ServerPostSpec[] = [
      { id: 40, image: images[0]!, override: { tags: 'Blonde_Hair  blue_eyes solo', score: 12 } },
      { id: 39, image: images[1]!, override: { tags: 'long_hair smile', score: 'lots' } },
      { id: 38, image: images[2]!, override: { tags: 42 } },
      { id: 37, image: images[3]!, override: { tags: 'smile\u0007 ok' } },
      { id: 36, image: images[4]!, override: { tags: null } },
    ];
    const { server, dir } = await setup(posts);
    const summary = await crawl(fast(server, dir));
    expect(summary).toMatchObject({ state: 'done', downloaded: 5, failed: 0, tagged: 3, tagProblems: 2 });

    const store = await readImageTags(dir);
    expect(store.get(fileOf(server, 40))).toEqual({
      file: fileOf(server, 40),
      from: new URL(server.url).host,
      postId: 40,
      tags: ['blonde_hair', 'blue_eyes', 'solo'],
      rating: 's',
      score: 12,
    });
    // A score that is not a number is left out; the tags stay.
    expect(store.get(fileOf(server, 39))).toMatchObject({ tags: ['long_hair', 'smile'], rating: 's' });
    expect(store.get(fileOf(server, 39))).not.toHaveProperty('score');
    // A null tags field is a post without tags.
    expect(store.get(fileOf(server, 36))?.tags).toEqual([]);
    expect(store.has(fileOf(server, 38))).toBe(false);
    expect(store.has(fileOf(server, 37))).toBe(false);

    // The journal says why, on the downloaded post's record.
    const journal = (await readFile(join(dir, JOURNAL_FILE), 'utf8'))
      .trim()
      .split('\n')
      .map(
        (line) => JSON.parse(line) as { type: string; postId?: number; outcome?: string; reason?: string },
      );
    const downloaded = journal.filter((r) => r.type === 'post' && r.outcome === 'downloaded');
    expect(downloaded.map((r) => [r.postId, r.reason])).toEqual([
      [40, undefined],
      [39, undefined],
      [38, 'tags not kept: tags is a number, not a tag string'],
      [37, 'tags not kept: tags has control characters: not a tag list'],
      [36, undefined],
    ]);
  });

  it('a crawl killed between an image and its tag record writes the record on the next crawl', async () => {
    const posts = images.slice(0, 3).map((image, i) => ({
      id: 20 - i,
      image,
      override: { tags: `tag_${20 - i} solo`, score: i },
    }));
    const { server, dir } = await setup(posts);
    await crawl(fast(server, dir));
    const complete = await readImageTags(dir);
    expect(complete.size).toBe(3);

    // As a kill leaves it: the last image is there, its record is not, and the append before was torn.
    const lines = (await readFile(join(dir, IMAGE_TAGS_FILE), 'utf8')).trim().split('\n');
    await writeFile(join(dir, IMAGE_TAGS_FILE), `${lines.slice(0, 2).join('\n')}\n{"file":"12`);
    expect((await readImageTags(dir)).size).toBe(2);

    const again = await crawl(fast(server, dir));
    expect(again).toMatchObject({ downloaded: 0, skipped: 3, tagged: 1, tagProblems: 0 });
    expect(await readImageTags(dir)).toEqual(complete);
    // A third crawl has nothing to add.
    expect(await crawl(fast(server, dir))).toMatchObject({ skipped: 3, tagged: 0 });
  });
});
