import { realpath, stat } from 'node:fs/promises';
import { extname, isAbsolute, join, relative, resolve, sep } from 'node:path';

export const MEDIA_TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.json': 'application/json',
  // Generator weights for the explorer (cache/generators/*.bin).
  '.bin': 'application/octet-stream',
};

/**
 * The data folder's own subfolders the UI shows files from. Anything else in the data folder (or a data
 * folder pointed somewhere odd) is not media.
 */
export const MEDIA_FOLDERS = ['dataset', 'faces', 'runs', 'favorites', 'cache', 'exports'] as const;

/**
 * Maps a media request to a regular file inside one of the data folder's MEDIA_FOLDERS, or undefined.
 * Only image-like files, and never anything outside (`..`, absolute paths, symlinks pointing out,
 * folders named like files, devices, pipes).
 */
export async function resolveMediaPath(dataDir: string, requested: string): Promise<string | undefined> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(requested);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || isAbsolute(decoded)) return undefined;
  if (!MEDIA_TYPES[extname(decoded).toLowerCase()]) return undefined;
  const root = resolve(dataDir);
  const candidate = resolve(root, decoded);
  const folder = relative(root, candidate).split(sep)[0];
  if (!(MEDIA_FOLDERS as readonly string[]).includes(folder ?? '')) return undefined;
  const folderRoot = join(root, folder!);
  if (!isInside(folderRoot, candidate)) return undefined;
  try {
    const real = await realpath(candidate);
    const realFolder = await realpath(folderRoot);
    if (!isInside(realFolder, real)) return undefined;
    return (await stat(real)).isFile() ? real : undefined;
  } catch {
    return undefined;
  }
}

function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/**
 * A token that changes whenever the file is rewritten: a run resumed from an earlier checkpoint redraws
 * the sample grids of steps it had already drawn, under the same names. The renderer appends it to the
 * media URL as `?v=` (both media handlers resolve the path alone and ignore the query), so a rewritten
 * file gets a new URL instead of the cached old image. Inode, mtime in ns and size: an atomic rewrite
 * changes the inode even within one clock tick. Empty when the file is gone.
 */
export async function mediaVersion(file: string): Promise<string> {
  try {
    const info = await stat(file, { bigint: true });
    return [info.ino, info.mtimeNs, info.size].map((n) => n.toString(36)).join('.');
  } catch {
    return '';
  }
}
