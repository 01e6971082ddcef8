import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, isAbsolute, join, relative, sep } from 'node:path';
import {
  CASCADE_FILE_NAME,
  CASCADE_SHA256,
  CASCADE_URL,
  CascadeError,
  FACES_EXCLUDED_FILE,
  bundledCascadePath,
  FACES_INDEX_FILE,
  FACES_LOCK,
  FACES_LOG_FILE,
  FACES_PRUNE_FILE,
  FaceDataset,
  IMAGE_EXTENSIONS,
  extractFaces,
  faceDetectionSettingsSchema,
  findDeletedSources,
  pruneDeletedSources,
  readStoredIndex,
  resolveCascade,
  type FaceCounts,
  type FaceEntry,
  type FaceExtractionProgress as CoreProgress,
  type FaceExtractionSummary,
} from '../core/faces/index.ts';
import type {
  CascadeStatus,
  FaceExtractionProgress,
  FaceIndexSettings,
  FaceItem,
  FacesPruned,
  FacesState,
} from '../shared/faces-schemas.ts';
import { assertCascadeXml } from './cascade-file.ts';
import { KaoError } from '../shared/errors.ts';
import { assertFolderNotLocked, FolderLockedError } from '../core/folder-lock.ts';
import type { ServiceContext } from './context.ts';
import type { Handlers } from './dispatcher.ts';
import { JobSlot } from './job-slot.ts';

type FacesChannels =
  | 'faces.state'
  | 'faces.extract.start'
  | 'faces.extract.pause'
  | 'faces.extract.resume'
  | 'faces.extract.cancel'
  | 'faces.extract.state'
  | 'faces.list'
  | 'faces.ids'
  | 'faces.setExcluded'
  | 'faces.cascade.use';

/** Unreadable images listed in the UI; the count stays exact. */
const MAX_LISTED_FAILURES = 200;
/** While an extraction runs, listing re-reads the index at most this often, so new crops show up. */
const RELOAD_WHILE_RUNNING_MS = 1000;

/**
 * The Faces screen's use cases: one extraction at a time from the dataset folder into the faces folder
 * (progress pushed as `faces.extraction`), the cascade's status without touching the network, pages of
 * crops, and exclusions saved before the request answers (`faces.changed` tells other windows).
 *
 * `KAO_CASCADE_URL` replaces the cascade's download address (a mirror; tests point it at loopback).
 */
