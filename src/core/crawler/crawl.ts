import { rename, rm } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';
import packageJson from '../../../package.json' with { type: 'json' };
import {
  PARTIAL_DIR,
  crawledFileName,
  datasetMd5s,
  lockDataset,
  resetPartialDir,
} from '../images/dataset.ts';
import { InvalidImageError, imageLimitOptions, validateImage } from '../images/validate.ts';
import { Rendition, type JobState } from '../../shared/contract-base.ts';
import {
  isPlainHttpUrl,
  type CrawlFailure,
  type CrawlProgress,
  type CrawlStopReason,
} from '../../shared/dataset-schemas.ts';
import { appendImageTags, readImageTags } from '../images/tags.ts';
import { paceSince, secondsLeft } from '../util/pace.ts';
import { pickDefined } from '../util/pick.ts';
import { CancelledError, type RunControl } from '../util/run-control.ts';
import { CrawlOptionError } from './errors.ts';
import { HostPolicy } from './hosts.ts';
import {
  PermanentHttpError,
  PoliteHttpClient,
  TransientHttpError,
  defaultHttpPolicy,
  type RetryEvent,
} from './http.ts';
import { siteJournal } from './journal.ts';
import {
  buildTagQuery,
  isDeleted,
  parsePostsPage,
  postTags,
  postsPageUrl,
  renditionUrl,
  resolvePostUrl,
  type MoebooruPost,
} from './moebooru.ts';

export const DEFAULT_SITE = 'https://konachan.net';
export const DEFAULT_USER_AGENT = `KaoStudio/${packageJson.version} (+https://github.com/kao-studio)`;
/** Below this gap the crawler would be impolite to a public site; loopback test servers may go lower. */
export const MIN_PUBLIC_DELAY_MS = 500;

const httpUrl = z
  .string()
  .trim()
  .refine(isPlainHttpUrl, 'must be an http(s) URL such as https://konachan.net');

/** Everything a crawl can be told. The defaults are the polite ones; the UI sends only what the user changed. */
export const crawlOptionsSchema = z.object({
  site: httpUrl.default(DEFAULT_SITE),
  datasetDir: z.string().min(1, 'datasetDir is required'),
  tags: z.string().default(''),
  rendition: Rendition.default('sample'),
  /** Stop after this many pages (pages are fetched in order from 1). */
  maxPages: z.number().int().positive().optional(),
  /** Stop after this many eligible posts (safe-rated, not deleted), whatever their outcome. */
  maxPosts: z.number().int().positive().optional(),
  pageSize: z.number().int().min(1).max(100).default(100),
  delayMs: z.number().int().min(0).default(1000),
  unsafeRatings: z.boolean().default(false),
  /** Hosts besides the site's own domain that images may come from: `cdn.example.com` or `*.example.com`. */
  extraHosts: z.array(z.string().min(1)).default([]),
  ...imageLimitOptions(50),
  maxRetries: z.number().int().min(0).max(10).default(4),
  retryBaseMs: z.number().int().min(0).default(2000),
  maxRetryWaitMs: z.number().int().min(0).default(120_000),
  connectTimeoutMs: z.number().int().positive().default(30_000),
  stallTimeoutMs: z.number().int().positive().default(30_000),
  userAgent: z.string().min(1).default(DEFAULT_USER_AGENT),
});
export type CrawlOptionsInput = z.input<typeof crawlOptionsSchema>;
/** What a UI sends: the options minus the dataset folder, which the app derives from its data folder. */
export const crawlSettingsSchema = crawlOptionsSchema.omit({ datasetDir: true });
export type CrawlSettingsInput = z.input<typeof crawlSettingsSchema>;
export type CrawlOptions = z.output<typeof crawlOptionsSchema>;

// A job's state and a crawl's progress are the contract's (shared with the app's job slots and the UI).
export type { CrawlFailure, CrawlProgress, CrawlStopReason, JobState };

export interface CrawlSummary extends CrawlProgress {
  stoppedBecause: CrawlStopReason;
  site: string;
  /** The tag query actually sent (rating:s added unless unsafe ratings are allowed). */
  tags: string;
  filteredReasons: { rating: number; deleted: number };
  /** Images whose post's tags were kept this run (downloaded, or already there without tags). */
  tagged: number;
  /** Posts whose tags could not be kept (the image was; the reason is in the journal). */
  tagProblems: number;
  /** This run's failures with their reasons (the first 1000); failed posts are retried by the next crawl. */
  failures: CrawlFailure[];
  durationMs: number;
}

