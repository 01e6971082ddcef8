import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractFaces } from '../../../src/core/faces/extract.ts';
import {
  FACES_LOCK_FILE,
  FACES_LOG_FILE,
  FaceDataset,
  readStoredIndex,
} from '../../../src/core/faces/index-store.ts';
import { pruneDeletedSources } from '../../../src/core/faces/prune.ts';
import { FolderLockedError } from '../../../src/core/folder-lock.ts';
import { RunControl } from '../../../src/core/util/run-control.ts';
import { cascadePath } from '../../helpers/shared-data.ts';
import { startKao } from '../../helpers/kao-train.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';
import { copyImages, faceLogLines } from '../../helpers/faces.ts';

const kaoFaces = (args: string[]) => startKao(['faces', ...args]);

/** Every indexed face has its crop, and every crop on disk is indexed. */
async function expectConsistent(facesDir: string, images: number): Promise<void> {
  const stored = await readStoredIndex(facesDir);
  expect(stored.images.size).toBe(images);
  const indexed = [...stored.images.values()].flatMap((image) => image.faces.map((face) => face.file));
  const onDisk = (await readdir(facesDir)).filter((name) => name.endsWith('.png'));
  expect(onDisk.sort()).toEqual(indexed.sort());
}

describe('one extraction per faces folder', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let inputDir: string;
  let images: string[];

  beforeAll(async () => {
    tmp = await makeTempDir('kao-faces-lock-');
    inputDir = join(tmp.dir, 'input');
    images = await copyImages(inputDir, 'generated-illustrations', (_, i) => i < 8);
  });
  afterAll(() => tmp.cleanup());

  it('refuses a second extraction (and a prune) while one runs; the first completes with its index intact', async () => {
    const outputDir = join(tmp.dir, 'faces-in-process');
    const control = new RunControl();
    let paused = false;
    const first = extractFaces(
      { inputDir, outputDir, cascadePath, workers: 1 },
      {
        control,
        onProgress: (p) => {
          if (p.processed === 2 && !paused) {
            paused = true;
            control.pause();
          }
        },
      },
    );
    while (!paused) await new Promise((r) => setTimeout(r, 20));
    const before = await readFile(join(outputDir, FACES_LOG_FILE), 'utf8');

    const second = await extractFaces({ inputDir, outputDir, cascadePath, workers: 1 }).catch(
      (e: unknown) => e,
    );
    expect(second).toBeInstanceOf(FolderLockedError);
    expect((second as FolderLockedError).code).toBe('busy');
    expect((second as Error).message).toMatch(
      /^faces folder .*faces-in-process is already being extracted into in this process \(pid \d+, [^,]+, since \d\d:\d\d\)$/,
    );
    await expect(pruneDeletedSources(outputDir)).rejects.toThrow(/is already being extracted into/);
    // Neither wrote anything.
    expect(await readFile(join(outputDir, FACES_LOG_FILE), 'utf8')).toBe(before);

    control.resume();
    const summary = await first;
    expect(summary).toMatchObject({ images: images.length, processed: images.length, failures: [] });
    await expectConsistent(outputDir, images.length);
    expect(existsSync(join(outputDir, FACES_LOCK_FILE))).toBe(false);
  }, 60_000);

  it('kao faces: a second one exits 1 with one line, review edits are refused meanwhile; after a SIGKILL the next run takes the lock over', async () => {
    const outputDir = join(tmp.dir, 'faces-cli');
    const args = ['--in', inputDir, '--out', outputDir, '--cascade', cascadePath, '--workers', '1'];
    const first = kaoFaces(args);
    while ((await faceLogLines(outputDir)) < 2 && first.child.exitCode === null) {
      await new Promise((r) => setTimeout(r, 20));
    }
    // Frozen mid-run: alive, holding the lock, writing nothing.
    first.child.kill('SIGSTOP');
    const pid = first.child.pid!;
    try {
      const lock = JSON.parse(await readFile(join(outputDir, FACES_LOCK_FILE), 'utf8')) as object;
      expect(lock).toMatchObject({ pid, command: 'kao faces' });
      const log = await readFile(join(outputDir, FACES_LOG_FILE), 'utf8');

      const second = await kaoFaces(args).done;
      expect(second.code).toBe(1);
      expect(second.stderr).toMatch(
        new RegExp(
          `^kao faces: faces folder ${outputDir} is being extracted into by another process \\(pid ${pid}, kao faces, since \\d\\d:\\d\\d\\)\\n$`,
        ),
      );

      // The app's review while a CLI extracts: reading works, exclusion edits are refused and change nothing.
      const dataset = await FaceDataset.open(outputDir);
      const [face] = dataset.list().faces;
      expect(face).toBeDefined();
      await expect(dataset.setExcluded([face!.id], true)).rejects.toMatchObject({
        code: 'busy',
        message: expect.stringMatching(/^faces folder .* is being extracted into by another process \(pid /),
      });
      expect(existsSync(join(outputDir, 'excluded.json'))).toBe(false);
      expect(await readFile(join(outputDir, FACES_LOG_FILE), 'utf8')).toBe(log);
    } finally {
      first.child.kill('SIGKILL');
    }
    expect((await first.done).signal).toBe('SIGKILL');
    // Killed without a chance to clean up: the lock still names the dead process.
    expect(JSON.parse(await readFile(join(outputDir, FACES_LOCK_FILE), 'utf8'))).toMatchObject({ pid });

    const third = await kaoFaces(args).done;
    expect(third.code, third.stderr).toBe(0);
    expect(third.stderr).toContain(
      `warning: took over the lock of faces folder ${outputDir} from pid ${pid} (kao faces, since `,
    );
    expect(third.stderr).toContain('that process is no longer running');
    expect(third.stdout).toMatch(new RegExp(`^images: ${images.length} \\([1-9]\\d* already done`));
    await expectConsistent(outputDir, images.length);
    expect(existsSync(join(outputDir, FACES_LOCK_FILE))).toBe(false);
    // With the folder free again, review edits go through.
    const dataset = await FaceDataset.open(outputDir);
    const [face] = dataset.list().faces;
    await expect(dataset.setExcluded([face!.id], true)).resolves.toMatchObject({ excluded: 1 });
  }, 120_000);
});
