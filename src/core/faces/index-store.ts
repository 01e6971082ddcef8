import { createHash } from 'node:crypto';
import { readFile, rm, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { readJsonIfExists, writeFileAtomic, writeJsonAtomic } from '../util/atomic-file.ts';
import { readJsonl } from '../util/jsonl.ts';
import {
  acquireFolderLock,
  assertFolderNotLocked,
  readFolderLock,
  type FolderLockKind,
} from '../folder-lock.ts';
import { FaceBox, type FaceCounts, type FaceFailure, type FaceFilter } from '../../shared/faces-schemas.ts';
import { faceDetectionSettingsSchema, type FaceDetectionSettings } from './options.ts';
import { findDeletedSources } from './source-files.ts';
import { FacesError } from './errors.ts';

/**
 * The faces folder: `<id>.png` crops, `faces-index.json` (compacted, atomic), `faces-log.jsonl` (one line
 * appended per image processed since the last compaction) and `excluded.json` (the user's exclusions, atomic).
 * `.faces.lock` is held by the one process extracting into (or pruning) the folder.
 * A record is appended only after its crops are on disk, so a crash at any point loses at most the image in
 * flight, and a re-run redoes exactly the images without a record.
 */
export const FACES_INDEX_FILE = 'faces-index.json';
export const FACES_LOG_FILE = 'faces-log.jsonl';
export const FACES_EXCLUDED_FILE = 'excluded.json';
/** Present only while faces of deleted illustrations are being removed (see prune.ts). */
export const FACES_PRUNE_FILE = 'faces-prune.json';
/** A dot-file: crops are listed from the index, and prune never deletes a name starting with a dot. */
export const FACES_LOCK_FILE = '.faces.lock';

/**
 * One writer per faces folder (see folder-lock.ts): an extraction, or a prune outside one, holds it while it
 * writes the index, the log, crops or exclusions. A second one is refused:
 * `faces folder /data/faces is being extracted into by another process (pid 1234, kao faces, since 12:03)`.
 */
export const FACES_LOCK: FolderLockKind = {
  file: FACES_LOCK_FILE,
  describeFolder: (dir) => `faces folder ${dir}`,
  activity: 'extracted into',
};

export type { FaceBox };

export const faceRecordSchema = z.object({
  id: z.string(),
  /** Detection box in source pixels. */
  box: FaceBox,
  /** The square region cropped (box + margin, inside the image), in source pixels. */
  crop: FaceBox,
  /** Side of `crop` in source pixels. */
  cropSize: z.int(),
  hash: z.string(),
  /** Crop file name inside the faces folder. */
  file: z.string(),
  /** The illustration's tags, where they describe this face (see face-tags.ts); absent in older indexes. */
  tags: z.array(z.string()).optional(),
});
export type FaceRecord = z.infer<typeof faceRecordSchema>;

export const imageRecordSchema = z.object({
  /** Path relative to the input folder, with forward slashes. */
  source: z.string(),
  /** Byte size when processed: a changed file is processed again. */
  bytes: z.int(),
  status: z.enum(['ok', 'failed']),
  error: z.string().optional(),
  width: z.int().optional(),
  height: z.int().optional(),
  faces: z.array(faceRecordSchema).default([]),
  /** Faces dropped as near-duplicates of an earlier face (its id in `duplicateOf`). */
  duplicates: z
    .array(z.object({ box: FaceBox, hash: z.string(), duplicateOf: z.string(), distance: z.int() }))
    .default([]),
  /** Detections whose crop was below `minSourceSize`. */
  tooSmall: z.array(FaceBox).default([]),
});
export type ImageRecord = z.infer<typeof imageRecordSchema>;

const indexFileSchema = z.object({
  version: z.literal(1),
  settings: faceDetectionSettingsSchema,
  /** The input folder of the latest run; sources are relative to it. */
  inputDir: z.string(),
  /** Checked record by record with isImageRecord: zod on 50,000 faces costs most of a second. */
  images: z.array(z.unknown()),
});
export interface FacesIndexFile {
  version: 1;
  settings: FaceDetectionSettings;
  inputDir: string;
  images: ImageRecord[];
}

function isBox(value: unknown): value is FaceBox {
  const b = value as FaceBox;
  return (
    typeof b === 'object' &&
    b !== null &&
    Number.isInteger(b.x) &&
    Number.isInteger(b.y) &&
    Number.isInteger(b.width) &&
    Number.isInteger(b.height)
  );
}

/** The shape imageRecordSchema describes, checked by hand because it runs once per image on every open. */
function isImageRecord(value: unknown): value is ImageRecord {
  const r = value as ImageRecord;
  if (typeof r !== 'object' || r === null) return false;
  if (typeof r.source !== 'string' || !Number.isInteger(r.bytes)) return false;
  if (r.status !== 'ok' && r.status !== 'failed') return false;
  if (!Array.isArray(r.faces) || !Array.isArray(r.duplicates) || !Array.isArray(r.tooSmall)) return false;
  for (const f of r.faces) {
    if (typeof f !== 'object' || f === null) return false;
    if (typeof f.id !== 'string' || typeof f.file !== 'string' || typeof f.hash !== 'string') return false;
    if (!isBox(f.box) || !isBox(f.crop) || !Number.isInteger(f.cropSize)) return false;
    if (f.tags !== undefined && !(Array.isArray(f.tags) && f.tags.every((t) => typeof t === 'string'))) {
      return false;
    }
  }
  return (
    r.tooSmall.every(isBox) && r.duplicates.every((d) => isBox(d.box) && typeof d.duplicateOf === 'string')
  );
}

const excludedFileSchema = z.object({ ids: z.array(z.string()) });

/** One of the folder's JSON files does not parse: its path and the parser's reason. */
function notValidJson(file: string, error: unknown): FacesError {
  return new FacesError({
    code: 'index-corrupt',
    file,
    reason: `is not valid JSON (${(error as Error).message})`,
  });
}

/**
 * One of the folder's JSON files checked against `schema`; undefined when there is none. A file that does
 * not read as JSON, or does not match ("is not `what`: …"), is `index-corrupt`.
 */
export async function readFolderJson<S extends z.ZodType>(
  file: string,
  schema: S,
  what: string,
): Promise<z.output<S> | undefined> {
  let raw: unknown;
  try {
    raw = await readJsonIfExists(file);
  } catch (error) {
    throw notValidJson(file, error);
  }
  if (raw === undefined) return undefined;
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const reason = `is not ${what}: ${z.prettifyError(parsed.error)}`;
    throw new FacesError({ code: 'index-corrupt', file, reason });
  }
  return parsed.data;
}