export class CrawlError extends Error {
  override readonly name = 'CrawlError';
  constructor(
    message: string,
    readonly summary: CrawlSummary,
  ) {
    super(message);
  }
}

/** What the progress of every dataset job has besides its own counters. */
export const JOB_PROGRESS_FIELDS = ['state', 'bytes', 'imagesPerSec', 'etaSeconds', 'lastError'] as const;

export interface JobHooks<P> {
  onProgress?: (progress: P) => void;
  control?: RunControl;
  /** A stale dataset lock (its process was killed) was taken over. */
  onWarning?: (message: string) => void;
}

const RECENT_FAILURES = 20;
/** The summary keeps this many failures (the count stays exact) so it stays small enough for IPC. */
const MAX_FAILURES_KEPT = 1000;

/**
 * Crawls a Moebooru site into a dataset folder. Resolves with the summary when the crawl finished or was
 * cancelled; rejects with CrawlError (carrying the summary) when it could not go on, e.g. the site kept
 * failing. Safe to kill at any moment: rerunning continues where it stopped and never downloads twice.
 */
export async function crawl(
  input: CrawlOptionsInput,
  hooks: JobHooks<CrawlProgress> = {},
): Promise<CrawlSummary> {
  const options = parseCrawlOptions(input);
  const site = new URL(options.site);
  const tags = buildTagQuery(options.tags, options.unsafeRatings);
  const hosts = new HostPolicy(site, options.extraHosts);
  const signal = hooks.control?.signal ?? new AbortController().signal;
  const startedAt = Date.now();
  const datasetDir = options.datasetDir;
  const journal = siteJournal(datasetDir, site.host);

  const summary: CrawlSummary = {
    state: 'running',
    page: 0,
    pagesDone: 0,
    found: 0,
    downloaded: 0,
    skipped: 0,
    filtered: 0,
    failed: 0,
    bytes: 0,
    recentFailures: [],
    stoppedBecause: 'short-page',
    site: site.origin,
    tags,
    filteredReasons: { rating: 0, deleted: 0 },
    tagged: 0,
    tagProblems: 0,
    failures: [],
    durationMs: 0,
  };
  const emit = () => {
    Object.assign(
      summary,
      paceSince(startedAt, summary.downloaded, (seconds) => estimateRemaining(options, summary, seconds)),
    );
    hooks.onProgress?.(crawlProgressOf(summary));
  };
  const fail = (failure: CrawlFailure) => {
    summary.failed++;
    if (summary.failures.length < MAX_FAILURES_KEPT) summary.failures.push(failure);
    summary.recentFailures = [...summary.recentFailures, failure].slice(-RECENT_FAILURES);
    summary.lastError =
      failure.postId === undefined ? failure.reason : `post ${failure.postId}: ${failure.reason}`;
  };
  const onRetry = (event: RetryEvent) => {
    summary.lastError = `${event.reason}; retry ${event.attempt} in ${Math.round(event.waitMs / 100) / 10} s`;
    emit();
  };

  const release = await lockDataset(datasetDir, 'crawl', { onWarning: hooks.onWarning });
  try {
    const partialDir = await resetPartialDir(datasetDir);
    const present = await datasetMd5s(datasetDir);
    const withTags = new Set((await readImageTags(datasetDir)).keys());
    const client = new PoliteHttpClient(
      { ...defaultHttpPolicy(options.userAgent), ...pickHttpPolicy(options) },
      hosts,
      signal,
      onRetry,
    );
    const checkpoint = async () => {
      if (hooks.control?.paused) {
        summary.state = 'paused';
        emit();
      }
      await hooks.control?.checkpoint();
      if (summary.state === 'paused') {
        summary.state = 'running';
        emit();
      }
    };
    const record = (
      post: MoebooruPost,
      outcome: 'downloaded' | 'present' | 'failed' | 'filtered',
      extra: { file?: string; url?: string; reason?: string; bytes?: number } = {},
    ) =>
      journal({
        type: 'post',
        postId: post.id,
        md5: post.md5,
        outcome,
        ...extra,
      });
    /** Keeps the post's tags with its image unless it has some; says why when they cannot be kept. */
    const keepTags = async (post: MoebooruPost, file: string): Promise<{ reason?: string }> => {
      if (withTags.has(file)) return {};
      const kept = postTags(post);
      if ('problem' in kept) {
        summary.tagProblems++;
        return { reason: `tags not kept: ${kept.problem}` };
      }
      await appendImageTags(datasetDir, { file, from: site.host, postId: post.id, ...kept.tags });
      withTags.add(file);
      summary.tagged++;
      return {};
    };

    await journal({
      type: 'start',
      tags,
      rendition: options.rendition,
    });
    emit();
    try {
      pages: for (let page = 1; ; page++) {
        if (options.maxPages !== undefined && page > options.maxPages) {
          summary.stoppedBecause = 'page-limit';
          break;
        }
        if (options.maxPosts !== undefined && summary.found >= options.maxPosts) {
          summary.stoppedBecause = 'post-limit';
          break;
        }
        await checkpoint();
        summary.page = page;
        emit();
        let parsed;
        try {
          parsed = parsePostsPage(
            await client.getJson(postsPageUrl(site, tags, page, options.pageSize).href),
          );
        } catch (error) {
          if (signal.aborted) throw new CancelledError();
          throw new Error(`page ${page}: ${errorMessage(error)}`);
        }
        for (const invalid of parsed.invalid) fail({ postId: invalid.postId, reason: invalid.reason });

        for (const post of parsed.posts) {
          if (options.maxPosts !== undefined && summary.found >= options.maxPosts) {
            summary.stoppedBecause = 'post-limit';
            break pages;
          }
          await checkpoint();
          if (isDeleted(post)) {
            summary.filtered++;
            summary.filteredReasons.deleted++;
            await record(post, 'filtered', { reason: 'deleted' });
            continue;
          }
          if (!options.unsafeRatings && post.rating !== 's') {
            summary.filtered++;
            summary.filteredReasons.rating++;
            await record(post, 'filtered', { reason: `rating ${post.rating}` });
            continue;
          }
          summary.found++;
          const existing = post.md5 && present.get(post.md5);
          if (existing) {
            summary.skipped++;
            // An image whose tags were never written (killed between the two writes) gets them now.
            await record(post, 'present', await keepTags(post, existing));
            emit();
            continue;
          }
          const outcome = await downloadPost(post, {
            options,
            site,
            hosts,
            client,
            partialDir,
            datasetDir,
            signal,
          });
          if (outcome.ok) {
            summary.downloaded++;
            summary.bytes += outcome.bytes;
            present.set(outcome.md5, outcome.file);
            const tagged = await keepTags(post, outcome.file);
            await record(post, 'downloaded', { file: outcome.file, bytes: outcome.bytes, ...tagged });
          } else {
            fail({ postId: post.id, url: outcome.url, reason: outcome.reason });
            await record(post, 'failed', { url: outcome.url, reason: outcome.reason });
          }
          emit();
        }
        summary.pagesDone = page;
        await journal({
          type: 'page',
          tags,
          page,
          posts: parsed.rawCount,
        });
        if (parsed.rawCount < options.pageSize) {
          summary.stoppedBecause = 'short-page';
          break;
        }
      }
      summary.state = 'done';
    } catch (error) {
      if (!(error instanceof CancelledError) && !signal.aborted) {
        summary.state = 'failed';
        summary.stoppedBecause = 'error';
        summary.lastError = errorMessage(error);
        await journal({
          type: 'end',
          tags,
          state: 'failed',
          reason: summary.lastError,
        });
        emit();
        throw new CrawlError(summary.lastError, structuredClone(summary));
      }
      summary.state = 'cancelled';
      summary.stoppedBecause = 'cancelled';
    }
    await journal({
      type: 'end',
      tags,
      state: summary.state,
    });
    emit();
    return structuredClone(summary);
  } finally {
    await rm(join(datasetDir, PARTIAL_DIR), { recursive: true, force: true }).catch(() => undefined);
    await release();
  }
}

