import { describe, expect, it } from 'vitest';
import { parseCrawlOptions } from '../../../src/core/crawler/crawl.ts';
import { HostPolicy, registrableDomain } from '../../../src/core/crawler/hosts.ts';
import { parseRetryAfter } from '../../../src/core/crawler/http.ts';
import {
  buildTagQuery,
  isDeleted,
  parsePostsPage,
  postsPageUrl,
  renditionUrl,
  resolvePostUrl,
} from '../../../src/core/crawler/moebooru.ts';

const md5 = 'd34e4cf0a437a5d65f8e82b7bcd02606';
// Shaped like konachan.net's post.json (trimmed to the fields that matter plus a few it ignores).
const livePost = {
  id: 381234,
  tags: 'blush long_hair solo',
  created_at: 1719000000,
  creator_id: 12,
  author: 'someone',
  change: 2000000,
  source: '',
  score: 42,
  md5,
  file_size: 1234567,
  file_url: `https://konachan.net/image/${md5}/Konachan.com%20-%20381234%20blush.png`,
  is_shown_in_index: true,
  preview_url: `https://konachan.net/data/preview/d3/4e/${md5}.jpg`,
  preview_width: 150,
  preview_height: 84,
  sample_url: `https://konachan.net/sample/${md5}/Konachan.com%20-%20381234%20sample.jpg`,
  sample_width: 1500,
  sample_height: 844,
  jpeg_url: `https://konachan.net/jpeg/${md5}/Konachan.com%20-%20381234%20blush.jpg`,
  rating: 's',
  has_children: false,
  parent_id: null,
  status: 'active',
  width: 1920,
  height: 1080,
};

