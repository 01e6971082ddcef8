/**
 * The trainer process: an Electron utility process in the app, a forked Node child in the CLI, the web
 * bridge and tests. It owns TensorFlow.js so training never blocks the UI, and speaks only the typed
 * protocol of src/shared/trainer-protocol.ts.
 */
import { HostToTrainer, type TrainerToHost } from '../shared/trainer-protocol.ts';
import { KaoError, toWireError } from '../shared/errors.ts';
import { connectToParent } from './port.ts';
import { runSelfTest } from './self-test.ts';
import { TrainingJobs } from './training-jobs.ts';

const port = connectToParent();
const post = (message: TrainerToHost): void => port.post(message);
const jobs = new TrainingJobs(post);
/** The step timings asked for, one after another; a run's start aborts them. */
let estimating: Promise<void> = Promise.resolve();
let timings = new AbortController();

port.onMessage(async (raw) => {
  const parsed = HostToTrainer.safeParse(raw);
  if (!parsed.success) {
    post({
      type: 'log',
      level: 'error',
      message: `Ignored a malformed message from the host: ${parsed.error.message}`,
    });
    return;
  }
  const message = parsed.data;
  switch (message.type) {
    case 'selfTest':
      await reply(message.requestId, async () => {
        const result = await runSelfTest(message.backend);
        post({ type: 'backend', backend: result.backend });
        return result;
      });
      break;
    case 'start':
      // A run goes first: a step being timed is dropped after its current step (the two would share the
      // CPU and the engine, and the timing would be wrong).
      timings.abort();
      timings = new AbortController();
      await estimating;
      await reply(message.requestId, () => jobs.start(message.job));
      break;
    case 'estimate': {
      const { signal } = timings;
      const done = estimating.then(() =>
        reply(message.requestId, async () => {
          // A timing taken beside a training run would be wrong, and slow that run down.
          if (jobs.busy || signal.aborted)
            throw new KaoError('busy', 'A run is training: its own speed shows on its page.');
          const { timeTrainingStep } = await import('./estimate.ts');
          const timing = await timeTrainingStep(message.preset, message.batchSize, message.backend, signal);
          post({ type: 'backend', backend: timing.backend });
          return timing;
        }),
      );
      estimating = done;
      await done;
      break;
    }
    case 'pause':
      jobs.pause();
      break;
    case 'resume':
      jobs.resume();
      break;
    case 'stop':
      await jobs.stop();
      break;
    case 'shutdown':
      await jobs.stop();
      process.exit(0);
  }
});

async function reply(requestId: number, work: () => Promise<unknown>): Promise<void> {
  try {
    post({ type: 'reply', requestId, ok: true, value: await work() });
  } catch (error) {
    post({ type: 'reply', requestId, ok: false, error: toWireError(error) });
  }
}

// A forked trainer whose parent died (the CLI or `kao serve` killed) must not train on unseen:
// stop the job, which checkpoints, then leave.
process.on('disconnect', () => {
  void jobs.stop().finally(() => process.exit(0));
});

post({ type: 'ready', pid: process.pid });
