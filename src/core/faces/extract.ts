import { readdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import type { FaceFailure } from '../../shared/faces-schemas.ts';
import { acquireFolderLock, type FolderLock } from '../folder-lock.ts';
import { readFolderTags } from '../images/tags.ts';
import { appendJsonl } from '../util/jsonl.ts';
import { CancelledError, type RunControl } from '../util/run-control.ts';
import { resolveCascade, type ResolvedCascade } from './cascade.ts';
import { withFaceTags } from './face-tags.ts';
import {
  FACES_INDEX_FILE,
  FACES_LOCK,
  FACES_LOG_FILE,
  clearFacesFolder,
  compactIndex,
  faceId,
  readExcludedIds,
  readStoredIndex,
  type FaceRecord,
  type ImageRecord,
} from './index-store.ts';
import {
  detectionSettingsOf,
  faceExtractionOptionsSchema,
  type FaceDetectionSettings,
  type FaceExtractionOptions,
  type ResolvedFaceExtractionOptions,
} from './options.ts';
import { NearDuplicateIndex } from './phash.ts';
import { pruneWithLock } from './prune.ts';
import { FacesError } from './errors.ts';
import { FaceWorkerPool, type WorkerResponse } from './worker-pool.ts';

/** File types the extractor reads; anything else in the input folder is ignored. */
export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.avif', '.tif', '.tiff']);

/** A plain-JSON snapshot, reported after every image (adapters throttle). */
export interface FaceExtractionProgress {
  phase: 'extracting' | 'saving' | 'done';
  /** Images found in the input folder. */
  images: number;
  /** Of those, already processed by an earlier run and skipped. */
  skipped: number;
  /** Images this run has to process, and how many it has. */
  toProcess: number;
  processed: number;
  /** This run's counts. */
  failed: number;
  faces: number;
  duplicates: number;
  tooSmall: number;
  /** Faces in the folder now, this run's included. */
  totalFaces: number;
  workers: number;
  /** Source path (relative to the input folder) of the image processed last. */
  current?: string;
}

export interface FaceExtractionSummary {
  inputDir: string;
  outputDir: string;
  indexPath: string;
  cascade: { path: string; from: ResolvedCascade['from'] };
  workers: number;
  images: number;
  skipped: number;
  processed: number;
  faces: number;
  duplicates: number;
  tooSmall: number;
  /** Images this run could not read, with the reason. */
  failures: FaceFailure[];
  /** Faces removed because their illustration was deleted from the input folder, and how many illustrations. */
  pruned: number;
  prunedImages: number;
  totalFaces: number;
  excludedFaces: number;
  /** Faces in the folder that carry their illustration's tags. */
  taggedFaces: number;
  elapsedMs: number;
}

export interface FaceExtractionHooks {
  control?: RunControl;
  onProgress?: (progress: FaceExtractionProgress) => void;
  /** Download source of the cascade (tests use a loopback server). */
  cascadeUrl?: string;
  /** A stale faces-folder lock (its extractor was killed) was taken over. */
  onWarning?: (message: string) => void;
}

/**
 * Detects, crops and indexes the faces of every image in `inputDir` not yet processed into `outputDir`.
 * Images are committed in path order whatever order the workers finish in, so an interrupted run followed
 * by a re-run ends with exactly the faces (and duplicate decisions) of one uninterrupted run.
 * Cancelling saves the index and rejects with CancelledError. While another process extracts into the same
 * folder, rejects with a `busy` FolderLockedError before touching it.
 */
export async function extractFaces(
  options: FaceExtractionOptions,
  hooks: FaceExtractionHooks = {},
): Promise<FaceExtractionSummary> {
  const started = Date.now();
  const parsed = faceExtractionOptionsSchema.safeParse(options);
  if (!parsed.success) throw new Error(`invalid face extraction options: ${parsed.error.issues[0]?.message}`);
  const opts = parsed.data;
  const inputDir = resolve(opts.inputDir);
  const outputDir = resolve(opts.outputDir);
  const { control } = hooks;

  const inputStat = await stat(inputDir).catch(() => undefined);
  if (!inputStat?.isDirectory()) {
    throw new FacesError({ code: 'images-folder-missing', folder: inputDir });
  }
  const cascade = await resolveCascade({
    cascadePath: opts.cascadePath,
    cacheDir: opts.cacheDir,
    url: hooks.cascadeUrl,
    signal: control?.signal,
  });

  // One extraction per faces folder, across processes (a `kao faces` and the app's Faces screen): nothing
  // in it is read or written before this process holds its lock. A killed extractor's lock is stale and
  // taken over with a warning.
  const lock = await acquireFolderLock(outputDir, FACES_LOCK, { onWarning: hooks.onWarning });
  try {
    return await extractLocked(lock, opts, cascade, hooks, started);
  } finally {
    await lock.release();
  }
}

async function extractLocked(
  lock: FolderLock,
  opts: ResolvedFaceExtractionOptions,
  cascade: ResolvedCascade,
  hooks: FaceExtractionHooks,
  started: number,
): Promise<FaceExtractionSummary> {
  const settings = detectionSettingsOf(opts);
  const inputDir = resolve(opts.inputDir);
  const outputDir = dirname(lock.path);
  const { control, onProgress } = hooks;
  let stored = await readStoredIndex(outputDir);
  if (stored.settings && stored.images.size > 0 && !sameSettings(stored.settings, settings)) {
    if (!opts.rebuild) {
      throw new FacesError({
        code: 'settings-differ',
        folder: outputDir,
        stored: describeSettings(stored.settings),
        requested: describeSettings(settings),
      });
    }
  }
  // Faces of illustrations deleted since the last run go first (a rebuild drops their exclusions too).
  const pruned = await pruneWithLock(lock, { inputDir });
  // The index now holds exactly what it held less those sources: no need to read it again.
  for (const source of pruned.sources) stored.images.delete(source);
  if (opts.rebuild) {
    // Ids are "source + detection number": with other detector settings the numbers can point at other faces.
    const sameDetections = stored.settings ? sameDetector(stored.settings, settings) : true;
    await clearFacesFolder(outputDir, stored, { keepExclusions: sameDetections });
    stored = { settings, inputDir, images: new Map() };
  }
  const images = stored.images;
  const sources = await listImages(inputDir, outputDir);
  // Faces take their illustration's tags as the images folder has them now (a crawl may have added some):
  // its tag store, or the images' own sidecars in a folder that has none.
  const { tags: imageTags } = await readFolderTags(inputDir, [
    ...new Set([...images.keys(), ...sources.map((s) => s.source)]),
  ]);
  const tagsOf = (source: string) => imageTags.get(source);
  for (const [source, record] of images) images.set(source, withFaceTags(record, tagsOf(source)));
  // Persist the settings (and fold a crashed run's log in) before anything new is appended.
  await compactIndex(outputDir, settings, inputDir, images.values());

  const todo: Array<{ source: string; bytes: number }> = [];
  for (const image of sources) {
    if (images.get(image.source)?.bytes !== image.bytes) todo.push(image);
  }
  const redo = new Set(todo.map((t) => t.source));
  const duplicateIndex =
    settings.duplicateDistance >= 0 ? new NearDuplicateIndex<string>(settings.duplicateDistance) : undefined;
  let totalFaces = 0;
  for (const record of images.values()) {
    if (redo.has(record.source)) continue;
    for (const face of record.faces) duplicateIndex?.add(face.hash, face.id);
    totalFaces += record.faces.length;
  }

  const workers = Math.max(1, Math.min(opts.workers, todo.length));
  const progress: FaceExtractionProgress = {
    phase: 'extracting',
    images: sources.length,
    skipped: sources.length - todo.length,
    toProcess: todo.length,
    processed: 0,
    failed: 0,
    faces: 0,
    duplicates: 0,
    tooSmall: 0,
    totalFaces,
    workers,
  };
  const report = (): void => onProgress?.({ ...progress });
  const failures: FaceFailure[] = [];
  const logPath = join(outputDir, FACES_LOG_FILE);

  const commit = async (source: string, bytes: number, response: WorkerResponse): Promise<void> => {
    const previous = images.get(source);
    let record: ImageRecord;
    if (!response.ok) {
      record = {
        source,
        bytes,
        status: 'failed',
        error: response.error,
        faces: [],
        duplicates: [],
        tooSmall: [],
      };
      failures.push({ source, error: response.error });
      progress.failed++;
    } else {
      const { result } = response;
      const faces: FaceRecord[] = [];
      const duplicates: ImageRecord['duplicates'] = [];
      for (const face of result.faces) {
        const near = duplicateIndex?.findNear(face.hash);
        if (near) {
          duplicates.push({
            box: face.box,
            hash: face.hash,
            duplicateOf: near.value,
            distance: near.distance,
          });
          continue;
        }
        const id = faceId(source, face.detection);
        const file = `${id}.png`;
        await writeFile(join(outputDir, file), face.png);
        duplicateIndex?.add(face.hash, id);
        faces.push({ id, box: face.box, crop: face.crop, cropSize: face.crop.width, hash: face.hash, file });
      }
      record = {
        source,
        bytes,
        status: 'ok',
        width: result.width,
        height: result.height,
        faces,
        duplicates,
        tooSmall: result.tooSmall,
      };
      progress.faces += faces.length;
      progress.duplicates += duplicates.length;
      progress.tooSmall += result.tooSmall.length;
    }
    record = withFaceTags(record, tagsOf(source));
    // The record goes in only once its crops are written: a crash before this line redoes the image.
    await appendJsonl(logPath, record);
    images.set(source, record);
    if (previous) {
      const kept = new Set(record.faces.map((f) => f.file));
      for (const old of previous.faces)
        if (!kept.has(old.file)) await rm(join(outputDir, old.file), { force: true });
    }
    progress.totalFaces += record.faces.length;
    progress.processed++;
    progress.current = source;
  };

  report();
  const pool =
    todo.length > 0 ? new FaceWorkerPool(workers, { cascadeXml: cascade.bytes, settings }) : undefined;
  const cancelled = abortPromise(control?.signal);
  try {
    // Keep every worker busy while committing strictly in order; a slow image holds back at most `window`.
    const window = workers * 2;
    const pending: Array<Promise<WorkerResponse> | undefined> = [];
    let dispatched = 0;
    for (let i = 0; i < todo.length; i++) {
      while (pool && dispatched < todo.length && dispatched < i + window) {
        pending[dispatched] = pool.run(join(inputDir, todo[dispatched]!.source));
        dispatched++;
      }
      const response = await Promise.race([pending[i]!, cancelled.promise]);
      pending[i] = undefined;
      control?.throwIfCancelled();
      await commit(todo[i]!.source, todo[i]!.bytes, response);
      report();
      await control?.checkpoint();
    }
  } finally {
    cancelled.dispose();
    await pool?.close();
    progress.phase = 'saving';
    report();
    await compactIndex(outputDir, settings, inputDir, images.values());
  }

  const excluded = await readExcludedIds(outputDir);
  let excludedFaces = 0;
  let taggedFaces = 0;
  for (const record of images.values()) {
    for (const face of record.faces) {
      if (excluded.has(face.id)) excludedFaces++;
      if (face.tags?.length) taggedFaces++;
    }
  }
  progress.phase = 'done';
  report();
  return {
    inputDir,
    outputDir,
    indexPath: join(outputDir, FACES_INDEX_FILE),
    cascade: { path: cascade.path, from: cascade.from },
    workers,
    images: sources.length,
    skipped: progress.skipped,
    processed: progress.processed,
    faces: progress.faces,
    duplicates: progress.duplicates,
    tooSmall: progress.tooSmall,
    failures,
    pruned: pruned.faces,
    prunedImages: pruned.sources.length,
    totalFaces: progress.totalFaces,
    excludedFaces,
    taggedFaces,
    elapsedMs: Date.now() - started,
  };
}

/** Image files under `dir` (recursively, hidden entries and the output folder skipped), sorted by path. */
export async function listImages(
  dir: string,
  skipDir?: string,
): Promise<Array<{ source: string; bytes: number }>> {
  const found: Array<{ source: string; bytes: number }> = [];
  const walk = async (folder: string): Promise<void> => {
    const entries = await readdir(folder, { withFileTypes: true });
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const path = join(folder, entry.name);
      if (entry.isDirectory()) {
        if (skipDir && resolve(path) === skipDir) continue;
        await walk(path);
      } else if (entry.isFile() && IMAGE_EXTENSIONS.has(extname(entry.name).toLowerCase())) {
        const { size } = await stat(path);
        found.push({ source: relative(dir, path).split(sep).join('/'), bytes: size });
      }
    }
  };
  await walk(dir);
  return found.sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
}

