import { readdir, stat } from 'node:fs/promises';
import { extname, isAbsolute, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { FACES_LOCK, FacesError, FacesFolder, IMAGE_EXTENSIONS, extractFaces } from '../core/faces/index.ts';
import type { FacesState, FaceExtractionProgress } from '../shared/faces-schemas.ts';
import { assertCascadeXml } from './cascade-file.ts';
import { KaoError } from '../shared/errors.ts';
import { assertFolderNotLocked } from '../core/folder-lock.ts';
import type { ServiceContext } from './context.ts';
import type { ChannelsOf, Handlers } from './dispatcher.ts';
import { FaceCascade } from './faces-cascade.ts';
import { facesErrorForApp, facesProblemForApp } from './faces-errors.ts';
import {
  MAX_LISTED_FAILURES,
  describeIndexSettings,
  emptyProgress,
  finalProgress,
  indexSettingsOf,
  wireFace,
  wireProgress,
} from './faces-wire.ts';
import { JobSlot } from './job-slot.ts';

/**
 * The Faces screen's use cases: one extraction at a time from the dataset folder into the faces folder
 * (progress pushed as `faces.extraction`), the cascade's status without touching the network, pages of
 * crops, and exclusions saved before the request answers (`faces.changed` tells other windows).
 */
export function facesHandlers(ctx: ServiceContext): Pick<Handlers, ChannelsOf<'faces'>> {
  const job = new JobSlot<FaceExtractionProgress>('face extraction', (snapshot) =>
    ctx.events.emit('faces.extraction', snapshot),
  );
  const cascade = new FaceCascade(ctx);
  const folders = new CurrentFolder(
    (dir) =>
      new FacesFolder(dir, {
        extracting: () => job.busy,
        onPruned: (counts) => ctx.events.emit('faces.changed', { reason: 'pruned', counts }),
      }),
  );
  const folder = (): FacesFolder => folders.for(ctx.paths().faces);
  const faces = (options?: { reload?: boolean }) => folder().dataset(options).catch(forTheApp);

  return {
    'faces.state': async () => {
      const paths = ctx.paths();
      const dataset = await faces({ reload: !job.busy });
      const opened = folder();
      const existing = await opened.settings().catch(forTheApp);
      const failures = dataset.failures();
      const state: FacesState = {
        counts: dataset.counts(),
        cascade: await cascade.status(),
        failures: failures.slice(-MAX_LISTED_FAILURES),
        failuresTotal: failures.length,
        datasetHasImages: await hasImages(paths.dataset),
        datasetDir: paths.dataset,
        facesDir: paths.faces,
      };
      if (existing) state.indexSettings = indexSettingsOf(existing);
      const pruned = opened.takePruned();
      if (pruned) state.pruned = pruned;
      if (opened.pruneProblem !== undefined) state.pruneProblem = pruneProblemOf(opened.pruneProblem);
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
      const opened = folder();
      const stored = await opened.settings().catch(forTheApp);
      // The service never changes the core's other detection settings, so these five decide.
      const before = stored && indexSettingsOf(stored);
      if (!form.rebuild && before && !isDeepStrictEqual(before, detection)) {
        throw new KaoError(
          'invalid-input',
          `Your faces were extracted with other options (${describeIndexSettings(before)}). ` +
            'Rebuild to extract them all again with the new ones, or put the old options back.',
          [{ path: 'rebuild', message: 'the options differ from the existing faces' }],
        );
      }
      const settings = ctx.settings.get();
      await ctx.settings.set({ ...settings, faces: { ...detection, cascadePath: form.cascadePath } });
      // A prune started by a listing finishes before the extraction (which prunes too) touches the index.
      await opened.idle();
      if (job.busy) throw new KaoError('busy', 'An extraction is already running: pause or cancel it first.');

      return job.start(async (control, report) => {
        const started = Date.now();
        const base = emptyProgress();
        report({ ...base, stage: 'cascade' });
        const found = await cascade.resolve(form.cascadePath, control.signal);
        report({ ...base, stage: 'preparing' });
        try {
          const summary = await extractFaces(
            {
              ...detection,
              inputDir: paths.dataset,
              outputDir: paths.faces,
              cascadePath: found.path,
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
          return finalProgress(summary, found.from, started);
        } catch (error) {
          return forTheApp(error);
        } finally {
          const dataset = await faces({ reload: true }).catch(() => undefined);
          if (dataset) ctx.events.emit('faces.changed', { reason: 'extraction', counts: dataset.counts() });
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
      const counts = await dataset.setExcluded(ids, excluded).catch(forTheApp);
      ctx.events.emit('faces.changed', { reason: 'exclusions', counts });
      return counts;
    },
    'faces.cascade.use': async ({ path }) => cascade.use(path),
  };
}

/** The faces folder of the data folder in use: a new one is opened when the data folder changes. */
class CurrentFolder {
  #current: FacesFolder | undefined;
  constructor(private readonly open: (dir: string) => FacesFolder) {}
  for(dir: string): FacesFolder {
    if (this.#current?.dir !== dir) this.#current = this.open(dir);
    return this.#current;
  }
}

/** Core faces errors in the app's words; anything else unchanged. */
function forTheApp(error: unknown): never {
  throw error instanceof FacesError ? facesErrorForApp(error.problem) : error;
}

/** Why faces of deleted illustrations were not removed, for the screen (never an error: the list still shows). */
function pruneProblemOf(error: unknown): string {
  if (error instanceof FacesError) return facesProblemForApp(error.problem).message;
  const reason = error instanceof Error ? error.message : String(error);
  return `Could not check which illustrations were deleted (${reason}); nothing was removed.`;
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