describe('Moebooru protocol', () => {
  it('parses real-shaped posts, reports malformed ones, and recognises deleted posts', () => {
    const deleted = { id: 5, rating: 's', tags: 'x', status: 'deleted', md5: null };
    const page = parsePostsPage([
      livePost,
      deleted,
      { id: 'x', rating: 's' },
      { ...livePost, id: 7, md5: 'nothex' },
    ]);
    expect(page.rawCount).toBe(4);
    expect(page.posts.map((p) => p.id)).toEqual([381234, 5]);
    expect(isDeleted(page.posts[0]!)).toBe(false);
    expect(isDeleted(page.posts[1]!)).toBe(true);
    expect(page.invalid).toEqual([
      { postId: undefined, reason: expect.stringMatching(/^invalid post record \(id: /) },
      { postId: 7, reason: expect.stringMatching(/^invalid post record \(md5: /) },
    ]);
    expect(() => parsePostsPage({ success: false, reason: 'access denied' })).toThrow(
      'post.json did not return a list of posts: access denied',
    );
  });

  it('picks the rendition, falling back to a larger one, and knows which is the original', () => {
    const [post] = parsePostsPage([livePost]).posts;
    expect(renditionUrl(post!, 'sample')).toEqual({ url: livePost.sample_url, isOriginal: false });
    expect(renditionUrl(post!, 'original')).toEqual({ url: livePost.file_url, isOriginal: true });
    const [small] = parsePostsPage([{ ...livePost, sample_url: livePost.file_url, jpeg_url: null }]).posts;
    expect(renditionUrl(small!, 'sample')).toEqual({ url: livePost.file_url, isOriginal: true });
    expect(renditionUrl(small!, 'jpeg')).toEqual({ url: livePost.file_url, isOriginal: true });
  });

  it('adds rating:s unless unsafe ratings are allowed, and refuses positive unsafe rating tags', () => {
    expect(buildTagQuery('', false)).toBe('rating:s');
    expect(buildTagQuery('  solo   long_hair ', false)).toBe('solo long_hair rating:s');
    expect(buildTagQuery('solo rating:safe', false)).toBe('solo rating:safe');
    expect(buildTagQuery('solo -rating:e', false)).toBe('solo -rating:e rating:s');
    expect(() => buildTagQuery('solo rating:q', false)).toThrow(/rating:q needs unsafe ratings/);
    expect(() => buildTagQuery('solo rating:q', false)).toThrow(
      expect.objectContaining({ problem: { code: 'unsafe-rating-tag', option: 'tags', tag: 'rating:q' } }),
    );
    expect(buildTagQuery('solo', true)).toBe('solo');
    expect(buildTagQuery('rating:e', true)).toBe('rating:e');
  });

  it('builds page URLs under the site path and resolves protocol-relative URLs', () => {
    expect(postsPageUrl(new URL('https://yande.re'), 'solo rating:s', 3, 100).href).toBe(
      'https://yande.re/post.json?limit=100&page=3&tags=solo+rating%3As',
    );
    expect(postsPageUrl(new URL('https://example.com/booru'), '', 1, 20).href).toBe(
      'https://example.com/booru/post.json?limit=20&page=1',
    );
    expect(resolvePostUrl('//files.yande.re/image/a.jpg', new URL('https://yande.re')).href).toBe(
      'https://files.yande.re/image/a.jpg',
    );
  });
});

describe('host policy', () => {
  it('allows the site, its subdomains and extra hosts; refuses everything else with a reason', () => {
    const policy = new HostPolicy(new URL('https://yande.re'), ['cdn.example.com', '*.pics.example']);
    expect(policy.check(new URL('https://files.yande.re/image/x.jpg'))).toBeUndefined();
    expect(policy.check(new URL('http://yande.re/x.jpg'))).toBeUndefined();
    expect(policy.check(new URL('https://cdn.example.com/x.jpg'))).toBeUndefined();
    expect(policy.check(new URL('https://a.b.pics.example/x.jpg'))).toBeUndefined();
    expect(policy.check(new URL('https://notyande.re/x.jpg'))).toBe(
      'refused host notyande.re: not yande.re, its subdomains, or an extra host',
    );
    expect(policy.check(new URL('https://yande.re.evil.com/x.jpg'))).toMatch(
      /^refused host yande\.re\.evil\.com/,
    );
    expect(policy.check(new URL('https://other.example.com/x.jpg'))).toMatch(/^refused host/);
    expect(policy.check(new URL('ftp://yande.re/x.jpg'))).toBe('refused ftp: URL (only http and https)');
    expect(policy.check(new URL('https://user:pw@yande.re/x.jpg'))).toBe(
      'refused URL with embedded credentials',
    );
    // www.konachan.net → the konachan.net family; IP sites allow only themselves.
    expect(
      new HostPolicy(new URL('https://www.konachan.net')).check(new URL('https://konachan.net/image/a.jpg')),
    ).toBeUndefined();
    expect(new HostPolicy(new URL('http://127.0.0.1:8080')).check(new URL('http://127.0.0.2/a.jpg'))).toMatch(
      /^refused host/,
    );
    expect(registrableDomain('img.example.co.jp')).toBe('example.co.jp');
    expect(registrableDomain('files.yande.re')).toBe('yande.re');
  });
});

describe('Retry-After and options', () => {
  it('parses delta-seconds and HTTP dates', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });

  it('validates options with readable errors and polite defaults', () => {
    const options = parseCrawlOptions({ datasetDir: '/tmp/x' });
    expect(options).toMatchObject({
      site: 'https://konachan.net',
      rendition: 'sample',
      delayMs: 1000,
      unsafeRatings: false,
      pageSize: 100,
    });
    expect(() => parseCrawlOptions({ datasetDir: '/tmp/x', rendition: 'huge' as 'sample' })).toThrow(
      /^invalid crawl option rendition: /,
    );
    expect(() => parseCrawlOptions({ datasetDir: '' })).toThrow(
      'invalid crawl option datasetDir: datasetDir is required',
    );
    expect(() => parseCrawlOptions({ datasetDir: '/x', site: 'https://yande.re', delayMs: 100 })).toThrow(
      /at least 500 ms for yande\.re/,
    );
    expect(() => parseCrawlOptions({ datasetDir: '/x', site: 'https://yande.re', delayMs: 100 })).toThrow(
      expect.objectContaining({
        problem: expect.objectContaining({ code: 'delay-too-short', option: 'delayMs' }),
      }),
    );
    expect(parseCrawlOptions({ datasetDir: '/x', site: 'http://localhost:3000', delayMs: 0 }).delayMs).toBe(
      0,
    );
  });
});