export function facesHandlers(ctx: ServiceContext): Pick<Handlers, FacesChannels> {
  const job = new JobSlot<FaceExtractionProgress>('face extraction', (snapshot) =>
    ctx.events.emit('faces.extraction', snapshot),
  );
  /** Why the last download of the cascade failed; cleared when a cascade is found or chosen. */
  let downloadProblem: string | undefined;
  type Opened = { dir: string; dataset: Promise<FaceDataset>; loadedAt: number; stamp: Promise<string> };
  let opened: Opened | undefined;
  let indexSettings: { dir: string; stamp: string; settings: FaceIndexSettings | undefined } | undefined;
  /** Faces removed because their illustrations were deleted, not yet told to the screen (told once). */
  let prunedNotice: FacesPruned | undefined;
  /** Why deleted illustrations' faces could not be removed (the images folder is missing, say). */
  let pruneProblem: string | undefined;
  /** The prune in progress: an extraction waits for it, so the two never write the index at once. */
  let pruning: Promise<unknown> = Promise.resolve();

  /**
   * Removes the faces of illustrations deleted from the images folder, each time the list is loaded (and
   * never while an extraction runs: it prunes by itself first). The check costs one folder listing; the
   * index is re-read and rewritten only when something was deleted or an interrupted prune is pending.
   */
  async function pruneLoaded(holder: Opened, dataset: FaceDataset): Promise<FaceDataset> {
    if (job.busy) return dataset;
    // An interrupted prune is finished (and the folder checked again) by pruneDeletedSources itself.
    let deleted: Set<string> | undefined;
    if (!existsSync(join(holder.dir, FACES_PRUNE_FILE))) {
      const sources = dataset.sources();
      if (!dataset.inputDir || sources.length === 0) {
        pruneProblem = undefined;
        return dataset;
      }
      try {
        deleted = await findDeletedSources(dataset.inputDir, sources);
      } catch (error) {
        pruneProblem = pruneProblemOf(error);
        return dataset;
      }
      if (deleted.size === 0) {
        pruneProblem = undefined;
        return dataset;
      }
      if (job.busy) return dataset;
    }
    // The folder was just checked: the prune removes what that check found rather than listing it again.
    const run = pruneDeletedSources(holder.dir, { deleted });
    pruning = run.catch(() => undefined);
    let result;
    try {
      result = await run;
    } catch (error) {
      if (error instanceof Error && error.name === 'FacesIndexError') throw error;
      // Another process extracts into the folder: it pruned before it started; the next load prunes the rest.
      if (error instanceof FolderLockedError) return dataset;
      pruneProblem = pruneProblemOf(error);
      return dataset;
    }
    pruneProblem = undefined;
    if (result.sources.length === 0 && result.faces === 0 && result.exclusions === 0) return dataset;
    prunedNotice = {
      faces: (prunedNotice?.faces ?? 0) + result.faces,
      images: (prunedNotice?.images ?? 0) + result.sources.length,
      exclusions: (prunedNotice?.exclusions ?? 0) + result.exclusions,
    };
    await dataset.reload();
    holder.stamp = folderStamp(holder.dir);
    announce('pruned', dataset.counts());
    return dataset;
  }

  /**
   * The faces folder's index, opened once per folder and re-read when asked (or now and then while an
   * extraction adds faces) — but only if its files changed: re-reading 50,000 faces costs most of a second.
   */
  async function faces(options: { reload?: boolean } = {}): Promise<FaceDataset> {
    const dir = ctx.paths().faces;
    if (!opened || opened.dir !== dir) {
      const stamp = folderStamp(dir);
      const holder = { dir, loadedAt: Date.now(), stamp } as Opened;
      const dataset = stamp.then(() => FaceDataset.open(dir)).then((d) => pruneLoaded(holder, d));
      holder.dataset = dataset;
      opened = holder;
      dataset.catch(() => {
        if (opened?.dataset === dataset) opened = undefined;
      });
      return dataset.catch(rethrowIndexError);
    }
    const current = opened;
    const stale = job.busy && Date.now() - current.loadedAt >= RELOAD_WHILE_RUNNING_MS;
    if (options.reload || stale) {
      current.loadedAt = Date.now();
      const previous = current.stamp;
      const stamp = folderStamp(dir);
      current.stamp = stamp;
      const reloaded = current.dataset.then(async (dataset) => {
        if ((await stamp) !== (await previous.catch(() => ''))) await dataset.reload();
        return pruneLoaded(current, dataset);
      });
      current.dataset = reloaded;
      reloaded.catch(() => {
        if (opened === current) opened = undefined;
      });
    }
    return current.dataset.catch(rethrowIndexError);
  }

  /** The options the existing crops were made with, re-read only when the index file changed. */
  async function existingSettings(dir: string): Promise<FaceIndexSettings | undefined> {
    const stamp = await fileStamp(join(dir, FACES_INDEX_FILE));
    if (indexSettings?.dir === dir && indexSettings.stamp === stamp) return indexSettings.settings;
    const stored = await readStoredIndex(dir).catch(rethrowIndexError);
    const settings = stored.settings && stored.images.size > 0 ? indexSettingsOf(stored.settings) : undefined;
    indexSettings = { dir, stamp, settings };
    return settings;
  }

  const cascadeUrl = (): string => process.env['KAO_CASCADE_URL'] || CASCADE_URL;

  async function cascadeStatus(): Promise<CascadeStatus> {
    const base = { url: cascadeUrl(), fileName: CASCADE_FILE_NAME };
    const chosen = ctx.settings.get().faces.cascadePath;
    const envPath = process.env['KAO_CASCADE'] || undefined;
    if (chosen || envPath) {
      try {
        // A path stored through settings.set is checked like one chosen here: no size or SHA of other files.
        if (chosen) await assertCascadeXml(chosen);
        const found = await resolveCascade({ cascadePath: chosen });
        return { ...base, state: 'ready', path: found.path, from: found.from === 'env' ? 'env' : 'option' };
      } catch (error) {
        return {
          ...base,
          state: 'invalid',
          path: chosen || envPath,
          from: chosen ? 'option' : 'env',
          message: forTheApp(errorMessage(error)),
        };
      }
    }
    const bundled = bundledCascadePath();
    const shipped = bundled ? await readFile(bundled).catch(() => undefined) : undefined;
    if (bundled && shipped && createHash('sha256').update(shipped).digest('hex') === CASCADE_SHA256) {
      return { ...base, state: 'ready', path: bundled, from: 'bundled' };
    }
    const cached = join(ctx.paths().cache, CASCADE_FILE_NAME);
    const bytes = await readFile(cached).catch(() => undefined);
    if (bytes && createHash('sha256').update(bytes).digest('hex') === CASCADE_SHA256) {
      return { ...base, state: 'ready', path: cached, from: 'cache' };
    }
    if (downloadProblem) return { ...base, state: 'unavailable', message: downloadProblem };
    return { ...base, state: 'download' };
  }

  function announce(reason: 'extraction' | 'exclusions' | 'pruned', counts: FaceCounts): void {
    ctx.events.emit('faces.changed', { reason, counts });
  }

  return {
    'faces.state': async () => {
      const paths = ctx.paths();
      const dataset = await faces({ reload: !job.busy });
      const existing = await existingSettings(paths.faces);
      const failures = dataset.failures();
      const state: FacesState = {
        counts: dataset.counts(),
        cascade: await cascadeStatus(),
        failures: failures.slice(-MAX_LISTED_FAILURES),
        failuresTotal: failures.length,
        datasetHasImages: await hasImages(paths.dataset),
        datasetDir: paths.dataset,
        facesDir: paths.faces,
      };
      if (existing) state.indexSettings = existing;
      if (prunedNotice) state.pruned = prunedNotice;
      prunedNotice = undefined;
      if (pruneProblem) state.pruneProblem = pruneProblem;
      return state;
    },

    'faces.extract.start': async (form) => {
      if (job.busy) throw new KaoError('busy', 'An extraction is already running: pause or cancel it first.');
      const paths = ctx.paths();
      // A `kao faces` on the same folder: refused here, before the options are saved (extractFaces takes
      // the lock itself, atomically; a stale lock of this app's own crashed run does not count).
      await assertFolderNotLocked(paths.faces, FACES_LOCK, { exceptThisProcess: true });
      if (form.cascadePath && !isAbsolute(form.cascadePath)) {
        throw new KaoError('invalid-input', `Type the cascade file's full path (got ${form.cascadePath}).`, [
          { path: 'cascadePath', message: 'must be a full path' },
        ]);
      }
      if (form.cascadePath) await assertCascadeXml(form.cascadePath, 'cascadePath');
      if (!(await hasImages(paths.dataset))) {
        throw new KaoError(
          'not-found',
          'The dataset has no illustrations yet: crawl a board or import a folder on the Dataset screen first.',
        );
      }
      const detection = {
        size: form.size,
        margin: form.margin,
        scaleFactor: form.scaleFactor,
        minNeighbors: form.minNeighbors,
        minSize: form.minSize,
      };
      const before = await existingSettings(paths.faces);
      if (!form.rebuild && before) {
        if (!sameSettings(before, detection)) {
          throw new KaoError(
            'invalid-input',
            `Your faces were extracted with other options (${describe(before)}). ` +
              'Rebuild to extract them all again with the new ones, or put the old options back.',
            [{ path: 'rebuild', message: 'the options differ from the existing faces' }],
          );
        }
      }
      const settings = ctx.settings.get();
      await ctx.settings.set({ ...settings, faces: { ...detection, cascadePath: form.cascadePath } });
      // A prune started by a listing finishes before the extraction (which prunes too) touches the index.
      for (let waited = pruning; ; waited = pruning) {
        await waited;
        if (waited === pruning) break;
      }
      if (job.busy) throw new KaoError('busy', 'An extraction is already running: pause or cancel it first.');

      return job.start(async (control, report) => {
        const started = Date.now();
        const base = emptyProgress();
        report({ ...base, stage: 'cascade' });
        let cascade;
        try {
          cascade = await resolveCascade({
            cascadePath: form.cascadePath,
            cacheDir: paths.cache,
            url: cascadeUrl(),
            signal: control.signal,
          });
          downloadProblem = undefined;
        } catch (error) {
          if (error instanceof CascadeError && !form.cascadePath && !process.env['KAO_CASCADE']) {
            downloadProblem = forTheApp(error.message);
          }
          throw error instanceof CascadeError ? new KaoError('not-found', forTheApp(error.message)) : error;
        }
        report({ ...base, stage: 'preparing' });
        try {
          const summary = await extractFaces(
            {
              ...detection,
              inputDir: paths.dataset,
              outputDir: paths.faces,
              cascadePath: cascade.path,
              cacheDir: paths.cache,
              rebuild: form.rebuild,
            },
            {
              control,
              onProgress: (progress) => report(wireProgress(progress, started)),
              // A stale lock taken over (a `kao faces` that crashed): say so, as the CLI does.
              onWarning: (message) => ctx.events.emit('app.notice', { level: 'warning', message }),
            },
          );
          return finalProgress(summary, cascade.from, started);
        } finally {
          const dataset = await faces({ reload: true }).catch(() => undefined);
          if (dataset) announce('extraction', dataset.counts());
        }
      });
    },
    'faces.extract.pause': async () => job.pause(),
    'faces.extract.resume': async () => job.resume(),
    'faces.extract.cancel': async () => job.cancel(),
    'faces.extract.state': async () => job.snapshot,

    'faces.list': async ({ filter, offset, limit }) => {
      const dataset = await faces();
      const page = dataset.list({ filter, offset, limit });
      const root = ctx.paths().root;
      return {
        filter,
        total: page.total,
        offset: page.offset,
        faces: page.faces.map((entry) => wireFace(entry, root)),
        counts: dataset.counts(),
      };
    },
    'faces.ids': async ({ filter, offset, limit }) => {
      const dataset = await faces();
      const page = dataset.list({ filter, offset, limit: Math.min(limit, 10_000) });
      const ids = page.faces.map((f) => f.id);
      // The core pages 10,000 at a time; a bigger range (select all of 50,000) is read in pieces.
      for (let next = offset + ids.length; ids.length < limit && next < page.total;) {
        const more = dataset.list({ filter, offset: next, limit: Math.min(limit - ids.length, 10_000) });
        if (more.faces.length === 0) break;
        for (const face of more.faces) ids.push(face.id);
        next += more.faces.length;
      }
      return { total: page.total, ids };
    },
    'faces.setExcluded': async ({ ids, excluded }) => {
      const dataset = await faces();
      let counts: FaceCounts;
      try {
        counts = await dataset.setExcluded(ids, excluded);
      } catch (error) {
        if (
          error instanceof Error &&
          error.name === 'FacesIndexError' &&
          /^unknown face id/.test(error.message)
        ) {
          throw new KaoError('not-found', `${capitalize(error.message)}. Nothing was changed.`);
        }
        throw error;
      }
      announce('exclusions', counts);
      return counts;
    },
    'faces.cascade.use': async ({ path }) => {
      if (path && !isAbsolute(path)) {
        throw new KaoError('invalid-input', `Type the cascade file's full path (got ${path}).`, [
          { path: 'path', message: 'must be a full path' },
        ]);
      }
      if (path) {
        // Before resolveCascade, whose errors give any file's size and SHA-256.
        await assertCascadeXml(path);
        try {
          await resolveCascade({ cascadePath: path });
        } catch (error) {
          const message = forTheApp(errorMessage(error));
          throw new KaoError('invalid-input', message, [{ path: 'path', message }]);
        }
        downloadProblem = undefined;
      }
      const settings = ctx.settings.get();
      await ctx.settings.set({ ...settings, faces: { ...settings.faces, cascadePath: path } });
      return cascadeStatus();
    },
  };
}

