import sharp from 'sharp';
import type { Box, FaceDetector } from './opencv.ts';
import type { FaceDetectionSettings } from './options.ts';
import { PHASH_INPUT_SIDE, perceptualHash } from './phash.ts';

export interface CroppedFace {
  /** Position of this face in `detections` (part of its stable id). */
  detection: number;
  /** Detection box in source pixels. */
  box: Box;
  /** The square region that was cropped (box plus margin, kept inside the image), in source pixels. */
  crop: Box;
  /** 64-bit pHash of the crop, 16 hex digits. */
  hash: string;
  /** The crop, `size`×`size` RGB PNG. */
  png: Uint8Array;
}

export interface ImageFaces {
  width: number;
  height: number;
  /** Every detection, in source pixels, in reading order (left to right, then top to bottom). */
  detections: Box[];
  faces: CroppedFace[];
  /** Detections whose crop would have been smaller than `minSourceSize` source pixels. */
  tooSmall: Box[];
}

/**
 * Decodes one image (EXIF orientation applied, transparency flattened on white), detects faces on a copy
 * downscaled to `maxDetectSide`, and crops each face from the full-resolution pixels.
 */
export async function extractImageFaces(
  input: string | Uint8Array,
  detector: FaceDetector,
  settings: FaceDetectionSettings,
): Promise<ImageFaces> {
  const decoded = await sharp(input)
    .rotate()
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  const { width, height } = decoded.info;
  const rgb = toRgb(decoded.data, decoded.info.channels, width * height);
  const raw = { raw: { width, height, channels: 3 as const } };

  const scale = Math.min(1, settings.maxDetectSide / Math.max(width, height));
  let detectWidth = width;
  let detectHeight = height;
  let detectPixels: Uint8Array = rgb;
  if (scale < 1) {
    detectWidth = Math.max(1, Math.round(width * scale));
    detectHeight = Math.max(1, Math.round(height * scale));
    detectPixels = await sharp(rgb, raw)
      .resize(detectWidth, detectHeight, { fit: 'fill', kernel: 'lanczos3' })
      .raw()
      .toBuffer();
  }
  const sx = width / detectWidth;
  const sy = height / detectHeight;
  const detections = detector
    .detect(detectPixels, detectWidth, detectHeight, settings)
    .map((b) => ({
      x: Math.round(b.x * sx),
      y: Math.round(b.y * sy),
      width: Math.round(b.width * sx),
      height: Math.round(b.height * sy),
    }))
    .sort((a, b) => a.x - b.x || a.y - b.y || a.width - b.width);

  const faces: CroppedFace[] = [];
  const tooSmall: Box[] = [];
  for (const [detection, box] of detections.entries()) {
    const crop = squareCrop(box, settings.margin, width, height);
    if (crop.width < settings.minSourceSize) {
      tooSmall.push(box);
      continue;
    }
    const pixels = await sharp(rgb, raw)
      .extract({ left: crop.x, top: crop.y, width: crop.width, height: crop.height })
      .resize(settings.size, settings.size, { fit: 'fill', kernel: 'lanczos3' })
      .raw()
      .toBuffer();
    const cropRaw = { raw: { width: settings.size, height: settings.size, channels: 3 as const } };
    const [png, gray] = await Promise.all([
      sharp(pixels, cropRaw).png().toBuffer(),
      sharp(pixels, cropRaw)
        .resize(PHASH_INPUT_SIDE, PHASH_INPUT_SIDE, { fit: 'fill' })
        .greyscale()
        .raw()
        .toBuffer(),
    ]);
    faces.push({ detection, box, crop, hash: perceptualHash(gray), png: new Uint8Array(png) });
  }
  return { width, height, detections, faces, tooSmall };
}

/**
 * The detection box grown by `margin` of its side on every side, as a square moved (and if need be shrunk)
 * to lie inside the image, so crops are never stretched or padded.
 */
export function squareCrop(box: Box, margin: number, imageWidth: number, imageHeight: number): Box {
  const side = Math.max(box.width, box.height);
  const grown = Math.min(Math.round(side * (1 + 2 * margin)), imageWidth, imageHeight);
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  const x = clamp(Math.round(cx - grown / 2), 0, imageWidth - grown);
  const y = clamp(Math.round(cy - grown / 2), 0, imageHeight - grown);
  return { x, y, width: grown, height: grown };
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

function toRgb(data: Buffer, channels: number, pixels: number): Uint8Array {
  if (channels === 3) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  // Gray (and gray+alpha, already flattened) sources: replicate the luma into three channels.
  const rgb = new Uint8Array(pixels * 3);
  for (let i = 0; i < pixels; i++) {
    const v = data[i * channels]!;
    rgb[i * 3] = v;
    rgb[i * 3 + 1] = v;
    rgb[i * 3 + 2] = v;
  }
  if (channels !== 1 && channels !== 2) throw new Error(`unsupported channel count ${channels}`);
  return rgb;
}
