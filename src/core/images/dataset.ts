import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FolderLockedError, acquireFolderLock, type FolderLockKind } from '../folder-lock.ts';
import { IMAGE_EXTENSIONS } from './validate.ts';

/**
 * Dataset folder layout: accepted images sit flat in the folder, named only from trusted data
 * (`<host>-<postId>-<md5>.<ext>` for crawled posts, `<md5>.<ext>` for imports). Downloads and copies in
 * progress live in `.partial/` and are renamed in only once complete and verified, so the folder never
 * holds half an image. Dot-files (lock, partials), `crawl-journal.jsonl` and `image-tags.jsonl` (the images'
 * tags, see tags.ts) are bookkeeping, never dataset images.
 */
export const PARTIAL_DIR = '.partial';
export const LOCK_FILE = '.dataset.lock';

const NAME_PATTERN = /^(?:([a-z0-9.-]+)-(\d+)-)?([0-9a-f]{32})\.([a-z0-9]+)$/;

export interface DatasetNameInfo {
  /** `import` for imported files, else the host the post came from. */
  source: string;
  postId?: number;
  md5?: string;
}

export function crawledFileName(host: string, postId: number, md5: string, extension: string): string {
  const safeHost = host
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, '_')
    .replace(/^[.-]+/, '');
  return `${safeHost}-${postId}-${md5}.${extension}`;
}

export function importedFileName(md5: string, extension: string): string {
  return `${md5}.${extension}`;
}

export function parseDatasetName(name: string): DatasetNameInfo {
  const match = NAME_PATTERN.exec(name);
  if (!match) return { source: 'unknown' };
  const [, host, postId, md5] = match;
  return host ? { source: host, postId: Number(postId), md5 } : { source: 'import', md5 };
}

/** A dataset image: a visible regular file with an image extension. */
export function isDatasetImageName(name: string): boolean {
  if (name.startsWith('.')) return false;
  const dot = name.lastIndexOf('.');
  return dot > 0 && IMAGE_EXTENSIONS.has(name.slice(dot).toLowerCase());
}

interface CachedListing {
  mtimeMs: number;
  ino: number;
  names: string[];
}
const listingCache = new Map<string, CachedListing>();
/**
 * A folder listed within this long of its last change may change again within the same mtime tick (Linux
 * stamps folders with a coarse clock, a few ms); such a listing is not cached.
 */
const RACY_WINDOW_MS = 100;

/**
 * Names of the images in the dataset, sorted. Reading a 50,000-entry folder takes a few hundred ms on a slow
 * disk, so the sorted list is cached per folder and reused while the folder's mtime is unchanged (adding,
 * removing or renaming a file changes it). A listing taken right after a change is not trusted, since two
 * changes can share one mtime tick.
 */
export async function datasetImageNames(datasetDir: string): Promise<string[]> {
  let info;
  try {
    info = await stat(datasetDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const cached = listingCache.get(datasetDir);
  if (cached && cached.mtimeMs === info.mtimeMs && cached.ino === info.ino) return cached.names;
  const readStart = Date.now();
  const names: string[] = [];
  for (const entry of await readdir(datasetDir, { withFileTypes: true })) {
    if ((entry.isFile() || entry.isSymbolicLink()) && isDatasetImageName(entry.name)) names.push(entry.name);
  }
  names.sort();
  if (readStart - info.mtimeMs > RACY_WINDOW_MS)
    listingCache.set(datasetDir, { mtimeMs: info.mtimeMs, ino: info.ino, names });
  else listingCache.delete(datasetDir);
  return names;
}

/** md5 → file name of what is already in the dataset, read from file names: the dedupe key for crawl and import. */
export async function datasetMd5s(datasetDir: string): Promise<Map<string, string>> {
  const md5s = new Map<string, string>();
  for (const name of await datasetImageNames(datasetDir)) {
    const { md5 } = parseDatasetName(name);
    if (md5 && !md5s.has(md5)) md5s.set(md5, name);
  }
  return md5s;
}

export interface DatasetItem extends DatasetNameInfo {
  name: string;
  bytes: number;
  mtimeMs: number;
}

export interface DatasetPage {
  total: number;
  offset: number;
  items: DatasetItem[];
}

/**
 * One page of the dataset for the gallery, in name order. Only the returned page is stat'ed, so a page of
 * a 50,000-image folder costs one folder stat (plus a readdir when the folder changed) and `limit` stats.
 */
export async function listDataset(
  datasetDir: string,
  options: { offset?: number; limit?: number } = {},
): Promise<DatasetPage> {
  const offset = Math.max(0, Math.floor(options.offset ?? 0));
  const limit = Math.max(0, Math.floor(options.limit ?? 200));
  const names = await datasetImageNames(datasetDir);
  const slice = names.slice(offset, offset + limit);
  const items = await Promise.all(
    slice.map(async (name): Promise<DatasetItem | undefined> => {
      try {
        const info = await stat(join(datasetDir, name));
        return { name, ...parseDatasetName(name), bytes: info.size, mtimeMs: info.mtimeMs };
      } catch {
        return undefined; // removed between readdir and stat
      }
    }),
  );
  return { total: names.length, offset, items: items.filter((item) => item !== undefined) };
}

/** Another crawl or import holds the dataset folder. Code `busy`, so the app shows it as such. */
export class DatasetBusyError extends FolderLockedError {}

/** `dataset folder /data/dataset is being crawled by another process (pid 1234, kao crawl, since 12:03)`. */
const DATASET_LOCK: FolderLockKind = {
  file: LOCK_FILE,
  describeFolder: (dir) => `dataset folder ${dir}`,
  activity: 'written to',
  error: DatasetBusyError,
};

const DATASET_ACTIVITY = { crawl: 'crawled', import: 'imported into' } as const;

/**
 * Exclusive use of a dataset folder for one crawl or import at a time (they share `.partial/`), across
 * processes; throws `DatasetBusyError` naming the holder. A lock left by a process that no longer runs
 * (kill -9, power loss) is taken over, with a warning through `onWarning`. Resolves to the release.
 */
export async function lockDataset(
  datasetDir: string,
  purpose: keyof typeof DATASET_ACTIVITY,
  options: { onWarning?: (message: string) => void } = {},
): Promise<() => Promise<void>> {
  const lock = await acquireFolderLock(datasetDir, DATASET_LOCK, {
    activity: DATASET_ACTIVITY[purpose],
    onWarning: options.onWarning,
  });
  return lock.release;
}

/** Empties `.partial/`: whatever is there was left by a killed run and was never accepted. */
export async function resetPartialDir(datasetDir: string): Promise<string> {
  const dir = join(datasetDir, PARTIAL_DIR);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  return dir;
}
