import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, extname, isAbsolute, join, relative, resolve } from 'node:path';
import type { ServiceContext } from './context.ts';
import type { ChannelsOf, Handlers } from './dispatcher.ts';
import { KaoError } from '../shared/errors.ts';
import type { Favorite } from '../shared/explorer-schemas.ts';
import {
  deleteFavorite,
  exportFavoritePng,
  FavoriteNotFoundError,
  getFavorite,
  listFavorites,
  renameFavorite,
  saveFavorite,
  type FavoriteEntry,
} from '../core/library/favorites.ts';
import { listCheckpoints } from '../core/gan/checkpoint.ts';
import { timestamp } from './explorer-service.ts';
import { exportDestination, makeDownloadDir, refuseOverwrite, shellSafeFileName } from './export-files.ts';
import { ensureInferenceBackend } from './inference-backend.ts';

/**
 * The favorites library (`<data>/favorites`) for the UI: save renders the face in Node with the run's
 * checkpoint; the rest maps the library core onto the contract with data-relative image paths.
 */
export function favoritesHandlers(ctx: ServiceContext): Pick<Handlers, ChannelsOf<'favorites'>> {
  const library = (): string => ctx.paths().favorites;
  const dataRelative = (path: string): string | undefined => {
    const rel = relative(ctx.paths().root, path);
    return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel.split('\\').join('/') : undefined;
  };

  function toFavorite(entry: FavoriteEntry, runName?: string): Favorite {
    return {
      id: entry.id,
      name: entry.name,
      createdAt: entry.createdAt,
      runId: entry.runId,
      ...(runName ? { runName } : {}),
      step: entry.step,
      truncation: entry.truncation,
      z: entry.z,
      ...(entry.attributes ? { attributes: entry.attributes } : {}),
      // The library lives in the data folder, so its PNGs always have a media path.
      imagePath: dataRelative(entry.pngPath) ?? `favorites/${entry.image.file}`,
      imageSize: entry.image.size,
      modelAvailable: entry.modelAvailable,
    };
  }

  /** Favorites with their run's display name (read once per run, from the run folder's run.json). */
  async function withRunNames(entries: FavoriteEntry[]): Promise<Favorite[]> {
    const ids = [...new Set(entries.map((e) => e.runId))];
    const names = new Map(
      await Promise.all(ids.map(async (id) => [id, await runDisplayName(ctx.paths().runs, id)] as const)),
    );
    return entries.map((entry) => toFavorite(entry, names.get(entry.runId)));
  }

  /** Library errors as user errors: a missing favorite is `not-found`, bad values are `invalid-input`. */
  async function guarded<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof FavoriteNotFoundError)
        throw new KaoError('not-found', 'That favorite no longer exists.');
      if (error instanceof RangeError) throw new KaoError('invalid-input', error.message);
      throw error;
    }
  }

  async function defaultExportDir(): Promise<string> {
    if (ctx.platform.adapter === 'electron') {
      for (const name of ['Downloads', 'Pictures']) {
        const dir = join(homedir(), name);
        if (existsSync(dir)) return dir;
      }
    }
    const dir = join(ctx.paths().root, 'exports');
    await mkdir(dir, { recursive: true });
    return dir;
  }

  return {
    'favorites.list': async () => {
      const { favorites, problems } = await listFavorites(library());
      return {
        favorites: await withRunNames(favorites),
        problems,
        canCopy: !!ctx.platform.copyImage,
        canReveal: !!ctx.platform.revealInFolder,
      };
    },

    'favorites.save': async ({ runId, step, z, truncation, name, attributes }) => {
      const runDir = join(ctx.paths().runs, runId);
      const steps = await listCheckpoints(runDir).catch(() => [] as number[]);
      if (!steps.includes(step)) {
        throw new KaoError(
          'not-found',
          steps.length
            ? `The run "${runId}" no longer has a checkpoint at step ${step}.`
            : `The run "${runId}" is gone or has no checkpoint.`,
        );
      }
      await ensureInferenceBackend();
      // Unnamed favorites are named after the run as the app shows it, not its folder id.
      const fallbackName = `${(await runDisplayName(ctx.paths().runs, runId)) ?? runId} · step ${step}`;
      const saved = await guarded(() =>
        saveFavorite(library(), { runDir, step, z, truncation, name: name ?? fallbackName, attributes }),
      );
      ctx.events.emit('favorites.changed', { reason: 'saved', id: saved.id });
      return (await withRunNames([saved]))[0]!;
    },

    'favorites.rename': async ({ id, name }) => {
      const renamed = await guarded(() => renameFavorite(library(), id, name));
      ctx.events.emit('favorites.changed', { reason: 'renamed', id });
      return (await withRunNames([renamed]))[0]!;
    },

    'favorites.delete': async ({ id }) => {
      await guarded(() => deleteFavorite(library(), id));
      ctx.events.emit('favorites.changed', { reason: 'deleted', id });
      return { ok: true };
    },

    'favorites.export': async ({ id, size, to, overwrite, download }) => {
      const favorite = await guarded(() => getFavorite(library(), id));
      const fileName = `${shellSafeFileName(favorite.name, favorite.id)}-${size}px.png`;
      if (download) {
        const offer = ctx.platform.offerDownload;
        if (!offer) throw new KaoError('unsupported', 'Downloads are for the browser; choose where to save.');
        const dir = await makeDownloadDir();
        try {
          await ensureInferenceBackend();
          const result = await guarded(() => exportFavoritePng(library(), id, join(dir, fileName), { size }));
          return { ...result, path: fileName, fileName, downloadUrl: await offer(result.path, fileName) };
        } catch (error) {
          await rm(dir, { recursive: true, force: true });
          throw error;
        }
      }
      const target = to ? exportDestination(to) : await defaultExportDir();
      const outPath = await pngPath(target, fileName, overwrite);
      await ensureInferenceBackend();
      const result = await guarded(() => exportFavoritePng(library(), id, outPath, { size }));
      const mediaPath = dataRelative(result.path);
      return { ...result, fileName: basename(result.path), ...(mediaPath ? { mediaPath } : {}) };
    },

    'favorites.copy': async ({ id }) => {
      const favorite = await guarded(() => getFavorite(library(), id));
      if (!ctx.platform.copyImage) return { copied: false };
      await ctx.platform.copyImage(favorite.pngPath);
      return { copied: true };
    },

    'favorites.reveal': async ({ id }) => {
      const favorite = await guarded(() => getFavorite(library(), id));
      if (!ctx.platform.revealInFolder) {
        throw new KaoError('unsupported', 'Showing files in the file manager needs the desktop app.');
      }
      await ctx.platform.revealInFolder(favorite.pngPath);
      return { ok: true };
    },
  };
}

