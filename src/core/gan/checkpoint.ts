/**
 * Checkpoints (Node): one folder per step, `checkpoints/step-00000123/` holding `tensors.bin` (every
 * float32 tensor back to back) and `manifest.json` (names, shapes, offsets, training state and a SHA-256
 * over both). Written as a temp folder, fsynced, then renamed, so a crash leaves either a complete
 * checkpoint or none. Loading verifies the checksum and falls back to the previous good checkpoint.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir, writeFileSynced } from '../util/atomic-file.ts';
import {
  assignParams,
  readParamRecord,
  type Gan,
  type ParamSet,
  type TensorRecord,
  type WeightRecord,
} from './models.ts';
import { samplingGenerator } from './recipe/ema.ts';

export const CHECKPOINT_FORMAT = 'kao-checkpoint';
const FOLDER = /^step-(\d+)$/;

export interface CheckpointManifest {
  format: typeof CHECKPOINT_FORMAT;
  version: 1;
  step: number;
  createdAt: string;
  /** Training state besides tensors (epoch, data position, RNG state, optimizer step counts...). */
  state: Record<string, unknown>;
  tensors: Array<{ name: string; shape: number[]; offset: number; length: number }>;
  byteLength: number;
  /** SHA-256 (hex) of tensors.bin followed by this manifest's JSON with `sha256` set to "". */
  sha256: string;
}

export interface Checkpoint {
  step: number;
  path: string;
  state: Record<string, unknown>;
  tensors: WeightRecord;
}

export function checkpointsDir(runDir: string): string {
  return join(runDir, 'checkpoints');
}

export function checkpointFolderName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

/** Steps of the checkpoint folders present, ascending. Cheap (no reading); validity is checked on load. */
export async function listCheckpoints(runDir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(checkpointsDir(runDir));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return names
    .map((n) => FOLDER.exec(n)?.[1])
    .filter((s): s is string => s !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

function checksum(bin: Uint8Array, manifest: CheckpointManifest): string {
  return createHash('sha256')
    .update(bin)
    .update(JSON.stringify({ ...manifest, sha256: '' }))
    .digest('hex');
}

/**
 * Writes a checkpoint atomically and deletes all but the newest `keep` ones — and `protect`, the step of
 * the run's best checkpoint (best-checkpoint.ts), whatever its age. Returns its folder.
 */
export async function saveCheckpoint(
  runDir: string,
  step: number,
  state: Record<string, unknown>,
  tensors: WeightRecord,
  keep = 3,
  protect?: number,
): Promise<string> {
  const dir = checkpointsDir(runDir);
  await mkdir(dir, { recursive: true });
  const entries: CheckpointManifest['tensors'] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    entries.push({ name, shape: t.shape, offset, length: t.data.length });
    offset += t.data.byteLength;
  }
  const bin = new Uint8Array(offset);
  for (const entry of entries) {
    const t = tensors[entry.name]!;
    bin.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), entry.offset);
  }
  const manifest: CheckpointManifest = {
    format: CHECKPOINT_FORMAT,
    version: 1,
    step,
    createdAt: new Date().toISOString(),
    state,
    tensors: entries,
    byteLength: offset,
    sha256: '',
  };
  manifest.sha256 = checksum(bin, manifest);

  const temp = join(dir, `.tmp-${checkpointFolderName(step)}-${randomBytes(4).toString('hex')}`);
  await mkdir(temp);
  await writeFileSynced(join(temp, 'tensors.bin'), bin);
  await writeFileSynced(join(temp, 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n');
  await fsyncDir(temp);
  const final = join(dir, checkpointFolderName(step));
  // Re-saving a step (stop right after a resume) replaces the folder; rename cannot overwrite a non-empty one.
  await rm(final, { recursive: true, force: true });
  await rename(temp, final);
  await fsyncDir(dir);

  const steps = await listCheckpoints(runDir);
  for (const old of steps.slice(0, Math.max(0, steps.length - keep))) {
    if (old === protect) continue;
    await rm(join(dir, checkpointFolderName(old)), { recursive: true, force: true });
  }
  return final;
}

/** Reads and verifies one checkpoint folder; throws a readable error when it is incomplete or corrupt. */
export async function readCheckpoint(path: string): Promise<Checkpoint> {
  let manifest: CheckpointManifest;
  try {
    manifest = JSON.parse(await readFile(join(path, 'manifest.json'), 'utf8')) as CheckpointManifest;
  } catch (error) {
    throw new Error(`unreadable manifest.json (${(error as Error).message})`);
  }
  if (manifest.format !== CHECKPOINT_FORMAT || manifest.version !== 1)
    throw new Error('not a Kao checkpoint (format/version)');
  const file = await readFile(join(path, 'tensors.bin'));
  const bin = new Uint8Array(file.buffer, file.byteOffset, file.byteLength);
  if (bin.byteLength !== manifest.byteLength) {
    throw new Error(`tensors.bin is ${bin.byteLength} bytes, expected ${manifest.byteLength} (truncated?)`);
  }
  if (checksum(bin, manifest) !== manifest.sha256) throw new Error('checksum mismatch (corrupt data)');
  // Copy into an aligned buffer: Float32Array views need 4-byte alignment.
  const aligned = new Uint8Array(bin.byteLength);
  aligned.set(bin);
  const tensors: WeightRecord = {};
  for (const entry of manifest.tensors) {
    const record: TensorRecord = {
      shape: entry.shape,
      data: new Float32Array(aligned.buffer, entry.offset, entry.length),
    };
    tensors[entry.name] = record;
  }
  return { step: manifest.step, path, state: manifest.state, tensors };
}

/**
 * The newest valid checkpoint (or the one for `step`, when given). Invalid newer checkpoints are skipped
 * and reported in `warnings`; `undefined` when the run has no usable checkpoint.
 */
export async function loadLatestCheckpoint(
  runDir: string,
  options: { step?: number } = {},
): Promise<{ checkpoint: Checkpoint | undefined; warnings: string[] }> {
  const warnings: string[] = [];
  let steps = (await listCheckpoints(runDir)).reverse();
  if (options.step !== undefined) {
    if (!steps.includes(options.step)) {
      throw new Error(
        `no checkpoint at step ${options.step} (available: ${steps.reverse().join(', ') || 'none'})`,
      );
    }
    steps = [options.step];
  }
  for (const step of steps) {
    const path = join(checkpointsDir(runDir), checkpointFolderName(step));
    try {
      const checkpoint = await readCheckpoint(path);
      return { checkpoint, warnings };
    } catch (error) {
      const message = `checkpoint at step ${step} is unusable (${(error as Error).message})`;
      if (options.step !== undefined) throw new Error(message);
      warnings.push(`${message}; falling back to an earlier one`);
    }
  }
  return { checkpoint: undefined, warnings };
}

/** Removes temp folders left by a crash mid-save. */
export async function removeStaleCheckpointTemps(runDir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(checkpointsDir(runDir));
  } catch {
    return;
  }
  for (const name of names) {
    if (name.startsWith('.tmp-'))
      await rm(join(checkpointsDir(runDir), name), { recursive: true, force: true });
  }
}

