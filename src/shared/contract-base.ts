/**
 * The small shared vocabulary of the contract (enums, the empty request, job snapshots). Domain schema
 * modules import from here rather than from contract.ts, which imports them: no import cycles.
 */
import { z } from 'zod';
import { WireError } from './errors.ts';

export const ThemeSetting = z.enum(['system', 'light', 'dark']);
export const BackendPreference = z.enum(['auto', 'tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu']);
export const BackendName = z.enum(['tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu']);
export const Rendition = z.enum(['sample', 'preview', 'jpeg', 'original']);
export const PresetName = z.enum(['kao-48', 'anime-48', 'dcgan-64', 'tiny']);

export const BackendStatus = z.object({
  name: BackendName,
  /** What runs, in a few words ("WebAssembly with SIMD (…)"); `reason` adds why the faster ones did not. */
  label: z.string(),
  reason: z.string(),
  tried: z.array(z.object({ name: z.string(), ok: z.boolean(), error: z.string().optional() })),
});
export type BackendStatus = z.infer<typeof BackendStatus>;

export const Empty = z.object({}).strict();

/** A long job's state as pushed to the UI (crawl, import, extraction); `progress` is the domain's snapshot. */
export function jobSnapshot<P extends z.ZodType>(progress: P) {
  return z.object({
    phase: z.enum(['idle', 'running', 'paused', 'done', 'cancelled', 'failed']),
    progress: progress.optional(),
    error: WireError.optional(),
  });
}