/** A face id: stable for a source path and detection number, so re-running overwrites instead of piling up. */
export function faceId(source: string, detection: number): string {
  return `${faceIdPrefix(source)}${detection}`;
}

/** What every face id of `source` starts with (`<12 hex>-`). */
export function faceIdPrefix(source: string): string {
  return `${createHash('sha1').update(source).digest('hex').slice(0, 12)}-`;
}

export interface StoredIndex {
  settings: FaceDetectionSettings | undefined;
  inputDir: string | undefined;
  /** Latest record per source, in first-seen order. */
  images: Map<string, ImageRecord>;
}

/** Reads the compacted index and replays the log over it (the log's later line for a source wins). */
export async function readStoredIndex(facesDir: string): Promise<StoredIndex> {
  const indexPath = join(facesDir, FACES_INDEX_FILE);
  // The log is read before the index: if a run compacts in between, the newer index holds those records
  // anyway, whereas reading the index first could see the old index and then a deleted log.
  const logRecords = await readJsonl(join(facesDir, FACES_LOG_FILE));
  const stored = await readFolderJson(indexPath, indexFileSchema, 'a Kao Studio faces index');
  const images = new Map<string, ImageRecord>();
  let settings: FaceDetectionSettings | undefined;
  let inputDir: string | undefined;
  if (stored !== undefined) {
    settings = stored.settings;
    inputDir = stored.inputDir;
    for (const [i, record] of stored.images.entries()) {
      if (!isImageRecord(record)) {
        throw new FacesError({
          code: 'index-corrupt',
          file: indexPath,
          reason: `has a malformed image record (${i})`,
        });
      }
      images.set(record.source, record);
    }
  }
  for (const line of logRecords) {
    // Lines from an older or foreign writer are skipped like a torn line: their image is simply redone.
    if (isImageRecord(line)) images.set(line.source, line);
  }
  return { settings, inputDir, images };
}

/** Writes everything into faces-index.json atomically, then drops the log it now contains. */
export async function compactIndex(
  facesDir: string,
  settings: FaceDetectionSettings,
  inputDir: string,
  images: Iterable<ImageRecord>,
): Promise<void> {
  const file: FacesIndexFile = { version: 1, settings, inputDir, images: [...images] };
  // One record per line: diffable, yet half the size of indented JSON at 50,000 faces.
  const lines = file.images.map((record) => JSON.stringify(record)).join(',\n');
  const text = `{"version":1,"settings":${JSON.stringify(settings)},"inputDir":${JSON.stringify(inputDir)},"images":[\n${lines}\n]}\n`;
  await writeFileAtomic(join(facesDir, FACES_INDEX_FILE), text);
  await unlink(join(facesDir, FACES_LOG_FILE)).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}

/**
 * Removes the index, log and every crop the index knows. Exclusions stay when asked: ids are stable as long
 * as the detector finds the same boxes (crop size or margin changed, say).
 */
