/**
 * The setup the tiny-run tests of the training loop share: the wasm backend, the first `count` shared faces,
 * and a temp folder removed after the file's tests. Call at the top level of a test file.
 */
import { afterAll, beforeAll } from 'vitest';
import { selectBackend } from '../../src/core/gan/backend.ts';
import { listImageFiles } from '../../src/core/gan/data.ts';
import { facesDir } from './shared-data.ts';
import { makeTempDir } from './temp-dir.ts';

export interface TinyRunSuite {
  /** The shared faces the runs train on (set before the first test). */
  faces: string[];
  /** The file's temp folder (set before the first test). */
  dir: string;
}

export function tinyRunSuite(tempPrefix: string, count = 64): TinyRunSuite {
  const suite: TinyRunSuite = { faces: [], dir: '' };
  let cleanup: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    await selectBackend('wasm');
    suite.faces = (await listImageFiles(facesDir)).slice(0, count);
    const temp = await makeTempDir(tempPrefix);
    suite.dir = temp.dir;
    cleanup = temp.cleanup;
  });
  afterAll(() => cleanup?.());
  return suite;
}

/** `runTraining` options of a tiny run (16×16, batch 16) on the suite's faces; `extra` adds or overrides. */
export function tinyRunOptions<T extends object>(suite: TinyRunSuite, extra: T) {
  return { faces: suite.faces, preset: 'tiny' as const, overrides: { batchSize: 16 }, logEvery: 1, ...extra };
}
