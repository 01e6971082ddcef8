import { createHash } from 'node:crypto';
import { link, readFile, readdir, realpath, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { extname, join, relative, resolve } from 'node:path';
import { z } from 'zod';
import {
  PARTIAL_DIR,
  datasetMd5s,
  importedFileName,
  lockDataset,
  resetPartialDir,
} from '../images/dataset.ts';
import { imageLimitOptions, IMAGE_EXTENSIONS, InvalidImageError, validateImage } from '../images/validate.ts';
import {
  appendImageTags,
  readImageTags,
  readSidecarTags,
  sidecarPaths,
  type ImageTagRecord,
  type ImageTags,
} from '../images/tags.ts';
import { paceSince, secondsLeft } from '../util/pace.ts';
import { pickDefined } from '../util/pick.ts';
import { CancelledError } from '../util/run-control.ts';
import type { ImportIssue, ImportProgress } from '../../shared/dataset-schemas.ts';
import { JOB_PROGRESS_FIELDS, type JobHooks } from './crawl.ts';

export const importOptionsSchema = z.object({
  from: z.string().min(1, 'from is required'),
  datasetDir: z.string().min(1, 'datasetDir is required'),
  /** `copy` duplicates the bytes; `link` hard-links (same disk) or else symlinks to the original file. */
  mode: z.enum(['copy', 'link']).default('copy'),
  ...imageLimitOptions(100),
});
export type ImportOptionsInput = z.input<typeof importOptionsSchema>;
/** What a UI sends: the options minus the dataset folder, which the app derives from its data folder. */
export const importSettingsSchema = importOptionsSchema.omit({ datasetDir: true });
export type ImportSettingsInput = z.input<typeof importSettingsSchema>;
export type ImportOptions = z.output<typeof importOptionsSchema>;

// An import's progress is the contract's (the app's job slot and the UI show it as is).
export type { ImportIssue, ImportProgress };

export interface ImportSummary extends ImportProgress {
  rejectedFiles: ImportIssue[];
  ignoredFiles: ImportIssue[];
  /** Which dataset file each skipped file duplicates. */
  duplicates: Array<{ path: string; existing: string }>;
  /** How each file got into the dataset; `symlink` only when a hard link was impossible. */
  linkKinds?: { hardlink: number; symlink: number };
  /** Sidecars (`.txt`, gallery-dl `.json`) that could not be read as tags, with why: their image came in without. */
  tagProblems: ImportIssue[];
  durationMs: number;
}

const RECENT = 20;

/**
 * Imports every image under `from` (recursively) into the dataset: each is decoded with the same checks as
 * crawled files, named by its content md5, and skipped when that content is already there. Never modifies
 * the source folder. Resolves with the summary when done or cancelled.
 */
export async function importFolder(
  input: ImportOptionsInput,
  hooks: JobHooks<ImportProgress> = {},
): Promise<ImportSummary> {
  const parsed = importOptionsSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`invalid import option ${issue.path.join('.') || '(options)'}: ${issue.message}`);
  }
  const options = parsed.data;
  const from = resolve(options.from);
  const datasetDir = resolve(options.datasetDir);
  const fromInfo = await stat(from).catch(() => undefined);
  if (!fromInfo?.isDirectory()) throw new Error(`not a folder: ${options.from}`);

  const startedAt = Date.now();
  const summary: ImportSummary = {
    state: 'running',
    total: 0,
    processed: 0,
    imported: 0,
    skipped: 0,
    rejected: 0,
    ignored: 0,
    bytes: 0,
    recentRejections: [],
    rejectedFiles: [],
    ignoredFiles: [],
    duplicates: [],
    linkKinds: options.mode === 'link' ? { hardlink: 0, symlink: 0 } : undefined,
    tagged: 0,
    tagProblems: [],
    durationMs: 0,
  };
  const emit = () => {
    const { processed } = summary;
    Object.assign(
      summary,
      paceSince(startedAt, processed > 0 ? summary.imported : undefined, (seconds) =>
        secondsLeft(summary.total - processed, processed, seconds),
      ),
    );
    hooks.onProgress?.(importProgressOf(summary));
  };
  const reject = (path: string, reason: string) => {
    summary.rejected++;
    summary.rejectedFiles.push({ path, reason });
    summary.recentRejections = summary.rejectedFiles.slice(-RECENT);
    summary.lastError = `${path}: ${reason}`;
  };

  const release = await lockDataset(datasetDir, 'import', { onWarning: hooks.onWarning });
  try {
    const partialDir = await resetPartialDir(datasetDir);
    const present = await datasetMd5s(datasetDir);
    const skipDirs = new Set([await realpath(datasetDir)]);
    const files = await walk(from, skipDirs, (path, reason) => {
      summary.ignored++;
      summary.ignoredFiles.push({ path: relative(from, path), reason });
    });
    summary.total = files.length;
    // An image's tag files are part of it, not files the import ignored.
    const listed = new Set(files);
    const sidecars = new Set<string>();
    for (const path of files) {
      if (!IMAGE_EXTENSIONS.has(extname(path).toLowerCase())) continue;
      for (const { path: sidecar } of sidecarPaths(path)) if (listed.has(sidecar)) sidecars.add(sidecar);
    }
    const withTags = await readImageTags(datasetDir);
    emit();
    try {
      for (const path of files) {
        await hooks.control?.checkpoint();
        const shown = relative(from, path);
        const extension = extname(path).toLowerCase();
        if (IMAGE_EXTENSIONS.has(extension)) {
          await importOne(path, shown);
        } else if (!sidecars.has(path)) {
          // (A sidecar is read with its image.)
          summary.ignored++;
          summary.ignoredFiles.push({
            path: shown,
            reason: `not an image file (${extension || 'no extension'})`,
          });
        }
        summary.processed++;
        emit();
      }
      summary.state = 'done';
    } catch (error) {
      if (!(error instanceof CancelledError) && !hooks.control?.cancelled) throw error;
      summary.state = 'cancelled';
    }
    emit();
    return structuredClone(summary);

    async function importOne(path: string, shown: string): Promise<void> {
      const info = await stat(path);
      if (info.size > options.maxFileBytes)
        return reject(shown, `file is ${info.size} bytes, over the ${options.maxFileBytes} byte cap`);
      const bytes = await readFile(path);
      const md5 = createHash('md5').update(bytes).digest('hex');
      const existing = present.get(md5);
      if (existing) {
        summary.skipped++;
        summary.duplicates.push({ path: shown, existing });
        // Also how an image whose tags a killed import never wrote gets them.
        return keepTags(path, existing);
      }
      let extension: string;
      try {
        extension = (await validateImage(bytes, { maxPixels: options.maxPixels })).extension;
      } catch (error) {
        if (error instanceof InvalidImageError) return reject(shown, error.reason);
        throw error;
      }
      const name = importedFileName(md5, extension);
      const target = join(datasetDir, name);
      if (options.mode === 'copy') {
        const partial = join(partialDir, `${md5}.part`);
        try {
          await writeFile(partial, bytes, { flush: true });
          await rename(partial, target);
        } finally {
          await rm(partial, { force: true });
        }
      } else {
        // A new link appears whole or not at all, so no partial file is needed. Link the real file, not a symlink to it.
        const source = await realpath(path);
        try {
          await link(source, target);
          summary.linkKinds!.hardlink++;
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EMLINK') throw error;
          await symlink(source, target);
          summary.linkKinds!.symlink++;
        }
      }
      present.set(md5, name);
      summary.imported++;
      summary.bytes += bytes.byteLength;
      await keepTags(path, name);
    }

    /** Keeps the tags of the image's sidecars with dataset file `name` (once: again only when they changed). */
    async function keepTags(path: string, name: string): Promise<void> {
      const { found, problems } = await readSidecarTags(path, (candidate) => listed.has(candidate));
      for (const problem of problems) {
        summary.tagProblems.push({ path: relative(from, problem.sidecar), reason: problem.reason });
      }
      if (!found) return;
      const { sidecar, ...tags } = found;
      const record: ImageTagRecord = { file: name, from: relative(from, sidecar), ...tags };
      const before = withTags.get(name);
      if (before && sameTags(before, record)) return;
      await appendImageTags(datasetDir, record);
      withTags.set(name, record);
      summary.tagged++;
    }
  } finally {
    await rm(join(datasetDir, PARTIAL_DIR), { recursive: true, force: true }).catch(() => undefined);
    await release();
  }
}