function emptyProgress(): FaceExtractionProgress {
  return {
    stage: 'preparing',
    images: 0,
    skipped: 0,
    toProcess: 0,
    processed: 0,
    failed: 0,
    faces: 0,
    duplicates: 0,
    tooSmall: 0,
    totalFaces: 0,
    workers: 0,
  };
}

function wireProgress(p: CoreProgress, started: number): FaceExtractionProgress {
  const seconds = (Date.now() - started) / 1000;
  const rate = p.processed > 0 && seconds > 0 ? p.processed / seconds : undefined;
  return {
    stage: p.phase,
    images: p.images,
    skipped: p.skipped,
    toProcess: p.toProcess,
    processed: p.processed,
    failed: p.failed,
    faces: p.faces,
    duplicates: p.duplicates,
    tooSmall: p.tooSmall,
    totalFaces: p.totalFaces,
    workers: p.workers,
    ...(p.current !== undefined ? { current: p.current } : {}),
    ...(rate !== undefined ? { imagesPerSec: rate, etaSeconds: (p.toProcess - p.processed) / rate } : {}),
  };
}

function finalProgress(
  s: FaceExtractionSummary,
  cascadeFrom: FaceExtractionProgress['cascadeFrom'],
  started: number,
): FaceExtractionProgress {
  return {
    stage: 'done',
    images: s.images,
    skipped: s.skipped,
    toProcess: s.images - s.skipped,
    processed: s.processed,
    failed: s.failures.length,
    faces: s.faces,
    duplicates: s.duplicates,
    tooSmall: s.tooSmall,
    totalFaces: s.totalFaces,
    workers: s.workers,
    ...(s.processed > 0
      ? { imagesPerSec: s.processed / Math.max(0.001, (Date.now() - started) / 1000) }
      : {}),
    failures: s.failures.slice(-MAX_LISTED_FAILURES).map((f) => ({ ...f })),
    ...(s.prunedImages > 0 ? { pruned: s.pruned, prunedImages: s.prunedImages } : {}),
    ...(cascadeFrom ? { cascadeFrom } : {}),
    elapsedMs: s.elapsedMs,
  };
}

