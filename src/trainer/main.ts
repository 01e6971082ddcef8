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

port.onMessage(async (raw) => {
  const parsed = HostToTrainer.safeParse(raw);
  if (!parsed.success) {
    const message = `Ignored a malformed message from the host: ${parsed.error.message}`;
    // A request (a job whose options do not fit the contract, say) is answered, not left to time out.
    const requestId = (raw as { requestId?: unknown } | null)?.requestId;
    if (typeof requestId === 'number' && Number.isInteger(requestId))
      post({
        type: 'reply',
        requestId,
        ok: false,
        error: toWireError(new KaoError('invalid-input', message)),
      });
    else post({ type: 'log', level: 'error', message });
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
      await reply(message.requestId, () => jobs.start(message.job));
      break;
    case 'estimate':
      // The app times steps in a trainer process of their own (killed when a run starts); never beside a job.
      await reply(message.requestId, async () => {
        if (jobs.busy) throw new KaoError('busy', 'A run is training: its own speed shows on its page.');
        const { timeTrainingStep } = await import('./estimate.ts');
        const timing = await timeTrainingStep(message.preset, message.batchSize, message.backend);
        post({ type: 'backend', backend: timing.backend });
        return timing;
      });
      break;
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
