/**
 * The training input pipeline (Node): face files decoded and resized by sharp (on libuv's thread pool,
 * off the training thread), cached in memory as uint8 when the set fits, assembled into [-1, 1] float
 * batches in a per-epoch seeded order with optional horizontal flips, and prefetched a few batches ahead
 * so a training step never waits on decoding.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { Rng } from '../../shared/rng.ts';
import { deriveSeed } from './seeds.ts';

const IMAGE_EXTENSIONS = /\.(jpe?g|png|webp|gif|bmp|tiff?|avif)$/i;

/** Image files under `dir` (recursively), sorted, so the same folder always gives the same order. */
export async function listImageFiles(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { recursive: true, withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`no such folder: ${dir}`);
    throw error;
  }
  return (
    entries
      // Symbolic links count: a training folder is often links into a larger collection.
      .filter(
        (e) => (e.isFile() || e.isSymbolicLink()) && IMAGE_EXTENSIONS.test(e.name) && !e.name.startsWith('.'),
      )
      .map((e) => join(e.parentPath, e.name))
      .sort()
  );
}

/** Where the data stream stands: the epoch and how many images of that epoch's order were consumed. */
export interface DataPosition {
  epoch: number;
  index: number;
}

export interface FaceBatchSourceOptions {
  paths: string[];
  imageSize: number;
  batchSize: number;
  seed: number;
  flip: boolean;
  /** Batches decoded ahead of the one being trained on. */
  prefetch?: number;
  /** Keep decoded faces in memory up to this many bytes (default 1 GiB); beyond it, decode every epoch. */
  cacheLimitBytes?: number;
  onWarning?: (message: string) => void;
}

export interface FaceBatch {
  /** [batchSize, S, S, 3] in [-1, 1], row-major NHWC. */
  data: Float32Array;
  /** The epoch this batch belongs to. */
  epoch: number;
  /** The position right after this batch (what a checkpoint stores). */
  next: DataPosition;
}

