import { hostname } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { readJsonIfExists, writeJsonAtomic } from '../core/util/atomic-file.ts';
import { BackendStatus } from '../shared/contract.ts';
import type { StepEstimate } from '../shared/training-schemas.ts';
import type { ServiceContext } from './context.ts';
import type { Handlers } from './dispatcher.ts';

/** Step timings kept in the data folder's cache/, keyed by machine, app version, backend choice, preset, batch. */
const CACHE_FILE = 'step-times.json';
const CachedTiming = z.object({
  backend: BackendStatus.shape.name,
  label: z.string(),
  msPerStep: z.number().positive(),
  measuredAt: z.string(),
});
const TimingCache = z.record(z.string(), CachedTiming);
const TimingReply = z.object({ backend: BackendStatus, msPerStep: z.number().positive() });

/**
 * `training.estimate`: how long one step of a preset takes here, for the New run form's time estimate.
 * Measured once in the trainer process (where runs train, on the backend they would get) and cached; a
 * new app version or another machine sharing the data folder measures again.
 */
export function estimateHandlers(ctx: ServiceContext, version: string): Pick<Handlers, 'training.estimate'> {
  /** One measurement at a time: the form asks again as the user changes presets. */
  let measuring: Promise<unknown> = Promise.resolve();

  return {
    'training.estimate': async ({ preset, batchSize, backend }) => {
      const file = join(ctx.paths().cache, CACHE_FILE);
      const key = [hostname(), version, backend, preset, batchSize].join('|');
      const read = async () => {
        const parsed = TimingCache.safeParse(await readJsonIfExists(file).catch(() => undefined));
        return parsed.success ? parsed.data : {};
      };
      const hit = (await read())[key];
      if (hit) return { ...hit, cached: true } satisfies StepEstimate;

      const run = measuring.then(async () => {
        const again = (await read())[key];
        if (again) return { ...again, cached: true } satisfies StepEstimate;
        const reply = TimingReply.parse(
          await ctx.trainer.request({ type: 'estimate', preset, batchSize, backend }, 600_000),
        );
        const timing = {
          backend: reply.backend.name,
          label: reply.backend.label,
          msPerStep: reply.msPerStep,
          measuredAt: new Date().toISOString(),
        };
        await writeJsonAtomic(file, { ...(await read()), [key]: timing });
        return { ...timing, cached: false } satisfies StepEstimate;
      });
      measuring = run.catch(() => undefined);
      return run;
    },
  };
}