export async function clearFacesFolder(
  facesDir: string,
  stored: StoredIndex,
  { keepExclusions }: { keepExclusions: boolean },
): Promise<void> {
  if (!keepExclusions) await rm(join(facesDir, FACES_EXCLUDED_FILE), { force: true });
  for (const record of stored.images.values()) {
    for (const face of record.faces) await rm(join(facesDir, face.file), { force: true });
  }
  await rm(join(facesDir, FACES_LOG_FILE), { force: true });
  await rm(join(facesDir, FACES_INDEX_FILE), { force: true });
}

export async function readExcludedIds(facesDir: string): Promise<Set<string>> {
  const path = join(facesDir, FACES_EXCLUDED_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Set();
    throw error;
  }
  let parsed;
  try {
    parsed = excludedFileSchema.safeParse(JSON.parse(text));
  } catch (error) {
    throw notValidJson(path, error);
  }
  if (!parsed.success) {
    const reason = `is not an exclusion list: ${z.prettifyError(parsed.error)}`;
    throw new FacesError({ code: 'index-corrupt', file: path, reason });
  }
  return new Set(parsed.data.ids);
}

export async function writeExcludedIds(facesDir: string, ids: Iterable<string>): Promise<void> {
  await writeJsonAtomic(join(facesDir, FACES_EXCLUDED_FILE), { ids: [...ids].sort() });
}

/** A face as the review screen and the trainer see it. */
export interface FaceEntry {
  id: string;
  /** Absolute path of the crop PNG. */
  file: string;
  /** Absolute path of the source illustration (for "show this face boxed on its illustration"). */
  source: string;
  /** Source path relative to the input folder. */
  sourceRelative: string;
  /** Detection box and cropped square, in source pixels; `imageWidth`/`imageHeight` are the source's size. */
  box: FaceBox;
  crop: FaceBox;
  cropSize: number;
  imageWidth: number;
  imageHeight: number;
  hash: string;
  excluded: boolean;
  /** The illustration's tags where they describe this face, else empty. */
  tags: string[];
}

// The list's filter and counts are the contract's (the Faces screen shows them as they are).
export type { FaceCounts, FaceFilter };

export interface FaceListQuery {
  offset?: number;
  limit?: number;
  filter?: FaceFilter;
}

export interface FacePage {
  total: number;
  offset: number;
  faces: FaceEntry[];
}

/**
 * A read view of a faces folder plus the user's exclusions. Listing is by array slice, so a page costs the
 * same at 50,000 faces as at 50; exclusions are saved atomically before the call returns.
 */
export class FaceDataset {
  readonly facesDir: string;
  #faces: Array<{ record: FaceRecord; image: ImageRecord }> = [];
  #byId = new Map<string, { record: FaceRecord; image: ImageRecord }>();
  #images: ImageRecord[] = [];
  #inputDir = '';
  #excluded = new Set<string>();
  #filtered = new Map<FaceFilter, Array<{ record: FaceRecord; image: ImageRecord }>>();
  #writeQueue: Promise<unknown> = Promise.resolve();

  private constructor(facesDir: string) {
    this.facesDir = resolve(facesDir);
  }

  static async open(facesDir: string): Promise<FaceDataset> {
    const dataset = new FaceDataset(facesDir);
    await dataset.reload();
    return dataset;
  }

  /** Re-reads the index, log and exclusions (after an extraction run added faces). */
  async reload(): Promise<void> {
    const stored = await readStoredIndex(this.facesDir);
    const excluded = await readExcludedIds(this.facesDir);
    this.#inputDir = stored.inputDir ?? '';
    this.#images = [...stored.images.values()];
    this.#faces = [];
    this.#byId = new Map();
    for (const image of this.#images) {
      for (const record of image.faces) {
        const entry = { record, image };
        this.#faces.push(entry);
        this.#byId.set(record.id, entry);
      }
    }
    this.#excluded = excluded;
    this.#filtered.clear();
  }

  get inputDir(): string {
    return this.#inputDir;
  }

