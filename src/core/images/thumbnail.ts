import { stat, utimes } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import sharp from 'sharp';
import { writeFileAtomic } from '../util/atomic-file.ts';
import { isDatasetImageName } from './dataset.ts';
import { DEFAULT_MAX_PIXELS } from './validate.ts';

export const MIN_THUMB_SIZE = 16;
export const MAX_THUMB_SIZE = 1024;

export interface ThumbnailOptions {
  /** Where thumbnails live; defaults to `<data root>/cache/thumbs`, the dataset being `<data root>/dataset`. */
  cacheDir?: string;
}

const inFlight = new Map<string, Promise<string>>();

/**
 * Path of a WebP thumbnail (longest side `size`) of a dataset image, cached at
 * `cache/thumbs/<size>/<name>.webp` and regenerated when missing or when the image changed.
 * `name` must be a plain dataset file name: anything with a path separator is refused.
 */
export async function thumbnail(
  datasetDir: string,
  name: string,
  size: number,
  options: ThumbnailOptions = {},
): Promise<string> {
  if (basename(name) !== name || name.includes('\\') || !isDatasetImageName(name)) {
    throw new Error(`not a dataset image name: ${JSON.stringify(name)}`);
  }
  if (!Number.isInteger(size) || size < MIN_THUMB_SIZE || size > MAX_THUMB_SIZE) {
    throw new Error(`thumbnail size must be an integer in ${MIN_THUMB_SIZE}..${MAX_THUMB_SIZE}, got ${size}`);
  }
  const cacheDir = options.cacheDir ?? join(dirname(datasetDir), 'cache', 'thumbs');
  const source = join(datasetDir, name);
  const target = join(cacheDir, String(size), `${name}.webp`);
  const pending = inFlight.get(target);
  if (pending) return pending;
  const job = (async () => {
    const sourceInfo = await stat(source);
    const cached = await stat(target).catch(() => undefined);
    // The thumbnail carries its source's mtime: any change to the source (newer or older) shows as a mismatch.
    if (cached && Math.abs(cached.mtimeMs - sourceInfo.mtimeMs) < 1) return target;
    const webp = await sharp(source, { limitInputPixels: DEFAULT_MAX_PIXELS, animated: false })
      .rotate()
      .resize(size, size, { fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 80 })
      .toBuffer();
    await writeFileAtomic(target, webp);
    await utimes(target, sourceInfo.atime, sourceInfo.mtime);
    return target;
  })().finally(() => inFlight.delete(target));
  inFlight.set(target, job);
  return job;
}
