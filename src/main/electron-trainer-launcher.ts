import { app, utilityProcess } from 'electron';
import trainerPath from '../trainer/main.ts?modulePath';
// The data-parallel training workers' entry, bundled on its own; the trainer finds it through the env.
import ganWorkerPath from '../core/gan/parallel/worker.ts?modulePath';
import type { TrainerLauncher, TrainerProcess } from '../services/trainer-host.ts';

/** Launches the trainer in an Electron utility process; crashes arrive as `child-process-gone`. */
export const electronTrainerLauncher: TrainerLauncher = (): TrainerProcess => {
  const child = utilityProcess.fork(trainerPath, [], {
    serviceName: 'Kao Studio Trainer',
    stdio: 'inherit',
    env: { ...process.env, KAO_GAN_WORKER: ganWorkerPath },
  });
  let goneReason: string | undefined;
  const onGone = (
    _event: unknown,
    details: { type: string; reason: string; exitCode: number; serviceName?: string },
  ) => {
    if (details.type === 'Utility' && details.serviceName === 'Kao Studio Trainer') {
      goneReason = `${details.reason}, exit code ${details.exitCode}`;
    }
  };
  app.on('child-process-gone', onGone);
  return {
    get pid() {
      return child.pid;
    },
    postMessage: (message) => child.postMessage(message),
    onMessage: (listener) => child.on('message', listener),
    onExit: (listener) =>
      child.once('exit', (code) => {
        app.off('child-process-gone', onGone);
        listener({ code, ...(goneReason ? { reason: goneReason } : {}) });
      }),
    kill: () => {
      child.kill();
    },
  };
};
