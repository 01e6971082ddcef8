import { TrainerToHost, type HostToTrainer } from '../shared/trainer-protocol.ts';
import type { TrainerStatus } from '../shared/contract.ts';
import { KaoError, type WireError } from '../shared/errors.ts';

/** What the host needs from a child process; Electron's utilityProcess and Node's fork both provide it. */
export interface TrainerProcess {
  readonly pid: number | undefined;
  postMessage(message: HostToTrainer): void;
  onMessage(listener: (message: unknown) => void): void;
  /** `reason` is a human description when the runtime knows more than the exit code (e.g. "oom"). */
  onExit(listener: (info: { code: number | null; signal?: string | null; reason?: string }) => void): void;
  kill(): void;
}
export type TrainerLauncher = () => TrainerProcess;

type WithoutRequestId<T> = T extends unknown ? Omit<T, 'requestId'> : never;

export type TrainerEvent = Exclude<TrainerToHost, { type: 'reply' } | { type: 'ready' }>;

export interface TrainerHostOptions {
  launch: TrainerLauncher;
  /** How long the child may take to say `ready` (module loading, wasm compile). */
  readyTimeoutMs?: number;
  /** How long shutdown waits for a clean exit before killing. */
  exitTimeoutMs?: number;
  onStatus?: (status: TrainerStatus) => void;
  onEvent?: (event: TrainerEvent) => void;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Owns the trainer process: starts it on demand, speaks the typed protocol, validates every message,
 * reports crashes instead of hiding them (nothing restarts silently), and kills the child on shutdown.
 */
export class TrainerHost {
  #child: TrainerProcess | undefined;
  #ready: Promise<void> | undefined;
  #pending = new Map<number, Pending>();
  #nextRequestId = 1;
  #status: TrainerStatus = { state: 'stopped' };
  #expectingExit = false;
  /** Why the host itself stopped the child, when it did (protocol violation, start timeout). */
  #killReason: string | undefined;
  #statusListeners = new Set<(status: TrainerStatus) => void>();
  #eventListeners = new Set<(event: TrainerEvent) => void>();
  readonly #options: Required<Pick<TrainerHostOptions, 'readyTimeoutMs' | 'exitTimeoutMs'>> &
    TrainerHostOptions;

  constructor(options: TrainerHostOptions) {
    this.#options = { readyTimeoutMs: 60_000, exitTimeoutMs: 10_000, ...options };
  }

  get status(): TrainerStatus {
    return this.#status;
  }