/** Paths relative to the data folder (forward slashes) for `mediaUrl`; undefined when outside it. */
function dataRelative(root: string, path: string): string | undefined {
  const rel = relative(root, path);
  if (!rel || rel.startsWith('..') || isAbsolute(rel)) return undefined;
  return rel.split(sep).join('/');
}

function wireFace(entry: FaceEntry, root: string): FaceItem {
  const source = dataRelative(root, entry.source);
  return {
    id: entry.id,
    crop: dataRelative(root, entry.file) ?? '',
    version: entry.hash,
    ...(source ? { source } : {}),
    sourceName: entry.sourceRelative,
    box: { ...entry.box },
    cropBox: { ...entry.crop },
    imageWidth: entry.imageWidth,
    imageHeight: entry.imageHeight,
    excluded: entry.excluded,
  };
}

function indexSettingsOf(settings: unknown): FaceIndexSettings {
  const s = faceDetectionSettingsSchema.parse(settings);
  return {
    size: s.size,
    margin: s.margin,
    scaleFactor: s.scaleFactor,
    minNeighbors: s.minNeighbors,
    minSize: s.minSize,
  };
}

function sameSettings(a: FaceIndexSettings, b: FaceIndexSettings): boolean {
  // The service never changes the core's other detection settings, so these five decide.
  return (
    a.size === b.size &&
    a.margin === b.margin &&
    a.scaleFactor === b.scaleFactor &&
    a.minNeighbors === b.minNeighbors &&
    a.minSize === b.minSize
  );
}

