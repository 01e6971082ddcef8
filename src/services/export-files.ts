import { existsSync } from 'node:fs';
import { mkdtemp, stat } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { KaoError } from '../shared/errors.ts';

/**
 * A file name made from a display name that needs no quoting in a shell: letters and digits of any script,
 * `.`, `_` and `-`; everything else (spaces, `·`, slashes, quotes) becomes one `-`. Never starts with `-`
 * or `.` (an option or a hidden file). `fallback` stands in when nothing usable is left.
 */
export function shellSafeFileName(name: string, fallback: string, maxLength = 80): string {
  const safe = name
    .normalize('NFKC')
    .replace(/[^\p{L}\p{N}._-]+/gu, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(0, maxLength)
    .replace(/[-.]+$/g, '');
  return safe || fallback;
}

/**
 * An export destination typed by the user: an absolute path, or `~/…` for the home folder. Relative
 * paths are refused — they would land wherever the server happened to be started.
 */
export function exportDestination(typed: string, field = 'to'): string {
  if (typed === '~' || typed.startsWith('~/')) return join(homedir(), typed.slice(1));
  if (!isAbsolute(typed)) {
    const message = `Type a full path to save to (for example ${join(homedir(), 'Pictures')}), not “${typed}”.`;
    throw new KaoError('invalid-input', message, [{ path: field, message }]);
  }
  return resolve(typed);
}

/** Refuses to replace `path` unless the request said so; the UI asks the user first. */
export async function refuseOverwrite(
  path: string,
  overwrite: boolean | undefined,
  field = 'to',
): Promise<void> {
  if (overwrite || !existsSync(path)) return;
  const isFolder = await stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (isFolder) {
    const message = `${path} is a folder; give a file name or another folder.`;
    throw new KaoError('invalid-input', message, [{ path: field, message }]);
  }
  throw new KaoError('exists', `${path} already exists. Replace it?`, [{ path: field, message: 'exists' }]);
}

/** A fresh private folder for one browser download (removed by the web bridge once served). */
export function makeDownloadDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'kao-download-'));
}
