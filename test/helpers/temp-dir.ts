import { mkdtemp, rm } from 'node:fs/promises';
import { afterAll, beforeAll } from 'vitest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh folder under the OS temp dir, removed by the returned cleanup. */
export async function makeTempDir(
  prefix = 'kao-test-',
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * A temp folder for the tests of the enclosing file or describe block: made before the first, removed after
 * the last. Call at that level; read `.dir` inside the tests.
 */
export function tempDirSuite(prefix = 'kao-test-'): { dir: string } {
  const suite = { dir: '' };
  let cleanup: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const temp = await makeTempDir(prefix);
    suite.dir = temp.dir;
    cleanup = temp.cleanup;
  });
  afterAll(() => cleanup?.());
  return suite;
}
