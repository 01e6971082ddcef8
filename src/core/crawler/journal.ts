import { join } from 'node:path';
import { appendJsonl, readJsonlReport } from '../util/jsonl.ts';

/**
 * The crawl journal: one append-only JSON line per event in `<dataset>/crawl-journal.jsonl`. Appends are
 * cheap at any dataset size and a kill can at worst tear the last line, which readers skip. The journal is
 * the history (pages done, every post outcome with its reason); which posts are already downloaded is
 * decided by the files themselves, so a kill between the rename and the append loses nothing.
 */
export const JOURNAL_FILE = 'crawl-journal.jsonl';

export type PostOutcome = 'downloaded' | 'present' | 'failed' | 'filtered';

export type JournalRecord =
  | { type: 'start'; at: string; site: string; tags: string; rendition: string }
  | { type: 'page'; at: string; site: string; tags: string; page: number; posts: number }
  | {
      type: 'post';
      at: string;
      site: string;
      postId: number;
      md5?: string;
      outcome: PostOutcome;
      file?: string;
      url?: string;
      reason?: string;
      bytes?: number;
    }
  | { type: 'end'; at: string; site: string; tags: string; state: string; reason?: string };

/** A record without the fields every record has: when, and which site. */
export type JournalEntry = JournalRecord extends infer R
  ? R extends JournalRecord
    ? Omit<R, 'at' | 'site'>
    : never
  : never;

/** Appends one site's records to the journal, each stamped with the time it was written. */
export function siteJournal(datasetDir: string, site: string): (entry: JournalEntry) => Promise<void> {
  return ({ type, ...fields }) => {
    const record = { type, at: new Date().toISOString(), site, ...fields } as JournalRecord;
    return appendJournal(datasetDir, record);
  };
}

export function journalPath(datasetDir: string): string {
  return join(datasetDir, JOURNAL_FILE);
}

export async function appendJournal(datasetDir: string, record: JournalRecord): Promise<void> {
  await appendJsonl(journalPath(datasetDir), record);
}

export interface CrawlHistory {
  /** Distinct (site, post) pairs the crawler has looked at. */
  postsSeen: number;
  downloaded: number;
  /** Highest page fully processed, per `site tags` query. */
  pagesDone: Record<string, number>;
  /** Posts whose latest outcome is a failure: they are retried by the next crawl. */
  failed: Array<{ site: string; postId: number; url?: string; reason: string; at: string }>;
  lastRun?: { at: string; state: string; reason?: string };
  /** Lines that could not be read (a record torn by a kill mid-append), skipped. */
  unreadableLines: number;
}

/** Replays the journal into what the UI shows about past crawls of this dataset. */
export async function readCrawlHistory(datasetDir: string): Promise<CrawlHistory> {
  const latest = new Map<string, Extract<JournalRecord, { type: 'post' }>>();
  const pagesDone: Record<string, number> = {};
  let lastRun: CrawlHistory['lastRun'];
  const { records, unreadable } = await readJsonlReport(journalPath(datasetDir));
  for (const raw of records) {
    const record = raw as JournalRecord;
    if (record?.type === 'post' && typeof record.postId === 'number') {
      latest.set(`${record.site} ${record.postId}`, record);
    } else if (record?.type === 'page') {
      const key = `${record.site} ${record.tags}`;
      pagesDone[key] = Math.max(pagesDone[key] ?? 0, record.page);
    } else if (record?.type === 'end') {
      lastRun = { at: record.at, state: record.state, reason: record.reason };
    }
  }
  const outcomes = [...latest.values()];
  return {
    postsSeen: latest.size,
    downloaded: outcomes.filter((r) => r.outcome === 'downloaded').length,
    pagesDone,
    failed: outcomes
      .filter((r) => r.outcome === 'failed')
      .map((r) => ({ site: r.site, postId: r.postId, url: r.url, reason: r.reason ?? 'unknown', at: r.at })),
    lastRun,
    unreadableLines: unreadable,
  };
}
