import { stat } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import {
  CrawlOptionError,
  crawl,
  crawlProgressOf,
  importProgressOf,
  importFolder,
  listDataset,
  parseCrawlOptions,
  readCrawlHistory,
  thumbnail,
  type CrawlOptionsInput,
  type CrawlSummary,
  type ImportSummary,
} from '../core/crawler/index.ts';
import { buildTagQuery } from '../core/crawler/moebooru.ts';
import { readJsonIfExists, writeJsonAtomic } from '../core/util/atomic-file.ts';
import { CrawlSettings } from '../shared/contract.ts';
import {
  CrawlForm,
  type CrawlHistory,
  type CrawlProgress,
  type ImportIssue,
  type ImportProgress,
  type InterruptedCrawl,
} from '../shared/dataset-schemas.ts';
import { KaoError } from '../shared/errors.ts';
import type { ServiceContext } from './context.ts';
import type { ChannelsOf, Handlers } from './dispatcher.ts';
import { JobSlot } from './job-slot.ts';

/** Marks the crawl this app started in a dataset until it ends: still unfinished at launch means interrupted. */
export const CRAWL_MARKER_FILE = '.kao-crawl.json';
/** Failures and rejections shown in the UI; the counts stay exact. */
const MAX_LISTED_ISSUES = 1000;
const MAX_HISTORY_FAILURES = 200;
/** Thumbnails made at once: sharp has its own thread pool, this just keeps one request from hogging it. */
const THUMBNAIL_CONCURRENCY = 4;

interface CrawlMarker {
  form: CrawlForm;
  startedAt: string;
  finished: boolean;
}

/**
 * The Dataset screen's use cases: one crawl and one folder import at a time (they share the dataset's
 * lock, so never both at once), progress pushed as `dataset.crawl` / `dataset.import` events, and the
 * gallery's pages and cached thumbnails.
 */
export function datasetHandlers(ctx: ServiceContext): Pick<Handlers, ChannelsOf<'dataset'>> {
  const crawlJob = new JobSlot<CrawlProgress>('crawl', (snapshot) =>
    ctx.events.emit('dataset.crawl', snapshot),
  );
  const importJob = new JobSlot<ImportProgress>('folder import', (snapshot) =>
    ctx.events.emit('dataset.import', snapshot),
  );
  const markerPath = () => join(ctx.paths().dataset, CRAWL_MARKER_FILE);

  return {
    'dataset.crawl.start': async (form) => {
      if (crawlJob.busy) throw new KaoError('busy', 'A crawl is already running: pause or cancel it first.');
      if (importJob.busy) {
        throw new KaoError(
          'busy',
          'A folder import is writing to the dataset: wait for it or cancel it first.',
        );
      }
      const datasetDir = ctx.paths().dataset;
      const input: CrawlOptionsInput = {
        site: form.site,
        datasetDir,
        tags: form.tags,
        rendition: form.rendition,
        maxPages: form.pages,
        maxPosts: form.limit,
        delayMs: form.delayMs,
        unsafeRatings: form.unsafeRatings,
      };
      validateCrawl(input, form);
      const settings = ctx.settings.get();
      await ctx.settings.set({ ...settings, crawl: form });

      const marker: CrawlMarker = { form, startedAt: new Date().toISOString(), finished: false };
      await writeJsonAtomic(join(datasetDir, CRAWL_MARKER_FILE), marker);
      return crawlJob.start(async (control, report) => {
        try {
          const summary = await crawl(input, {
            control,
            onProgress: (p) => report(wireCrawlProgress(p)),
            onWarning: (message) => ctx.events.emit('app.notice', { level: 'warning', message }),
          });
          return wireCrawlProgress(summary);
        } finally {
          await writeJsonAtomic(join(datasetDir, CRAWL_MARKER_FILE), { ...marker, finished: true }).catch(
            () => undefined,
          );
        }
      });
    },
    'dataset.crawl.pause': async () => crawlJob.pause(),
    'dataset.crawl.resume': async () => crawlJob.resume(),
    'dataset.crawl.cancel': async () => crawlJob.cancel(),
    'dataset.crawl.state': async () => {
      const datasetDir = ctx.paths().dataset;
      const journal = await readCrawlHistory(datasetDir);
      const history: CrawlHistory = {
        postsSeen: journal.postsSeen,
        downloaded: journal.downloaded,
        failed: journal.failed.slice(-MAX_HISTORY_FAILURES),
        failedTotal: journal.failed.length,
        lastRun: journal.lastRun,
      };
      const interrupted = crawlJob.busy ? undefined : await findInterrupted(markerPath(), journal);
      return { job: crawlJob.snapshot, history, ...(interrupted ? { interrupted } : {}) };
    },

    'dataset.import.start': async ({ from, mode }) => {
      if (importJob.busy) throw new KaoError('busy', 'A folder import is already running.');
      if (crawlJob.busy) {
        throw new KaoError('busy', 'A crawl is writing to the dataset: wait for it or cancel it first.');
      }
      if (!isAbsolute(from)) {
        throw new KaoError('invalid-input', `Type the folder's full path (got ${JSON.stringify(from)}).`, [
          { path: 'from', message: 'must be an absolute path' },
        ]);
      }
      const info = await stat(from).catch(() => undefined);
      if (!info?.isDirectory()) {
        throw new KaoError('invalid-input', `Not a folder: ${from}`, [
          { path: 'from', message: 'not a folder' },
        ]);
      }
      const datasetDir = ctx.paths().dataset;
      return importJob.start(async (control, report) => {
        const summary = await importFolder(
          { from, datasetDir, mode },
          {
            control,
            onProgress: (p) => report(importProgressOf(p)),
            onWarning: (message) => ctx.events.emit('app.notice', { level: 'warning', message }),
          },
        );
        return wireImportSummary(summary);
      });
    },
    'dataset.import.cancel': async () => importJob.cancel(),
    'dataset.import.state': async () => importJob.snapshot,

    'dataset.list': async ({ offset, limit }) => {
      const page = await listDataset(ctx.paths().dataset, { offset, limit });
      return {
        total: page.total,
        offset: page.offset,
        items: page.items.map(({ name, source, postId, bytes }) => ({
          name,
          source,
          ...(postId !== undefined ? { postId } : {}),
          bytes,
        })),
      };
    },
    'dataset.thumbnails': async ({ names, size }) => {
      const paths = ctx.paths();
      const cacheDir = join(paths.cache, 'thumbs');
      const thumbs = await mapConcurrent(names, THUMBNAIL_CONCURRENCY, async (name) => {
        try {
          const file = await thumbnail(paths.dataset, name, size, { cacheDir });
          return { name, path: relative(paths.root, file).split(sep).join('/') };
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          return { name, error: code === 'ENOENT' ? 'no longer in the dataset' : errorMessage(error) };
        }
      });
      return { thumbs };
    },
  };
}