/** Prefix of the averaged generator's tensors (weights and their BN statistics) in a checkpoint. */
export const EMA_PREFIX = 'ema/';

/**
 * Everything a checkpoint stores as tensors, under stable names. With a weight average, its BN
 * statistics are re-estimated first, so readers (explorer, export) get a ready generator.
 */
export async function ganTensors(gan: Gan): Promise<WeightRecord> {
  const out: WeightRecord = {
    ...(await readParamRecord(gan.g)),
    ...(await readParamRecord(gan.gStats)),
    ...(await readParamRecord(gan.d)),
    ...(await readParamRecord(gan.dStats)),
  };
  if (gan.ema) {
    const ema = await samplingGenerator(gan);
    for (const set of [ema.g, ema.stats]) {
      for (const [name, value] of Object.entries(await readParamRecord(set))) out[EMA_PREFIX + name] = value;
    }
  }
  for (const [prefix, opt] of [
    ['optG', gan.optG],
    ['optD', gan.optD],
  ] as const) {
    for (const [name, value] of Object.entries(await readParamRecord(opt.m as ParamSet)))
      out[`${prefix}.m/${name}`] = value;
    for (const [name, value] of Object.entries(await readParamRecord(opt.v as ParamSet)))
      out[`${prefix}.v/${name}`] = value;
  }
  return out;
}

/** Restores weights, BN statistics and both optimizers from checkpoint tensors and state. */
export function restoreGan(gan: Gan, checkpoint: Pick<Checkpoint, 'tensors' | 'state'>): void {
  const t = checkpoint.tensors;
  assignParams(gan.g, t);
  assignParams(gan.gStats, t);
  assignParams(gan.d, t);
  assignParams(gan.dStats, t);
  if (gan.ema) {
    const prefixed = (set: ParamSet) =>
      Object.fromEntries([...set.keys()].map((name) => [name, t[EMA_PREFIX + name]!]));
    assignParams(gan.ema.g, prefixed(gan.ema.g));
    assignParams(gan.ema.stats, prefixed(gan.ema.stats));
  }
  for (const [prefix, opt] of [
    ['optG', gan.optG],
    ['optD', gan.optD],
  ] as const) {
    const pick = (kind: 'm' | 'v') =>
      Object.fromEntries([...opt[kind].keys()].map((name) => [name, t[`${prefix}.${kind}/${name}`]!]));
    assignParams(opt.m, pick('m'));
    assignParams(opt.v, pick('v'));
    const step = (checkpoint.state as { [k: string]: unknown })[`${prefix}Step`];
    if (!Number.isInteger(step)) throw new Error(`checkpoint lacks ${prefix}Step`);
    opt.step = step as number;
  }
}
