import { createContext } from 'svelte';
import { SvelteMap } from 'svelte/reactivity';
import { PagedList } from './paged-list.svelte.ts';
import type { EventOf, ResponseOf, Settings } from '../../../shared/contract.ts';
import type {
  CrawlForm,
  CrawlHistory,
  DatasetItem,
  ImportIssue,
  InterruptedCrawl,
} from '../../../shared/dataset-schemas.ts';
import { kao } from './api.ts';
import { controlJob, isJobBusy, isJobEnded, jobFraction, RefreshThrottle } from './job-snapshot.ts';
import type { JobControl } from './job-snapshot.ts';
import { formErrors } from './form-errors.ts';
import { errorMessage } from './format.ts';

export type CrawlJob = EventOf<'dataset.crawl'>;
export type ImportJob = EventOf<'dataset.import'>;

export interface FailureEntry {
  key: string;
  postId?: number;
  url?: string;
  reason: string;
  /** From the journal of an earlier crawl rather than the one on screen. */
  earlier: boolean;
}

/** Gallery rows come in pages of this many names; thumbnails in batches of at most this many. */
const PAGE_SIZE = 120;
const THUMB_BATCH = 24;
/** Thumbnails sharp enough for the grid's cells on this screen (cells are 128–200 CSS px wide). */
export const THUMB_SIZE = devicePixelRatio > 1.25 ? 256 : 160;
const MAX_FAILURES_SHOWN = 500;

const idleJob = { phase: 'idle' as const };
/** Fields the form shows an error under. */
const FORM_FIELDS = new Set(['site', 'tags', 'pages', 'limit', 'delayMs']);

/**
 * Everything the Dataset screen shows: the crawl form and job, the import job, the failure log and the
 * virtualized gallery's data (pages of names fetched for the rows in view, thumbnails fetched for the cells
 * in view, newest visible range first).
 */
export class DatasetState {
  form = $state<CrawlForm>(defaultForm());
  crawl = $state<CrawlJob>(idleJob);
  importJob = $state<ImportJob>(idleJob);
  history = $state<CrawlHistory | undefined>();
  interrupted = $state<InterruptedCrawl | undefined>();
  failures = $state<FailureEntry[]>([]);
  formError = $state<string | undefined>();
  fieldErrors = $state<Record<string, string>>({});
  importPath = $state('');
  importMode = $state<'copy' | 'link'>('copy');
  importError = $state<string | undefined>();
  listError = $state<string | undefined>();
  loaded = $state(false);