/** Decodes one face to S×S RGB uint8 (centre crop to square, alpha flattened onto white). */
export async function decodeFace(path: string, size: number): Promise<Uint8Array> {
  const { data, info } = await sharp(path)
    .rotate()
    .flatten({ background: '#ffffff' })
    .resize(size, size, { fit: 'cover', kernel: 'lanczos3' })
    .toColourspace('srgb')
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== size || info.height !== size) {
    throw new Error(`decoded to ${info.width}×${info.height}×${info.channels}`);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export class FaceBatchSource {
  readonly batchesPerEpoch: number;
  readonly #opts: Required<Omit<FaceBatchSourceOptions, 'onWarning'>> &
    Pick<FaceBatchSourceOptions, 'onWarning'>;
  readonly #cache = new Map<number, Promise<Uint8Array | undefined>>();
  readonly #cacheAll: boolean;
  readonly #bad = new Set<number>();
  #position: DataPosition;
  #queue: Array<{ position: DataPosition; batch: Promise<FaceBatch> }> = [];
  #orders = new Map<number, { order: Uint32Array; flips: Uint8Array }>();

  constructor(options: FaceBatchSourceOptions, start: DataPosition = { epoch: 0, index: 0 }) {
    this.#opts = { prefetch: 4, cacheLimitBytes: 1 << 30, ...options };
    const { paths, batchSize, imageSize } = this.#opts;
    if (paths.length === 0) throw new Error('no training images: the face folder is empty');
    if (paths.length < batchSize) {
      throw new Error(`only ${paths.length} training images, fewer than one batch of ${batchSize}`);
    }
    this.batchesPerEpoch = Math.floor(paths.length / batchSize);
    this.#cacheAll = paths.length * imageSize * imageSize * 3 <= this.#opts.cacheLimitBytes;
    this.#position = { ...start };
  }

  get position(): DataPosition {
    return { ...this.#position };
  }

  /** The image order and flips of one epoch: a pure function of (seed, epoch). */
  epochPlan(epoch: number): { order: Uint32Array; flips: Uint8Array } {
    let plan = this.#orders.get(epoch);
    if (!plan) {
      const n = this.#opts.paths.length;
      const rng = new Rng(deriveSeed(this.#opts.seed, `epoch-${epoch}`));
      const order = Uint32Array.from(rng.shuffle(Array.from({ length: n }, (_, i) => i)));
      const flips = new Uint8Array(n);
      for (let i = 0; i < n; i++) flips[i] = this.#opts.flip && rng.next() < 0.5 ? 1 : 0;
      plan = { order, flips };
      // Only the current epoch and the next (while prefetching across the boundary) are ever needed.
      for (const e of this.#orders.keys()) if (e < epoch - 1) this.#orders.delete(e);
      this.#orders.set(epoch, plan);
    }
    return plan;
  }

  /** The next batch; starts decoding the following ones before returning. */
  async next(): Promise<FaceBatch> {
    this.#fill();
    const head = this.#queue.shift()!;
    this.#position = (await head.batch).next;
    this.#fill();
    return head.batch;
  }

  #fill(): void {
    let position = this.#queue.at(-1)?.position ?? this.#position;
    if (this.#queue.length) position = advance(position, this.#opts.batchSize, this.batchesPerEpoch);
    while (this.#queue.length < this.#opts.prefetch + 1) {
      const at = position;
      const batch = this.#assemble(at);
      batch.catch(() => undefined); // surfaced when awaited in next()
      this.#queue.push({ position: at, batch });
      position = advance(at, this.#opts.batchSize, this.batchesPerEpoch);
    }
  }

  async #assemble(at: DataPosition): Promise<FaceBatch> {
    const { batchSize, imageSize } = this.#opts;
    const plan = this.epochPlan(at.epoch);
    const indices = Array.from(plan.order.subarray(at.index, at.index + batchSize));
    const flips = plan.flips.subarray(at.index, at.index + batchSize);
    const pixels = await Promise.all(indices.map((i) => this.#decodeUsable(i)));
    const perImage = imageSize * imageSize * 3;
    const data = new Float32Array(batchSize * perImage);
    pixels.forEach((src, b) => {
      const base = b * perImage;
      for (let y = 0; y < imageSize; y++) {
        for (let x = 0; x < imageSize; x++) {
          const sx = flips[b] ? imageSize - 1 - x : x;
          const s = (y * imageSize + sx) * 3;
          const d = base + (y * imageSize + x) * 3;
          data[d] = src[s]! / 127.5 - 1;
          data[d + 1] = src[s + 1]! / 127.5 - 1;
          data[d + 2] = src[s + 2]! / 127.5 - 1;
        }
      }
    });
    return { data, epoch: at.epoch, next: advance(at, batchSize, this.batchesPerEpoch) };
  }

  /** A decodable face for slot `index`: unreadable files are reported once and replaced by the next good one. */
  async #decodeUsable(index: number): Promise<Uint8Array> {
    const n = this.#opts.paths.length;
    for (let k = 0; k < n; k++) {
      const i = (index + k) % n;
      const pixels = await this.#decode(i);
      if (pixels) return pixels;
    }
    throw new Error('none of the training images could be decoded');
  }

  #decode(i: number): Promise<Uint8Array | undefined> {
    const cached = this.#cache.get(i);
    if (cached) return cached;
    const path = this.#opts.paths[i]!;
    const pending = decodeFace(path, this.#opts.imageSize).catch((error: unknown) => {
      if (!this.#bad.has(i)) {
        this.#bad.add(i);
        this.#opts.onWarning?.(`skipping unreadable image ${path}: ${(error as Error).message}`);
      }
      return undefined;
    });
    // Always shared by concurrent requests; kept afterwards when the whole set fits (or it is a bad file).
    this.#cache.set(i, pending);
    if (!this.#cacheAll) {
      void pending.then((pixels) => {
        if (pixels) this.#cache.delete(i);
      });
    }
    return pending;
  }
}

function advance(position: DataPosition, batchSize: number, batchesPerEpoch: number): DataPosition {
  const index = position.index + batchSize;
  // The incomplete tail of an epoch is skipped: every batch is full and an epoch has a fixed length.
  if (index + batchSize > batchesPerEpoch * batchSize) return { epoch: position.epoch + 1, index: 0 };
  return { epoch: position.epoch, index };
}

/** Decodes `paths` to an NHWC float set in [-1, 1] at `size`, skipping unreadable files (reported; `paths` says which were read). */
export async function decodeImageSet(
  paths: string[],
  size: number,
  warn?: (message: string) => void,
): Promise<{ data: Float32Array; count: number; size: number; paths: string[] }> {
  const decoded = await Promise.all(
    paths.map((p) =>
      decodeFace(p, size).catch((error: unknown) => {
        warn?.(`skipping unreadable image ${p}: ${(error as Error).message}`);
        return undefined;
      }),
    ),
  );
  const good = decoded.filter((d): d is Uint8Array => d !== undefined);
  const readable = paths.filter((_, i) => decoded[i] !== undefined);
  const data = new Float32Array(good.length * size * size * 3);
  good.forEach((pixels, i) => {
    for (let k = 0; k < pixels.length; k++) data[i * pixels.length + k] = pixels[k]! / 127.5 - 1;
  });
  return { data, count: good.length, size, paths: readable };
}
