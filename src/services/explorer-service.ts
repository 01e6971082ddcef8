import { ensureInferenceBackend } from './inference-backend.ts';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { extname, isAbsolute, join, relative, resolve } from 'node:path';
import type { ServiceContext } from './context.ts';
import { exportDestination, refuseOverwrite } from './export-files.ts';
import type { ChannelsOf, Handlers } from './dispatcher.ts';
import { KaoError } from '../shared/errors.ts';
import { DirectionsJson, type ExplorerRun, type GeneratorManifest } from '../shared/explorer-schemas.ts';
import { readJsonIfExists, writeFileAtomic, writeJsonAtomic } from '../core/util/atomic-file.ts';
import { readBestCheckpoint } from '../core/gan/best-checkpoint.ts';
import { listCheckpoints } from '../core/gan/checkpoint.ts';
import { readGeneratorWeights } from '../core/gan/generator-node.ts';
import { readRunConfig } from '../core/gan/run-folder.ts';
import { exportInterpolation } from '../core/library/interpolation-export.ts';
import { getCheckpointAttributes } from '../core/attributes/cache.ts';
import type { AttributeDirections } from '../shared/explorer-schemas.ts';

/** Where a checkpoint's generator weights are written for the renderer: one float32 file per checkpoint. */
export function generatorCachePath(cacheDir: string, runId: string, step: number): string {
  return join(cacheDir, 'generators', `${runId}-step-${step}.bin`);
}

export function directionsCachePath(runDir: string, step: number): string {
  return join(runDir, `directions-step-${step}.json`);
}

/**
 * The explorer's Node side. Interaction runs in the renderer (it builds the generator from the weights
 * file this service writes); here: which runs can be explored, the weights, the GANSpace cache, and the
 * animation export (sharp).
 */
