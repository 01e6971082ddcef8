/**
 * The favorites library: one `<id>.json` record + one `<id>.png` (4× Lanczos upscale) per saved face, in a
 * folder (normally `<data>/favorites`). Records are plain JSON validated by `favoriteRecordSchema`, so the UI
 * can receive them over IPC as-is. Every write is atomic; a corrupt record is reported, never fatal.
 */
import { randomBytes } from 'node:crypto';
import { readFile, readdir, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { readJsonIfExists, writeFileAtomic, writeJsonAtomic } from '../util/atomic-file.ts';
import { checkLatent, checkRenderSize, renderFacesWith, resizePng } from './render.ts';
import { checkpointExists, loadRunGenerator } from './model.ts';

export const FAVORITE_ID_PATTERN = /^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$/;
export const MAX_NAME_LENGTH = 120;
/** Saved PNGs are this many times the model's image size (48 → 192, 64 → 256). */
export const SAVED_IMAGE_SCALE = 4;

/** Named-slider positions, tag → offset in standard deviations of z (the bounds of the contract's AttributeOffsets). */
export const attributeOffsetsSchema = z.record(
  z.string().min(1).max(200),
  z.number().finite().min(-10).max(10),
);

export const favoriteRecordSchema = z.object({
  version: z.literal(1),
  id: z.string().regex(FAVORITE_ID_PATTERN),
  name: z.string().trim().min(1).max(MAX_NAME_LENGTH),
  /** ISO-8601 UTC. */
  createdAt: z.iso.datetime(),
  runId: z.string().min(1),
  /** Absolute path of the run folder the face came from. */
  runDir: z.string().min(1),
  /** Checkpoint step the face was rendered from; regenerating needs exactly this checkpoint. */
  step: z.number().int().min(0),
  /** ψ: the face is generator(truncation · z). */
  truncation: z.number().min(0).max(10),
  z: z.array(z.number()).min(1),
  /**
   * Named-slider positions the face was saved with (z already includes their effect), so the Explorer can
   * show the sliders where they were. Absent in records saved without them, and in older records.
   */
  attributes: attributeOffsetsSchema.optional(),
  image: z.object({
    file: z.string().regex(/^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}\.png$/),
    size: z.number().int().min(1),
  }),
});
export type FavoriteRecord = z.infer<typeof favoriteRecordSchema>;

/** A record as listed: plus where its PNG is and whether its checkpoint can still regenerate it. */
export interface FavoriteEntry extends FavoriteRecord {
  pngPath: string;
  modelAvailable: boolean;
}

export interface FavoriteProblem {
  file: string;
  reason: string;
}

export interface FavoritesListing {
  /** Newest first. */
  favorites: FavoriteEntry[];
  /** Files that are not valid favorites (skipped); the UI can show them so nothing disappears silently. */
  problems: FavoriteProblem[];
}

export interface SaveFavoriteInput {
  z: ArrayLike<number>;
  runDir: string;
  /** Checkpoint step; the run's best (else newest) when omitted (the record stores the step actually used). */
  step?: number;
  truncation?: number;
  name?: string;
  /** Named-slider positions to remember (tag → offset); zero offsets are not stored. */
  attributes?: Record<string, number> | undefined;
  /** Creation time (tests); now when omitted. */
  now?: Date;
}

export class FavoriteNotFoundError extends Error {
  override readonly name = 'FavoriteNotFoundError';
  constructor(readonly id: string) {
    super(`no favorite with id "${id}"`);
  }
}

