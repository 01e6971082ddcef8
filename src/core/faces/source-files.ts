import { lstat, readdir, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { FacesError } from './errors.ts';

/**
 * Which indexed illustrations are gone from the images folder. Only a definite "no such file" counts: a
 * file that exists but cannot be read (permissions, I/O error), a folder that cannot be listed, or a
 * symbolic link whose target is gone (an unmounted drive behind `kao import --link`) all keep their faces.
 */

/** The filesystem calls the check makes; tests inject failures (EACCES, EIO) through it. */
export interface SourceFs {
  stat(path: string): Promise<{ isDirectory(): boolean }>;
  lstat(path: string): Promise<unknown>;
  readdir(path: string): Promise<string[]>;
}

export const nodeSourceFs: SourceFs = {
  stat: (path) => stat(path),
  lstat: (path) => lstat(path),
  readdir: (path) => readdir(path),
};

/** Candidates confirmed at once: the thread pool overlaps them, and 50,000 do not open 50,000 requests. */
const LSTAT_BATCH = 32;

const isErrno = (error: unknown, ...codes: string[]): boolean =>
  codes.includes((error as NodeJS.ErrnoException | undefined)?.code ?? '');

/**
 * The sources (paths relative to `inputDir`, forward slashes) whose file no longer exists. One `readdir`
 * per folder finds the candidates (a name missing from its folder's listing); each candidate is then
 * confirmed with `lstat`, and only ENOENT confirms it. Throws FacesError (images-folder-*) when `inputDir`
 * itself is gone, or when it is empty and holds none of the sources (a mount point whose drive is away),
 * and rethrows any other error on `inputDir` itself: in neither case can anything be told apart.
 */
export async function findDeletedSources(
  inputDir: string,
  sources: Iterable<string>,
  fs: SourceFs = nodeSourceFs,
): Promise<Set<string>> {
  const all = [...sources];
  const deleted = new Set<string>();
  if (all.length === 0) return deleted;
  let info;
  try {
    info = await fs.stat(inputDir);
  } catch (error) {
    if (isErrno(error, 'ENOENT', 'ENOTDIR')) throw missing(inputDir);
    throw error;
  }
  if (!info.isDirectory()) throw missing(inputDir);

  const byFolder = new Map<string, string[]>();
  for (const source of all) {
    const folder = posix.dirname(source);
    let list = byFolder.get(folder);
    if (!list) byFolder.set(folder, (list = []));
    list.push(source);
  }
  const candidates: string[] = [];
  let rootEntries: string[] | undefined;
  for (const [folder, list] of byFolder) {
    let names: Set<string>;
    try {
      const entries = await fs.readdir(folder === '.' ? inputDir : join(inputDir, folder));
      if (folder === '.') rootEntries = entries;
      names = new Set(entries);
    } catch (error) {
      // A removed subfolder: all its sources are gone, told by one lstat of the folder rather than one
      // per file. Unlistable (EACCES, EIO): none of them is a candidate.
      if (isErrno(error, 'ENOENT', 'ENOTDIR')) {
        const folderGone = await fs.lstat(join(inputDir, folder)).then(
          () => false,
          (e: unknown) => isErrno(e, 'ENOENT'),
        );
        if (folderGone) for (const source of list) deleted.add(source);
        else candidates.push(...list);
      }
      continue;
    }
    for (const source of list) if (!names.has(posix.basename(source))) candidates.push(source);
  }
  for (let i = 0; i < candidates.length; i += LSTAT_BATCH) {
    await Promise.all(
      candidates.slice(i, i + LSTAT_BATCH).map((source) =>
        fs.lstat(join(inputDir, source)).catch((error: unknown) => {
          if (isErrno(error, 'ENOENT')) deleted.add(source);
        }),
      ),
    );
  }

  if (deleted.size === all.length) {
    rootEntries ??= await fs.readdir(inputDir).catch(() => undefined);
    if (!rootEntries || rootEntries.every((name) => name.startsWith('.'))) {
      throw new FacesError({ code: 'images-folder-empty', folder: inputDir, sources: all.length });
    }
  }
  // In the sources' order, whatever order the lstat calls finished in.
  return new Set(all.filter((source) => deleted.has(source)));
}

function missing(inputDir: string): FacesError {
  return new FacesError({ code: 'images-folder-missing', folder: inputDir });
}