function sameTags(a: ImageTags, b: ImageTags): boolean {
  return a.tags.join(' ') === b.tags.join(' ') && a.rating === b.rating && a.score === b.score;
}

/** Every regular file under `root`, sorted, not following directory symlinks (no loops) and skipping hidden folders. */
async function walk(
  root: string,
  skipDirs: Set<string>,
  onIgnored: (path: string, reason: string) => void,
): Promise<string[]> {
  const files: string[] = [];
  const pending = [root];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    if (dir !== root && skipDirs.has(await realpath(dir))) {
      onIgnored(dir, 'the dataset folder itself');
      continue;
    }
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name.startsWith('.')) onIgnored(path, 'hidden folder');
        else pending.push(path);
      } else if (entry.isFile()) {
        files.push(path);
      } else if (entry.isSymbolicLink()) {
        const target = await stat(path).catch(() => undefined);
        if (target?.isFile()) files.push(path);
        else onIgnored(path, target ? 'symbolic link to a folder (not followed)' : 'broken symbolic link');
      }
    }
  }
  return files.sort();
}

/** A copy of the progress fields alone (a summary has more), for an event or the wire. */
export function importProgressOf(p: ImportProgress): ImportProgress {
  const counts = ['total', 'processed', 'imported', 'skipped', 'rejected', 'ignored', 'tagged'] as const;
  return {
    ...pickDefined(p, [...JOB_PROGRESS_FIELDS, ...counts]),
    recentRejections: p.recentRejections.map((r) => ({ ...r })),
  };
}
