import { rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { acquireFolderLock, type FolderLock } from '../folder-lock.ts';
import { writeJsonAtomic } from '../util/atomic-file.ts';
import {
  FACES_LOCK,
  FACES_PRUNE_FILE,
  compactIndex,
  faceIdPrefix,
  readExcludedIds,
  readFolderJson,
  readStoredIndex,
  writeExcludedIds,
} from './index-store.ts';
import { findDeletedSources, type SourceFs } from './source-files.ts';

/**
 * Removing the faces of illustrations deleted from the images folder: their records leave the index, their
 * crops leave the disk and their exclusions leave `excluded.json`.
 *
 * Commit order, so that a kill (SIGKILL, power cut) at any instant is harmless:
 *  1. `faces-prune.json` (atomic) names the sources and their crop files. Killed before it: nothing changed.
 *  2. The index is rewritten without them (atomic, like every compaction; the log is folded in). This is the
 *     commit: from here the review screen and training no longer see those faces. Killed between 1 and 2:
 *     the index still holds them, so finishing the journal touches nothing of theirs and the next prune
 *     simply finds them again.
 *  3. Their exclusions are dropped (atomic). Never before 2: an exclusion dropped while its face is still
 *     indexed would put that face back into training.
 *  4. Their crop files are deleted. Never before 2: the index must never name a crop that is not on disk.
 *  5. The journal is deleted.
 * Killed anywhere from 2 to 5, the next prune (every extraction and every load of the Faces screen starts
 * with one) finishes steps 3–5 for the sources the index no longer holds; deleting is idempotent.
 */

/** A step just made durable; the test hook `afterStep` gets it (a test kills the process there). */
export type PruneStep = 'journal' | 'index' | 'exclusions' | 'crop' | 'crops';

export interface PruneResult {
  /** Sources (relative to the images folder) whose faces were removed. */
  sources: string[];
  /** Faces (crop files) removed. */
  faces: number;
  /** Exclusions dropped with them. */
  exclusions: number;
}

export interface PruneOptions {
  /** The images folder sources are relative to; default the index's own `inputDir`. */
  inputDir?: string;
  /** Filesystem calls used to tell deleted from unreadable (tests inject errors). */
  fs?: SourceFs;
  /**
   * The sources findDeletedSources just found gone, when the caller already checked (the images folder is
   * then not listed again); those the index no longer holds are ignored.
   */
  deleted?: ReadonlySet<string>;
  /** Called after each durable step (tests). */
  afterStep?: (step: PruneStep) => void | Promise<void>;
  /** A stale faces-folder lock (its process was killed) was taken over. */
  onWarning?: (message: string) => void;
}

const journalSchema = z.object({
  version: z.literal(1),
  images: z.array(z.object({ source: z.string(), files: z.array(z.string()) })),
});
type Journal = z.infer<typeof journalSchema>;

const emptyPruneResult = (): PruneResult => ({ sources: [], faces: 0, exclusions: 0 });

/**
 * Removes the faces of every indexed illustration whose file no longer exists (see findDeletedSources for
 * what counts as gone), first finishing a prune that was interrupted. Throws FacesError (images-folder-missing or -empty), with
 * nothing removed, when the images folder is missing or looks unmounted. Holds the faces folder's lock
 * meanwhile: while an extraction writes to the folder (it prunes by itself before it starts) this throws
 * a `busy` FolderLockedError, with nothing removed.
 */
export async function pruneDeletedSources(
  facesDir: string,
  options: PruneOptions = {},
): Promise<PruneResult> {
  const dir = resolve(facesDir);
  // Nothing to prune in a folder never extracted into; the lock would create it.
  if (!(await stat(dir).catch(() => undefined))?.isDirectory()) return emptyPruneResult();
  const lock = await acquireFolderLock(dir, FACES_LOCK, { activity: 'pruned', onWarning: options.onWarning });
  try {
    return await pruneWithLock(lock, options);
  } finally {
    await lock.release();
  }
}

/** pruneDeletedSources for a caller that already holds the faces folder's lock (`lock`): an extraction. */
export async function pruneWithLock(lock: FolderLock, options: PruneOptions = {}): Promise<PruneResult> {
  const dir = dirname(lock.path);
  const step = async (name: PruneStep): Promise<void> => {
    await options.afterStep?.(name);
  };
  const recovered = await finishPrune(dir, step);
  const stored = await readStoredIndex(dir);
  const inputDir = options.inputDir ?? stored.inputDir;
  // Without a compacted index (a bare log) there are no settings to rewrite it with: leave it be.
  if (!inputDir || !stored.settings || stored.images.size === 0) return recovered;

  const deleted = options.deleted
    ? new Set([...options.deleted].filter((source) => stored.images.has(source)))
    : await findDeletedSources(resolve(inputDir), stored.images.keys(), options.fs);
  if (deleted.size === 0) return recovered;
  const journal: Journal = {
    version: 1,
    images: [...deleted].map((source) => ({
      source,
      files: stored.images.get(source)!.faces.map((face) => face.file),
    })),
  };
  await writeJsonAtomic(join(dir, FACES_PRUNE_FILE), journal);
  await step('journal');
  const remaining = [...stored.images.values()].filter((record) => !deleted.has(record.source));
  await compactIndex(dir, stored.settings, stored.inputDir ?? resolve(inputDir), remaining);
  await step('index');
  const done = await finishPrune(dir, step);
  return {
    sources: [...recovered.sources, ...done.sources],
    faces: recovered.faces + done.faces,
    exclusions: recovered.exclusions + done.exclusions,
  };
}

/** Steps 3–5 for the journal's sources that the index no longer holds; a no-op without a journal. */
async function finishPrune(dir: string, step: (name: PruneStep) => Promise<void>): Promise<PruneResult> {
  const journalPath = join(dir, FACES_PRUNE_FILE);
  const journal = await readFolderJson(journalPath, journalSchema, 'a Kao Studio prune journal');
  if (journal === undefined) return emptyPruneResult();
  const stored = await readStoredIndex(dir);
  const committed = journal.images.filter((image) => !stored.images.has(image.source));
  const referenced = new Set<string>();
  for (const record of stored.images.values()) for (const face of record.faces) referenced.add(face.file);

  const prefixes = new Set(committed.map((image) => faceIdPrefix(image.source)));
  const excluded = await readExcludedIds(dir);
  const keep = [...excluded].filter((id) => !prefixes.has(id.slice(0, id.lastIndexOf('-') + 1)));
  if (keep.length !== excluded.size) await writeExcludedIds(dir, keep);
  await step('exclusions');

  let faces = 0;
  for (const image of committed) {
    for (const file of image.files) {
      faces++;
      // Names come from the index; never follow one out of the faces folder.
      if (referenced.has(file) || /[/\\]/.test(file) || file.startsWith('.')) continue;
      await rm(join(dir, file), { force: true });
      await step('crop');
    }
  }
  await step('crops');
  await rm(journalPath, { force: true });
  return { sources: committed.map((image) => image.source), faces, exclusions: excluded.size - keep.length };
}
