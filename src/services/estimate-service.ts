import { hostname } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { readJsonIfExists, writeJsonAtomic } from '../core/util/atomic-file.ts';
import { BackendStatus } from '../shared/contract.ts';
import { KaoError } from '../shared/errors.ts';
import type { StepEstimate } from '../shared/training-schemas.ts';
import type { ServiceContext } from './context.ts';
import type { Handlers } from './dispatcher.ts';
import { TrainerHost, type TrainerLauncher } from './trainer-host.ts';

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
 * Measured once in a trainer process of its own (the same code and backend choice as a run, so the same
 * speed) and cached; a new app version or another machine sharing the data folder measures again. That
 * process is killed the moment the app's trainer starts a run: a run never waits for a timing.
 */
export function estimateHandlers(
  ctx: ServiceContext,
  version: string,
  launch: TrainerLauncher,
): { handlers: Pick<Handlers, 'training.estimate'>; dispose(): Promise<void> } {
  /** One measurement at a time: the form asks again as the user changes presets. */
  let measuring: Promise<unknown> = Promise.resolve();
  let timer: TrainerHost | undefined;
  const stop = async (): Promise<void> => {
    const host = timer;
    timer = undefined;
    await host?.shutdown(0);
  };
  ctx.trainer.onStatus((status) => {
    if (status.state === 'running') void stop();
  });

  const handlers: Pick<Handlers, 'training.estimate'> = {
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
        if (ctx.trainer.status.state === 'running' || ctx.trainer.status.state === 'paused')
          throw new KaoError('busy', 'A run is training: its own speed shows on its page.');
        const host = new TrainerHost({ launch });
        timer = host;
        let raw: unknown;
        try {
          raw = await host.request({ type: 'estimate', preset, batchSize, backend }, 600_000);
        } catch (error) {
          // Killed because a run started: say so rather than how the process ended.
          if (timer !== host) throw new KaoError('busy', 'A run started: the step timing was dropped.');
          throw error;
        } finally {
          if (timer === host) await stop();
        }
        const reply = TimingReply.parse(raw);
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
  return { handlers, dispose: stop };
}