/**
 * A `.png` path as given (never replacing a file unless `overwrite`), or `fileName` in the given folder,
 * made unique with a timestamp when taken.
 */
async function pngPath(target: string, fileName: string, overwrite: boolean | undefined): Promise<string> {
  if (extname(target).toLowerCase() === '.png') {
    await refuseOverwrite(target, overwrite);
    await mkdir(resolve(target, '..'), { recursive: true });
    return target;
  }
  const isFile = await stat(target).then(
    (s) => !s.isDirectory(),
    () => false,
  );
  if (isFile) throw new KaoError('invalid-input', `${target} is a file; give a folder or a .png path.`);
  await mkdir(target, { recursive: true }).catch((error: Error) => {
    throw new KaoError('invalid-input', `Cannot write into ${target}: ${error.message}`);
  });
  let candidate = join(target, fileName);
  if (existsSync(candidate)) candidate = join(target, fileName.replace(/\.png$/, `-${timestamp()}.png`));
  return candidate;
}

/** The run's name from its `run.json` (as the Training screen shows it), if it has one. */
async function runDisplayName(runsDir: string, runId: string): Promise<string | undefined> {
  // Only a run folder's own name (favorite records are files on disk; never follow a `../` in one).
  if (!/^[\w-]+$/.test(runId)) return undefined;
  try {
    const record = JSON.parse(await readFile(join(runsDir, runId, 'run.json'), 'utf8')) as {
      name?: unknown;
    };
    return typeof record.name === 'string' && record.name.trim()
      ? record.name.trim().slice(0, 80)
      : undefined;
  } catch {
    return undefined;
  }
}