export async function saveFavorite(libraryDir: string, input: SaveFavoriteInput): Promise<FavoriteEntry> {
  const truncation = input.truncation ?? 1;
  if (!Number.isFinite(truncation) || truncation < 0 || truncation > 10) {
    throw new RangeError(`truncation must be between 0 and 10, got ${truncation}`);
  }
  const name = input.name === undefined ? undefined : checkName(input.name);
  const attributes = checkAttributes(input.attributes);
  const runDir = resolve(input.runDir);
  const model = await loadRunGenerator(runDir, input.step);
  let png: Buffer;
  try {
    checkLatent(input.z, model.generator.zDim);
    const size = model.generator.imageSize * SAVED_IMAGE_SCALE;
    [png] = (await renderFacesWith(model.generator, [Float32Array.from(input.z)], { truncation, size })) as [
      Buffer,
    ];
  } finally {
    model.generator.dispose();
  }
  const createdAt = input.now ?? new Date();
  const id = newFavoriteId(createdAt);
  const record: FavoriteRecord = {
    version: 1,
    id,
    name: name ?? `${model.runId} · step ${model.step}`,
    createdAt: createdAt.toISOString(),
    runId: model.runId,
    runDir,
    step: model.step,
    truncation,
    // float32 → JSON number is exact, so the saved z regenerates the same pixels.
    z: Array.from(Float32Array.from(input.z)),
    ...(attributes ? { attributes } : {}),
    image: { file: `${id}.png`, size: model.generator.imageSize * SAVED_IMAGE_SCALE },
  };
  // PNG first: a record on disk always has its image.
  await writeFileAtomic(join(libraryDir, record.image.file), png);
  await writeJsonAtomic(join(libraryDir, `${id}.json`), record);
  return { ...record, pngPath: join(libraryDir, record.image.file), modelAvailable: true };
}

export async function listFavorites(libraryDir: string): Promise<FavoritesListing> {
  let files: string[];
  try {
    files = await readdir(libraryDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { favorites: [], problems: [] };
    throw error;
  }
  const favorites: FavoriteEntry[] = [];
  const problems: FavoriteProblem[] = [];
  const availability = new Map<string, Promise<boolean>>();
  for (const file of files.sort()) {
    // Dot files are atomic-write temporaries (or hidden OS files), not records.
    if (!file.endsWith('.json') || file.startsWith('.')) continue;
    const parsed = await readRecordFile(join(libraryDir, file));
    if (!parsed.ok) {
      problems.push({ file, reason: parsed.reason });
      continue;
    }
    const record = parsed.record;
    if (`${record.id}.json` !== file) {
      problems.push({ file, reason: `its id "${record.id}" does not match the file name` });
      continue;
    }
    const key = `${record.runDir}\0${record.step}`;
    if (!availability.has(key)) availability.set(key, checkpointExists(record.runDir, record.step));
    favorites.push({
      ...record,
      pngPath: join(libraryDir, record.image.file),
      modelAvailable: await availability.get(key)!,
    });
  }
  favorites.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));
  return { favorites, problems };
}

export async function getFavorite(libraryDir: string, id: string): Promise<FavoriteEntry> {
  const record = await readFavoriteRecord(libraryDir, id);
  return {
    ...record,
    pngPath: join(libraryDir, record.image.file),
    modelAvailable: await checkpointExists(record.runDir, record.step),
  };
}

export async function renameFavorite(libraryDir: string, id: string, name: string): Promise<FavoriteEntry> {
  const record = await readFavoriteRecord(libraryDir, id);
  const renamed: FavoriteRecord = { ...record, name: checkName(name) };
  await writeJsonAtomic(join(libraryDir, `${id}.json`), renamed);
  return getFavorite(libraryDir, id);
}

/** Deletes a favorite's record and PNG. A corrupt record can be deleted too (by id), so the UI can clean it up. */
export async function deleteFavorite(libraryDir: string, id: string): Promise<void> {
  if (!FAVORITE_ID_PATTERN.test(id)) throw new FavoriteNotFoundError(id);
  const parsed = await readRecordFile(join(libraryDir, `${id}.json`));
  if (!parsed.ok && parsed.missing) throw new FavoriteNotFoundError(id);
  const png = parsed.ok ? parsed.record.image.file : `${id}.png`;
  // Record first: if we stop in between, an orphan PNG is left, never a record without its image.
  await unlink(join(libraryDir, `${id}.json`));
  await unlink(join(libraryDir, png)).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}

