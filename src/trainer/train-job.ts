import * as tf from '@tensorflow/tfjs';
import type { TrainJob, TrainerToHost } from '../shared/trainer-protocol.ts';
import { MetricLine, TrainingProgress } from '../shared/training-schemas.ts';
import type { RunControl } from '../core/util/run-control.ts';
import { toWireError } from '../shared/errors.ts';
import { selectBackend } from '../core/gan/backend.ts';
import { runTraining } from '../core/gan/run.ts';
import { defaultWorkerCount } from '../core/gan/parallel/trainer.ts';
import { pathToFileURL } from 'node:url';

/** Progress goes to the UI at most this often; metrics, samples and checkpoints always go. */
const PROGRESS_INTERVAL_MS = 250;

/**
 * Runs one training job in the trainer process: picks the backend, runs the engine, relays every
 * hook as a protocol message, and ends with a `done` message (finished, stopped or failed).
 * Resolves once the job has started, i.e. holds the run folder's lock; `finished` settles when it has
 * ended. A job that cannot take the lock (another process trains the run) rejects instead, with the
 * engine's `busy` error, and posts no `done`.
 */
export async function startTrainingJob(
  job: TrainJob,
  control: RunControl,
  post: (message: TrainerToHost) => void,
): Promise<{ finished: Promise<void> }> {
  const backend = await selectBackend(job.options.backend);
  post({ type: 'backend', backend });
  let locked = false;
  let markLocked!: () => void;
  const lockTaken = new Promise<void>((resolve) => (markLocked = resolve));
  let refused: { error: unknown } | undefined;
  const finished = run();
  await Promise.race([lockTaken, finished]);
  if (refused) throw refused.error;
  // The job runs on after `start` has been answered; its end is reported with `done`.
  return { finished };

  async function run(): Promise<void> {
    let lastProgress = 0;
    try {
      const result = await runTraining(
        {
          runDir: job.runDir,
          faces: job.faces,
          preset: job.options.preset,
          overrides: { batchSize: job.options.batchSize },
          seed: job.options.seed,
          steps: job.options.steps,
          checkpointEvery: job.options.checkpointEvery,
          sampleEvery: job.options.sampleEvery,
          swdEvery: job.options.swdEvery,
          patience: job.options.patience ?? 0,
          backend: backend.name,
          owner: 'Kao Studio',
          // wasm runs one thread per backend: one worker per core splits each batch.
          workers: backend.name === 'wasm' ? defaultWorkerCount() : 1,
          ...(process.env.KAO_GAN_WORKER ? { workerUrl: pathToFileURL(process.env.KAO_GAN_WORKER) } : {}),
        },
        {
          control,
          onLocked: () => {
            locked = true;
            post({ type: 'state', state: 'running' });
            markLocked();
          },
          // The host stops a trainer that sends a malformed message, and a report with a non-finite number
          // (a metrics line averaged over no fresh losses, say) would be one: such a report is left out.
          onProgress: (progress) => {
            const now = Date.now();
            if (now - lastProgress < PROGRESS_INTERVAL_MS && progress.step < progress.totalSteps) return;
            lastProgress = now;
            // Named when tf runs on the selected backend (tfjs-node calls both native builds 'tensorflow').
            const training = tf.getBackend() === backend.name || backend.name.startsWith('tensorflow');
            const checked = TrainingProgress.safeParse({
              ...progress,
              ...(training ? { backend: backend.name } : {}),
            });
            if (checked.success) post({ type: 'progress', progress: checked.data });
          },
          onMetric: (line) => {
            const checked = MetricLine.safeParse(line);
            if (checked.success) post({ type: 'metric', metric: checked.data });
          },
          onSamples: ({ step, path }) => post({ type: 'samples', step, path }),
          onCheckpoint: ({ step, path, best }) =>
            post({
              type: 'checkpoint',
              step,
              path,
              ...(best ? { best: { step: best.step, swd: best.swd } } : {}),
            }),
          onWarning: (message) => post({ type: 'log', level: 'warning', message }),
          onLog: (message) => post({ type: 'log', level: 'info', message }),
        },
      );
      post({
        type: 'done',
        reason: result.stopped ? 'stopped' : 'finished',
        ...(result.plateaued && result.best
          ? { plateau: { step: result.step, bestStep: result.best.step } }
          : {}),
      });
    } catch (error) {
      // Refused before it started (the run folder is locked): `start` answers with the error.
      if (!locked) refused = { error };
      else post({ type: 'done', reason: 'failed', error: toWireError(error) });
    }
  }
}
