/**
 * Interpolation export: the faces along a path from one z to another, written as an animated WebP or GIF.
 * Frames are rendered in batches, upscaled with Lanczos, stacked vertically and handed to sharp as one raw
 * image with `pageHeight` = frame height, which sharp encodes as an animation.
 */
import sharp from 'sharp';
import { extname } from 'node:path';
import { writeFileAtomic } from '../util/atomic-file.ts';
import { generateImages } from '../explorer/generator.ts';
import { interpolate, truncate, type InterpolationMode, type Latent } from '../explorer/latent.ts';
import { checkLatent, checkRenderSize, upscaleRgb } from './render.ts';
import { loadRunGenerator } from './model.ts';

export type AnimationFormat = 'webp' | 'gif';

export interface InterpolationExportOptions {
  runDir: string;
  step?: number;
  from: ArrayLike<number>;
  to: ArrayLike<number>;
  /** Frames in the file, endpoints included (2–600). */
  frames: number;
  mode?: InterpolationMode;
  truncation?: number;
  /** Frame side in pixels; 4× the model's image size when omitted. */
  size?: number;
  /** Output path; `.webp` or `.gif` (the format follows the extension unless `format` is given). */
  outPath: string;
  format?: AnimationFormat;
  /** Delay per frame; default 80 ms (12.5 fps). */
  frameDelayMs?: number;
  /** Play forwards then backwards (a → b → a) for a seamless loop; adds frames − 2 frames. */
  pingPong?: boolean;
  /** Frames rendered so far, for a progress bar. */
  onProgress?: (progress: { done: number; total: number }) => void;
  signal?: AbortSignal;
}

export interface InterpolationExportResult {
  path: string;
  format: AnimationFormat;
  /** Frames actually in the file (2·frames − 2 with pingPong). */
  frames: number;
  size: number;
  step: number;
}

export const MAX_ANIMATION_FRAMES = 600;

export async function exportInterpolation(
  options: InterpolationExportOptions,
): Promise<InterpolationExportResult> {
  const { frames, mode = 'spherical', truncation = 1, frameDelayMs = 80, pingPong = false, signal } = options;
  if (!Number.isInteger(frames) || frames < 2 || frames > MAX_ANIMATION_FRAMES) {
    throw new RangeError(`frames must be an integer between 2 and ${MAX_ANIMATION_FRAMES}, got ${frames}`);
  }
  if (!Number.isInteger(frameDelayMs) || frameDelayMs < 0 || frameDelayMs > 65535) {
    throw new RangeError(`frameDelayMs must be an integer between 0 and 65535, got ${frameDelayMs}`);
  }
  const format = options.format ?? formatFromPath(options.outPath);
  const model = await loadRunGenerator(options.runDir, options.step);
  try {
    const { generator } = model;
    const size = options.size ?? generator.imageSize * 4;
    checkRenderSize(size);
    checkLatent(options.from, generator.zDim, 'from');
    checkLatent(options.to, generator.zDim, 'to');
    let path: Latent[] = interpolate(
      Float32Array.from(options.from),
      Float32Array.from(options.to),
      frames,
      mode,
    );
    if (pingPong) path = [...path, ...path.slice(1, -1).reverse()];
    if (truncation !== 1) path = path.map((z) => truncate(z, truncation));

    const frameBytes = size * size * 3;
    const stacked = Buffer.alloc(frameBytes * path.length);
    const batch = 16;
    for (let start = 0; start < path.length; start += batch) {
      if (signal?.aborted) throw signal.reason ?? new Error('cancelled');
      const images = await generateImages(generator, path.slice(start, start + batch));
      for (const [i, image] of images.entries()) {
        (await upscaleRgb(image, size)).copy(stacked, (start + i) * frameBytes);
      }
      options.onProgress?.({ done: Math.min(start + batch, path.length), total: path.length });
    }
    const animation = sharp(stacked, {
      raw: { width: size, height: size * path.length, channels: 3, pageHeight: size },
    });
    // One delay per frame: a single number would only set the first frame's. (libwebp merges consecutive
    // frames that are pixel-identical, adding up their delays, so a WebP of a static path has fewer pages.)
    const delay = path.map(() => frameDelayMs);
    const encoded =
      format === 'gif'
        ? await animation.gif({ loop: 0, delay }).toBuffer()
        : await animation.webp({ loop: 0, delay, quality: 90 }).toBuffer();
    await writeFileAtomic(options.outPath, encoded);
    return { path: options.outPath, format, frames: path.length, size, step: model.step };
  } finally {
    model.generator.dispose();
  }
}

function formatFromPath(path: string): AnimationFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '.gif') return 'gif';
  if (ext === '.webp') return 'webp';
  throw new Error(`cannot tell the animation format from "${path}": use a .webp or .gif file name`);
}