/** The core's own checks (polite delay for public sites, rating tags) as invalid-input, before anything is written. */
function validateCrawl(input: CrawlOptionsInput, form: CrawlForm): void {
  try {
    parseCrawlOptions(input);
  } catch (error) {
    // The core's refusals name their option, which is the form's field of the same name.
    const field = error instanceof CrawlOptionError ? error.problem.option : '(request)';
    const message = errorMessage(error);
    throw new KaoError('invalid-input', capitalize(message), [{ path: field, message }]);
  }
  // What settings.crawl accepts, so saving the form can never fail after the crawl started.
  const asSettings = CrawlSettings.safeParse(form);
  if (!asSettings.success) {
    const issue = asSettings.error.issues[0]!;
    throw new KaoError('invalid-input', `Invalid ${issue.path.join('.')}: ${issue.message}`, [
      { path: issue.path.join('.'), message: issue.message },
    ]);
  }
}

/** A crawl this app started that neither finished nor left an end record in the journal: the app was closed or killed. */
async function findInterrupted(
  markerPath: string,
  journal: Awaited<ReturnType<typeof readCrawlHistory>>,
): Promise<InterruptedCrawl | undefined> {
  const raw = (await readJsonIfExists(markerPath).catch(() => undefined)) as Partial<CrawlMarker> | undefined;
  if (!raw || raw.finished !== false || typeof raw.startedAt !== 'string') return undefined;
  const form = CrawlForm.safeParse(raw.form);
  if (!form.success) return undefined;
  if (journal.lastRun && Date.parse(journal.lastRun.at) >= Date.parse(raw.startedAt)) return undefined;
  let pagesDone = 0;
  try {
    const key = `${new URL(form.data.site).host} ${buildTagQuery(form.data.tags, form.data.unsafeRatings)}`;
    pagesDone = journal.pagesDone[key] ?? 0;
  } catch {
    // A form that no longer validates is still worth offering; the start request will say what is wrong.
  }
  return { form: form.data, startedAt: raw.startedAt, pagesDone };
}

/** Exactly the wire fields: the core's summary carries more (every failure, the site) than an event should. */
function wireCrawlProgress(p: CrawlProgress | CrawlSummary): CrawlProgress {
  return { ...crawlProgressOf(p), ...('stoppedBecause' in p ? { stoppedBecause: p.stoppedBecause } : {}) };
}

function wireImportSummary(summary: ImportSummary): ImportProgress {
  const cap = (issues: ImportIssue[]) => issues.slice(0, MAX_LISTED_ISSUES).map((i) => ({ ...i }));
  return {
    ...importProgressOf(summary),
    rejectedFiles: cap(summary.rejectedFiles),
    ignoredFiles: cap(summary.ignoredFiles),
    tagProblems: cap(summary.tagProblems),
  };
}

async function mapConcurrent<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
