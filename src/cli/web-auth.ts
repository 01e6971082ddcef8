import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** How long the printed URL keeps working after its first use: a second tab, a reload of the redirect. */
export const URL_TOKEN_GRACE_MS = 60_000;

/**
 * The access rules of one `kao serve` process. The printed URL carries `token`; the first visit swaps it
 * for a session cookie whose value is a different secret, so a token left in history, a log or a Referer
 * stops working a minute after it was first used. Cookies ignore ports, so the cookie's name carries the
 * port: two servers on one machine never overwrite each other's session.
 */
export class WebAccess {
  readonly token = randomBytes(24).toString('hex');
  readonly #session = randomBytes(32).toString('hex');
  #firstUse: number | undefined;

  /** 0 until the server listens; nothing is served before (no host or origin matches port 0). */
  port = 0;

  readonly #graceMs: number;

  constructor(
    /** Tests shorten it (`KAO_SERVE_URL_GRACE_MS`); never longer than URL_TOKEN_GRACE_MS. */
    graceMs: number = URL_TOKEN_GRACE_MS,
    private readonly now: () => number = Date.now,
  ) {
    this.#graceMs = Math.min(Math.max(0, graceMs), URL_TOKEN_GRACE_MS);
  }

  get cookieName(): string {
    return `kao_session_${this.port}`;
  }

  /** The `Set-Cookie` value given in exchange for the URL token. */
  get sessionCookie(): string {
    return `${this.cookieName}=${this.#session}; HttpOnly; SameSite=Strict; Path=/`;
  }

  /** The hosts this server answers to; anything else is DNS rebinding or a misdirected request. */
  hostAllowed(host: string | undefined): boolean {
    if (this.port === 0) return false;
    return host === `127.0.0.1:${this.port}` || host === `localhost:${this.port}`;
  }

  /** The page origins whose WebSocket upgrades are accepted (the page the browser loaded from us). */
  originAllowed(origin: string | undefined): boolean {
    if (this.port === 0) return false;
    return origin === `http://127.0.0.1:${this.port}` || origin === `http://localhost:${this.port}`;
  }

  /** True when the request carries this server's session cookie. */
  hasSession(req: IncomingMessage): boolean {
    return sameSecret(readCookie(req.headers.cookie, this.cookieName), this.#session);
  }

  /** Accepts the URL token until a minute after its first use; the caller then sets the cookie. */
  redeemUrlToken(candidate: string | null): 'accepted' | 'spent' | 'wrong' {
    if (!sameSecret(candidate, this.token)) return 'wrong';
    const now = this.now();
    this.#firstUse ??= now;
    return now - this.#firstUse <= this.#graceMs ? 'accepted' : 'spent';
  }
}

/**
 * Constant-time comparison of two secrets of any length or encoding: hashing both first gives equal-length
 * buffers (`timingSafeEqual` throws on different byte lengths, which a multi-byte character can cause).
 */
export function sameSecret(candidate: string | null | undefined, secret: string): boolean {
  if (typeof candidate !== 'string' || candidate.length === 0) return false;
  const a = createHash('sha256').update(candidate, 'utf8').digest();
  const b = createHash('sha256').update(secret, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/** One cookie's value from a `Cookie` header, or undefined. Never throws on odd input. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (typeof header !== 'string') return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * The path and query of an origin-form request target (`/path?query`). Anything else — absolute-form
 * (`http://other.host/`), authority-form, `*`, a protocol-relative `//x` — is undefined: this server only
 * serves its own paths. Never throws, unlike `new URL` on a target such as `//[`.
 */
export function parseTarget(
  target: string | undefined,
): { path: string; query: URLSearchParams } | undefined {
  if (typeof target !== 'string' || !target.startsWith('/') || target.startsWith('//')) return undefined;
  const q = target.indexOf('?');
  const rawPath = q < 0 ? target : target.slice(0, q);
  const hash = rawPath.indexOf('#');
  const path = hash < 0 ? rawPath : rawPath.slice(0, hash);
  return { path, query: new URLSearchParams(q < 0 ? '' : target.slice(q + 1)) };
}
