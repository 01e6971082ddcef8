/**
 * Node rendering of faces from a run's checkpoint to PNG: generator output upscaled with Lanczos (sharp).
 * Used by favorites (save, export, regenerate), interpolation export and `kao sample --z`.
 */
import sharp from 'sharp';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic-file.ts';
import { generateImages, type ExplorerGenerator, type RgbaImage } from '../explorer/generator.ts';
import { truncate, type Latent } from '../explorer/latent.ts';
import { loadRunGenerator } from './model.ts';

export interface RenderOptions {
  /** Checkpoint step; the run's best (else newest) checkpoint when omitted. */
  step?: number;
  /** ψ applied to every z before rendering (1 = as is). */
  truncation?: number;
  /** Output side in pixels; 4× the model's image size when omitted. */
  size?: number;
}

export const MIN_RENDER_SIZE = 8;
export const MAX_RENDER_SIZE = 4096;

/** Renders z vectors from a run's checkpoint to PNG buffers of `size`×`size`. */
export async function renderFaces(
  runDir: string,
  zs: readonly Latent[],
  options: RenderOptions = {},
): Promise<Buffer[]> {
  const model = await loadRunGenerator(runDir, options.step);
  try {
    return await renderFacesWith(model.generator, zs, options);
  } finally {
    model.generator.dispose();
  }
}

/** Same as renderFaces with a generator already in memory. */
export async function renderFacesWith(
  generator: ExplorerGenerator,
  zs: readonly Latent[],
  options: Omit<RenderOptions, 'step'> = {},
): Promise<Buffer[]> {
  const { truncation = 1, size = generator.imageSize * 4 } = options;
  checkRenderSize(size);
  for (const [i, z] of zs.entries()) checkLatent(z, generator.zDim, `z[${i}]`);
  const images = await generateImages(
    generator,
    zs.map((z) => (truncation === 1 ? z : truncate(z, truncation))),
  );
  return Promise.all(images.map((image) => encodePng(image, size)));
}

/** RGBA generator output → RGB PNG at `size`, Lanczos-3 resampling (sharper than bilinear for 4× upscales). */
export async function encodePng(image: RgbaImage, size: number): Promise<Buffer> {
  return rgbaPipeline(image, size).png().toBuffer();
}

/** The upscaled RGB pixels without encoding: frames of an animation. */
export async function upscaleRgb(image: RgbaImage, size: number): Promise<Buffer> {
  return rgbaPipeline(image, size).raw().toBuffer();
}

function rgbaPipeline(image: RgbaImage, size: number): sharp.Sharp {
  const pipeline = sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength), {
    raw: { width: image.width, height: image.height, channels: 4 },
  }).removeAlpha();
  return size === image.width && size === image.height
    ? pipeline
    : pipeline.resize(size, size, { kernel: sharp.kernel.lanczos3, fit: 'fill' });
}

/** A saved PNG resized to `size` (used when the checkpoint that made it is gone). */
export async function resizePng(png: Buffer, size: number): Promise<Buffer> {
  checkRenderSize(size);
  return sharp(png).resize(size, size, { kernel: sharp.kernel.lanczos3, fit: 'fill' }).png().toBuffer();
}

export function checkRenderSize(size: number): void {
  if (!Number.isInteger(size) || size < MIN_RENDER_SIZE || size > MAX_RENDER_SIZE) {
    throw new RangeError(
      `size must be an integer between ${MIN_RENDER_SIZE} and ${MAX_RENDER_SIZE}, got ${size}`,
    );
  }
}

export function checkLatent(z: ArrayLike<number>, zDim: number, what = 'z'): void {
  if (z.length !== zDim)
    throw new RangeError(`${what} has ${z.length} values but this model's z has ${zDim}`);
  for (let i = 0; i < z.length; i++) {
    if (!Number.isFinite(z[i])) throw new RangeError(`${what}[${i}] is not a finite number`);
  }
}

/**
 * What `kao sample --z FILE.json` reads: a JSON array of numbers, or a saved favorite (its `z`, and its
 * `truncation` and `step` unless the caller overrides them).
 */
export async function readLatentFile(
  path: string,
): Promise<{ z: Float32Array; truncation?: number; step?: number }> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read z from ${path}: ${(error as Error).message}`);
  }
  const numbers = (v: unknown): v is number[] =>
    Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number');
  if (numbers(value)) return { z: Float32Array.from(value) };
  if (value && typeof value === 'object' && numbers((value as { z?: unknown }).z)) {
    const record = value as { z: number[]; truncation?: unknown; step?: unknown };
    return {
      z: Float32Array.from(record.z),
      truncation: typeof record.truncation === 'number' ? record.truncation : undefined,
      step: typeof record.step === 'number' ? record.step : undefined,
    };
  }
  throw new Error(`${path} is neither a JSON array of numbers nor a favorite with a "z" array`);
}

/**
 * Regenerates one face from a z file headlessly (the `kao sample --z` branch): same z file and checkpoint
 * → the same PNG bytes on the same backend.
 */
export async function renderLatentFileToPng(
  runDir: string,
  zPath: string,
  outPath: string,
  options: RenderOptions = {},
): Promise<{ path: string; step: number; size: number; truncation: number }> {
  const file = await readLatentFile(zPath);
  const step = options.step ?? file.step;
  const truncation = options.truncation ?? file.truncation ?? 1;
  const model = await loadRunGenerator(runDir, step);
  try {
    const size = options.size ?? model.generator.imageSize * 4;
    const [png] = await renderFacesWith(model.generator, [file.z], { truncation, size });
    await writeFileAtomic(outPath, png!);
    return { path: outPath, step: model.step, size, truncation };
  } finally {
    model.generator.dispose();
  }
}
