import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { z } from 'zod';
import { appendJsonl, readJsonl } from '../util/jsonl.ts';

/**
 * The tags kept with a dataset's images: `image-tags.jsonl` in the dataset folder, one JSON line per image
 * (`{file, from, tags, rating?, score?, postId?}`), the later line for a file winning. Appends are atomic per
 * record like the crawl journal: a kill can at worst tear the last line, which readers skip, and a crawl or
 * import that finds an image without its record (killed between the two writes) writes it then.
 */
export const IMAGE_TAGS_FILE = 'image-tags.jsonl';

/** Beyond these a file is not a tag list (a caption, a dump, garbage): its tags are not kept. */
export const MAX_TAGS = 2000;
export const MAX_TAG_LENGTH = 200;
export const MAX_SIDECAR_BYTES = 1024 * 1024;

export interface ImageTags {
  /** Danbooru-style: lower case, words joined by underscores (`blonde_hair`), each once, in source order. */
  tags: string[];
  /** The board's rating letter as it sent it (Moebooru `s`/`q`/`e`; Danbooru also `g`). */
  rating?: string;
  score?: number;
}

export interface ImageTagRecord extends ImageTags {
  /** The image's path in the folder (a dataset image's file name). */
  file: string;
  /** Where the tags came from: the board's host for a crawled post, or the sidecar's name for an import. */
  from: string;
  postId?: number;
}

/** A tag file or field that cannot be read as tags; `message` says why, for the user. */
export class TagFormatError extends Error {
  override readonly name = 'TagFormatError';
}

/** `Blonde Hair` → `blonde_hair`; `hatsune miku \(cosplay\)` (a training caption's escapes) → `hatsune_miku_(cosplay)`. */
export function normaliseTag(raw: string): string {
  return raw
    .trim()
    .toLowerCase()
    .replace(/\\([()])/g, '$1')
    .replace(/\s+/g, '_');
}

/** Normalised, each once, checked: a control character or an over-long tag means this is not a tag list. */
export function cleanTags(raw: readonly string[]): string[] {
  const tags = new Set<string>();
  for (const value of raw) {
    const tag = normaliseTag(value);
    if (!tag) continue;
    // eslint-disable-next-line no-control-regex -- control characters are exactly what is looked for
    if (/[\u0000-\u001f\u007f]/.test(tag)) throw new TagFormatError('has control characters: not a tag list');
    if (tag.length > MAX_TAG_LENGTH) {
      throw new TagFormatError(`has a tag of ${tag.length} characters (at most ${MAX_TAG_LENGTH})`);
    }
    tags.add(tag);
  }
  if (tags.size > MAX_TAGS) throw new TagFormatError(`has ${tags.size} tags (at most ${MAX_TAGS})`);
  return [...tags];
}

/** A Moebooru or Danbooru tag string: tags separated by spaces. */
export function parseTagString(value: string): string[] {
  return cleanTags(value.split(/\s+/));
}

/**
 * A `.txt` sidecar: comma-separated (`1girl, long hair, smile`: the training-tool convention, spaces inside
 * a tag become underscores), one tag per line (gallery-dl's tags mode), or space-separated (`1girl long_hair`).
 */
export function parseTagText(text: string): string[] {
  if (text.includes(',')) return cleanTags(text.split(/[,\n\r]/));
  const lines = text.split(/\r?\n/).filter((line) => line.trim());
  if (lines.length > 1) return cleanTags(lines);
  return parseTagString(text);
}

/**
 * Tags, rating and score from a gallery-dl metadata file (`image.jpg.json`): Danbooru's `tag_string`,
 * Moebooru's `tags` (a string), other sites' `tags` (a list, or lists by category), or failing those the
 * per-category fields (`tag_string_general`, `tags_character`, …).
 */
export function tagsFromMetadata(data: unknown): ImageTags {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new TagFormatError('is not a JSON object');
  }
  const record = data as Record<string, unknown>;
  let tags = tagField(record['tag_string']) ?? tagField(record['tags']);
  if (!tags) {
    const byCategory = Object.keys(record)
      .filter((key) => /^(tag_string|tags)_[a-z]+$/.test(key))
      .map((key) => tagField(record[key]))
      .filter((list) => list !== undefined);
    if (byCategory.length > 0) tags = byCategory.flat();
  }
  if (!tags) throw new TagFormatError('has no tags field (tags, tag_string or tag_string_general)');
  const result: ImageTags = { tags: cleanTags(tags) };
  const rating = record['rating'];
  if (typeof rating === 'string' && /^[a-z]{1,12}$/i.test(rating)) result.rating = rating.toLowerCase();
  const score = record['score'];
  if (typeof score === 'number' && Number.isFinite(score)) result.score = score;
  return result;
}

/** A field's raw tags: a space-separated string, a list of tags, or an object of such lists; else undefined. */
function tagField(value: unknown): string[] | undefined {
  if (typeof value === 'string') return value.split(/\s+/);
  if (Array.isArray(value)) {
    const strings = value.filter((item): item is string => typeof item === 'string');
    return strings.length > 0 || value.length === 0 ? strings : undefined;
  }
  if (typeof value === 'object' && value !== null) {
    const lists = Object.values(value).map(tagField);
    return lists.some((list) => list !== undefined) ? lists.flatMap((list) => list ?? []) : undefined;
  }
  return undefined;
}

/**
 * A text file's content: UTF-8 (with or without its byte-order mark) or UTF-16 with one. Anything else —
 * invalid UTF-8, binary data — is refused rather than turned into tags made of replacement characters.
 */
