import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CliError, defineCommand, withProgress, writeResult } from '../command.ts';
import {
  backendOption,
  choiceOption,
  intOption,
  numberOption,
  requireFlags,
  selectCliBackend,
  stringFlags,
} from '../options.ts';
import { presetNames } from '../../core/gan/config.ts';
import { recipeFlags, recipeOverrides, recipeUsage } from '../recipe-options.ts';
import { listTrainingImages } from '../../core/faces/training-set.ts';
import { readRunConfig } from '../../core/gan/run-folder.ts';
import { runTraining, type RunTrainingOptions } from '../../core/gan/run.ts';
import { assertRunNotLocked } from '../../core/gan/run-lock.ts';
import { defaultWorkerCount } from '../../core/gan/parallel/trainer.ts';

const usage =
  `kao train --data DIR --run DIR [--preset ${presetNames.join('|')}] [--steps N | --epochs N] ` +
  '[--backend auto|tensorflow-gpu|webgpu|tensorflow|wasm|cpu] [--seed N] [--checkpoint-every N] [--sample-every N] ' +
  `[--swd-every N] [--swd-images N] [--patience STEPS] [--log-every N] [--workers N] [--json] ${recipeUsage}`;

/** Training images in a folder: a `kao faces` output (kept faces only) or any folder of images. */
export async function trainingImages(dir: string): Promise<string[]> {
  const folder = resolve(dir);
  if (!existsSync(folder)) throw new CliError(`--data: no such folder: ${folder}`);
  return listTrainingImages(folder);
}

export const trainCommand = defineCommand(
  usage,
  {
    ...stringFlags('data', 'run', 'preset', 'steps', 'epochs', 'backend', 'workers', 'seed'),
    ...stringFlags('checkpoint-every', 'sample-every', 'swd-every', 'swd-images', 'patience', 'log-every'),
    ...recipeFlags,
  },
  async (values, io) => {
    requireFlags(values, ['data', 'run'], usage);
    if (values.steps !== undefined && values.epochs !== undefined) {
      throw new CliError('give --steps or --epochs, not both', 2);
    }
    // Every value is checked before anything is loaded: a typo never waits for (or hears from) a backend.
    const preset = choiceOption(values.preset, 'preset', presetNames);
    const backendChoice = backendOption(values.backend);
    const epochs = numberOption(values.epochs, 'epochs', { above: 0 });
    const overrides = recipeOverrides(values);
    const seed = intOption(values.seed, 'seed', 0);
    const steps = intOption(values.steps, 'steps', 1);
    const checkpointEvery = intOption(values['checkpoint-every'], 'checkpoint-every', 0);
    const sampleEvery = intOption(values['sample-every'], 'sample-every', 0);
    const swdEvery = intOption(values['swd-every'], 'swd-every', 0);
    const swdImages = intOption(values['swd-images'], 'swd-images', 2);
    const patience = intOption(values.patience, 'patience', 0);
    // Patience waits for a better SWD: without the metric it would never end a run.
    if (patience && !swdEvery) throw new CliError('--patience needs --swd-every N (the SWD it waits on)', 2);
    const logEvery = intOption(values['log-every'], 'log-every', 1);
    const workersOption = intOption(values.workers, 'workers', 1);
    // Refuse early (before picking a backend) when another trainer works on the run; runTraining takes
    // the lock itself, atomically.
    await assertRunNotLocked(resolve(values.run)).catch((error: Error) => {
      throw new CliError(error.message);
    });
    const existing = await readRunConfig(resolve(values.run)).catch((error: Error) => {
      throw new CliError(error.message);
    });

    const faces = await trainingImages(values.data);
    const backend = await selectCliBackend(backendChoice);
    io.stderr.write(`backend: ${backend.reason}\n`);
    if (existing)
      io.stderr.write(`continuing the run in ${resolve(values.run)} from its newest checkpoint\n`);

    const options: RunTrainingOptions = {
      runDir: values.run,
      faces,
      dataDir: values.data,
      preset,
      overrides: Object.keys(overrides).length ? overrides : undefined,
      seed,
      steps,
      epochs,
      checkpointEvery,
      sampleEvery,
      swdEvery,
      swdImages,
      patience,
      logEvery,
      backend: backend.name,
      owner: 'kao train',
      // wasm is single-threaded: split each batch over one worker thread per core unless told otherwise.
      workers: workersOption ?? (backend.name === 'wasm' ? defaultWorkerCount() : 1),
      // The built CLI's workers are bundles beside it (src/cli/entry.ts); from the sources, worker.ts.
      ...(process.env.KAO_GAN_WORKER ? { workerUrl: pathToFileURL(process.env.KAO_GAN_WORKER) } : {}),
    };
    const onSignal = (): void => void io.stderr.write('\nstopping: saving a checkpoint…\n');
    const result = await withProgress(
      io,
      { label: 'train', signals: ['SIGINT', 'SIGTERM'], onSignal },
      (control, bar) =>
        runTraining(options, {
          control,
          onProgress: (p) => {
            const eta = p.etaSeconds === undefined ? '' : ` eta ${formatDuration(p.etaSeconds)}`;
            bar.update(
              p.step,
              p.totalSteps,
              `D ${p.lossD.toFixed(3)} G ${p.lossG.toFixed(3)} D(x) ${p.dReal.toFixed(2)} D(G(z)) ${p.dFake.toFixed(2)} ` +
                `${p.imagesPerSec.toFixed(1)} img/s${eta}`,
            );
          },
          onWarning: (message) => bar.print(`warning: ${message}`),
          onLog: (message) => bar.print(message),
          onMetric: (line) => {
            if (line.swd !== undefined) bar.print(`step ${line.step}: SWD ${line.swd.toFixed(2)} (×10³)`);
          },
          onCheckpoint: ({ step, best }) => {
            if (best?.step === step)
              bar.print(`step ${step}: the best checkpoint so far (SWD ${best.swd.toFixed(2)}), kept`);
            else if (!io.stderr.isTTY) io.stderr.write(`checkpoint at step ${step}\n`);
          },
        }),
    ).catch((error: Error) => {
      throw new CliError(error.message);
    });
    writeResult(io, { ...result, backend: backend.name }, (r) => [
      `${r.stopped ? 'stopped' : r.plateaued ? 'stopped early (no better checkpoint for --patience steps)' : 'done'} ` +
        `at step ${r.step}/${r.totalSteps}; ` +
        `checkpoint ${r.lastCheckpoint?.path ?? 'none'}`,
      ...(r.best
        ? [`best checkpoint: step ${r.best.step} (SWD ${r.best.swd.toFixed(2)}), what kao sample uses`]
        : []),
    ]);
    return result.stopped ? 130 : 0;
  },
);

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
