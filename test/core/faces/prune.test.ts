import { spawn } from 'node:child_process';
import { chmod, copyFile, cp, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractFaces } from '../../../src/core/faces/extract.ts';
import {
  FACES_EXCLUDED_FILE,
  FACES_INDEX_FILE,
  FACES_PRUNE_FILE,
  FaceDataset,
  listTrainingFaces,
  readExcludedIds,
  readStoredIndex,
} from '../../../src/core/faces/index-store.ts';
import { pruneDeletedSources, type PruneStep } from '../../../src/core/faces/prune.ts';
import { nodeSourceFs, type SourceFs } from '../../../src/core/faces/source-files.ts';
import { FacesError } from '../../../src/core/faces/errors.ts';
import { cascadePath, illustrationsDir } from '../../helpers/shared-data.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';

const repoRoot = resolve(import.meta.dirname, '../../..');
const nodeBin = join(repoRoot, 'node_modules/.bin/node');

/** Four real illustrations, two of them in a subfolder: 5 + 0 + 1 + 3 faces with the default options. */
const SOURCES = {
  many: 'jonathonyan_detect_04.jpg',
  none: 'patornjantara_positive-image1.jpg',
  one: 'sub/waifu2x_miku_small.jpg',
  three: 'sub/xavierjiezou_test_3.jpg',
} as const;
const FACES = { many: 5, none: 0, one: 1, three: 3 } as const;

interface Fixture {
  inputDir: string;
  facesDir: string;
}

/** Crop file name → bytes, for every PNG in the faces folder. */
async function crops(facesDir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const name of (await readdir(facesDir)).filter((n) => n.endsWith('.png')).sort()) {
    out.set(name, await readFile(join(facesDir, name)));
  }
  return out;
}

async function facesOf(facesDir: string, source: string) {
  const stored = await readStoredIndex(facesDir);
  return stored.images.get(source)?.faces ?? [];
}