/** The favorite's face as a PNG of `size` (default: the saved size), re-rendered from z with its checkpoint. */
export async function regenerateFavorite(
  libraryDir: string,
  id: string,
  options: { size?: number } = {},
): Promise<Buffer> {
  const record = await readFavoriteRecord(libraryDir, id);
  return renderRecord(record, options.size ?? record.image.size);
}

export interface ExportResult {
  path: string;
  size: number;
  /** `model`: re-rendered from z at full quality; `saved-image`: the checkpoint is gone, the saved PNG was resized. */
  source: 'model' | 'saved-image';
}

/** Writes the favorite as a `size`×`size` PNG to `outPath` (atomic). */
export async function exportFavoritePng(
  libraryDir: string,
  id: string,
  outPath: string,
  options: { size?: number } = {},
): Promise<ExportResult> {
  const record = await readFavoriteRecord(libraryDir, id);
  const size = options.size ?? record.image.size;
  checkRenderSize(size);
  let png: Buffer;
  let source: ExportResult['source'];
  if (await checkpointExists(record.runDir, record.step)) {
    png = await renderRecord(record, size);
    source = 'model';
  } else {
    png = await resizePng(await readFile(join(libraryDir, record.image.file)), size);
    source = 'saved-image';
  }
  await writeFileAtomic(outPath, png);
  return { path: outPath, size, source };
}

async function renderRecord(record: FavoriteRecord, size: number): Promise<Buffer> {
  const model = await loadRunGenerator(record.runDir, record.step);
  try {
    const [png] = await renderFacesWith(model.generator, [Float32Array.from(record.z)], {
      truncation: record.truncation,
      size,
    });
    return png!;
  } finally {
    model.generator.dispose();
  }
}

export async function readFavoriteRecord(libraryDir: string, id: string): Promise<FavoriteRecord> {
  if (!FAVORITE_ID_PATTERN.test(id)) throw new FavoriteNotFoundError(id);
  const path = join(libraryDir, `${id}.json`);
  const parsed = await readRecordFile(path);
  if (!parsed.ok) {
    if (parsed.missing) throw new FavoriteNotFoundError(id);
    throw new Error(`favorite ${id} is unreadable: ${parsed.reason}`);
  }
  return parsed.record;
}

type ParsedRecord = { ok: true; record: FavoriteRecord } | { ok: false; reason: string; missing?: boolean };

async function readRecordFile(path: string): Promise<ParsedRecord> {
  let value: unknown;
  try {
    value = await readJsonIfExists(path);
  } catch (error) {
    return { ok: false, reason: `not valid JSON (${(error as Error).message})` };
  }
  if (value === undefined) return { ok: false, reason: 'file not found', missing: true };
  const result = favoriteRecordSchema.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    return { ok: false, reason: `not a favorite record (${issues.join('; ')})` };
  }
  return { ok: true, record: result.data };
}

function checkAttributes(attributes: Record<string, number> | undefined): Record<string, number> | undefined {
  if (attributes === undefined) return undefined;
  const parsed = attributeOffsetsSchema.safeParse(attributes);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new RangeError(`attribute ${issue.path.join('.') || 'offsets'}: ${issue.message}`);
  }
  const nonZero = Object.entries(parsed.data).filter(([, offset]) => offset !== 0);
  return nonZero.length ? Object.fromEntries(nonZero) : undefined;
}

function checkName(name: string): string {
  const trimmed = name.trim();
  if (trimmed.length === 0) throw new RangeError('a favorite needs a non-empty name');
  if (trimmed.length > MAX_NAME_LENGTH)
    throw new RangeError(`a favorite name is at most ${MAX_NAME_LENGTH} characters`);
  return trimmed;
}

/** `YYYYMMDD-HHMMSS-xxxxxx`: sorts by creation time in a file browser, random suffix against same-second saves. */
function newFavoriteId(date: Date): string {
  const iso = date.toISOString(); // 2026-11-27T09:15:00.000Z
  const stamp = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}-${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}
