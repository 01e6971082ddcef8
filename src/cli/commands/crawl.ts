import { resolve } from 'node:path';
import { CliError, defineCommand, withProgress, writeJson, writeResult } from '../command.ts';
import { intOption, requireFlags, stringFlags } from '../options.ts';
import {
  CrawlError,
  DEFAULT_SITE,
  crawl,
  parseCrawlOptions,
  type CrawlOptionsInput,
  type CrawlSummary,
} from '../../core/crawler/crawl.ts';
import { CrawlOptionError, describeCrawlOptionProblem } from '../../core/crawler/errors.ts';
import { Rendition } from '../../shared/contract-base.ts';

const usage =
  'kao crawl --site URL --out DIR [--tags T] [--pages N] [--limit N] [--rendition sample|preview|jpeg|original] ' +
  '[--delay-ms N] [--unsafe-ratings] [--extra-host HOST]… [--max-file-mb N] [--stall-timeout-ms N] [--retries N] [--json]';

export const crawlCommand = defineCommand(
  usage,
  {
    ...stringFlags('site', 'out', 'tags', 'pages', 'limit', 'rendition', 'delay-ms'),
    'unsafe-ratings': { type: 'boolean' },
    'extra-host': { type: 'string', multiple: true },
    ...stringFlags('max-file-mb', 'stall-timeout-ms', 'retries'),
  },
  async (values, io) => {
    requireFlags(values, ['out'], usage);
    const rendition = values.rendition === undefined ? undefined : Rendition.safeParse(values.rendition).data;
    if (values.rendition !== undefined && !rendition) {
      const names = Rendition.options.join(', ');
      throw new CliError(`--rendition must be one of ${names}, got "${values.rendition}"`, 2);
    }
    const maxFileMb = intOption(values['max-file-mb'], 'max-file-mb', 1);
    const input: CrawlOptionsInput = {
      site: values.site ?? DEFAULT_SITE,
      datasetDir: resolve(values.out),
      tags: values.tags ?? '',
      maxPages: intOption(values.pages, 'pages', 1),
      maxPosts: intOption(values.limit, 'limit', 1),
      rendition,
      delayMs: intOption(values['delay-ms'], 'delay-ms', 0),
      unsafeRatings: values['unsafe-ratings'] ?? false,
      extraHosts: values['extra-host'] ?? [],
      maxFileBytes: maxFileMb === undefined ? undefined : maxFileMb * 1024 * 1024,
      stallTimeoutMs: intOption(values['stall-timeout-ms'], 'stall-timeout-ms', 1),
      maxRetries: intOption(values.retries, 'retries', 0),
    };
    try {
      parseCrawlOptions(input);
    } catch (error) {
      throw new CliError(crawlOptionMessage(error), 2);
    }

    // Ctrl-C cancels cleanly (the partial download is removed); a second Ctrl-C kills at once.
    let summary: CrawlSummary;
    try {
      summary = await withProgress(io, { label: 'crawl', signals: ['SIGINT'] }, (control, bar) =>
        crawl(input, {
          control,
          onWarning: (message) => bar.print(`warning: ${message}`),
          onProgress: (p) => {
            const total = input.maxPosts;
            const detail = `page ${p.page} · ${p.downloaded} new · ${p.skipped} present · ${p.failed} failed`;
            bar.update(p.found, total, p.state === 'paused' ? `${detail} (paused)` : detail);
          },
        }),
      );
    } catch (error) {
      if (error instanceof CrawlError) {
        if (io.json) writeJson(io, error.summary);
        throw new CliError(error.message);
      }
      throw error;
    }
    writeResult(io, summary, describeCrawl);
    return summary.state === 'done' ? 0 : 130;
  },
);

function describeCrawl(summary: CrawlSummary): string[] {
  const lines = [
    `${summary.state === 'done' ? 'Crawl finished' : 'Crawl cancelled'} (${describeStop(summary)}) in ${(summary.durationMs / 1000).toFixed(1)} s`,
    `  query:      ${summary.site} tags="${summary.tags}"`,
    `  found:      ${summary.found} posts on ${summary.page} page(s)`,
    `  downloaded: ${summary.downloaded} (${(summary.bytes / (1024 * 1024)).toFixed(1)} MB)`,
    `  skipped:    ${summary.skipped} already in the dataset`,
    `  filtered:   ${summary.filtered} (${summary.filteredReasons.rating} by rating, ${summary.filteredReasons.deleted} deleted)`,
    `  failed:     ${summary.failed}${summary.failed ? ' (retried on the next crawl)' : ''}`,
    `  tags kept:  ${summary.tagged}${summary.tagProblems ? ` (${summary.tagProblems} post(s) with malformed tags: see crawl-journal.jsonl)` : ''}`,
  ];
  const reasons = new Map<string, number>();
  for (const failure of summary.failures) reasons.set(failure.reason, (reasons.get(failure.reason) ?? 0) + 1);
  for (const [reason, count] of [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 10)) {
    lines.push(`    ${String(count).padStart(4)} × ${reason}`);
  }
  return lines;
}

function describeStop(summary: CrawlSummary): string {
  switch (summary.stoppedBecause) {
    case 'page-limit':
      return 'page limit reached';
    case 'post-limit':
      return 'post limit reached';
    case 'short-page':
      return 'no more posts';
    case 'cancelled':
      return 'cancelled';
    case 'error':
      return 'error';
  }
}

/** The core's refusal, with the flag that lifts it where there is one. */
function crawlOptionMessage(error: unknown): string {
  if (!(error instanceof CrawlOptionError)) return (error as Error).message;
  const message = describeCrawlOptionProblem(error.problem);
  return error.problem.code === 'unsafe-rating-tag' ? `${message} (--unsafe-ratings)` : message;
}
