import { spawn } from 'node:child_process';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractFaces } from '../../../src/core/faces/extract.ts';
import { FaceDataset, FACES_LOG_FILE, readStoredIndex } from '../../../src/core/faces/index-store.ts';
import { CancelledError, RunControl } from '../../../src/core/util/run-control.ts';
import { cascadePath } from '../../helpers/shared-data.ts';
import { startKao } from '../../helpers/kao-train.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';
import { copyImages, faceLogLines } from '../../helpers/faces.ts';

const repoRoot = resolve(import.meta.dirname, '../../..');
const nodeBin = join(repoRoot, 'node_modules/.bin/node');

const runCli = (args: string[]) => startKao(['faces', ...args]);

/** Everything that defines the resulting face set: ids, boxes, hashes, duplicate decisions, crop bytes. */
async function faceSetOf(facesDir: string) {
  const stored = await readStoredIndex(facesDir);
  const images = [...stored.images.values()].sort((a, b) => (a.source < b.source ? -1 : 1));
  const crops: Record<string, string> = {};
  for (const name of (await readdir(facesDir)).filter((f) => f.endsWith('.png')).sort()) {
    crops[name] = (await readFile(join(facesDir, name))).toString('base64');
  }
  return { images, crops };
}

describe('interrupted extraction', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let inputDir: string;
  let images: string[];
  let smallInputDir: string;
  let smallImages: string[];

  beforeAll(async () => {
    tmp = await makeTempDir('kao-faces-resume-');
    inputDir = join(tmp.dir, 'input');
    images = await copyImages(inputDir, 'illustrations', (_, i) => i % 4 === 0);
    images.push(...(await copyImages(inputDir, 'generated-illustrations', (_, i) => i % 4 === 0)));
    smallInputDir = join(tmp.dir, 'small-input');
    smallImages = await copyImages(smallInputDir, 'generated-illustrations', (_, i) => i < 10);
  });
  afterAll(() => tmp.cleanup());

  it('killed with SIGKILL midway, then re-run, ends with the same faces as one uninterrupted run', async () => {
    const uninterrupted = join(tmp.dir, 'faces-uninterrupted');
    await extractFaces({ inputDir, outputDir: uninterrupted, cascadePath, workers: 2 });

    const killed = join(tmp.dir, 'faces-killed');
    const args = ['--in', inputDir, '--out', killed, '--cascade', cascadePath, '--workers', '1'];
    const first = runCli(args);
    while ((await faceLogLines(killed)) < 4 && first.child.exitCode === null) {
      await new Promise((r) => setTimeout(r, 20));
    }
    first.child.kill('SIGKILL');
    const killedRun = await first.done;
    expect(killedRun.code).toBeNull();
    const doneBeforeKill = (await readStoredIndex(killed)).images.size;
    expect(doneBeforeKill).toBeGreaterThanOrEqual(4);
    expect(doneBeforeKill).toBeLessThan(images.length);

    const second = await runCli([...args, '--workers', '2', '--json']).done;
    expect(second.code, second.stderr).toBe(0);
    const summary = JSON.parse(second.stdout) as { processed: number; skipped: number; failures: unknown[] };
    expect(summary.skipped).toBe(doneBeforeKill);
    expect(summary.processed).toBe(images.length - doneBeforeKill);
    expect(summary.failures).toEqual([]);

    expect(await faceSetOf(killed)).toEqual(await faceSetOf(uninterrupted));
    // Compacted: the log is folded into the index at the end of a run.
    await expect(stat(join(killed, FACES_LOG_FILE))).rejects.toThrow();
  });

  it('cancel through RunControl saves what is done; a re-run finishes the rest', async () => {
    const outputDir = join(tmp.dir, 'faces-cancelled');
    const control = new RunControl();
    const run = extractFaces(
      { inputDir: smallInputDir, outputDir, cascadePath, workers: 2 },
      {
        control,
        onProgress: (p) => {
          if (p.processed === 3) control.cancel();
        },
      },
    );
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect((await readStoredIndex(outputDir)).images.size).toBe(3);
    const rest = await extractFaces({ inputDir: smallInputDir, outputDir, cascadePath, workers: 2 });
    expect([rest.skipped, rest.processed]).toEqual([3, smallImages.length - 3]);
  });

  it('pause holds the run between images until resume', async () => {
    const outputDir = join(tmp.dir, 'faces-paused');
    const control = new RunControl();
    let pausedAt = -1;
    let resumedWith = -1;
    const run = extractFaces(
      { inputDir: smallInputDir, outputDir, cascadePath, workers: 1 },
      {
        control,
        onProgress: (p) => {
          if (p.processed === 2 && pausedAt < 0) {
            pausedAt = p.processed;
            control.pause();
            // While paused nothing is committed: the count seen on resume is still the one paused at.
            setTimeout(() => {
              void readStoredIndex(outputDir).then((s) => {
                resumedWith = s.images.size;
                control.resume();
              });
            }, 300);
          }
        },
      },
    );
    const summary = await run;
    expect(pausedAt).toBe(2);
    expect(resumedWith).toBe(2);
    expect(summary.processed).toBe(smallImages.length);
  });

  it('exclusions survive a restart and leave the training list', async () => {
    const outputDir = join(tmp.dir, 'faces-uninterrupted');
    const dataset = await FaceDataset.open(outputDir);
    const all = dataset.list({ limit: 1000 }).faces;
    const [a, b, c] = all;
    await dataset.setExcluded([a!.id, b!.id, c!.id], true);
    await dataset.setExcluded([b!.id], false);

    // A new process reads them back.
    const child = spawn(
      nodeBin,
      [
        '--import',
        'tsx',
        '-e',
        `import('${join(repoRoot, 'src/core/faces/index-store.ts')}').then(async (m) => {
          const d = await m.FaceDataset.open(${JSON.stringify(outputDir)});
          process.stdout.write(JSON.stringify({ counts: d.counts(), excluded: d.list({ filter: 'excluded' }).faces.map((f) => f.id), training: (await m.listTrainingFaces(${JSON.stringify(outputDir)})).length }));
        })`,
      ],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((r) => child.on('close', r));
    const seen = JSON.parse(out) as {
      counts: { faces: number; excluded: number; kept: number };
      excluded: string[];
      training: number;
    };
    expect(seen.excluded.sort()).toEqual([a!.id, c!.id].sort());
    expect(seen.counts).toMatchObject({ faces: all.length, excluded: 2, kept: all.length - 2 });
    expect(seen.training).toBe(all.length - 2);

    // Re-running extraction keeps them too.
    const again = await extractFaces({ inputDir, outputDir, cascadePath, workers: 1 });
    expect(again.excludedFaces).toBe(2);
    const reopened = await FaceDataset.open(outputDir);
    expect(reopened.get(a!.id)!.excluded).toBe(true);
    expect(reopened.get(b!.id)!.excluded).toBe(false);
    expect(reopened.trainingFaces()).not.toContain(a!.file);
  });
});