function sameSettings(a: FaceDetectionSettings, b: FaceDetectionSettings): boolean {
  return JSON.stringify(detectionSettingsOf(a)) === JSON.stringify(detectionSettingsOf(b));
}

function sameDetector(a: FaceDetectionSettings, b: FaceDetectionSettings): boolean {
  return (
    a.scaleFactor === b.scaleFactor &&
    a.minNeighbors === b.minNeighbors &&
    a.minSize === b.minSize &&
    a.maxDetectSide === b.maxDetectSide
  );
}

function describeSettings(s: FaceDetectionSettings): string {
  return (
    `size ${s.size}, margin ${s.margin}, scale factor ${s.scaleFactor}, min neighbors ${s.minNeighbors}, ` +
    `min size ${s.minSize}, max detect side ${s.maxDetectSide}, min source size ${s.minSourceSize}, ` +
    `duplicate distance ${s.duplicateDistance}`
  );
}

function abortPromise(signal: AbortSignal | undefined): { promise: Promise<never>; dispose: () => void } {
  if (!signal) return { promise: new Promise<never>(() => undefined), dispose: () => undefined };
  let onAbort = (): void => undefined;
  const promise = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new CancelledError());
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  promise.catch(() => undefined);
  return { promise, dispose: () => signal.removeEventListener('abort', onAbort) };
}
