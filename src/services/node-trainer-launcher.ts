import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { HostToTrainer } from '../shared/trainer-protocol.ts';
import type { TrainerLauncher, TrainerProcess } from './trainer-host.ts';

/** The trainer entry as TypeScript source; the CLI, `kao serve` and tests run it through tsx. */
export const trainerEntrySource = fileURLToPath(new URL('../trainer/main.ts', import.meta.url));

let entryOverride: string | undefined;

/** The built CLI (out/main/cli.js) points at the trainer bundled beside it, so nothing runs from src/. */
export function setTrainerEntry(path: string): void {
  entryOverride = path;
}

/** Launches the trainer as a plain Node child process (the Electron app uses a utility process instead). */
export function nodeTrainerLauncher(
  entry: string = entryOverride ?? trainerEntrySource,
  env: NodeJS.ProcessEnv = process.env,
): TrainerLauncher {
  return (): TrainerProcess => {
    const child = fork(entry, [], {
      execArgv: entry.endsWith('.ts') ? ['--import', 'tsx'] : [],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env,
    });
    return {
      get pid() {
        return child.pid;
      },
      postMessage: (message: HostToTrainer) => {
        if (child.connected) child.send(message);
      },
      onMessage: (listener) => child.on('message', listener),
      onExit: (listener) => child.once('exit', (code, signal) => listener({ code, signal })),
      kill: () => child.kill('SIGKILL'),
    };
  };
}