  /** Starts the process if it is not running and resolves once it said `ready`. */
  ensureStarted(): Promise<void> {
    if (this.#child && this.#ready) return this.#ready;
    this.#expectingExit = false;
    this.#killReason = undefined;
    const child = this.#options.launch();
    this.#child = child;
    this.#setStatus({ state: 'starting', lastCrash: this.#status.lastCrash, backend: this.#status.backend });
    this.#ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#fail(child, `the trainer did not start within ${this.#options.readyTimeoutMs / 1000} s`);
        reject(new KaoError('trainer-crashed', 'The trainer did not start in time and was stopped.'));
      }, this.#options.readyTimeoutMs);
      child.onMessage((raw) => {
        const parsed = TrainerToHost.safeParse(raw);
        if (!parsed.success) {
          clearTimeout(timer);
          this.#fail(child, `the trainer sent a malformed message (${describe(raw)})`);
          reject(new KaoError('protocol', 'The trainer sent a malformed message and was stopped.'));
          return;
        }
        const message = parsed.data;
        if (message.type === 'ready') {
          clearTimeout(timer);
          this.#setStatus({ ...this.#status, state: 'idle', pid: message.pid });
          resolve();
        } else {
          this.#onMessage(message);
        }
      });
      child.onExit((info) => {
        clearTimeout(timer);
        if (this.#child !== child) return;
        const expected = this.#expectingExit;
        this.#child = undefined;
        this.#ready = undefined;
        const why = info.reason ?? (info.signal ? `killed by ${info.signal}` : `exit code ${info.code}`);
        const crash = expected
          ? undefined
          : (this.#killReason ?? `The trainer process stopped unexpectedly (${why}).`);
        this.#rejectAll(new KaoError('trainer-crashed', crash ?? 'The trainer was shut down.'));
        this.#setStatus({
          state: expected ? 'stopped' : 'crashed',
          backend: this.#status.backend,
          lastCrash: crash ?? this.#status.lastCrash,
        });
        reject(new KaoError('trainer-crashed', crash ?? 'The trainer exited before it was ready.'));
      });
    });
    return this.#ready;
  }

  /** Sends a request and waits for its reply, failing after `timeoutMs` rather than hanging the UI. */
  async request<T>(
    message: WithoutRequestId<Extract<HostToTrainer, { requestId: number }>>,
    timeoutMs = 120_000,
  ): Promise<T> {
    await this.ensureStarted();
    const child = this.#child;
    if (!child) throw new KaoError('trainer-crashed', 'The trainer is not running.');
    const requestId = this.#nextRequestId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(requestId);
        reject(
          new KaoError(
            'trainer-crashed',
            `The trainer did not answer within ${Math.round(timeoutMs / 1000)} s.`,
          ),
        );
      }, timeoutMs);
      this.#pending.set(requestId, { resolve: resolve as (v: unknown) => void, reject, timer });
      child.postMessage({ ...message, requestId } as HostToTrainer);
    });
  }

  /** Fire-and-forget control messages (pause, resume, stop). */
  send(message: Extract<HostToTrainer, { type: 'pause' | 'resume' | 'stop' }>): void {
    if (!this.#child) throw new KaoError('not-found', 'The trainer is not running.');
    this.#child.postMessage(message);
  }

  /** Asks the trainer to exit (it checkpoints first), then kills it if it has not exited in time. */
  async shutdown(timeoutMs = this.#options.exitTimeoutMs): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#expectingExit = true;
    const exited = new Promise<void>((resolve) => child.onExit(() => resolve()));
    try {
      child.postMessage({ type: 'shutdown' });
    } catch {
      /* already gone */
    }
    const timedOut = await Promise.race([exited.then(() => false), delay(timeoutMs).then(() => true)]);
    if (timedOut) {
      child.kill();
      await Promise.race([exited, delay(2000)]);
    }
  }

  #onMessage(message: Exclude<TrainerToHost, { type: 'ready' }>): void {
    if (message.type === 'reply') {
      const pending = this.#pending.get(message.requestId);
      if (!pending) return;
      this.#pending.delete(message.requestId);
      clearTimeout(pending.timer);
      if (message.ok) pending.resolve(message.value);
      else
        pending.reject(
          KaoError.fromWire(
            message.error ?? ({ code: 'internal', message: 'unknown trainer error' } as WireError),
          ),
        );
      return;
    }
    if (message.type === 'backend') this.#setStatus({ ...this.#status, backend: message.backend });
    if (message.type === 'state') this.#setStatus({ ...this.#status, state: message.state });
    // The job ended (finished, stopped or failed): the process lives on, idle, not "running".
    if (message.type === 'done') this.#setStatus({ ...this.#status, state: 'idle' });
    this.#options.onEvent?.(message);
    for (const listener of this.#eventListeners) listener(message);
  }

  #fail(child: TrainerProcess, why: string): void {
    // A child that breaks the protocol cannot be trusted with a run: stop it and say so.
    this.#expectingExit = false;
    this.#killReason = `Stopped the trainer: ${why}.`;
    child.kill();
  }

  #rejectAll(error: Error): void {
    for (const [, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.#pending.clear();
  }

  #setStatus(status: TrainerStatus): void {
    this.#status = status;
    this.#options.onStatus?.(status);
    for (const listener of this.#statusListeners) listener(status);
  }

  /** Adds a listener for status changes; returns the unsubscribe function. */
  onStatus(listener: (status: TrainerStatus) => void): () => void {
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }

  /** Adds a listener for the trainer's events (progress, samples, checkpoints, done); returns unsubscribe. */
  onEvent(listener: (event: TrainerEvent) => void): () => void {
    this.#eventListeners.add(listener);
    return () => this.#eventListeners.delete(listener);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref?.());
}

function describe(raw: unknown): string {
  try {
    return JSON.stringify(raw).slice(0, 120);
  } catch {
    return typeof raw;
  }
}
