import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FolderLockedError } from '../folder-lock.ts';
import { FacesError } from './errors.ts';
import {
  FACES_EXCLUDED_FILE,
  FACES_INDEX_FILE,
  FACES_LOG_FILE,
  FACES_PRUNE_FILE,
  FaceDataset,
  readStoredIndex,
  type FaceCounts,
} from './index-store.ts';
import type { FaceDetectionSettings } from './options.ts';
import { pruneDeletedSources } from './prune.ts';
import { findDeletedSources } from './source-files.ts';

/** Faces removed because their illustrations were deleted from the images folder, added up over loads. */
export interface PrunedFaces {
  faces: number;
  images: number;
  exclusions: number;
}

export interface FacesFolderOptions {
  /**
   * Whether this process is extracting into the folder now. An extraction prunes by itself first, so loads
   * do not prune meanwhile; and as it adds faces, loads re-read the index now and then.
   */
  extracting(): boolean;
  /** A load removed the faces of deleted illustrations: the folder's counts after. */
  onPruned?(counts: FaceCounts): void;
  /** While extracting, a load re-reads the index at most this often (default 1 s). */
  reloadWhileExtractingMs?: number;
}

/**
 * A faces folder as an app keeps it open: its index read once and re-read only when its files changed
 * (re-reading 50,000 faces costs most of a second), the faces of illustrations deleted from the images
 * folder removed on each load, and what that removal found (or why it could not run) kept for the
 * caller to tell once.
 */
export class FacesFolder {
  readonly #options: FacesFolderOptions;
  /** The open index, with each load chained after the previous one; unset after a failed load. */
  #dataset: Promise<FaceDataset> | undefined;
  #loadedAt = 0;
  /** The folder's files as last read; a load re-reads the index only when this changed. */
  #stamp: Promise<string> = Promise.resolve('');
  /** The prune in progress: an extraction waits for it, so the two never write the index at once. */
  #pruning: Promise<unknown> = Promise.resolve();
  #pruned: PrunedFaces | undefined;
  #pruneProblem: unknown;
  #settings: { stamp: string; settings: FaceDetectionSettings | undefined } | undefined;

  constructor(
    readonly dir: string,
    options: FacesFolderOptions,
  ) {
    this.#options = options;
  }

