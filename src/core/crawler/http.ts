import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { CancelledError, sleep } from '../util/run-control.ts';
import type { HostPolicy } from './hosts.ts';

/** How the crawler behaves towards a server. Every field has a polite default in `defaultHttpPolicy`. */
export interface HttpPolicy {
  userAgent: string;
  /** Minimum gap between the end of one request and the start of the next (requests never overlap). */
  delayMs: number;
  /** Extra attempts after the first for network errors, timeouts, 5xx, 408, 421 and 429. */
  maxRetries: number;
  /** Backoff before retry n is retryBaseMs·2^(n-1) plus up to 20 % jitter. */
  retryBaseMs: number;
  /** Cap on any single wait, including a server's Retry-After. */
  maxRetryWaitMs: number;
  /** From sending the request to receiving the response headers. */
  connectTimeoutMs: number;
  /** Longest silence allowed while a body is streaming. */
  stallTimeoutMs: number;
  maxRedirects: number;
}

export const defaultHttpPolicy = (userAgent: string): HttpPolicy => ({
  userAgent,
  delayMs: 1000,
  maxRetries: 4,
  retryBaseMs: 2000,
  maxRetryWaitMs: 120_000,
  connectTimeoutMs: 30_000,
  stallTimeoutMs: 30_000,
  maxRedirects: 5,
});

/** A failure worth retrying later in the same run (network error, timeout, 5xx, 429…). */
export class TransientHttpError extends Error {
  override readonly name = 'TransientHttpError';
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** A failure retrying will not fix in this run: refused host, 404, oversized file, HTML instead of an image. */
export class PermanentHttpError extends Error {
  override readonly name = 'PermanentHttpError';
}

export interface RetryEvent {
  url: string;
  attempt: number;
  waitMs: number;
  reason: string;
}

export interface DownloadResult {
  bytes: number;
  md5: string;
  contentType: string;
  /** The URL after redirects. */
  finalUrl: string;
}

const RETRYABLE_STATUSES = new Set([408, 421, 429]);
const MAX_JSON_BYTES = 20 * 1024 * 1024;

/**
 * A deliberately slow HTTP client: one request at a time, a gap between requests, a descriptive
 * User-Agent, bounded retries with exponential backoff that honour Retry-After, timeouts on the response
 * headers and on stalled bodies, size caps, and a host allow-list checked on every redirect hop.
 */
export class PoliteHttpClient {
  #queue: Promise<unknown> = Promise.resolve();
  /** performance.now() when the last request ended; 0 before the first. */
  #lastRequestEnd = 0;

  constructor(
    readonly policy: HttpPolicy,
    private readonly hosts: HostPolicy,
    private readonly signal: AbortSignal,
    private readonly onRetry: (event: RetryEvent) => void = () => undefined,
  ) {}

