import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../util/atomic-file.ts';
import { FacesError, type CascadeGiven } from './errors.ts';

/** nagadomi/lbpcascade_animeface (MIT): the one cascade the detector is validated with. */
export const CASCADE_FILE_NAME = 'lbpcascade_animeface.xml';
export const CASCADE_URL =
  'https://raw.githubusercontent.com/nagadomi/lbpcascade_animeface/master/lbpcascade_animeface.xml';
export const CASCADE_SHA256 = '9376d30ac38db6bda2a68b88b3b76bbd7e6aa33af47f7f5c76bc88ca75f1ce30';
export const CASCADE_BYTES = 246_945;

/**
 * The copy the app ships in its `resources/` folder (MIT; the file keeps its licence header). Found by
 * walking up from this module, which sits in src/core/faces/ in the sources, in out/main/ (or a chunk folder
 * under it) in a build, and inside app.asar in an installed app: each has `resources/` a few levels up.
 */
export function bundledCascadePath(
  env: Record<string, string | undefined> = process.env,
): string | undefined {
  // KAO_RESOURCES_DIR names the folder instead (a relocated install; tests of the download use an empty one).
  const override = env['KAO_RESOURCES_DIR'];
  if (override) {
    const candidate = join(override, CASCADE_FILE_NAME);
    return existsSync(candidate) ? candidate : undefined;
  }
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let level = 0; level < 5; level++) {
    const candidate = join(dir, 'resources', CASCADE_FILE_NAME);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return undefined;
}

export interface ResolveCascadeOptions {
  /** A local copy chosen by the user (option `cascadePath`, CLI `--cascade`); wins over everything. */
  cascadePath?: string | undefined;
  /** The copy shipped with the app (default: bundledCascadePath()); null skips it (tests of the download). */
  bundledPath?: string | null | undefined;
  /** Folder for the downloaded copy (the data folder's cache/). Without it nothing is downloaded. */
  cacheDir?: string | undefined;
  /** Environment to read KAO_CASCADE from (default process.env). */
  env?: Record<string, string | undefined>;
  /** Download source; tests point it at a loopback server. */
  url?: string;
  signal?: AbortSignal;
}

export interface ResolvedCascade {
  path: string;
  bytes: Uint8Array;
  from: 'option' | 'env' | 'bundled' | 'cache' | 'download';
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Finds the cascade: the user's copy (option, then KAO_CASCADE), else the copy shipped with the app, else the
 * verified copy in the cache, else downloads it from upstream into the cache (an install that lost its
 * resources/ folder). Every copy must match the pinned SHA-256.
 */
export async function resolveCascade(options: ResolveCascadeOptions = {}): Promise<ResolvedCascade> {
  const env = options.env ?? process.env;
  const userPath = options.cascadePath || undefined;
  const envPath = env['KAO_CASCADE'] || undefined;
  if (userPath) return { path: userPath, bytes: await readVerified(userPath, 'option'), from: 'option' };
  if (envPath) return { path: envPath, bytes: await readVerified(envPath, 'env'), from: 'env' };
  const bundled = options.bundledPath === undefined ? bundledCascadePath(env) : options.bundledPath;
  if (bundled) {
    // A damaged shipped copy is not fatal: the cache or a download can still stand in for it.
    const bytes = await readFile(bundled).catch(() => undefined);
    if (bytes && sha256Hex(bytes) === CASCADE_SHA256)
      return { path: bundled, bytes: new Uint8Array(bytes), from: 'bundled' };
  }

  const url = options.url ?? CASCADE_URL;
  if (!options.cacheDir) {
    throw new FacesError({ code: 'cascade-not-given', url });
  }
  const cached = join(options.cacheDir, CASCADE_FILE_NAME);
  const existing = await readFile(cached).catch(() => undefined);
  if (existing && sha256Hex(existing) === CASCADE_SHA256) {
    return { path: cached, bytes: new Uint8Array(existing), from: 'cache' };
  }

  let bytes: Uint8Array;
  try {
    const response = await fetch(url, { signal: options.signal ?? AbortSignal.timeout(60_000) });
    if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText}`);
    bytes = new Uint8Array(await response.arrayBuffer());
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason ?? error;
    throw new FacesError({ code: 'cascade-download-failed', url, reason: describe(error) });
  }
  const digest = sha256Hex(bytes);
  if (digest !== CASCADE_SHA256) {
    throw new FacesError({
      code: 'cascade-download-mismatch',
      url,
      sha256: digest,
      expected: CASCADE_SHA256,
    });
  }
  await writeFileAtomic(cached, bytes);
  return { path: cached, bytes, from: 'download' };
}

async function readVerified(path: string, given: CascadeGiven): Promise<Uint8Array> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new FacesError({ code: 'cascade-unreadable', path, given, reason: describe(error) });
  }
  const digest = sha256Hex(bytes);
  if (digest !== CASCADE_SHA256) {
    throw new FacesError({
      code: 'cascade-wrong-file',
      path,
      given,
      sha256: digest,
      bytes: bytes.length,
      expected: { sha256: CASCADE_SHA256, bytes: CASCADE_BYTES, url: CASCADE_URL },
    });
  }
  return new Uint8Array(bytes);
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as Error & { cause?: unknown }).cause;
  const causeText = cause instanceof Error ? cause.message : cause ? String(cause) : '';
  return causeText && !error.message.includes(causeText) ? `${error.message}: ${causeText}` : error.message;
}
