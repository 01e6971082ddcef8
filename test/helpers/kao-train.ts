import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { facesDir } from './shared-data.ts';

const kao = resolve(import.meta.dirname, '../../bin/kao.js');

export interface KaoExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * A real `kao <args>` child on the tests' own Node, run from the repo root, its output collected.
 * `done` settles once the process has ended and its output is closed.
 */
export function startKao(args: string[]): { child: ChildProcess; done: Promise<KaoExit> } {
  const child = spawn(process.execPath, [kao, ...args], {
    cwd: resolve(import.meta.dirname, '../..'),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<KaoExit>((settle) =>
    child.on('close', (code, signal) => settle({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

export interface TrainerChild {
  pid: number;
  exit: Promise<KaoExit>;
  kill(signal: NodeJS.Signals): void;
}

/**
 * A real `kao train` child on the shared faces: tiny preset, batch 16, wasm, seed 9, a checkpoint every
 * 5 steps, no samples; `extraArgs` add to (or override) that.
 */
export function startKaoTrain(runDir: string, steps: number, extraArgs: string[] = []): TrainerChild {
  const { child, done } = startKao([
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
  ]);
  return {
    pid: child.pid!,
    exit: done,
    kill: (signal) => child.kill(signal),
  };
}