/** Validates raw options (from the UI, CLI or a config file) with readable errors. */
export function parseCrawlOptions(input: CrawlOptionsInput): CrawlOptions {
  const parsed = crawlOptionsSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const option = issue.path.join('.') || '(options)';
    throw new CrawlOptionError({ code: 'invalid-option', option, detail: issue.message });
  }
  const options = parsed.data;
  const host = new URL(options.site).hostname;
  if (options.delayMs < MIN_PUBLIC_DELAY_MS && !isLoopback(host)) {
    throw new CrawlOptionError({
      code: 'delay-too-short',
      option: 'delayMs',
      host,
      minMs: MIN_PUBLIC_DELAY_MS,
    });
  }
  buildTagQuery(options.tags, options.unsafeRatings);
  return options;
}

function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  return bare === 'localhost' || bare === '::1' || (isIP(bare) === 4 && bare.startsWith('127.'));
}

type DownloadOutcome =
  { ok: true; file: string; bytes: number; md5: string } | { ok: false; url?: string; reason: string };

async function downloadPost(
  post: MoebooruPost,
  context: {
    options: CrawlOptions;
    site: URL;
    hosts: HostPolicy;
    client: PoliteHttpClient;
    partialDir: string;
    datasetDir: string;
    signal: AbortSignal;
  },
): Promise<DownloadOutcome> {
  const { options, site, hosts, client, partialDir, datasetDir } = context;
  if (!post.md5) return { ok: false, reason: 'post has no md5' };
  const chosen = renditionUrl(post, options.rendition);
  if (!chosen) return { ok: false, reason: `post has no ${options.rendition} URL` };
  let url: URL;
  try {
    url = resolvePostUrl(chosen.url, site);
  } catch {
    return { ok: false, url: chosen.url, reason: 'malformed URL' };
  }
  const refused = hosts.check(url);
  if (refused) return { ok: false, url: url.href, reason: refused };
  if (chosen.isOriginal && post.file_size && post.file_size > options.maxFileBytes) {
    return {
      ok: false,
      url: url.href,
      reason: `file is ${post.file_size} bytes, over the ${options.maxFileBytes} byte cap`,
    };
  }
  const partial = join(partialDir, `${post.id}.part`);
  try {
    const result = await client.download(url.href, partial, options.maxFileBytes);
    // Decode first: "truncated image" says more than the md5 mismatch a cut file also causes.
    const image = await validateImage(partial, { maxPixels: options.maxPixels });
    // Only the original file has the bytes the post's md5 describes; samples and previews are re-encodes.
    if (chosen.isOriginal && result.md5 !== post.md5) {
      return { ok: false, url: url.href, reason: `md5 mismatch: expected ${post.md5}, got ${result.md5}` };
    }
    const file = crawledFileName(site.hostname, post.id, post.md5, image.extension);
    await rename(partial, join(datasetDir, file));
    return { ok: true, file, bytes: result.bytes, md5: post.md5 };
  } catch (error) {
    if (context.signal.aborted) throw new CancelledError();
    if (error instanceof CancelledError) throw error;
    if (
      error instanceof PermanentHttpError ||
      error instanceof TransientHttpError ||
      error instanceof InvalidImageError
    ) {
      return { ok: false, url: url.href, reason: error.message };
    }
    throw error;
  } finally {
    await rm(partial, { force: true });
  }
}

