import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import type { EventOf, InvokeChannel, RequestOf } from '../../src/shared/contract.ts';
import { FACES_LOCK_FILE } from '../../src/core/faces/index-store.ts';
import { cascadePath, illustrationsDir } from '../helpers/shared-data.ts';
import { recordEvents, startAppServices, testRoot, type ServicesUnderTest } from '../helpers/app-services.ts';

/** Four real illustrations: 5 + 0 + 1 + 3 faces with the default options (source path order). */
const ILLUSTRATIONS = [
  'jonathonyan_detect_04.jpg',
  'patornjantara_positive-image1.jpg',
  'waifu2x_miku_small.jpg',
  'xavierjiezou_test_3.jpg',
];
const FACES_PER_IMAGE = [5, 0, 1, 3];
const TOTAL_FACES = 9;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

type ExtractionEvent = EventOf<'faces.extraction'>;
type ChangedEvent = EventOf<'faces.changed'>;

interface Harness extends ServicesUnderTest {
  events: ExtractionEvent[];
  changes: ChangedEvent[];
  /** Resolves with the first extraction event (past or future) matching `predicate`. */
  event(predicate: (event: ExtractionEvent) => boolean): Promise<ExtractionEvent>;
}

/** Real app services (the ones `kao serve` runs) on a temp data folder; a second harness may share it. */
async function harness(options: { root?: string; withDataset?: boolean } = {}): Promise<Harness> {
  const root = options.root ?? (await testRoot('kao-faces-service-'));
  if (options.withDataset) {
    const datasetDir = join(root, 'data', 'dataset');
    await mkdir(datasetDir, { recursive: true });
    for (const name of ILLUSTRATIONS) await copyFile(join(illustrationsDir, name), join(datasetDir, name));
  }
  const app = startAppServices(root);
  const extraction = recordEvents(app.services, 'faces.extraction');
  const changes = recordEvents(app.services, 'faces.changed');
  return { ...app, events: extraction.events, changes: changes.events, event: extraction.first };
}

function form(overrides: Partial<RequestOf<'faces.extract.start'>> = {}): RequestOf<'faces.extract.start'> {
  return {
    size: 96,
    margin: 0.25,
    scaleFactor: 1.1,
    minNeighbors: 5,
    minSize: 24,
    cascadePath,
    ...overrides,
  };
}

const isEnd = (event: ExtractionEvent) =>
  event.phase === 'done' || event.phase === 'cancelled' || event.phase === 'failed';

async function expectError(h: Harness, channel: InvokeChannel, request: unknown, code: string) {
  const envelope = await h.call(channel, request);
  expect(envelope.ok, `${channel} should have failed`).toBe(false);
  if (envelope.ok) throw new Error('unreachable');
  expect(envelope.error.code).toBe(code);
  return envelope.error;
}

