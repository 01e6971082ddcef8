import { z } from 'zod';
import { Rendition } from '../../shared/contract-base.ts';
import { TagFormatError, parseTagString, type ImageTags } from '../images/tags.ts';
import { CrawlOptionError } from './errors.ts';

const optionalUrl = z
  .string()
  .nullish()
  .transform((value) => (value ? value : undefined));

/**
 * One record of `post.json`. Only the fields the crawler uses are required; deleted posts come without
 * URLs (and sometimes without md5), so those are optional here and handled as "deleted" by the crawler.
 */
export const moebooruPostSchema = z.object({
  id: z.number().int().positive(),
  md5: z
    .string()
    .regex(/^[0-9a-f]{32}$/i)
    .transform((value) => value.toLowerCase())
    .nullish()
    .transform((value) => value ?? undefined),
  file_url: optionalUrl,
  sample_url: optionalUrl,
  preview_url: optionalUrl,
  jpeg_url: optionalUrl,
  rating: z.string(),
  width: z.number().int().nonnegative().nullish(),
  height: z.number().int().nonnegative().nullish(),
  file_size: z.number().int().nonnegative().nullish(),
  /** Kept with the image (see postTags): a malformed value loses the tags, never the post. */
  tags: z.unknown().optional(),
  score: z.unknown().optional(),
  status: z.string().optional(),
});
export type MoebooruPost = z.infer<typeof moebooruPostSchema>;

/**
 * What is kept with a post's image: its tags (a space-separated string on Moebooru), rating and score. A
 * tags field that is not a tag string comes back as a problem to report; a score that is not a number is
 * left out.
 */
export function postTags(post: MoebooruPost): { tags: ImageTags } | { problem: string } {
  const raw = post.tags ?? '';
  if (typeof raw !== 'string') return { problem: `tags is ${describeValue(raw)}, not a tag string` };
  let tags: string[];
  try {
    tags = parseTagString(raw);
  } catch (error) {
    if (!(error instanceof TagFormatError)) throw error;
    return { problem: `tags ${error.message}` };
  }
  const score = typeof post.score === 'number' && Number.isFinite(post.score) ? post.score : undefined;
  return { tags: { tags, rating: post.rating, ...(score === undefined ? {} : { score }) } };
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return `a${typeof value === 'object' ? 'n' : ''} ${typeof value}`;
}

export type ParsedPage = {
  posts: MoebooruPost[];
  invalid: Array<{ postId?: number; reason: string }>;
  rawCount: number;
};

/**
 * Parses a `post.json` body record by record, so one malformed post is reported instead of failing the page.
 * A body that is not an array at all is a protocol error.
 */
export function parsePostsPage(body: unknown): ParsedPage {
  if (!Array.isArray(body)) {
    const hint = body && typeof body === 'object' && 'reason' in body ? `: ${String(body.reason)}` : '';
    throw new Error(`post.json did not return a list of posts${hint}`);
  }
  const posts: MoebooruPost[] = [];
  const invalid: ParsedPage['invalid'] = [];
  for (const record of body) {
    const parsed = moebooruPostSchema.safeParse(record);
    if (parsed.success) {
      posts.push(parsed.data);
    } else {
      const id = record && typeof record === 'object' && 'id' in record ? Number(record.id) : undefined;
      const issue = parsed.error.issues[0];
      const where = issue?.path.length ? issue.path.join('.') : 'record';
      invalid.push({
        postId: Number.isInteger(id) ? id : undefined,
        reason: `invalid post record (${where}: ${issue?.message ?? 'bad shape'})`,
      });
    }
  }
  return { posts, invalid, rawCount: body.length };
}

/** True when a post has been deleted or hidden: Moebooru then omits its file URLs. */
export function isDeleted(post: MoebooruPost): boolean {
  return post.status === 'deleted' || !post.file_url;
}

/**
 * The URL of the chosen rendition, falling back to the next larger one that exists (small originals have
 * no separate sample). Returns the URL and whether it is the original file (so its md5 can be verified).
 */
export function renditionUrl(
  post: MoebooruPost,
  rendition: Rendition,
): { url: string; isOriginal: boolean } | undefined {
  const byRendition: Record<Rendition, string | undefined> = {
    preview: post.preview_url,
    sample: post.sample_url,
    jpeg: post.jpeg_url,
    original: post.file_url,
  };
  for (const candidate of Rendition.options.slice(Rendition.options.indexOf(rendition))) {
    const url = byRendition[candidate];
    if (url) return { url, isOriginal: url === post.file_url };
  }
  return undefined;
}

/**
 * The tag query sent to the site. Unless unsafe ratings are allowed, `rating:s` is added and any other
 * rating tag the user typed is refused, so the server already filters and the client filter is a backstop.
 */
export function buildTagQuery(userTags: string, unsafeRatings: boolean): string {
  const tags = userTags.split(/\s+/).filter(Boolean);
  if (!unsafeRatings) {
    // Exclusions such as -rating:e are harmless; a positive rating tag other than safe is not.
    const ratingTags = tags.filter((tag) => /^rating:/i.test(tag));
    const unsafe = ratingTags.filter((tag) => !/^rating:s(afe)?$/i.test(tag));
    if (unsafe.length > 0) {
      throw new CrawlOptionError({ code: 'unsafe-rating-tag', option: 'tags', tag: unsafe[0]! });
    }
    if (ratingTags.length === 0) tags.push('rating:s');
  }
  return tags.join(' ');
}

export function postsPageUrl(site: URL, tags: string, page: number, pageSize: number): URL {
  const url = new URL('post.json', site.href.endsWith('/') ? site : new URL(site.href + '/'));
  url.searchParams.set('limit', String(pageSize));
  url.searchParams.set('page', String(page));
  if (tags) url.searchParams.set('tags', tags);
  return url;
}

/** Moebooru sometimes returns protocol-relative (`//files.yande.re/…`) or site-relative URLs. */
export function resolvePostUrl(raw: string, site: URL): URL {
  return new URL(raw, site);
}
