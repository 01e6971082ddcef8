import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import {
  CASCADE_FILE_NAME,
  CASCADE_SHA256,
  CASCADE_URL,
  FacesError,
  bundledCascadePath,
  resolveCascade,
  type ResolvedCascade,
} from '../core/faces/index.ts';
import { KaoError } from '../shared/errors.ts';
import type { CascadeStatus } from '../shared/faces-schemas.ts';
import { assertCascadeXml } from './cascade-file.ts';
import type { ServiceContext } from './context.ts';
import { capitalize, facesErrorForApp, facesProblemForApp } from './faces-errors.ts';

/**
 * The face cascade as the app sees it: which copy an extraction would use, told without touching the
 * network; the one the user chose, checked and saved; and why the last download failed, until a cascade
 * is found or chosen.
 *
 * `KAO_CASCADE_URL` replaces the download address (a mirror; tests point it at loopback).
 */
export class FaceCascade {
  #downloadProblem: string | undefined;

  constructor(private readonly ctx: ServiceContext) {}

  get url(): string {
    return process.env['KAO_CASCADE_URL'] || CASCADE_URL;
  }

  async status(): Promise<CascadeStatus> {
    const base = { url: this.url, fileName: CASCADE_FILE_NAME };
    const chosen = this.ctx.settings.get().faces.cascadePath;
    const envPath = process.env['KAO_CASCADE'] || undefined;
    if (chosen || envPath) {
      try {
        // A path stored through settings.set is checked like one chosen here: no size or SHA of other files.
        if (chosen) await assertCascadeXml(chosen);
        const found = await resolveCascade({ cascadePath: chosen });
        return { ...base, state: 'ready', path: found.path, from: found.from === 'env' ? 'env' : 'option' };
      } catch (error) {
        return {
          ...base,
          state: 'invalid',
          path: chosen || envPath,
          from: chosen ? 'option' : 'env',
          message: messageOf(error),
        };
      }
    }
    const bundled = bundledCascadePath();
    if (bundled && (await isTheCascade(bundled)))
      return { ...base, state: 'ready', path: bundled, from: 'bundled' };
    const cached = join(this.ctx.paths().cache, CASCADE_FILE_NAME);
    if (await isTheCascade(cached)) return { ...base, state: 'ready', path: cached, from: 'cache' };
    if (this.#downloadProblem) return { ...base, state: 'unavailable', message: this.#downloadProblem };
    return { ...base, state: 'download' };
  }

  /** The cascade for an extraction, downloaded into the cache when no copy is at hand. */
  async resolve(chosenPath: string, signal: AbortSignal): Promise<ResolvedCascade> {
    try {
      const cascade = await resolveCascade({
        cascadePath: chosenPath,
        cacheDir: this.ctx.paths().cache,
        url: this.url,
        signal,
      });
      this.#downloadProblem = undefined;
      return cascade;
    } catch (error) {
      if (!(error instanceof FacesError)) throw error;
      const refusal = facesErrorForApp(error.problem);
      // Told on the cascade panel until it is fixed, unless the failing copy was one the user named.
      if (!chosenPath && !process.env['KAO_CASCADE']) this.#downloadProblem = refusal.message;
      throw refusal;
    }
  }

  /** Checks and saves the cascade the user chose ('' goes back to the shipped or downloaded one). */
  async use(path: string): Promise<CascadeStatus> {
    if (path && !isAbsolute(path)) {
      throw new KaoError('invalid-input', `Type the cascade file's full path (got ${path}).`, [
        { path: 'path', message: 'must be a full path' },
      ]);
    }
    if (path) {
      // Before resolveCascade, whose errors give any file's size and SHA-256.
      await assertCascadeXml(path);
      try {
        await resolveCascade({ cascadePath: path });
      } catch (error) {
        const message = messageOf(error);
        throw new KaoError('invalid-input', message, [{ path: 'path', message }]);
      }
      this.#downloadProblem = undefined;
    }
    const settings = this.ctx.settings.get();
    await this.ctx.settings.set({ ...settings, faces: { ...settings.faces, cascadePath: path } });
    return this.status();
  }
}

async function isTheCascade(path: string): Promise<boolean> {
  const bytes = await readFile(path).catch(() => undefined);
  return bytes !== undefined && createHash('sha256').update(bytes).digest('hex') === CASCADE_SHA256;
}

function messageOf(error: unknown): string {
  if (error instanceof FacesError) return facesProblemForApp(error.problem).message;
  return capitalize(error instanceof Error ? error.message : String(error));
}
