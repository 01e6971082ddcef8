/**
 * Cancel and pause for long-running jobs (crawl, extraction, training). Cancel is an AbortSignal so it
 * composes with fetch; pause is a promise the job awaits between units of work.
 */
export class RunControl {
  readonly #abort = new AbortController();
  #paused = false;
  #resumeWaiters: Array<() => void> = [];

  get signal(): AbortSignal {
    return this.#abort.signal;
  }
  get paused(): boolean {
    return this.#paused;
  }
  get cancelled(): boolean {
    return this.#abort.signal.aborted;
  }

  cancel(reason = 'cancelled'): void {
    this.#abort.abort(new CancelledError(reason));
    this.resume();
  }
  pause(): void {
    this.#paused = true;
  }
  resume(): void {
    this.#paused = false;
    const waiters = this.#resumeWaiters;
    this.#resumeWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Call between units of work: waits while paused, throws CancelledError once cancelled. */
  async checkpoint(): Promise<void> {
    this.throwIfCancelled();
    while (this.#paused && !this.cancelled) {
      await new Promise<void>((resolve) => this.#resumeWaiters.push(resolve));
    }
    this.throwIfCancelled();
  }

  throwIfCancelled(): void {
    if (this.cancelled) throw new CancelledError();
  }
}

export class CancelledError extends Error {
  override readonly name = 'CancelledError';
  constructor(reason = 'cancelled') {
    super(reason);
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new CancelledError());
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason ?? new CancelledError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