function describe(s: FaceIndexSettings): string {
  return `${s.size} px, margin ${s.margin}, scale factor ${s.scaleFactor}, min neighbours ${s.minNeighbors}, min size ${s.minSize}`;
}

/** Size and modification time of a file ('' when missing): cheap change detection. */
async function fileStamp(path: string): Promise<string> {
  const info = await stat(path).catch(() => undefined);
  return info ? `${info.size}:${info.mtimeMs}` : '';
}

/** Changes whenever the index, the log of a running extraction or the exclusions change. */
async function folderStamp(dir: string): Promise<string> {
  const files = [FACES_INDEX_FILE, FACES_LOG_FILE, FACES_EXCLUDED_FILE];
  return (await Promise.all(files.map((file) => fileStamp(join(dir, file))))).join('|');
}

/** Stops at the first image: a 50,000-file dataset answers as fast as a 5-file one. */
async function hasImages(dir: string): Promise<boolean> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) return false;
  const entries = await readdir(dir, { withFileTypes: true });
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    if (entry.isFile() && IMAGE_EXTENSIONS.has(extname(entry.name).toLowerCase())) return true;
  }
  for (const entry of entries) {
    if (!entry.name.startsWith('.') && entry.isDirectory() && (await hasImages(join(dir, entry.name))))
      return true;
  }
  return false;
}

/** Why faces of deleted illustrations were not removed, for the screen (never an error: the list still shows). */
function pruneProblemOf(error: unknown): string {
  if (error instanceof Error && error.name === 'MissingImagesFolderError')
    return `${capitalize(error.message)}.`;
  return `Could not check which illustrations were deleted (${errorMessage(error)}); nothing was removed.`;
}

/** A damaged faces index is the user's data: say which file and why rather than a bare internal error. */
function rethrowIndexError(error: unknown): never {
  if (error instanceof Error && error.name === 'FacesIndexError') {
    throw new KaoError('internal', `The faces folder cannot be read: ${error.message}`);
  }
  throw error;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The core words its cascade errors for the CLI (`--cascade FILE`); the app asks for the file in a field. */
function forTheApp(message: string): string {
  return capitalize(message)
    .replace(/; (?:download it yourself and )?pass --cascade FILE \/ set KAO_CASCADE$/, '')
    .replace(/the --cascade file /g, 'the cascade file ');
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