  counts(): FaceCounts {
    let excluded = 0;
    for (const id of this.#excluded) if (this.#byId.has(id)) excluded++;
    let tagged = 0;
    for (const { record } of this.#faces) if (record.tags?.length && !this.#excluded.has(record.id)) tagged++;
    let failedImages = 0;
    let duplicatesDropped = 0;
    let tooSmallDropped = 0;
    for (const image of this.#images) {
      if (image.status === 'failed') failedImages++;
      duplicatesDropped += image.duplicates.length;
      tooSmallDropped += image.tooSmall.length;
    }
    return {
      images: this.#images.length,
      failedImages,
      faces: this.#faces.length,
      kept: this.#faces.length - excluded,
      excluded,
      duplicatesDropped,
      tooSmallDropped,
      tagged,
    };
  }

  /** One page of faces in index order (source path order, then left to right). */
  list(query: FaceListQuery = {}): FacePage {
    const offset = Math.max(0, Math.floor(query.offset ?? 0));
    const limit = Math.min(10_000, Math.max(0, Math.floor(query.limit ?? 100)));
    const all = this.#filteredFaces(query.filter ?? 'all');
    return { total: all.length, offset, faces: all.slice(offset, offset + limit).map((e) => this.#entry(e)) };
  }

  get(id: string): FaceEntry | undefined {
    const entry = this.#byId.get(id);
    return entry && this.#entry(entry);
  }

  /** Images that could not be read, with the reason. */
  failures(): FaceFailure[] {
    return this.#images
      .filter((image) => image.status === 'failed')
      .map((image) => ({ source: image.source, error: image.error ?? 'unknown error' }));
  }

  /** Source paths of every indexed image (relative to `inputDir`). */
  sources(): string[] {
    return this.#images.map((image) => image.source);
  }

  /**
   * Absolute crop paths of the faces training uses: every face not excluded, in index order, less those of
   * `skipSources` (illustrations deleted since, not yet pruned).
   */
  trainingFaces(skipSources?: ReadonlySet<string>): string[] {
    let kept = this.#filteredFaces('kept');
    if (skipSources?.size) kept = kept.filter((e) => !skipSources.has(e.image.source));
    return kept.map((e) => join(this.facesDir, e.record.file));
  }

  /**
   * Excludes (or restores) faces by id; unknown ids are an error and change nothing. Refused (`busy`) while
   * another process extracts into the folder: `excluded.json` is a file of its own, written atomically, but
   * the extractor writes it too (a prune drops the exclusions of deleted illustrations, a rebuild with a new
   * detector clears them), and this view of the index goes stale as it adds and replaces faces — writing
   * the whole set from here could bring back dropped ids or exclude faces they no longer name. An extraction
   * in this process is ordered by its caller (the Faces service) and does not count.
   */
  async setExcluded(ids: readonly string[], excluded: boolean): Promise<FaceCounts> {
    await assertFolderNotLocked(this.facesDir, FACES_LOCK, { exceptThisProcess: true });
    const unknown = ids.filter((id) => !this.#byId.has(id));
    if (unknown.length) {
      return Promise.reject(new FacesError({ code: 'unknown-face-ids', ids: unknown }));
    }
    // Serialized so two quick clicks cannot write their files out of order.
    const next = this.#writeQueue.then(async () => {
      // Held while writing, so a `kao faces` that starts now is refused instead of racing this write (an
      // extraction by this very process already holds it and is ordered by its caller).
      const ownExtraction = (await readFolderLock(this.facesDir, FACES_LOCK))?.pid === process.pid;
      const lock = ownExtraction
        ? undefined
        : await acquireFolderLock(this.facesDir, FACES_LOCK, { activity: 'reviewed' });
      try {
        const updated = new Set(this.#excluded);
        for (const id of ids) {
          if (excluded) updated.add(id);
          else updated.delete(id);
        }
        await writeExcludedIds(this.facesDir, updated);
        this.#excluded = updated;
        this.#filtered.clear();
        return this.counts();
      } finally {
        await lock?.release();
      }
    });
    this.#writeQueue = next.catch(() => undefined);
    return next;
  }

  #filteredFaces(filter: FaceFilter): Array<{ record: FaceRecord; image: ImageRecord }> {
    if (filter === 'all') return this.#faces;
    let list = this.#filtered.get(filter);
    if (!list) {
      const wantExcluded = filter === 'excluded';
      list = this.#faces.filter((e) => this.#excluded.has(e.record.id) === wantExcluded);
      this.#filtered.set(filter, list);
    }
    return list;
  }

  #entry({ record, image }: { record: FaceRecord; image: ImageRecord }): FaceEntry {
    return {
      id: record.id,
      file: join(this.facesDir, record.file),
      source: resolve(this.#inputDir, image.source),
      sourceRelative: image.source,
      box: record.box,
      crop: record.crop,
      cropSize: record.cropSize,
      imageWidth: image.width ?? 0,
      imageHeight: image.height ?? 0,
      hash: record.hash,
      excluded: this.#excluded.has(record.id),
      tags: record.tags ?? [],
    };
  }
}

/**
 * The crop paths training will use: every extracted face the user has not excluded, less the faces of
 * illustrations deleted from the images folder since (read-only: the Faces screen and the next extraction
 * remove them for good). When the images folder is missing or cannot be checked, every face is used.
 */
export async function listTrainingFaces(facesDir: string): Promise<string[]> {
  const dataset = await FaceDataset.open(facesDir);
  let deleted: Set<string> | undefined;
  if (dataset.inputDir) {
    deleted = await findDeletedSources(dataset.inputDir, dataset.sources()).catch(() => undefined);
  }
  return dataset.trainingFaces(deleted);
}