  /** The gallery's names, fetched a page at a time for the rows in view. */
  readonly #list = new PagedList<DatasetItem>({
    pageSize: PAGE_SIZE,
    fetch: (offset, limit) => kao.invoke('dataset.list', { offset, limit }),
    onError: (error) => (this.listError = errorMessage(error)),
  });
  /** Thumbnail URL by file name; null when the image has none (unreadable, removed). */
  readonly thumbs = new SvelteMap<string, string | null>();

  crawlBusy = $derived(isJobBusy(this.crawl));
  importBusy = $derived(isJobBusy(this.importJob));

  #thumbsInFlight = false;
  /** While a job adds files, the gallery re-reads the folder at most every 1.5 s. */
  #refresher = new RefreshThrottle(() => void this.refresh());

  /** Reads the saved form, the jobs, the journal and the first gallery page. */
  async load(settings: Settings | undefined): Promise<void> {
    if (settings) this.form = { ...settings.crawl };
    try {
      const [state, importJob] = await Promise.all([
        kao.invoke('dataset.crawl.state', {}),
        kao.invoke('dataset.import.state', {}),
      ]);
      this.#applyCrawlState(state);
      this.importJob = importJob;
    } catch (error) {
      this.formError = errorMessage(error);
    }
    await this.refresh();
    this.loaded = true;
  }

  /** Subscribes to the jobs' events; returns the cleanup. */
  connect(): () => void {
    const offCrawl = kao.on('dataset.crawl', (job) => {
      this.crawl = job;
      if (job.progress) this.#addFailures(job.progress.recentFailures, false);
      this.#refresher.changed(job.progress ? job.progress.downloaded : 0, isJobEnded(job));
      if (isJobEnded(job)) void this.#reloadHistory();
    });
    const offImport = kao.on('dataset.import', (job) => {
      this.importJob = job;
      this.#refresher.changed(job.progress ? job.progress.imported : 0, isJobEnded(job));
    });
    return () => {
      offCrawl();
      offImport();
      this.#refresher.cancel();
    };
  }

  async startCrawl(form: CrawlForm = this.form): Promise<void> {
    this.formError = undefined;
    this.fieldErrors = {};
    this.failures = [];
    try {
      this.crawl = await kao.invoke('dataset.crawl.start', { ...form, site: form.site.trim() });
      this.interrupted = undefined;
    } catch (error) {
      ({ formError: this.formError, fieldErrors: this.fieldErrors } = formErrors(error, FORM_FIELDS));
    }
  }

  /** Pauses, resumes or cancels the crawl; a refusal shows as the form's error. */
  async control(action: JobControl): Promise<void> {
    await controlJob(
      () => kao.invoke(`dataset.crawl.${action}`, {}),
      { get: () => this.crawl, set: (job) => (this.crawl = job) },
      (message) => (this.formError = message),
    );
  }

  /** Continues the crawl the app was closed in the middle of, with the settings it had. */
  async resumeInterrupted(): Promise<void> {
    if (!this.interrupted) return;
    this.form = { ...this.interrupted.form };
    await this.startCrawl(this.interrupted.form);
  }

  async startImport(path = this.importPath): Promise<void> {
    this.importError = undefined;
    this.importPath = path;
    try {
      this.importJob = await kao.invoke('dataset.import.start', { from: path.trim(), mode: this.importMode });
    } catch (error) {
      this.importError = errorMessage(error);
    }
  }

  async cancelImport(): Promise<void> {
    try {
      this.importJob = await kao.invoke('dataset.import.cancel', {});
    } catch (error) {
      this.importError = errorMessage(error);
    }
  }

  /** Native folder dialog (desktop); the browser answers `unsupported` and the typed path stays the way. */
  async pickFolder(): Promise<void> {
    try {
      const { path } = await kao.invoke('dialog.pickFolder', { title: 'Import a folder of illustrations' });
      if (path) this.importPath = path;
    } catch (error) {
      this.importError = errorMessage(error);
    }
  }

  /** Files in the dataset; undefined until the first listing arrives. */
  get total(): number | undefined {
    return this.#list.total;
  }

  /** Dataset items by index, for the pages fetched so far. */
  get items(): ReadonlyMap<number, DatasetItem> {
    return this.#list.items;
  }

  /** The grid's rendered cells changed: fetch their names, then their thumbnails. */
  setVisible(first: number, end: number): void {
    void this.#list.setVisible(first, end).then(() => this.#loadThumbs());
  }

  /** Re-reads the dataset's size and the rows in view; cached thumbnails are kept (names never change content). */
  async refresh(): Promise<void> {
    this.#refresher.refreshed();
    if (!(await this.#list.refresh())) return;
    this.listError = undefined;
    void this.#loadThumbs();
  }

  /** One batch at a time, always for what is in view now: fast scrolling never queues stale work. */
  async #loadThumbs(): Promise<void> {
    if (this.#thumbsInFlight) return;
    this.#thumbsInFlight = true;
    try {
      for (;;) {
        const [first, end] = this.#list.visible;
        const names: string[] = [];
        for (let index = first; index < end && names.length < THUMB_BATCH; index++) {
          const item = this.items.get(index);
          if (item && !this.thumbs.has(item.name)) names.push(item.name);
        }
        if (names.length === 0) return;
        let reply: ResponseOf<'dataset.thumbnails'>;
        try {
          reply = await kao.invoke('dataset.thumbnails', { names, size: THUMB_SIZE });
        } catch {
          for (const name of names) this.thumbs.set(name, null);
          continue;
        }
        for (const thumb of reply.thumbs) {
          this.thumbs.set(thumb.name, thumb.path ? kao.mediaUrl(thumb.path) : null);
        }
      }
    } finally {
      this.#thumbsInFlight = false;
    }
  }

  async #reloadHistory(): Promise<void> {
    try {
      this.#applyCrawlState(await kao.invoke('dataset.crawl.state', {}), false);
    } catch {
      // The log already holds this run's failures; the journal's view can wait for the next visit.
    }
  }

  #applyCrawlState(state: ResponseOf<'dataset.crawl.state'>, replaceJob = true): void {
    if (replaceJob) this.crawl = state.job;
    this.history = state.history;
    this.interrupted = state.interrupted;
    if (replaceJob && state.job.progress) this.#addFailures(state.job.progress.recentFailures, false);
    if (replaceJob && !this.crawlBusy) this.#addFailures(state.history.failed.slice().reverse(), true);
  }

  #addFailures(list: Array<{ postId?: number; url?: string; reason: string }>, earlier: boolean): void {
    // eslint-disable-next-line svelte/prefer-svelte-reactivity -- a local lookup, never rendered
    const known = new Set(this.failures.map((f) => f.key));
    const fresh = list
      .map((f) => ({ ...f, key: `${f.postId ?? ''}|${f.url ?? ''}|${f.reason}`, earlier }))
      .filter((f) => !known.has(f.key));
    if (fresh.length === 0) return;
    this.failures = [...this.failures, ...fresh].slice(-MAX_FAILURES_SHOWN);
  }
}

function defaultForm(): CrawlForm {
  return {
    site: 'https://konachan.net',
    tags: 'solo',
    rendition: 'sample',
    pages: 10,
    limit: 1000,
    delayMs: 1000,
    unsafeRatings: false,
  };
}

/** Share of the crawl done: whichever limit (posts or pages) it will reach first. */
export function crawlFraction(job: CrawlJob, form: Pick<CrawlForm, 'limit' | 'pages'>): number {
  return jobFraction(job, (p) => Math.min(1, Math.max(p.found / form.limit, p.pagesDone / form.pages)));
}

export function importFraction(job: ImportJob): number {
  return jobFraction(job, (p) => (p.total > 0 ? p.processed / p.total : 0));
}

export function issuesOf(job: ImportJob): ImportIssue[] {
  const p = job.progress;
  if (!p) return [];
  return p.rejectedFiles ?? p.recentRejections;
}

/** Created once in App.svelte, so the state outlives a screen switch; read with `useDatasetState()`. */
export const [useDatasetState, setDatasetState] = createContext<DatasetState>();
