/**
 * The small shared vocabulary of the contract (enums, the empty request, job snapshots). Domain schema
 * modules import from here rather than from contract.ts, which imports them: no import cycles.
 */
import { z } from 'zod';
import { WireError } from './errors.ts';

export const ThemeSetting = z.enum(['system', 'light', 'dark']);
export const BackendPreference = z.enum(['auto', 'tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu']);
export type BackendPreference = z.infer<typeof BackendPreference>;
/** The tf backends, fastest first (the order `auto` tries them in). */
export const BackendName = z.enum(['tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu']);
export type BackendName = z.infer<typeof BackendName>;
/**
 * The renditions a Moebooru post offers, smallest first (a crawl falls back to the next larger one a post
 * has). Only `original` has the bytes the post's md5 describes.
 */
export const Rendition = z.enum(['preview', 'sample', 'jpeg', 'original']);
export type Rendition = z.infer<typeof Rendition>;
/** The GAN presets (core/gan/config.ts defines each), in the order the New run form offers them. */
export const PresetName = z.enum(['kao-48', 'anime-48', 'dcgan-64', 'tiny']);
export type PresetName = z.infer<typeof PresetName>;

/** One backend `auto` (or an explicit choice) tried, and why it could not be used. */
export const BackendAttempt = z.object({
  name: z.string(),
  ok: z.boolean(),
  /** A human reason when it could not be used, e.g. "@tensorflow/tfjs-node is not installed". */
  error: z.string().optional(),
});
export type BackendAttempt = z.infer<typeof BackendAttempt>;

/** The backend a process selected (the trainer's, the CLI's, a parallel worker's). */
export const BackendStatus = z.object({
  name: BackendName,
  /** What runs, in a few words ("WebAssembly with SIMD (…)"); `reason` adds why the faster ones did not. */
  label: z.string(),
  reason: z.string(),
  tried: z.array(BackendAttempt),
});
export type BackendStatus = z.infer<typeof BackendStatus>;

export const Empty = z.object({}).strict();

/** Where a long job of the app stands (crawl, import, extraction): `idle` before the first start. */
export const JobPhase = z.enum(['idle', 'running', 'paused', 'done', 'cancelled', 'failed']);
export type JobPhase = z.infer<typeof JobPhase>;
/** A job's own state in its progress reports: it exists, so it is past `idle`. */
export const JobState = JobPhase.exclude(['idle']);
export type JobState = z.infer<typeof JobState>;

/** A long job's state as pushed to the UI (crawl, import, extraction); `progress` is the domain's snapshot. */
export function jobSnapshot<P extends z.ZodType>(progress: P) {
  return z.object({
    phase: JobPhase,
    progress: progress.optional(),
    error: WireError.optional(),
  });
}
