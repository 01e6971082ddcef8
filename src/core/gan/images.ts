/** PNG output for generated images (Node, sharp). */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import sharp from 'sharp';
import { writeFileAtomic } from '../util/atomic-file.ts';
import type { ImageBatch } from './generator-web.ts';

/** The pixels of image `i` of a batch, as a tight RGB/RGBA buffer. */
export function imageAt(batch: ImageBatch, i: number): Uint8Array {
  const size = batch.width * batch.height * batch.channels;
  return new Uint8Array(batch.pixels.buffer, batch.pixels.byteOffset + i * size, size);
}

export async function encodePng(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: 3 | 4,
): Promise<Buffer> {
  return sharp(pixels, { raw: { width, height, channels } }).png({ compressionLevel: 6 }).toBuffer();
}

/** Writes one image of a batch as a PNG (atomically). */
export async function writePng(batch: ImageBatch, i: number, path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, await encodePng(imageAt(batch, i), batch.width, batch.height, batch.channels));
}

/**
 * Tiles a batch into one PNG grid (default: square-ish, 8×8 for 64 images) with a thin dark gutter.
 * Returns the grid's size in pixels.
 */
export async function writeSampleGrid(
  batch: ImageBatch,
  path: string,
  options: { columns?: number; gap?: number; scale?: number } = {},
): Promise<{ width: number; height: number }> {
  const { count, width: w, height: h, channels } = batch;
  if (count === 0) throw new Error('no images to tile');
  const columns = options.columns ?? Math.ceil(Math.sqrt(count));
  const rows = Math.ceil(count / columns);
  const gap = options.gap ?? 2;
  const width = columns * w + (columns + 1) * gap;
  const height = rows * h + (rows + 1) * gap;
  const grid = new Uint8Array(width * height * 3).fill(24);
  for (let i = 0; i < count; i++) {
    const src = imageAt(batch, i);
    const ox = gap + (i % columns) * (w + gap);
    const oy = gap + Math.floor(i / columns) * (h + gap);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const s = (y * w + x) * channels;
        const d = ((oy + y) * width + ox + x) * 3;
        grid[d] = src[s]!;
        grid[d + 1] = src[s + 1]!;
        grid[d + 2] = src[s + 2]!;
      }
    }
  }
  let image = sharp(grid, { raw: { width, height, channels: 3 } });
  const scale = options.scale ?? 1;
  if (scale !== 1) image = image.resize(width * scale, height * scale, { kernel: 'nearest' });
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, await image.png({ compressionLevel: 6 }).toBuffer());
  return { width: width * scale, height: height * scale };
}
