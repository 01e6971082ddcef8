/**
 * A tagged dataset for the named-slider tests: real face crops from ../shared/data/faces, each tagged by a
 * rule that can also be measured on any image (so a test can check what a slider did to generated faces):
 *
 * - `dark_hair`: the top third of the crop (mostly hair) is dark, mean luma below 130 of 255;
 * - `warm_hair`: the top third's hue is warm: (R − B) / (R + G + B) above 10 %, whatever its brightness;
 * - `solo` on every face (a tag with no negatives: never a slider);
 * - `glasses` on every 50th face (too few positives: never a slider).
 *
 * On the 1,600 shared faces the two measures are nearly independent (correlation −0.06), and each rule
 * holds for about a third of the faces.
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { generateImages, type ExplorerGenerator } from '../../src/core/explorer/generator.ts';
import { facesDir } from './shared-data.ts';

export const DARK_HAIR_LUMA = 130;
export const WARM_HAIR_WARMTH = 10;

export interface TaggedFace {
  /** File name inside the dataset folder. */
  file: string;
  tags: string[];
  darkness: number;
  warmth: number;
}

/** Mean luma of the top third of an RGB (3 bytes per pixel) or RGBA image, 0–255. */
export function hairLuma(pixels: ArrayLike<number>, size: number, channels = 3): number {
  return topThirdMean(pixels, size, channels, (r, g, b) => 0.299 * r + 0.587 * g + 0.114 * b);
}

/** Warmth of the top third's colour: 100 · (R − B) / (R + G + B) of its summed channels, −100–100. */
export function hairWarmth(pixels: ArrayLike<number>, size: number, channels = 3): number {
  const red = topThirdMean(pixels, size, channels, (r) => r);
  const green = topThirdMean(pixels, size, channels, (_r, g) => g);
  const blue = topThirdMean(pixels, size, channels, (_r, _g, b) => b);
  return (100 * (red - blue)) / (red + green + blue + 1e-6);
}

function topThirdMean(
  pixels: ArrayLike<number>,
  size: number,
  channels: number,
  measure: (r: number, g: number, b: number) => number,
): number {
  const rows = Math.max(1, Math.floor(size / 3));
  let sum = 0;
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * channels;
      sum += measure(pixels[i]!, pixels[i + 1]!, pixels[i + 2]!);
    }
  }
  return sum / (rows * size);
}

/** The rule's tags for a face crop. */
export function ruleTags(luma: number, warmth: number, index: number): string[] {
  const tags = ['solo'];
  if (luma < DARK_HAIR_LUMA) tags.push('dark_hair');
  if (warmth > WARM_HAIR_WARMTH) tags.push('warm_hair');
  if (index % 50 === 0) tags.push('glasses');
  return tags;
}

/** The first `count` shared faces with their rule tags (read, not copied). */
export async function taggedSharedFaces(count: number): Promise<Array<TaggedFace & { path: string }>> {
  const files = readdirSync(facesDir)
    .filter((f) => f.endsWith('.jpg'))
    .sort()
    .slice(0, count);
  const out: Array<TaggedFace & { path: string }> = [];
  for (const [index, file] of files.entries()) {
    const path = join(facesDir, file);
    const { data, info } = await sharp(path).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const luma = hairLuma(data, info.width);
    const warmth = hairWarmth(data, info.width);
    out.push({ file, path, tags: ruleTags(luma, warmth, index), darkness: 255 - luma, warmth });
  }
  return out;
}

/**
 * A folder of `count` face crops with `.txt` sidecars (`solo, dark_hair`), the convention of anime-model
 * training tools; what `kao import` and training on a plain folder read tags from.
 */
export async function makeTaggedFaceFolder(dir: string, count = 300): Promise<TaggedFace[]> {
  await mkdir(dir, { recursive: true });
  const faces = await taggedSharedFaces(count);
  for (const face of faces) {
    await copyFile(face.path, join(dir, face.file));
    await writeFile(join(dir, face.file.replace(/\.jpg$/, '.txt')), `${face.tags.join(', ')}\n`);
  }
  return faces.map(({ path: _path, ...face }) => face);
}

/** Each rule's measure, signed so that up is the tag's way, and the other rule's measure. */
const RULES = {
  dark_hair: { key: 'luma', sign: -1, other: 'warmth' },
  warm_hair: { key: 'warmth', sign: 1, other: 'luma' },
} as const;

export interface RuleEffect {
  tag: string;
  /** Share of faces whose own rule measure moved the tag's way. */
  rose: number;
  /** Mean move of the own measure, in standard deviations of it over the faces before. */
  change: number;
  /** |mean move| of the other rule's measure in its standard deviations, as a share of `change`. */
  crossTalk: number;
}

/**
 * What moving each rule-tagged slider by `amount` does to the rules measured on the generated pixels of
 * `latents` (faces a test or script picks, unseen by learning).
 */
export async function ruleEffects(
  generator: ExplorerGenerator,
  attributes: ReadonlyArray<{ tag: string; vector: ArrayLike<number> }>,
  latents: Float32Array[],
  amount = 2,
): Promise<RuleEffect[]> {
  const measure = async (zs: Float32Array[]) =>
    (await generateImages(generator, zs)).map((image) => ({
      luma: hairLuma(image.data, image.width, 4),
      warmth: hairWarmth(image.data, image.width, 4),
    }));
  const before = await measure(latents);
  const spread = (key: 'luma' | 'warmth') => {
    const values = before.map((m) => m[key]);
    const mean = values.reduce((s, v) => s + v, 0) / values.length;
    return Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length);
  };
  const effects: RuleEffect[] = [];
  for (const { tag, vector } of attributes) {
    const rule = RULES[tag as keyof typeof RULES];
    if (!rule) continue;
    const after = await measure(latents.map((z) => z.map((v, i) => v + amount * vector[i]!)));
    const own = after.map((m, i) => rule.sign * (m[rule.key] - before[i]![rule.key]));
    const other = after.map((m, i) => m[rule.other] - before[i]![rule.other]);
    const change = own.reduce((s, d) => s + d, 0) / own.length / spread(rule.key);
    const otherChange = Math.abs(other.reduce((s, d) => s + d, 0) / other.length) / spread(rule.other);
    effects.push({
      tag,
      rose: own.filter((d) => d > 0).length / own.length,
      change,
      crossTalk: otherChange / change,
    });
  }
  return effects;
}
