import { realpath } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, parse, relative, resolve, sep } from 'node:path';
import { KaoError } from '../shared/errors.ts';

/** System folders the data folder may never be inside (it would serve and write system files). */
const SYSTEM_TREES = [
  '/bin',
  '/boot',
  '/dev',
  '/etc',
  '/lib',
  '/lib32',
  '/lib64',
  '/proc',
  '/sbin',
  '/sys',
  '/usr',
  '/System',
  '/Library',
  '/private/etc',
  'C:\\Windows',
  'C:\\Program Files',
  'C:\\Program Files (x86)',
  'C:\\ProgramData',
];

/** Folders that hold other people's or programs' folders: a subfolder is fine, the folder itself is not. */
const SHARED_PARENTS = [
  '/home',
  '/Users',
  '/root',
  '/tmp',
  '/var',
  '/opt',
  '/srv',
  '/mnt',
  '/media',
  '/run',
  '/private',
  '/private/var',
  '/private/tmp',
  '/Volumes',
  '/Applications',
  'C:\\Users',
];

/**
 * Why `path` cannot be the data folder, in words for the app, or undefined when it can. The data folder's
 * subfolders are served to the UI and written by imports and exports, so it must be a folder of its own:
 * an absolute path, not a disk's root, not a system folder, not the user's home itself.
 */
export function dataDirProblem(path: unknown, home: string = homedir()): string | undefined {
  if (typeof path !== 'string' || path.trim() === '') return 'Choose a data folder.';
  if (path.includes('\0')) return 'The data folder’s path contains a NUL character.';
  if (path === '~' || path.startsWith('~/') || !isAbsolute(path)) {
    return `Type the data folder’s full path (for example ${resolve(home, 'Kao Studio')}), not “${path}”.`;
  }
  const target = resolve(path);
  if (target === parse(target).root) {
    return `${target} is the root of the disk; choose a folder of its own, e.g. ${resolve(home, 'Kao Studio')}.`;
  }
  if (samePath(target, resolve(home))) {
    return `${target} is your home folder; choose a folder inside it, e.g. ${resolve(home, 'Kao Studio')}.`;
  }
  const fold = (p: string): string => (sep === '\\' ? p.toLowerCase() : p);
  for (const tree of SYSTEM_TREES) {
    const rel = relative(fold(tree), fold(target));
    if (tree.startsWith('/') !== target.startsWith('/')) continue;
    if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))) {
      return `${target} is a system folder; choose a folder of your own, e.g. ${resolve(home, 'Kao Studio')}.`;
    }
  }
  for (const parent of SHARED_PARENTS) {
    if (samePath(target, parent)) {
      return `${target} holds other folders than Kao Studio’s; choose a folder inside it of its own.`;
    }
  }
  return undefined;
}

function samePath(a: string, b: string): boolean {
  return sep === '\\' ? a.toLowerCase() === b.toLowerCase() : a === b;
}

/**
 * Throws `invalid-input` (field `dataDir`) when `path` cannot be the data folder: checked as typed and,
 * when it exists, as its real path (a symlink to `/` or to the home folder is refused too).
 */
export async function assertDataDir(path: string, home: string = homedir()): Promise<void> {
  let problem = dataDirProblem(path, home);
  if (!problem) {
    const real = await realpath(path).catch(() => undefined);
    const realHome = await realpath(home).catch(() => home);
    if (real && real !== resolve(path)) problem = dataDirProblem(real, realHome);
    else if (real && realHome !== home) problem = dataDirProblem(real, realHome);
  }
  if (problem) throw new KaoError('invalid-input', problem, [{ path: 'dataDir', message: problem }]);
}
