import { RunControl } from '../core/util/run-control.ts';
import { KaoError, toWireError, type WireError } from '../shared/errors.ts';
import type { JobPhase } from '../shared/contract-base.ts';

/**
 * One long-running job of a kind at a time (a crawl, an extraction): start, pause, resume, cancel, and
 * progress pushed to the UI at most `maxPerSecond` times a second (the last update is never dropped).
 */
export class JobSlot<P> {
  #control: RunControl | undefined;
  #phase: JobPhase = 'idle';
  #progress: P | undefined;
  #error: WireError | undefined;
  #lastEmit = 0;
  #pendingEmit: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly label: string,
    private readonly publish: (snapshot: JobSnapshot<P>) => void,
    private readonly maxPerSecond = 4,
  ) {}

  get snapshot(): JobSnapshot<P> {
    return { phase: this.#phase, progress: this.#progress, ...(this.#error ? { error: this.#error } : {}) };
  }

  get busy(): boolean {
    return this.#phase === 'running' || this.#phase === 'paused';
  }

  /** Starts `work` unless a job is running; resolves once started, not once finished. */
  start(work: (control: RunControl, report: (progress: P) => void) => Promise<P | void>): JobSnapshot<P> {
    if (this.busy) throw new KaoError('busy', `A ${this.label} is already running.`);
    const control = new RunControl();
    this.#control = control;
    this.#phase = 'running';
    this.#progress = undefined;
    this.#error = undefined;
    this.#emit(true);
    void work(control, (progress) => {
      this.#progress = progress;
      this.#emit(false);
    }).then(
      (final) => {
        if (final) this.#progress = final;
        this.#finish(control.cancelled ? 'cancelled' : 'done');
      },
      (error: unknown) => {
        if (control.cancelled) return this.#finish('cancelled');
        this.#error = toWireError(error);
        this.#finish('failed');
      },
    );
    return this.snapshot;
  }

  pause(): JobSnapshot<P> {
    return this.#move('running', 'paused', (control) => control.pause());
  }

  resume(): JobSnapshot<P> {
    return this.#move('paused', 'running', (control) => control.resume());
  }

  /** From `from` to `to`, telling the job; refused (not-found) in any other phase. */
  #move(from: JobPhase, to: JobPhase, tell: (control: RunControl) => void): JobSnapshot<P> {
    if (this.#phase !== from) throw new KaoError('not-found', `No ${this.label} is ${from}.`);
    tell(this.#control!);
    this.#phase = to;
    this.#emit(true);
    return this.snapshot;
  }

  cancel(): JobSnapshot<P> {
    if (this.busy) this.#control!.cancel();
    return this.snapshot;
  }

  #finish(phase: JobPhase): void {
    this.#phase = phase;
    this.#control = undefined;
    this.#emit(true);
  }

  #emit(force: boolean): void {
    const now = Date.now();
    const interval = 1000 / this.maxPerSecond;
    if (force || now - this.#lastEmit >= interval) {
      clearTimeout(this.#pendingEmit);
      this.#pendingEmit = undefined;
      this.#lastEmit = now;
      this.publish(this.snapshot);
    } else if (!this.#pendingEmit) {
      this.#pendingEmit = setTimeout(
        () => {
          this.#pendingEmit = undefined;
          this.#lastEmit = Date.now();
          this.publish(this.snapshot);
        },
        interval - (now - this.#lastEmit),
      );
    }
  }
}

export interface JobSnapshot<P> {
  phase: JobPhase;
  progress: P | undefined;
  error?: WireError;
}