export function explorerHandlers(ctx: ServiceContext): Pick<Handlers, ChannelsOf<'explorer'>> {
  let exporting: AbortController | undefined;
  /** The one attribute learning in flight: a request for the same checkpoint joins it, another replaces it. */
  let learning:
    | {
        key: string;
        runId: string;
        step: number;
        controller: AbortController;
        result: Promise<AttributeDirections>;
      }
    | undefined;
  const runDir = (id: string): string => join(ctx.paths().runs, id);
  const dataRelative = (path: string): string | undefined => {
    const rel = relative(ctx.paths().root, path);
    return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel.split('\\').join('/') : undefined;
  };

  async function runName(id: string): Promise<{ name?: string; createdAt?: string }> {
    try {
      const record = (await readJsonIfExists(join(runDir(id), 'run.json'))) as
        { name?: unknown; createdAt?: unknown } | undefined;
      return {
        ...(typeof record?.name === 'string' ? { name: record.name } : {}),
        ...(typeof record?.createdAt === 'string' ? { createdAt: record.createdAt } : {}),
      };
    } catch {
      return {};
    }
  }

  async function describeRun(id: string): Promise<ExplorerRun | undefined> {
    const dir = runDir(id);
    const steps = await listCheckpoints(dir).catch(() => [] as number[]);
    if (steps.length === 0) return undefined;
    const config = await readRunConfig(dir).catch(() => undefined);
    if (!config) return undefined;
    const best = await readBestCheckpoint(dir, steps);
    const named = await runName(id);
    return {
      id,
      name: named.name ?? id,
      preset: config.preset,
      createdAt: named.createdAt ?? config.createdAt,
      zDim: config.config.zDim,
      imageSize: config.config.imageSize,
      steps,
      ...(best ? { bestStep: best.step } : {}),
      ...(typeof config.data?.count === 'number' ? { faces: config.data.count } : {}),
    };
  }

  return {
    'explorer.runs': async () => {
      let names: string[];
      try {
        names = (await readdir(ctx.paths().runs, { withFileTypes: true }))
          .filter((e) => e.isDirectory())
          .map((e) => e.name);
      } catch {
        return [];
      }
      const runs = (await Promise.all(names.map(describeRun))).filter((r): r is ExplorerRun => !!r);
      return runs.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    },

    'explorer.model': async ({ runId, step }) => {
      const dir = runDir(runId);
      const run = await describeRun(runId);
      if (!run) throw new KaoError('not-found', `The run "${runId}" has no checkpoint to explore.`);
      if (step !== undefined && !run.steps.includes(step)) {
        throw new KaoError(
          'not-found',
          `The run "${run.name}" has no checkpoint at step ${step} (it has ${run.steps.join(', ')}).`,
        );
      }
      let loaded: Awaited<ReturnType<typeof readGeneratorWeights>>;
      try {
        loaded = await readGeneratorWeights(dir, step === undefined ? {} : { step });
      } catch (error) {
        throw new KaoError('not-found', `The checkpoint could not be read: ${(error as Error).message}`);
      }
      const tensors: GeneratorManifest['tensors'] = [];
      let byteLength = 0;
      for (const [name, t] of Object.entries(loaded.weights)) {
        tensors.push({ name, shape: t.shape, byteOffset: byteLength, length: t.data.length });
        byteLength += t.data.byteLength;
      }
      const file = generatorCachePath(ctx.paths().cache, runId, loaded.step);
      // Checkpoints are immutable once written, so a file of the right size is this checkpoint's.
      const existing = await stat(file).catch(() => undefined);
      if (existing?.size !== byteLength) {
        const bytes = new Uint8Array(byteLength);
        for (const entry of tensors) {
          const data = loaded.weights[entry.name]!.data;
          bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), entry.byteOffset);
        }
        await mkdir(join(ctx.paths().cache, 'generators'), { recursive: true });
        await writeFileAtomic(file, bytes);
        await pruneGeneratorCache(ctx.paths().cache, runId, run.steps);
      }
      const directions = await readCachedDirections(dir, loaded.step, loaded.config.zDim);
      return {
        runId,
        step: loaded.step,
        config: { ...loaded.config },
        weightsPath: dataRelative(file)!,
        byteLength,
        tensors,
        ...(directions ? { directions } : {}),
      };
    },

    'explorer.saveDirections': async ({ runId, step, directions }) => {
      const dir = runDir(runId);
      if (!(await listCheckpoints(dir).catch(() => [] as number[])).includes(step)) {
        throw new KaoError('not-found', `The run "${runId}" has no checkpoint at step ${step}.`);
      }
      if (directions.directions.some((d) => d.vector.length !== directions.zDim)) {
        throw new KaoError('invalid-input', 'Every direction must have zDim values.');
      }
      await writeJsonAtomic(directionsCachePath(dir, step), directions);
      return { ok: true };
    },

    'explorer.exportInterpolation': async (request) => {
      if (exporting) throw new KaoError('busy', 'An animation is already being exported.');
      const run = await describeRun(request.runId);
      if (!run?.steps.includes(request.step)) {
        throw new KaoError(
          'not-found',
          `The run "${request.runId}" has no checkpoint at step ${request.step}.`,
        );
      }
      if (request.from.length !== run.zDim || request.to.length !== run.zDim) {
        throw new KaoError('invalid-input', `Both faces need ${run.zDim} latent values for this model.`);
      }
      const outPath = await animationPath(
        request.outPath,
        request.format,
        run.id,
        request.step,
        request.overwrite,
      );
      const controller = new AbortController();
      exporting = controller;
      try {
        await ensureInferenceBackend();
        const result = await exportInterpolation({
          runDir: runDir(request.runId),
          step: request.step,
          from: request.from,
          to: request.to,
          frames: request.frames,
          mode: request.mode,
          truncation: request.truncation,
          ...(request.size ? { size: request.size } : {}),
          pingPong: request.pingPong,
          outPath,
          format: request.format,
          signal: controller.signal,
          onProgress: (progress) => ctx.events.emit('explorer.export', progress),
        });
        const mediaPath = dataRelative(result.path);
        return {
          path: result.path,
          ...(mediaPath ? { mediaPath } : {}),
          format: result.format,
          frames: result.frames,
          size: result.size,
          bytes: (await stat(result.path)).size,
        };
      } catch (error) {
        if (controller.signal.aborted) throw new KaoError('cancelled', 'The export was cancelled.');
        throw error;
      } finally {
        exporting = undefined;
      }
    },

    'explorer.attributes': async ({ runId, step, recompute }) => {
      const run = await describeRun(runId);
      if (!run) throw new KaoError('not-found', `The run "${runId}" has no checkpoint to explore.`);
      const at = step ?? run.steps.at(-1)!;
      if (!run.steps.includes(at)) {
        throw new KaoError(
          'not-found',
          `The run "${run.name}" has no checkpoint at step ${at} (it has ${run.steps.join(', ')}).`,
        );
      }
      const key = `${runId}@${at}${recompute ? '!' : ''}`;
      if (learning?.key !== key) {
        learning?.controller.abort();
        const controller = new AbortController();
        const current = {
          key,
          runId,
          step: at,
          controller,
          result: (async () => {
            await ensureInferenceBackend();
            return getCheckpointAttributes(runDir(runId), {
              step: at,
              recompute: recompute ?? false,
              signal: controller.signal,
              onProgress: (progress) => ctx.events.emit('explorer.attributes', { runId, ...progress }),
            });
          })(),
        };
        learning = current;
        void current.result
          .catch(() => undefined)
          .finally(() => {
            if (learning === current) learning = undefined;
          });
      }
      const { controller, result } = learning;
      try {
        return await result;
      } catch (error) {
        if (controller.signal.aborted)
          throw new KaoError('cancelled', 'Learning the named sliders was cancelled.');
        throw new KaoError('internal', `The named sliders could not be learned: ${(error as Error).message}`);
      }
    },

    'explorer.cancelAttributes': async ({ runId, step }) => {
      if (!learning) return { cancelled: false };
      if (
        (runId !== undefined && runId !== learning.runId) ||
        (step !== undefined && step !== learning.step)
      ) {
        return { cancelled: false };
      }
      learning.controller.abort();
      return { cancelled: true };
    },

    'explorer.cancelExport': async () => {
      if (!exporting) return { cancelled: false };
      exporting.abort();
      return { cancelled: true };
    },
  };

  /**
   * A typed full folder or file path, or `<data>/exports/`; the folder is created, the name made unique.
   * A typed file that exists is replaced only with `overwrite` (the UI asks first).
   */
  async function animationPath(
    requested: string | undefined,
    format: 'webp' | 'gif',
    runId: string,
    step: number,
    overwrite: boolean | undefined,
  ): Promise<string> {
    const name = `interpolation-${runId}-step-${step}-${timestamp()}.${format}`;
    if (!requested) {
      const dir = join(ctx.paths().root, 'exports');
      await mkdir(dir, { recursive: true });
      return join(dir, name);
    }
    const path = exportDestination(requested, 'outPath');
    const ext = extname(path).toLowerCase();
    if (ext === '.webp' || ext === '.gif') {
      if (ext !== `.${format}`) {
        throw new KaoError('invalid-input', `The file name ends in ${ext} but the format is ${format}.`);
      }
      await refuseOverwrite(path, overwrite, 'outPath');
      await mkdir(resolve(path, '..'), { recursive: true });
      return path;
    }
    await mkdir(path, { recursive: true }).catch((error: Error) => {
      throw new KaoError('invalid-input', `Cannot write into ${path}: ${error.message}`);
    });
    return join(path, name);
  }
}

/** Drops cached weights of checkpoints training has since deleted (it keeps only the last few). */
async function pruneGeneratorCache(cacheDir: string, runId: string, steps: number[]): Promise<void> {
  const dir = join(cacheDir, 'generators');
  const prefix = `${runId}-step-`;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith(prefix) || !name.endsWith('.bin')) continue;
    const step = Number(name.slice(prefix.length, -'.bin'.length));
    if (Number.isInteger(step) && !steps.includes(step)) await rm(join(dir, name), { force: true });
  }
}

async function readCachedDirections(runDir: string, step: number, zDim: number) {
  try {
    const parsed = DirectionsJson.safeParse(await readJsonIfExists(directionsCachePath(runDir, step)));
    if (!parsed.success || parsed.data.zDim !== zDim) return undefined;
    return parsed.data.directions.every((d) => d.vector.length === zDim) ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** `20261127-093000`: sortable, safe in file names everywhere. */
export function timestamp(date = new Date()): string {
  const iso = date.toISOString();
  return `${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 19).replaceAll(':', '')}`;
}