  /** Fetches and parses a JSON document; an HTML or garbled body counts as transient (e.g. a CDN error page). */
  getJson(url: string): Promise<unknown> {
    return this.#withRetries(url, async (response, body) => {
      const bytes = await readAll(body, MAX_JSON_BYTES);
      const text = new TextDecoder().decode(bytes);
      try {
        return JSON.parse(text) as unknown;
      } catch {
        const type = response.headers.get('content-type') ?? 'no content type';
        const snippet = text.slice(0, 60).replace(/\s+/g, ' ').trim();
        throw new TransientHttpError(`response is not JSON (${type}): "${snippet}"`);
      }
    });
  }

  /**
   * Streams a file to `destPath` (created or truncated) while hashing it. The caller owns `destPath` and
   * removes it on failure; it is fsynced before this resolves so a rename afterwards is crash-safe.
   */
  download(url: string, destPath: string, maxBytes: number): Promise<DownloadResult> {
    return this.#withRetries(url, async (response, body, finalUrl) => {
      const contentType = (response.headers.get('content-type') ?? '').toLowerCase();
      if (/^(text\/|application\/(json|xml|xhtml))/.test(contentType)) {
        await body.cancel().catch(() => undefined);
        throw new PermanentHttpError(`server sent ${contentType.split(';')[0]} instead of an image`);
      }
      const declared = Number(response.headers.get('content-length') ?? NaN);
      if (Number.isFinite(declared) && declared > maxBytes) {
        await body.cancel().catch(() => undefined);
        throw new PermanentHttpError(
          `file is ${formatBytes(declared)}, over the ${formatBytes(maxBytes)} cap`,
        );
      }
      const hash = createHash('md5');
      const file = await open(destPath, 'w');
      let bytes = 0;
      try {
        for await (const chunk of iterate(body)) {
          bytes += chunk.byteLength;
          if (bytes > maxBytes) {
            await body.cancel().catch(() => undefined);
            throw new PermanentHttpError(`download passed the ${formatBytes(maxBytes)} cap`);
          }
          hash.update(chunk);
          await file.write(chunk);
        }
        await file.sync();
      } finally {
        await file.close();
      }
      return { bytes, md5: hash.digest('hex'), contentType, finalUrl };
    });
  }

  /** Serialises requests: each waits for the previous one and for the politeness gap. */
  #withRetries<T>(
    url: string,
    consume: (response: Response, body: ReadableStream<Uint8Array>, finalUrl: string) => Promise<T>,
  ): Promise<T> {
    const run = this.#queue.then(async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.#attempt(url, consume);
        } catch (error) {
          if (this.signal.aborted) throw cancellation(this.signal);
          if (!(error instanceof TransientHttpError) || attempt > this.policy.maxRetries) throw error;
          const backoff = this.policy.retryBaseMs * 2 ** (attempt - 1) * (1 + Math.random() * 0.2);
          const waitMs = Math.round(Math.min(this.policy.maxRetryWaitMs, error.retryAfterMs ?? backoff));
          this.onRetry({ url, attempt, waitMs, reason: error.message });
          // The politeness gap still applies after the wait, so a short Retry-After never means a burst.
          await sleep(waitMs, this.signal);
        }
      }
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #gapLeft(): number {
    return this.#lastRequestEnd === 0 ? 0 : this.#lastRequestEnd + this.policy.delayMs - performance.now();
  }

  async #attempt<T>(
    url: string,
    consume: (response: Response, body: ReadableStream<Uint8Array>, finalUrl: string) => Promise<T>,
  ): Promise<T> {
    // Timers may fire a hair early; loop until the full gap has really passed.
    for (let wait = this.#gapLeft(); wait > 0; wait = this.#gapLeft())
      await sleep(Math.ceil(wait), this.signal);
    if (this.signal.aborted) throw cancellation(this.signal);
    const local = new AbortController();
    const signal = AbortSignal.any([this.signal, local.signal]);
    let timeoutReason: string | undefined;
    const abortWith = (reason: string) => {
      timeoutReason = reason;
      local.abort(new TransientHttpError(reason));
    };
    try {
      let current = new URL(url);
      for (let hop = 0; ; hop++) {
        const refused = this.hosts.check(current);
        if (refused) throw new PermanentHttpError(refused);
        const headerTimer = setTimeout(
          () => abortWith(`no response within ${this.policy.connectTimeoutMs} ms`),
          this.policy.connectTimeoutMs,
        );
        let response: Response;
        try {
          response = await fetch(current, {
            headers: { 'user-agent': this.policy.userAgent, accept: '*/*' },
            redirect: 'manual',
            signal,
          });
        } finally {
          clearTimeout(headerTimer);
        }
        if (response.status >= 300 && response.status < 400 && response.headers.has('location')) {
          await response.body?.cancel().catch(() => undefined);
          if (hop >= this.policy.maxRedirects)
            throw new PermanentHttpError(`more than ${this.policy.maxRedirects} redirects`);
          current = new URL(response.headers.get('location')!, current);
          continue;
        }
        if (!response.ok) {
          await response.body?.cancel().catch(() => undefined);
          const reason = `HTTP ${response.status}${response.statusText ? ' ' + response.statusText : ''}`;
          if (response.status >= 500 || RETRYABLE_STATUSES.has(response.status)) {
            throw new TransientHttpError(reason, parseRetryAfter(response.headers.get('retry-after')));
          }
          throw new PermanentHttpError(reason);
        }
        if (!response.body) throw new TransientHttpError('response has no body');
        return await consume(
          response,
          guardStalls(response.body, this.policy.stallTimeoutMs, abortWith, local.signal),
          current.href,
        );
      }
    } catch (error) {
      if (this.signal.aborted) throw cancellation(this.signal);
      if (timeoutReason) throw new TransientHttpError(timeoutReason);
      if (error instanceof TransientHttpError || error instanceof PermanentHttpError) throw error;
      // fetch reports refused connections, resets and early-closed bodies as TypeError("fetch failed"/"terminated").
      throw new TransientHttpError(`network error: ${describeNetworkError(error)}`);
    } finally {
      // Ends whatever is left of the exchange (a body abandoned over a cap) and disarms the stall timer.
      local.abort();
      this.#lastRequestEnd = performance.now();
    }
  }
}

/** Wraps a body so that `stallTimeoutMs` without a chunk aborts the request; `finished` disarms it. */
function guardStalls(
  body: ReadableStream<Uint8Array>,
  stallTimeoutMs: number,
  abortWith: (reason: string) => void,
  finished: AbortSignal,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let timer: NodeJS.Timeout | undefined;
  finished.addEventListener('abort', () => clearTimeout(timer), { once: true });
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => abortWith(`body stalled: no bytes for ${stallTimeoutMs} ms`), stallTimeoutMs);
  };
  return new ReadableStream<Uint8Array>({
    start: arm,
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          clearTimeout(timer);
          controller.close();
        } else {
          arm();
          controller.enqueue(value);
        }
      } catch (error) {
        clearTimeout(timer);
        controller.error(error);
      }
    },
    async cancel(reason) {
      clearTimeout(timer);
      await reader.cancel(reason);
    },
  });
}

async function* iterate(body: ReadableStream<Uint8Array>) {
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

async function readAll(body: ReadableStream<Uint8Array>, maxBytes: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of iterate(body)) {
    total += chunk.byteLength;
    if (total > maxBytes) throw new PermanentHttpError(`response passed the ${formatBytes(maxBytes)} cap`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Retry-After as delta-seconds or an HTTP-date, in ms from `now`; undefined when absent or unparsable. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

function cancellation(signal: AbortSignal): Error {
  return signal.reason instanceof CancelledError ? signal.reason : new CancelledError();
}

function describeNetworkError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as Error & { cause?: unknown }).cause;
  if (!(cause instanceof Error)) return error.message;
  const code = (cause as NodeJS.ErrnoException).code;
  return `${error.message} (${code ?? cause.message})`;
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${bytes} B`;
}