describe('faces of deleted illustrations', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let base: Fixture;
  let baseCrops: Map<string, Buffer>;
  let counter = 0;

  beforeAll(async () => {
    tmp = await makeTempDir('kao-faces-prune-');
    base = { inputDir: join(tmp.dir, 'base-input'), facesDir: join(tmp.dir, 'base-faces') };
    await mkdir(join(base.inputDir, 'sub'), { recursive: true });
    for (const source of Object.values(SOURCES)) {
      await copyFile(join(illustrationsDir, source.replace(/^sub\//, '')), join(base.inputDir, source));
    }
    await extractFaces({ inputDir: base.inputDir, outputDir: base.facesDir, cascadePath, workers: 2 });
    baseCrops = await crops(base.facesDir);
    for (const [key, source] of Object.entries(SOURCES)) {
      expect((await facesOf(base.facesDir, source)).length, source).toBe(FACES[key as keyof typeof FACES]);
    }
  }, 120_000);
  afterAll(() => tmp.cleanup());

  /**
   * A private copy of the extracted folder and its illustrations (the index points at the copy), with one
   * face of `many` and one of `three` excluded.
   */
  async function fixture(): Promise<Fixture & { excluded: { many: string; three: string } }> {
    const n = ++counter;
    const f = { inputDir: join(tmp.dir, `input-${n}`), facesDir: join(tmp.dir, `faces-${n}`) };
    await cp(base.inputDir, f.inputDir, { recursive: true });
    await cp(base.facesDir, f.facesDir, { recursive: true });
    const indexPath = join(f.facesDir, FACES_INDEX_FILE);
    const text = await readFile(indexPath, 'utf8');
    await writeFile(
      indexPath,
      text.replace(`"inputDir":${JSON.stringify(base.inputDir)}`, `"inputDir":${JSON.stringify(f.inputDir)}`),
    );
    expect((await readStoredIndex(f.facesDir)).inputDir).toBe(f.inputDir);
    const excluded = {
      many: (await facesOf(f.facesDir, SOURCES.many))[1]!.id,
      three: (await facesOf(f.facesDir, SOURCES.three))[0]!.id,
    };
    const dataset = await FaceDataset.open(f.facesDir);
    await dataset.setExcluded([excluded.many, excluded.three], true);
    return { ...f, excluded };
  }

  /** The crops of every source but `gone` are untouched, byte for byte, and `gone`'s are deleted. */
  async function expectOnlyGoneRemoved(facesDir: string, gone: string[]): Promise<void> {
    const goneFiles = new Set<string>();
    for (const source of gone)
      for (const face of await facesOf(base.facesDir, source)) goneFiles.add(face.file);
    const now = await crops(facesDir);
    for (const [name, bytes] of baseCrops) {
      if (goneFiles.has(name)) expect(now.has(name), `${name} should be deleted`).toBe(false);
      else expect(now.get(name)?.equals(bytes), `${name} should be unchanged`).toBe(true);
    }
    expect(now.size).toBe(baseCrops.size - goneFiles.size);
    const stored = await readStoredIndex(facesDir);
    for (const source of gone) expect(stored.images.has(source)).toBe(false);
    const base_ = await readStoredIndex(base.facesDir);
    for (const [source, record] of base_.images) {
      if (!gone.includes(source)) expect(stored.images.get(source)).toEqual(record);
    }
  }

  it('a re-run of the extraction removes their records, crops and exclusions, and reports them', async () => {
    const f = await fixture();
    await rm(join(f.inputDir, SOURCES.many));
    // Unreadable but present: still skipped as done, never pruned (as root chmod does not stop reads,
    // but the file is still there either way).
    await chmod(join(f.inputDir, SOURCES.one), 0o000);

    const summary = await extractFaces({
      inputDir: f.inputDir,
      outputDir: f.facesDir,
      cascadePath,
      workers: 1,
    });
    expect(summary).toMatchObject({ pruned: 5, prunedImages: 1, images: 3, skipped: 3, processed: 0 });
    expect(summary.totalFaces).toBe(4);
    expect(summary.excludedFaces).toBe(1);
    await expectOnlyGoneRemoved(f.facesDir, [SOURCES.many]);
    expect([...(await readExcludedIds(f.facesDir))]).toEqual([f.excluded.three]);
    await expect(readFile(join(f.facesDir, FACES_PRUNE_FILE))).rejects.toThrow(/ENOENT/);

    const training = await listTrainingFaces(f.facesDir);
    expect(training).toHaveLength(3);
    const again = await extractFaces({
      inputDir: f.inputDir,
      outputDir: f.facesDir,
      cascadePath,
      workers: 1,
    });
    expect(again).toMatchObject({ pruned: 0, prunedImages: 0, totalFaces: 4 });
    await chmod(join(f.inputDir, SOURCES.one), 0o644);
  });

  it('a deleted subfolder takes its illustrations’ faces along; kao faces prints what it removed', async () => {
    const f = await fixture();
    await rm(join(f.inputDir, 'sub'), { recursive: true });
    const child = spawn(
      nodeBin,
      [
        join(repoRoot, 'bin/kao.js'),
        'faces',
        '--in',
        f.inputDir,
        '--out',
        f.facesDir,
        '--cascade',
        cascadePath,
      ],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const code = await new Promise((r) => child.on('close', r));
    expect(code).toBe(0);
    expect(stdout).toContain(`pruned: 4 faces of 2 illustrations deleted from ${f.inputDir}`);
    await expectOnlyGoneRemoved(f.facesDir, [SOURCES.one, SOURCES.three]);
    expect([...(await readExcludedIds(f.facesDir))]).toEqual([f.excluded.many]);
  }, 60_000);

  it('training skips them at once, before any prune', async () => {
    const f = await fixture();
    const before = await listTrainingFaces(f.facesDir);
    expect(before).toHaveLength(9 - 2);
    await rm(join(f.inputDir, SOURCES.three));
    const after = await listTrainingFaces(f.facesDir);
    expect(after).toHaveLength(9 - 2 - 2);
    const threeFiles = (await facesOf(f.facesDir, SOURCES.three)).map((face) => join(f.facesDir, face.file));
    expect(after.filter((file) => threeFiles.includes(file))).toEqual([]);
    // Read-only: nothing was removed yet.
    expect((await crops(f.facesDir)).size).toBe(baseCrops.size);
  });

  it('an illustration that exists but cannot be checked keeps its faces (injected EACCES and EIO)', async () => {
    const f = await fixture();
    // Both are really deleted, but the filesystem cannot say so: the sub folder cannot be listed, and the
    // other file's lstat fails with an I/O error.
    await rm(join(f.inputDir, SOURCES.three));
    await rm(join(f.inputDir, SOURCES.many));
    const denied = (path: string): never => {
      throw Object.assign(new Error(`EACCES: permission denied, '${path}'`), { code: 'EACCES' });
    };
    const fs: SourceFs = {
      stat: nodeSourceFs.stat,
      readdir: (path) => (path === join(f.inputDir, 'sub') ? denied(path) : nodeSourceFs.readdir(path)),
      lstat: (path) =>
        path === join(f.inputDir, SOURCES.many)
          ? Promise.reject(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }))
          : path.startsWith(join(f.inputDir, 'sub'))
            ? denied(path)
            : nodeSourceFs.lstat(path),
    };
    const result = await pruneDeletedSources(f.facesDir, { fs });
    expect(result).toEqual({ sources: [], faces: 0, exclusions: 0 });
    await expectOnlyGoneRemoved(f.facesDir, []);
    expect((await readExcludedIds(f.facesDir)).size).toBe(2);

    // Once the filesystem answers, they go.
    const real = await pruneDeletedSources(f.facesDir);
    expect(real).toEqual({ sources: [SOURCES.many, SOURCES.three], faces: 8, exclusions: 2 });
    await expectOnlyGoneRemoved(f.facesDir, [SOURCES.many, SOURCES.three]);
  });

  it('a folder that cannot be listed (chmod 000) is not taken for deleted', async (context) => {
    if (process.getuid?.() === 0) {
      context.skip(
        'running as root: chmod 000 does not stop root from listing the folder (the injected-EACCES case covers it)',
      );
    }
    const f = await fixture();
    await chmod(join(f.inputDir, 'sub'), 0o000);
    try {
      const result = await pruneDeletedSources(f.facesDir);
      expect(result).toEqual({ sources: [], faces: 0, exclusions: 0 });
      expect(await listTrainingFaces(f.facesDir)).toHaveLength(9 - 2);
    } finally {
      await chmod(join(f.inputDir, 'sub'), 0o755);
    }
    await expectOnlyGoneRemoved(f.facesDir, []);
  });

  it('a missing images folder, or an empty one that held every source (unmounted drive), removes nothing', async () => {
    const f = await fixture();
    const indexBefore = await readFile(join(f.facesDir, FACES_INDEX_FILE));
    const excludedBefore = await readFile(join(f.facesDir, FACES_EXCLUDED_FILE));
    const expectUntouched = async (): Promise<void> => {
      expect((await readFile(join(f.facesDir, FACES_INDEX_FILE))).equals(indexBefore)).toBe(true);
      expect((await readFile(join(f.facesDir, FACES_EXCLUDED_FILE))).equals(excludedBefore)).toBe(true);
      await expectOnlyGoneRemoved(f.facesDir, []);
    };

    await rename(f.inputDir, `${f.inputDir}-away`);
    const error = await pruneDeletedSources(f.facesDir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FacesError);
    expect((error as FacesError).problem).toEqual({ code: 'images-folder-missing', folder: f.inputDir });
    expect((error as Error).message).toBe(`the images folder ${f.inputDir} is missing; nothing was removed`);
    await expect(
      extractFaces({ inputDir: f.inputDir, outputDir: f.facesDir, cascadePath, workers: 1 }),
    ).rejects.toMatchObject({ problem: { code: 'images-folder-missing', folder: f.inputDir } });
    // Training cannot tell either, so it uses every kept face.
    expect(await listTrainingFaces(f.facesDir)).toHaveLength(9 - 2);
    await expectUntouched();

    await mkdir(f.inputDir);
    await expect(pruneDeletedSources(f.facesDir)).rejects.toThrow(
      `the images folder ${f.inputDir} is empty and none of the 4 illustrations of the faces index are there`,
    );
    await expectUntouched();

    // Another illustration in it shows the folder is really there: the old ones were deleted.
    await copyFile(join(`${f.inputDir}-away`, SOURCES.none), join(f.inputDir, 'new.jpg'));
    const result = await pruneDeletedSources(f.facesDir);
    expect(result.faces).toBe(9);
    expect(result.sources.sort()).toEqual(Object.values(SOURCES).sort());
  });

  /** Runs a prune in a child process that SIGKILLs itself right after `step`; resolves with its signal. */
  async function pruneInChild(facesDir: string, step: PruneStep): Promise<unknown> {
    const child = spawn(
      nodeBin,
      [
        '--import',
        'tsx',
        '-e',
        `import(${JSON.stringify(join(repoRoot, 'src/core/faces/prune.ts'))}).then((m) =>
          m.pruneDeletedSources(${JSON.stringify(facesDir)}, {
            afterStep: (s) => { if (s === ${JSON.stringify(step)}) process.kill(process.pid, 'SIGKILL'); },
          }),
        )`,
      ],
      { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] },
    );
    return new Promise((r) => child.on('close', (_code, signal) => r(signal)));
  }

  describe('killed with SIGKILL in the middle of a prune', () => {
    /** The state one uninterrupted prune of `many` and `three` leaves. */
    let expected: { index: string; excluded: string; crops: string[] };

    async function stateOf(facesDir: string) {
      const stored = await readStoredIndex(facesDir);
      return {
        images: [...stored.images.values()],
        excluded: [...(await readExcludedIds(facesDir))].sort(),
        crops: [...(await crops(facesDir)).keys()],
      };
    }

    beforeAll(async () => {
      const f = await fixture();
      await rm(join(f.inputDir, SOURCES.many));
      await rm(join(f.inputDir, SOURCES.three));
      await pruneDeletedSources(f.facesDir);
      const state = await stateOf(f.facesDir);
      expected = {
        index: JSON.stringify(state.images),
        excluded: JSON.stringify(state.excluded),
        crops: state.crops,
      };
      expect(state.crops).toHaveLength(baseCrops.size - 8);
    });

    it('before the index is rewritten, with the illustration put back since: nothing is removed', async () => {
      const f = await fixture();
      await rename(join(f.inputDir, SOURCES.three), join(tmp.dir, 'put-aside.jpg'));
      const killed = await pruneInChild(f.facesDir, 'journal');
      expect(killed).toBe('SIGKILL');
      await rename(join(tmp.dir, 'put-aside.jpg'), join(f.inputDir, SOURCES.three));
      expect(await pruneDeletedSources(f.facesDir)).toEqual({ sources: [], faces: 0, exclusions: 0 });
      await expectOnlyGoneRemoved(f.facesDir, []);
      expect((await readExcludedIds(f.facesDir)).size).toBe(2);
      await expect(readFile(join(f.facesDir, FACES_PRUNE_FILE))).rejects.toThrow(/ENOENT/);
    });

    const steps: PruneStep[] = ['journal', 'index', 'exclusions', 'crop', 'crops'];
    it.each(steps)(
      'after the %s step, then re-run: the same faces as one uninterrupted prune',
      async (step) => {
        const f = await fixture();
        await rm(join(f.inputDir, SOURCES.many));
        await rm(join(f.inputDir, SOURCES.three));
        const before = await stateOf(f.facesDir);
        const signal = await pruneInChild(f.facesDir, step);
        expect(signal).toBe('SIGKILL');

        // Whatever instant it died at: the index names no missing crop, and no excluded face came back.
        const killed = await stateOf(f.facesDir);
        const onDisk = new Set(killed.crops);
        for (const image of killed.images)
          for (const face of image.faces) expect(onDisk.has(face.file)).toBe(true);
        const indexedIds = new Set(killed.images.flatMap((image) => image.faces.map((face) => face.id)));
        for (const id of before.excluded) if (indexedIds.has(id)) expect(killed.excluded).toContain(id);
        const journal = await readFile(join(f.facesDir, FACES_PRUNE_FILE), 'utf8').catch(() => undefined);
        expect(journal, 'the journal stays until the prune is finished').toBeDefined();

        // The next prune (as the next extraction or the Faces screen runs it) finishes the job.
        await pruneDeletedSources(f.facesDir);
        const after = await stateOf(f.facesDir);
        expect(JSON.stringify(after.images)).toBe(expected.index);
        expect(JSON.stringify(after.excluded)).toBe(expected.excluded);
        expect(after.crops).toEqual(expected.crops);
        await expectOnlyGoneRemoved(f.facesDir, [SOURCES.many, SOURCES.three]);
        await expect(readFile(join(f.facesDir, FACES_PRUNE_FILE))).rejects.toThrow(/ENOENT/);
      },
      30_000,
    );
  });
});