  /**
   * The folder's index: opened on the first call, re-read when `reload` is asked (or, during an
   * extraction, when the last read is older than `reloadWhileExtractingMs`) and the folder's files changed.
   * Rejects with FacesError `index-corrupt` when a file of the folder is damaged; the next call tries again.
   */
  dataset(options: { reload?: boolean } = {}): Promise<FaceDataset> {
    const { extracting, reloadWhileExtractingMs = 1000 } = this.#options;
    if (!this.#dataset) {
      this.#loadedAt = Date.now();
      const stamp = folderStamp(this.dir);
      this.#stamp = stamp;
      return this.#keep(stamp.then(() => FaceDataset.open(this.dir)).then((d) => this.#prune(d)));
    }
    const stale = extracting() && Date.now() - this.#loadedAt >= reloadWhileExtractingMs;
    if (options.reload || stale) {
      this.#loadedAt = Date.now();
      const previous = this.#stamp;
      const stamp = folderStamp(this.dir);
      this.#stamp = stamp;
      return this.#keep(
        this.#dataset.then(async (dataset) => {
          if ((await stamp) !== (await previous.catch(() => ''))) await dataset.reload();
          return this.#prune(dataset);
        }),
      );
    }
    return this.#dataset;
  }

  /** Faces pruned by loads since the last call, once; undefined when none were. */
  takePruned(): PrunedFaces | undefined {
    const pruned = this.#pruned;
    this.#pruned = undefined;
    return pruned;
  }

  /**
   * Why the last load could not remove the faces of deleted illustrations (FacesError
   * `images-folder-missing` or `-empty`, or a file system error); undefined when it could.
   */
  get pruneProblem(): unknown {
    return this.#pruneProblem;
  }

  /** Resolves once no prune started by a load is running (waiting for any that starts meanwhile). */
  async idle(): Promise<void> {
    for (let waited = this.#pruning; ; waited = this.#pruning) {
      await waited;
      if (waited === this.#pruning) return;
    }
  }

  /** The settings the folder's faces were made with (undefined while it has none), re-read when the index changed. */
  async settings(): Promise<FaceDetectionSettings | undefined> {
    const stamp = await fileStamp(join(this.dir, FACES_INDEX_FILE));
    if (this.#settings?.stamp === stamp) return this.#settings.settings;
    const stored = await readStoredIndex(this.dir);
    const settings = stored.images.size > 0 ? stored.settings : undefined;
    this.#settings = { stamp, settings };
    return settings;
  }

  #keep(dataset: Promise<FaceDataset>): Promise<FaceDataset> {
    this.#dataset = dataset;
    dataset.catch(() => {
      if (this.#dataset === dataset) this.#dataset = undefined;
    });
    return dataset;
  }

  /**
   * Removes the faces of illustrations deleted from the images folder (never while extracting). The check
   * costs one folder listing; the index is re-read and rewritten only when something was deleted or an
   * interrupted prune is pending.
   */
  async #prune(dataset: FaceDataset): Promise<FaceDataset> {
    const { extracting } = this.#options;
    if (extracting()) return dataset;
    // An interrupted prune is finished (and the folder checked again) by pruneDeletedSources itself.
    let deleted: Set<string> | undefined;
    if (!existsSync(join(this.dir, FACES_PRUNE_FILE))) {
      const sources = dataset.sources();
      if (!dataset.inputDir || sources.length === 0) return this.#unpruned(dataset, undefined);
      try {
        deleted = await findDeletedSources(dataset.inputDir, sources);
      } catch (error) {
        return this.#unpruned(dataset, error);
      }
      if (deleted.size === 0) return this.#unpruned(dataset, undefined);
      if (extracting()) return dataset;
    }
    // The folder was just checked: the prune removes what that check found rather than listing it again.
    const run = pruneDeletedSources(this.dir, { deleted });
    this.#pruning = run.catch(() => undefined);
    let result;
    try {
      result = await run;
    } catch (error) {
      if (error instanceof FacesError && error.code === 'index-corrupt') throw error;
      // Another process extracts into the folder: it pruned before it started; the next load prunes the rest.
      if (error instanceof FolderLockedError) return dataset;
      return this.#unpruned(dataset, error);
    }
    this.#pruneProblem = undefined;
    if (result.sources.length === 0 && result.faces === 0 && result.exclusions === 0) return dataset;
    this.#pruned = {
      faces: (this.#pruned?.faces ?? 0) + result.faces,
      images: (this.#pruned?.images ?? 0) + result.sources.length,
      exclusions: (this.#pruned?.exclusions ?? 0) + result.exclusions,
    };
    await dataset.reload();
    this.#stamp = folderStamp(this.dir);
    this.#options.onPruned?.(dataset.counts());
    return dataset;
  }

  /** Hands the dataset on as it is, keeping why nothing was pruned (undefined: nothing needed to be). */
  #unpruned(dataset: FaceDataset, problem: unknown): FaceDataset {
    this.#pruneProblem = problem;
    return dataset;
  }
}

/** Size and modification time of a file ('' when missing): cheap change detection. */
async function fileStamp(path: string): Promise<string> {
  const info = await stat(path).catch(() => undefined);
  return info ? `${info.size}:${info.mtimeMs}` : '';
}

/** Changes whenever the index, the log of a running extraction or the exclusions change. */
async function folderStamp(dir: string): Promise<string> {
  const files = [FACES_INDEX_FILE, FACES_LOG_FILE, FACES_EXCLUDED_FILE];
  return (await Promise.all(files.map((file) => fileStamp(join(dir, file))))).join('|');
}
