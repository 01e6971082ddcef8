import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { facesDir } from './shared-data.ts';

const kao = resolve('bin/kao.js');

export interface TrainerChild {
  pid: number;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  kill(signal: NodeJS.Signals): void;
}

/**
 * A real `kao train` child on the shared faces: tiny preset, batch 16, wasm, seed 9, a checkpoint every
 * 5 steps, no samples; `extraArgs` add to (or override) that.
 */
export function startKaoTrain(runDir: string, steps: number, extraArgs: string[] = []): TrainerChild {
  const child = spawn(
    process.execPath,
    [
      kao,
      'train',
      '--data',
      facesDir,
      '--run',
      runDir,
      '--preset',
      'tiny',
      '--batch',
      '16',
      '--steps',
      String(steps),
      '--checkpoint-every',
      '5',
      '--sample-every',
      '0',
      '--backend',
      'wasm',
      '--seed',
      '9',
      ...extraArgs,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return {
    pid: child.pid!,
    exit: new Promise((done) => child.on('exit', (code, signal) => done({ code, signal, stdout, stderr }))),
    kill: (signal) => child.kill(signal),
  };
}