function pickHttpPolicy(options: CrawlOptions) {
  const { delayMs, maxRetries, retryBaseMs, maxRetryWaitMs, connectTimeoutMs, stallTimeoutMs } = options;
  return { delayMs, maxRetries, retryBaseMs, maxRetryWaitMs, connectTimeoutMs, stallTimeoutMs };
}

/** A copy of the progress fields alone (a summary has more), for an event or the wire. */
export function crawlProgressOf(p: CrawlProgress): CrawlProgress {
  const counts = ['page', 'pagesDone', 'found', 'downloaded', 'skipped', 'filtered', 'failed'] as const;
  return {
    ...pickDefined(p, [...JOB_PROGRESS_FIELDS, ...counts]),
    recentFailures: p.recentFailures.map((f) => ({ ...f })),
  };
}

/** Rough: posts still to look at (from the post or page limit) at the rate posts were looked at so far. */
function estimateRemaining(
  options: CrawlOptions,
  summary: CrawlSummary,
  seconds: number,
): number | undefined {
  const looked = summary.found + summary.filtered;
  const targets = [
    options.maxPosts !== undefined ? options.maxPosts - summary.found : undefined,
    options.maxPages !== undefined ? options.maxPages * options.pageSize - looked : undefined,
  ].filter((value): value is number => value !== undefined);
  return targets.length === 0 ? undefined : secondsLeft(Math.min(...targets), looked, seconds);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
