import type { JobPhase } from '../../../shared/contract-base.ts';
import { errorMessage } from './format.ts';

/** What the UI needs of a long job's snapshot (crawl, import, extraction): see `jobSnapshot` in shared. */
export interface JobLike<P = unknown> {
  phase: JobPhase;
  progress?: P;
}

/** The job holds the service: running, or paused and able to resume. */
export function isJobBusy(job: JobLike): boolean {
  return job.phase === 'running' || job.phase === 'paused';
}

/** The job has stopped for good, whatever the reason. */
export function isJobEnded(job: JobLike): boolean {
  return job.phase === 'done' || job.phase === 'cancelled' || job.phase === 'failed';
}

/** Share of the job done, 0 to 1: none before the first progress, all once done, else `share` of it. */
export function jobFraction<P>(job: JobLike<P>, share: (progress: P) => number): number {
  const p = job.progress;
  if (!p) return 0;
  if (job.phase === 'done') return 1;
  return share(p);
}

/** What a long job's buttons ask of it. */
export type JobControl = 'pause' | 'resume' | 'cancel';

/**
 * Pause, resume or cancel: the reply is the job's new snapshot, unless an event about the job came while the
 * request was out. The service publishes a change before it answers, so such an event is at least as new as
 * the reply (a job that finished just after a pause must stay finished). A refusal is a message for the form.
 */
export async function controlJob<J>(
  action: () => Promise<J>,
  job: { get: () => J; set: (job: J) => void },
  fail: (message: string) => void,
): Promise<void> {
  const before = job.get();
  try {
    const reply = await action();
    if (job.get() === before) job.set(reply);
  } catch (error) {
    fail(errorMessage(error));
  }
}

/**
 * While a job adds files, re-reads a list at most every `intervalMs`: `changed` is called with each snapshot's
 * marker (a count that grows with the job), and at once when the job ends or something else changed the list.
 */
export class RefreshThrottle {
  #refresh: () => void;
  #intervalMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastRefresh = 0;
  #lastMarker = -1;

  constructor(refresh: () => void, intervalMs = 1500) {
    this.#refresh = refresh;
    this.#intervalMs = intervalMs;
  }

  /** The list was just read: the next throttled refresh waits a full interval from now. */
  refreshed(): void {
    this.#lastRefresh = Date.now();
  }

  changed(marker: number, now: boolean): void {
    if (marker === this.#lastMarker && !now) return;
    this.#lastMarker = now ? -1 : marker;
    clearTimeout(this.#timer);
    const wait = now ? 0 : Math.max(0, this.#intervalMs - (Date.now() - this.#lastRefresh));
    this.#timer = setTimeout(this.#refresh, wait);
  }

  cancel(): void {
    clearTimeout(this.#timer);
  }
}

/** One count of a job's progress grid (JobProgress). */
export interface JobCount {
  key: string;
  label: string;
  /** A number is shown with the locale's digit grouping, a string as it is. */
  value: number | string;
  hint: string;
  /** Shown in the error colour. */
  bad?: boolean;
}

/** The keys of P whose values are counts. */
type CountField<P> = { [K in keyof P]-?: P[K] extends number | undefined ? K : never }[keyof P] & string;

/**
 * A count of the grid, read from the job's progress: the field named `key`, or `field` where the testid's key
 * is another word, or `text` when the count is not one number. `alarm` turns it red once above zero (failures).
 */
export type JobCountSpec<P> = (
  | { key: CountField<P> }
  | { key: string; field: CountField<P> }
  | { key: string; text: (progress: P | undefined) => string }
) & { label: string; hint: string; alarm?: boolean };

/** The counts grid of a job from its progress; every count is 0 before the first report. */
export function jobCounts<P extends object>(progress: P | undefined, specs: JobCountSpec<P>[]): JobCount[] {
  return specs.map((spec) => {
    const { key, label, hint } = spec;
    if ('text' in spec) return { key, label, hint, value: spec.text(progress) };
    const field = 'field' in spec ? spec.field : (key as CountField<P>);
    const value = Number(progress?.[field] ?? 0);
    return spec.alarm ? { key, label, hint, value, bad: value > 0 } : { key, label, hint, value };
  });
}