export function decodeText(bytes: Uint8Array): string {
  let text: string;
  try {
    if (bytes[0] === 0xff && bytes[1] === 0xfe)
      text = new TextDecoder('utf-16le', { fatal: true }).decode(bytes);
    else if (bytes[0] === 0xfe && bytes[1] === 0xff)
      text = new TextDecoder('utf-16be', { fatal: true }).decode(bytes);
    else text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new TagFormatError('is not UTF-8 text');
  }
  // TextDecoder drops a leading byte-order mark; NUL and other control bytes mean binary data.
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is looked for
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text)) {
    throw new TagFormatError('is not a text file (control characters)');
  }
  return text;
}

/**
 * The sidecar files an image may have, in the order they are tried: gallery-dl's metadata (`a.jpg.json`,
 * or `a.json`), then a tag list (`a.txt`, as training tools write it, or `a.jpg.txt`, as gallery-dl does).
 */
export function sidecarPaths(imagePath: string): Array<{ path: string; kind: 'json' | 'txt' }> {
  const dir = dirname(imagePath);
  const stem = basename(imagePath, extname(imagePath));
  return [
    { path: `${imagePath}.json`, kind: 'json' },
    { path: join(dir, `${stem}.json`), kind: 'json' },
    { path: join(dir, `${stem}.txt`), kind: 'txt' },
    { path: `${imagePath}.txt`, kind: 'txt' },
  ];
}

export interface SidecarTags {
  /** From the first sidecar that holds tags, with its path; undefined when none does. */
  found?: ImageTags & { sidecar: string };
  /** Sidecars that exist but could not be read as tags, with the reason. */
  problems: Array<{ sidecar: string; reason: string }>;
}

/**
 * The tags of an image from its sidecars (see sidecarPaths). A sidecar that is too big, binary, not UTF-8,
 * not JSON or without tags is reported in `problems` and the next one is tried; none ever throws.
 */
export async function readSidecarTags(
  imagePath: string,
  exists: (path: string) => boolean = () => true,
): Promise<SidecarTags> {
  const problems: SidecarTags['problems'] = [];
  for (const { path, kind } of sidecarPaths(imagePath)) {
    if (!exists(path)) continue;
    let bytes: Buffer | undefined;
    try {
      bytes = await readSmallFile(path, MAX_SIDECAR_BYTES);
      if (!bytes) continue;
      const text = decodeText(bytes);
      let tags: ImageTags;
      if (kind === 'json') {
        let data: unknown;
        try {
          data = JSON.parse(text);
        } catch (error) {
          throw new TagFormatError(`is not valid JSON (${(error as Error).message})`);
        }
        tags = tagsFromMetadata(data);
      } else {
        tags = { tags: parseTagText(text) };
      }
      if (tags.tags.length > 0) return { found: { ...tags, sidecar: path }, problems };
    } catch (error) {
      if (!(error instanceof TagFormatError) && !isFileError(error)) throw error;
      problems.push({ sidecar: path, reason: error.message });
    }
  }
  return { problems };
}

/** A file's bytes, or undefined when it does not exist; refused when over `maxBytes` (never read whole). */
async function readSmallFile(path: string, maxBytes: number): Promise<Buffer | undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new TagFormatError('is not a regular file');
    if (info.size > maxBytes) {
      throw new TagFormatError(`is ${info.size} bytes, over the ${maxBytes} byte limit for a tag file`);
    }
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

function isFileError(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string';
}

export function imageTagsPath(dir: string): string {
  return join(dir, IMAGE_TAGS_FILE);
}

/** Keeps an image's tags (appended: see IMAGE_TAGS_FILE; a torn last line is ended first by appendJsonl). */
export async function appendImageTags(dir: string, record: ImageTagRecord): Promise<void> {
  await appendJsonl(imageTagsPath(dir), record);
}

/** What a line of the tag file must hold to count as a record (see ImageTagRecord). */
const tagRecordLine = z.looseObject({
  file: z.string(),
  from: z.string(),
  tags: z.array(z.string()),
  rating: z.string().optional(),
  score: z.number().optional(),
});

/** Every image's latest tag record, by file; lines that are not a tag record are skipped like a torn one. */
export async function readImageTags(dir: string): Promise<Map<string, ImageTagRecord>> {
  const records = new Map<string, ImageTagRecord>();
  for (const line of await readJsonl(imageTagsPath(dir))) {
    const record = tagRecordLine.safeParse(line);
    if (record.success) records.set(record.data.file, record.data as ImageTagRecord);
  }
  return records;
}

/**
 * The tags of a folder's images by path relative to it (`sources`): what the folder's tag store keeps (a
 * crawled or imported dataset), or, for a folder without one, each image's own `.txt` / `.json` sidecar —
 * so a folder of tagged images works without importing it first. Images without tags are left out.
 */
export async function readFolderTags(
  dir: string,
  sources: readonly string[],
): Promise<{ tags: Map<string, string[]>; from: 'store' | 'sidecars' }> {
  const tags = new Map<string, string[]>();
  const kept = await readImageTags(dir);
  if (kept.size > 0) {
    for (const source of sources) {
      const found = kept.get(source)?.tags;
      if (found?.length) tags.set(source, found);
    }
    return { tags, from: 'store' };
  }
  for (const source of sources) {
    const { found } = await readSidecarTags(join(dir, source), existsSync);
    if (found?.tags.length) tags.set(source, found.tags);
  }
  return { tags, from: 'sidecars' };
}
