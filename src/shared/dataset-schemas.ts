/**
 * Wire schemas of the Dataset screen: the crawl form, crawl and import progress, the gallery's pages and
 * thumbnails. Pure zod (the renderer imports it); contract.ts names the channels that use them.
 */
import { z } from 'zod';
import { JobState, Rendition } from './contract-base.ts';

/** The crawl form, field for field `settings.crawl`: what the user chose, validated before anything runs. */
export const CrawlForm = z
  .object({
    site: z
      .string()
      .trim()
      .max(2000)
      .refine(isPlainHttpUrl, 'must be an http(s) address such as https://konachan.net'),
    tags: z.string().max(500),
    rendition: Rendition,
    /** Stop after this many result pages (a page is up to 100 posts). */
    pages: z.int().min(1).max(10_000),
    /** Stop after this many eligible posts. */
    limit: z.int().min(1).max(1_000_000),
    /** Pause between two requests to the site. */
    delayMs: z.int().min(0).max(60_000),
    /** Also keep questionable and explicit posts: only when the user explicitly opts in. */
    unsafeRatings: z.boolean(),
  })
  .strict();
export type CrawlForm = z.infer<typeof CrawlForm>;

export const CrawlFailure = z.object({
  postId: z.int().optional(),
  url: z.string().optional(),
  reason: z.string(),
});
export type CrawlFailure = z.infer<typeof CrawlFailure>;

export const CrawlStopReason = z.enum(['page-limit', 'post-limit', 'short-page', 'cancelled', 'error']);
export type CrawlStopReason = z.infer<typeof CrawlStopReason>;

/** What the progress of every dataset job has besides its own counters (the core's JOB_PROGRESS_FIELDS). */
const JobProgress = z.object({
  state: JobState,
  /** Bytes this job brought into the dataset. */
  bytes: z.number(),
  imagesPerSec: z.number().optional(),
  etaSeconds: z.number().optional(),
  lastError: z.string().optional(),
});

/** The crawler's progress as the core reports it (counts since this crawl started). Plain JSON. */
export const CrawlProgress = JobProgress.extend({
  /** Page being fetched or processed (1-based); 0 before the first. */
  page: z.int(),
  pagesDone: z.int(),
  /** Eligible posts looked at: safe (unless unsafe ratings are allowed), not deleted. */
  found: z.int(),
  downloaded: z.int(),
  /** Already in the dataset (same md5). */
  skipped: z.int(),
  /** Dropped before download: rating not allowed, or deleted. */
  filtered: z.int(),
  failed: z.int(),
  /** The latest failures, newest last (at most 20). */
  recentFailures: z.array(CrawlFailure),
  /** Why the crawl ended; only on the final snapshot. */
  stoppedBecause: CrawlStopReason.optional(),
});
export type CrawlProgress = z.infer<typeof CrawlProgress>;

export const ImportIssue = z.object({
  /** Path relative to the imported folder. */
  path: z.string(),
  reason: z.string(),
});
export type ImportIssue = z.infer<typeof ImportIssue>;

export const ImportProgress = JobProgress.extend({
  /** Files found under the folder (known after the scan). */
  total: z.int(),
  processed: z.int(),
  imported: z.int(),
  /** Already in the dataset, or a duplicate of an earlier file of this import (same content). */
  skipped: z.int(),
  /** Looked like images but failed validation. */
  rejected: z.int(),
  /** Not image files at all. */
  ignored: z.int(),
  /** Images whose tags came from a sidecar (`image.txt`, gallery-dl's `image.jpg.json`). */
  tagged: z.int(),
  recentRejections: z.array(ImportIssue),
  /** On the final snapshot: every rejected and ignored file with its reason (capped; see the counts). */
  rejectedFiles: z.array(ImportIssue).optional(),
  ignoredFiles: z.array(ImportIssue).optional(),
  /** On the final snapshot: sidecars that could not be read as tags (their images came in without). */
  tagProblems: z.array(ImportIssue).optional(),
});
export type ImportProgress = z.infer<typeof ImportProgress>;

export const ImportRequest = z
  .object({
    /** Absolute path of a folder on this machine. */
    from: z.string().trim().min(1, 'choose a folder').max(4096),
    /** `copy` duplicates the files; `link` hard-links them (or symlinks across disks). */
    mode: z.enum(['copy', 'link']).default('copy'),
  })
  .strict();

/** What survives in the journal of past crawls, and an interrupted crawl the user can resume. */
export const CrawlHistory = z.object({
  postsSeen: z.int(),
  downloaded: z.int(),
  /** Posts whose latest outcome is a failure (the newest, capped): the next crawl retries them. */
  failed: z.array(
    z.object({
      site: z.string(),
      postId: z.int(),
      url: z.string().optional(),
      reason: z.string(),
      at: z.string(),
    }),
  ),
  failedTotal: z.int(),
  lastRun: z.object({ at: z.string(), state: z.string(), reason: z.string().optional() }).optional(),
});
export type CrawlHistory = z.infer<typeof CrawlHistory>;

export const InterruptedCrawl = z.object({
  form: CrawlForm,
  startedAt: z.string(),
  /** Pages fully processed for this site and query before the interruption. */
  pagesDone: z.int(),
});
export type InterruptedCrawl = z.infer<typeof InterruptedCrawl>;

export const DatasetListRequest = z
  .object({
    offset: z.int().min(0).max(100_000_000).default(0),
    limit: z.int().min(1).max(1000).default(200),
  })
  .strict();

export const DatasetItem = z.object({
  name: z.string(),
  /** `import`, the board's host, or `unknown`. */
  source: z.string(),
  postId: z.int().optional(),
  bytes: z.number(),
});
export type DatasetItem = z.infer<typeof DatasetItem>;

export const DatasetPage = z.object({
  total: z.int(),
  offset: z.int(),
  items: z.array(DatasetItem),
});
export type DatasetPage = z.infer<typeof DatasetPage>;

export const THUMB_SIZES = [96, 128, 160, 192, 256] as const;

export const ThumbnailsRequest = z
  .object({
    names: z.array(z.string().min(1).max(255)).min(1).max(200),
    size: z.literal(THUMB_SIZES),
  })
  .strict();

export const ThumbnailsResponse = z.object({
  /** One per requested name, in order: a data-folder-relative path, or why there is none. */
  thumbs: z.array(z.object({ name: z.string(), path: z.string().optional(), error: z.string().optional() })),
});
export type ThumbnailsResponse = z.infer<typeof ThumbnailsResponse>;

/** An http(s) address without credentials in it. */
export function isPlainHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && !url.username && !url.password;
  } catch {
    return false;
  }
}
