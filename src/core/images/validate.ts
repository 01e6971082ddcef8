import sharp from 'sharp';
import { z } from 'zod';

/** Formats the dataset accepts; anything else sharp can read (SVG, TIFF, HEIF…) is rejected on purpose. */
export const ACCEPTED_FORMATS = ['jpeg', 'png', 'webp', 'gif'] as const;
export type AcceptedFormat = (typeof ACCEPTED_FORMATS)[number];

export const EXTENSION_FOR_FORMAT: Record<AcceptedFormat, string> = {
  jpeg: 'jpg',
  png: 'png',
  webp: 'webp',
  gif: 'gif',
};

/** File extensions the folder import treats as candidate images (the content still decides). */
export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.jfif', '.png', '.webp', '.gif']);

/** 50 megapixels: far above any booru original worth training on, far below a decompression bomb. */
export const DEFAULT_MAX_PIXELS = 50_000_000;
/** Smaller than this cannot yield a 96×96 face crop worth having. */
export const DEFAULT_MIN_SIDE = 32;

/**
 * The option fields that cap a file coming into the dataset (crawled or imported): its bytes (default
 * `defaultMaxFileMb` MiB) and its pixels.
 */
export function imageLimitOptions(defaultMaxFileMb: number) {
  return {
    maxFileBytes: z
      .number()
      .int()
      .positive()
      .default(defaultMaxFileMb * 1024 * 1024),
    maxPixels: z.number().int().positive().default(DEFAULT_MAX_PIXELS),
  };
}

export interface ImageLimits {
  maxPixels?: number;
  minSide?: number;
}

export interface ValidImage {
  format: AcceptedFormat;
  extension: string;
  width: number;
  height: number;
}

/** Why an image was refused; `reason` is a short sentence meant for users and logs. */
export class InvalidImageError extends Error {
  override readonly name = 'InvalidImageError';
  constructor(readonly reason: string) {
    super(reason);
  }
}

/**
 * Proves a file (or buffer) is a whole, decodable image of an accepted format. The header alone is not
 * enough: truncated or corrupt entropy data only shows when decoding, so the pixels are decoded through a
 * tiny resize (JPEG shrink-on-load keeps that fast) with `failOn: 'truncated'`. `limitInputPixels` refuses
 * decompression bombs before any pixel buffer is allocated.
 */
export async function validateImage(input: string | Buffer, limits: ImageLimits = {}): Promise<ValidImage> {
  const maxPixels = limits.maxPixels ?? DEFAULT_MAX_PIXELS;
  const minSide = limits.minSide ?? DEFAULT_MIN_SIDE;
  const open = () => sharp(input, { limitInputPixels: maxPixels, failOn: 'truncated', animated: false });
  let metadata: sharp.Metadata;
  try {
    metadata = await open().metadata();
  } catch (error) {
    throw new InvalidImageError(describeSharpError(error));
  }
  const format = metadata.format as string | undefined;
  if (!format || !(ACCEPTED_FORMATS as readonly string[]).includes(format)) {
    throw new InvalidImageError(`unsupported image format ${format ?? 'unknown'}`);
  }
  const width = metadata.width ?? 0;
  const height = metadata.height ?? 0;
  if (width * height > maxPixels) {
    throw new InvalidImageError(`image is ${width}×${height}, over the ${maxPixels} pixel limit`);
  }
  if (width < minSide || height < minSide) {
    throw new InvalidImageError(`image is ${width}×${height}, smaller than ${minSide} px on a side`);
  }
  try {
    await open().resize(64, 64, { fit: 'inside' }).raw().toBuffer();
  } catch (error) {
    throw new InvalidImageError(describeSharpError(error));
  }
  const accepted = format as AcceptedFormat;
  return { format: accepted, extension: EXTENSION_FOR_FORMAT[accepted], width, height };
}

function describeSharpError(error: unknown): string {
  const message = (error instanceof Error ? error.message : String(error)).split('\n')[0]!.trim();
  if (/unsupported image format/i.test(message)) return 'not an image (unrecognised content)';
  if (/pixel limit/i.test(message)) return 'image exceeds the pixel limit (possible decompression bomb)';
  if (/premature end|truncated|unexpected end/i.test(message)) return `truncated image (${message})`;
  return `corrupt image (${message})`;
}