describe('faces service', () => {
  it('extracts with pause and cancel, resumes where it stopped, lists pages, and keeps exclusions across restarts', async () => {
    const h = await harness({ withDataset: true });
    const before = await h.ok('faces.state', {});
    expect(before.counts).toMatchObject({ faces: 0, kept: 0, excluded: 0, images: 0 });
    expect(before.indexSettings).toBeUndefined();
    expect(before.datasetHasImages).toBe(true);
    expect(before.facesDir).toBe(join(h.dataDir, 'faces'));

    // Start, and pause at once: the job stops after the image it is on, with the progress pushed as events.
    const started = await h.ok('faces.extract.start', form());
    expect(started.phase).toBe('running');
    await h.ok('faces.extract.pause', {});
    const paused = await h.event((e) => e.phase === 'paused' && (e.progress?.processed ?? 0) >= 1);
    expect(paused.progress).toMatchObject({ stage: 'extracting', images: 4, toProcess: 4 });
    expect(paused.progress!.processed).toBeLessThan(4);
    // Crops committed so far are listed while the job is paused.
    const partial = await h.ok('faces.list', { filter: 'all', offset: 0, limit: 100 });
    expect(partial.total).toBe(paused.progress!.totalFaces);

    await h.ok('faces.extract.cancel', {});
    const cancelled = await h.event(isEnd);
    expect(cancelled.phase).toBe('cancelled');
    const doneBefore = cancelled.progress!.processed;
    expect(doneBefore).toBeGreaterThanOrEqual(1);
    expect(doneBefore).toBeLessThan(4);
    // The interrupted run's images are in the index on disk.
    const index = JSON.parse(await readFile(join(h.dataDir, 'faces', 'faces-index.json'), 'utf8')) as {
      images: Array<{ source: string }>;
    };
    expect(index.images.map((i) => i.source)).toEqual(ILLUSTRATIONS.slice(0, doneBefore));

    // Starting again skips what is done and finishes the rest.
    h.events.length = 0;
    await h.ok('faces.extract.start', form());
    const end = await h.event(isEnd);
    expect(end.phase, JSON.stringify(end.error)).toBe('done');
    expect(end.progress).toMatchObject({
      stage: 'done',
      images: 4,
      skipped: doneBefore,
      processed: 4 - doneBefore,
      failed: 0,
      totalFaces: TOTAL_FACES,
      cascadeFrom: 'option',
      failures: [],
    });
    expect(h.events.some((e) => e.phase === 'running' && e.progress?.stage === 'extracting')).toBe(true);
    expect(JSON.parse(JSON.stringify(end))).toEqual(end);
    expect(h.changes.at(-1)).toEqual({
      reason: 'extraction',
      counts: expect.objectContaining({ faces: TOTAL_FACES, kept: TOTAL_FACES }),
    });

    // The options became the defaults.
    expect((await h.ok('settings.get', {})).faces).toEqual(form());

    // The list: source order, crops and sources as data-folder paths, boxes inside their images.
    const all = await h.ok('faces.list', { filter: 'all', offset: 0, limit: 100 });
    expect(all.total).toBe(TOTAL_FACES);
    expect(all.counts).toMatchObject({ images: 4, faces: TOTAL_FACES, kept: TOTAL_FACES, excluded: 0 });
    const perSource = ILLUSTRATIONS.map((name) => all.faces.filter((f) => f.sourceName === name).length);
    expect(perSource).toEqual(FACES_PER_IMAGE);
    for (const face of all.faces) {
      expect(face.source).toBe(`dataset/${face.sourceName}`);
      expect(face.crop).toBe(`faces/${face.id}.png`);
      const meta = await sharp(join(h.dataDir, face.crop)).metadata();
      expect([meta.width, meta.height]).toEqual([96, 96]);
      const source = await sharp(join(h.dataDir, face.source!)).metadata();
      expect([face.imageWidth, face.imageHeight]).toEqual([source.width, source.height]);
      expect(face.box.x).toBeGreaterThanOrEqual(0);
      expect(face.box.x + face.box.width).toBeLessThanOrEqual(face.imageWidth);
      expect(face.box.y + face.box.height).toBeLessThanOrEqual(face.imageHeight);
      expect(face.excluded).toBe(false);
    }
    const ids = all.faces.map((f) => f.id);
    const page = await h.ok('faces.list', { filter: 'all', offset: 3, limit: 4 });
    expect(page.faces.map((f) => f.id)).toEqual(ids.slice(3, 7));
    expect((await h.ok('faces.ids', { filter: 'all', offset: 2, limit: 5 })).ids).toEqual(ids.slice(2, 7));
    expect(await h.ok('faces.ids', { filter: 'all' })).toEqual({ total: TOTAL_FACES, ids });

    // Exclude two, restore one of them.
    let counts = await h.ok('faces.setExcluded', { ids: [ids[1]!, ids[6]!, ids[8]!], excluded: true });
    expect(counts).toMatchObject({ faces: TOTAL_FACES, kept: TOTAL_FACES - 3, excluded: 3 });
    counts = await h.ok('faces.setExcluded', { ids: [ids[8]!], excluded: false });
    expect(counts).toMatchObject({ kept: TOTAL_FACES - 2, excluded: 2 });
    expect(h.changes.at(-1)).toEqual({ reason: 'exclusions', counts });
    const excluded = await h.ok('faces.list', { filter: 'excluded', offset: 0, limit: 100 });
    expect(excluded.faces.map((f) => f.id)).toEqual([ids[1], ids[6]]);
    expect(excluded.faces.every((f) => f.excluded)).toBe(true);
    const kept = await h.ok('faces.ids', { filter: 'kept' });
    expect(kept.ids).toEqual(ids.filter((_, i) => i !== 1 && i !== 6));

    // Unknown ids change nothing.
    const unknown = await expectError(
      h,
      'faces.setExcluded',
      { ids: [ids[0], 'no-such-face'], excluded: true },
      'not-found',
    );
    expect(unknown.message).toMatch(/no-such-face.*Nothing was changed/);
    expect((await h.ok('faces.state', {})).counts.excluded).toBe(2);

    // Other options on existing faces need a rebuild; nothing runs and the settings stay.
    const refused = await expectError(h, 'faces.extract.start', form({ size: 64 }), 'invalid-input');
    expect(refused.message).toMatch(/other options \(96 px, margin 0\.25/);
    expect(refused.issues).toEqual([{ path: 'rebuild', message: expect.any(String) }]);
    expect((await h.ok('settings.get', {})).faces.size).toBe(96);
    expect((await h.ok('faces.extract.state', {})).phase).toBe('done');

    // A new services instance (the app restarted) sees the same faces and exclusions.
    await h.services.dispose();
    const again = await harness({ root: h.root });
    const state = await again.ok('faces.state', {});
    expect(state.counts).toMatchObject({ faces: TOTAL_FACES, kept: TOTAL_FACES - 2, excluded: 2 });
    expect(state.indexSettings).toEqual({
      size: 96,
      margin: 0.25,
      scaleFactor: 1.1,
      minNeighbors: 5,
      minSize: 24,
    });
    expect(state.cascade).toMatchObject({ state: 'ready', from: 'option', path: cascadePath });
    const afterRestart = await again.ok('faces.list', { filter: 'excluded', offset: 0, limit: 10 });
    expect(afterRestart.faces.map((f) => f.id)).toEqual([ids[1], ids[6]]);
  });

  it('removes the faces of deleted illustrations when the list loads, tells the screen once, and never for a missing dataset folder', async () => {
    const h = await harness({ withDataset: true });
    await h.ok('faces.extract.start', form());
    expect((await h.event(isEnd)).phase).toBe('done');
    const all = await h.ok('faces.list', { filter: 'all', offset: 0, limit: 100 });
    const gone = all.faces.filter((f) => f.sourceName === ILLUSTRATIONS[3]);
    const stay = all.faces.filter((f) => f.sourceName !== ILLUSTRATIONS[3]);
    expect(gone).toHaveLength(3);
    await h.ok('faces.setExcluded', { ids: [gone[0]!.id, stay[0]!.id], excluded: true });
    const stayBytes = await Promise.all(stay.map((f) => readFile(join(h.dataDir, f.crop))));

    // The dataset folder goes away (an unmounted drive): nothing is removed, and the screen says why.
    const datasetDir = join(h.dataDir, 'dataset');
    const indexPath = join(h.dataDir, 'faces', 'faces-index.json');
    const indexBefore = await readFile(indexPath, 'utf8');
    await rename(datasetDir, `${datasetDir}-away`);
    const missing = await h.ok('faces.state', {});
    expect(missing.pruneProblem).toBe(`The images folder ${datasetDir} is missing; nothing was removed.`);
    expect(missing.pruned).toBeUndefined();
    expect(missing.counts).toMatchObject({ faces: TOTAL_FACES, excluded: 2 });
    expect(await readFile(indexPath, 'utf8')).toBe(indexBefore);
    await rename(`${datasetDir}-away`, datasetDir);

    // One illustration deleted: the next load of the screen removes its faces and says so once.
    await rm(join(datasetDir, ILLUSTRATIONS[3]!));
    h.changes.length = 0;
    const state = await h.ok('faces.state', {});
    expect(state.pruned).toEqual({ faces: 3, images: 1, exclusions: 1 });
    expect(state.pruneProblem).toBeUndefined();
    expect(state.counts).toMatchObject({
      images: 3,
      faces: TOTAL_FACES - 3,
      excluded: 1,
      kept: TOTAL_FACES - 4,
    });
    expect(h.changes).toEqual([{ reason: 'pruned', counts: state.counts }]);
    expect((await h.ok('faces.state', {})).pruned).toBeUndefined();
    const listed = await h.ok('faces.list', { filter: 'all', offset: 0, limit: 100 });
    expect(listed.faces.map((f) => f.id)).toEqual(stay.map((f) => f.id));
    for (const face of gone) await expect(readFile(join(h.dataDir, face.crop))).rejects.toThrow(/ENOENT/);
    for (const [i, face] of stay.entries())
      expect((await readFile(join(h.dataDir, face.crop))).equals(stayBytes[i]!)).toBe(true);
    const excludedFile = JSON.parse(await readFile(join(h.dataDir, 'faces', 'excluded.json'), 'utf8'));
    expect(excludedFile).toEqual({ ids: [stay[0]!.id] });

    // A fresh app (first list load, no state request first) prunes too; the next extraction has nothing left.
    await rm(join(datasetDir, ILLUSTRATIONS[2]!));
    await h.services.dispose();
    const again = await harness({ root: h.root });
    const page = await again.ok('faces.list', { filter: 'all', offset: 0, limit: 100 });
    expect(page.total).toBe(TOTAL_FACES - 4);
    expect((await again.ok('faces.state', {})).pruned).toEqual({ faces: 1, images: 1, exclusions: 0 });
    await again.ok('faces.extract.start', form());
    const end = await again.event(isEnd);
    expect(end.phase, JSON.stringify(end.error)).toBe('done');
    expect(end.progress).toMatchObject({ skipped: 2, processed: 0, totalFaces: TOTAL_FACES - 4 });
    expect(end.progress?.pruned).toBeUndefined();
  });

  it('an extraction removes the faces of illustrations deleted since the last run and reports them', async () => {
    const h = await harness({ withDataset: true });
    await h.ok('faces.extract.start', form());
    expect((await h.event(isEnd)).phase).toBe('done');
    await rm(join(h.dataDir, 'dataset', ILLUSTRATIONS[0]!));
    h.events.length = 0;
    await h.ok('faces.extract.start', form());
    const end = await h.event(isEnd);
    expect(end.phase, JSON.stringify(end.error)).toBe('done');
    expect(end.progress).toMatchObject({ pruned: 5, prunedImages: 1, images: 3, skipped: 3, totalFaces: 4 });
    const state = await h.ok('faces.state', {});
    expect(state.pruned).toBeUndefined();
    expect(state.counts).toMatchObject({ faces: 4, images: 3 });
  });

  it('while another process extracts into the faces folder: Extract and exclusions are refused as busy, the list still loads', async () => {
    const h = await harness({ withDataset: true });
    await h.ok('faces.extract.start', form());
    expect((await h.event(isEnd)).phase).toBe('done');
    const facesDir = join(h.dataDir, 'faces');
    const [face] = (await h.ok('faces.list', { filter: 'all', offset: 0, limit: 10 })).faces;
    await rm(join(h.dataDir, 'dataset', ILLUSTRATIONS[0]!));

    // A live process (standing in for a `kao faces`) holds the folder's lock.
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    const gone = new Promise((r) => other.once('exit', r));
    cleanups.push(async () => {
      other.kill('SIGKILL');
      await gone;
    });
    const lock = JSON.stringify({
      pid: other.pid,
      hostname: hostname(),
      startedAt: new Date().toISOString(),
      command: 'kao faces',
      id: 'cli',
    });
    await writeFile(join(facesDir, FACES_LOCK_FILE), lock);
    const holder = new RegExp(
      `^faces folder ${facesDir} is being extracted into by another process \\(pid ${other.pid}, kao faces, since \\d\\d:\\d\\d\\)$`,
    );
    expect((await expectError(h, 'faces.extract.start', form(), 'busy')).message).toMatch(holder);
    expect(
      (await expectError(h, 'faces.setExcluded', { ids: [face!.id], excluded: true }, 'busy')).message,
    ).toMatch(holder);
    // Reading goes on; the deleted illustration's faces wait for the extraction (or the next load) to go.
    const state = await h.ok('faces.state', {});
    expect(state.counts).toMatchObject({ faces: TOTAL_FACES, excluded: 0 });
    expect(state.pruneProblem).toBeUndefined();
    expect(await readFile(join(facesDir, FACES_LOCK_FILE), 'utf8')).toBe(lock);

    // That process dies (kill -9): its lock is stale, and the app's next extraction takes it over and says so.
    other.kill('SIGKILL');
    await gone;
    h.events.length = 0;
    const notices: Array<{ level: string; message: string }> = [];
    h.services.events.on('app.notice', (notice) => notices.push(notice));
    await h.ok('faces.extract.start', form());
    const end = await h.event(isEnd);
    expect(end.phase, JSON.stringify(end.error)).toBe('done');
    expect(notices).toEqual([
      {
        level: 'warning',
        message: expect.stringMatching(
          new RegExp(
            `^took over the lock of faces folder .* from pid ${other.pid} \\(kao faces, since .*\\): that process is no longer running$`,
          ),
        ),
      },
    ]);
    expect(end.progress).toMatchObject({ prunedImages: 1, totalFaces: TOTAL_FACES - FACES_PER_IMAGE[0]! });
    await expect(readFile(join(facesDir, FACES_LOCK_FILE))).rejects.toThrow(/ENOENT/);
  });

  it('says when the cascade cannot be downloaded, and takes a local copy instead', async () => {
    const refusing: Server = createServer((_req, res) => {
      res.writeHead(503, { 'Content-Type': 'text/plain' }).end('offline');
    });
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => refusing.close(() => resolve())));
    const url = `http://127.0.0.1:${(refusing.address() as AddressInfo).port}/lbpcascade_animeface.xml`;
    const saved = {
      url: process.env['KAO_CASCADE_URL'],
      env: process.env['KAO_CASCADE'],
      resources: process.env['KAO_RESOURCES_DIR'],
    };
    process.env['KAO_CASCADE_URL'] = url;
    delete process.env['KAO_CASCADE'];
    delete process.env['KAO_RESOURCES_DIR'];
    cleanups.push(async () => {
      restoreEnv('KAO_CASCADE_URL', saved.url);
      restoreEnv('KAO_CASCADE', saved.env);
      restoreEnv('KAO_RESOURCES_DIR', saved.resources);
    });

    const h = await harness({ withDataset: true });
    // Offline from the first launch: the copy shipped in resources/ is ready, nothing to download.
    expect((await h.ok('faces.state', {})).cascade).toMatchObject({
      state: 'ready',
      from: 'bundled',
      path: expect.stringMatching(/resources[/\\]lbpcascade_animeface\.xml$/),
    });
    // An install without it (an empty resources folder) falls back to the download.
    const noResources = await mkdtemp(join(tmpdir(), 'kao-no-resources-'));
    cleanups.push(() => rm(noResources, { recursive: true, force: true }));
    process.env['KAO_RESOURCES_DIR'] = noResources;
    expect((await h.ok('faces.state', {})).cascade).toEqual({
      state: 'download',
      url,
      fileName: 'lbpcascade_animeface.xml',
    });
    await h.ok('faces.extract.start', form({ cascadePath: '' }));
    const failed = await h.event(isEnd);
    expect(failed.phase).toBe('failed');
    expect(failed.error).toMatchObject({
      code: 'not-found',
      message: expect.stringContaining('Could not download'),
    });
    const status = (await h.ok('faces.state', {})).cascade;
    expect(status.state).toBe('unavailable');
    expect(status.message).toMatch(/HTTP 503/);

    // A file that is not the cascade is refused with the reason, and not saved.
    const wrong = await expectError(
      h,
      'faces.cascade.use',
      { path: join(illustrationsDir, ILLUSTRATIONS[0]!) },
      'invalid-input',
    );
    // Refused as "not a cascade" before anything reads it whole: no size or SHA-256 of an arbitrary file.
    expect(wrong.message).toMatch(/is not a readable OpenCV cascade file/);
    expect(wrong.message).not.toMatch(/SHA-256|bytes|[0-9a-f]{64}/);
    expect((await h.ok('settings.get', {})).faces.cascadePath).toBe('');
    await expectError(h, 'faces.cascade.use', { path: 'relative/cascade.xml' }, 'invalid-input');

    const chosen = await h.ok('faces.cascade.use', { path: cascadePath });
    expect(chosen).toMatchObject({ state: 'ready', from: 'option', path: cascadePath });
    expect((await h.ok('settings.get', {})).faces.cascadePath).toBe(cascadePath);
    expect((await h.ok('faces.state', {})).cascade.state).toBe('ready');

    // A chosen file that later goes bad is reported as invalid, not silently replaced.
    const copy = join(h.root, 'my-cascade.xml');
    await writeFile(copy, 'not a cascade');
    await h.ok('settings.set', {
      ...(await h.ok('settings.get', {})),
      faces: { ...form(), cascadePath: copy },
    });
    const invalid = (await h.ok('faces.state', {})).cascade;
    expect(invalid).toMatchObject({ state: 'invalid', path: copy, from: 'option' });
  });

  it('refuses bad requests with a clear error before anything runs', async () => {
    const h = await harness();
    expect((await h.ok('faces.state', {})).datasetHasImages).toBe(false);
    // No illustrations yet.
    const empty = await expectError(h, 'faces.extract.start', form(), 'not-found');
    expect(empty.message).toMatch(/no illustrations yet/);

    const badSize = await expectError(h, 'faces.extract.start', form({ size: 100 as 96 }), 'invalid-input');
    expect(badSize.issues?.map((i) => i.path)).toEqual(['size']);
    const badMargin = await expectError(h, 'faces.extract.start', form({ margin: 2 }), 'invalid-input');
    expect(badMargin.issues?.map((i) => i.path)).toEqual(['margin']);
    await expectError(h, 'faces.extract.start', { ...form(), workers: 3 }, 'invalid-input');
    const relative = await expectError(
      h,
      'faces.extract.start',
      form({ cascadePath: 'cascade.xml' }),
      'invalid-input',
    );
    expect(relative.issues).toEqual([{ path: 'cascadePath', message: 'must be a full path' }]);

    await expectError(h, 'faces.list', { filter: 'bogus' }, 'invalid-input');
    await expectError(h, 'faces.list', { limit: 0 }, 'invalid-input');
    await expectError(h, 'faces.list', { limit: 5000 }, 'invalid-input');
    await expectError(h, 'faces.setExcluded', { ids: [], excluded: true }, 'invalid-input');
    await expectError(h, 'faces.setExcluded', { ids: ['x'] }, 'invalid-input');
    await expectError(h, 'faces.extract.pause', {}, 'not-found');
    await expectError(h, 'faces.extract.resume', {}, 'not-found');
    expect((await h.ok('faces.extract.cancel', {})).phase).toBe('idle');

    // An empty faces folder lists as empty; a damaged index says which file is wrong.
    expect(await h.ok('faces.list', {})).toMatchObject({ total: 0, faces: [] });
    await mkdir(join(h.dataDir, 'faces'), { recursive: true });
    await writeFile(join(h.dataDir, 'faces', 'faces-index.json'), '{ torn');
    const damaged = await expectError(h, 'faces.state', {}, 'internal');
    expect(damaged.message).toMatch(/faces folder cannot be read: .*faces-index\.json is not valid JSON/);
    // Nothing was changed in settings by any of it.
    expect((await h.ok('settings.get', {})).faces.cascadePath).toBe('');
  });
});

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}
