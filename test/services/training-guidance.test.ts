import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createNodeAppServices } from '../../src/services/node-services.ts';
import type { AppServices } from '../../src/services/app-services.ts';
import type { EventName } from '../../src/shared/contract.ts';
import { crawlToReachGoodRun, GOOD_RUN_FACES, trainingLevel } from '../../src/shared/training-guidance.ts';
import { facesDir } from '../helpers/shared-data.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';

let services: AppServices;
let cleanup: () => Promise<void>;
let dataDir: string;
const events: Array<{ name: EventName; payload: unknown }> = [];

/** 20 real faces: more than the 16 a run needs, fewer than the anime-48 preset's batch of 64. */
beforeAll(async () => {
  const temp = await makeTempDir('kao-training-guidance-');
  cleanup = temp.cleanup;
  dataDir = join(temp.dir, 'data');
  await mkdir(join(dataDir, 'faces'), { recursive: true });
  const names = (await readdir(facesDir))
    .filter((n) => n.endsWith('.jpg'))
    .sort()
    .slice(0, 20);
  await Promise.all(names.map((n) => copyFile(join(facesDir, n), join(dataDir, 'faces', n))));
  services = createNodeAppServices({ configDir: join(temp.dir, 'config'), dataDir });
  services.events.subscribe((name, payload) => events.push({ name, payload }));
});
afterAll(async () => {
  await services.dispose();
  await cleanup();
});

const options = {
  preset: 'tiny',
  batchSize: 16,
  steps: 6,
  seed: 3,
  backend: 'wasm',
  checkpointEvery: 3,
  sampleEvery: 3,
  swdEvery: 0,
} as const;

describe('guidance from faces to a first run', () => {
  it('refuses a batch larger than the face set before a run folder exists, naming the limit', async () => {
    const refused = await services.dispatch('training.start', {
      ...options,
      preset: 'anime-48',
      batchSize: 64,
    });
    expect(refused).toMatchObject({
      ok: false,
      error: {
        code: 'invalid-input',
        message:
          'A batch of 64 is more than your 20 kept faces: choose a batch size of at most 20, or extract more faces.',
        issues: [{ path: 'batchSize', message: 'at most 20' }],
      },
    });
    expect(await services.dispatch('training.runs', {})).toEqual({ ok: true, value: [] });
  });

  it('measures one step of a preset in a trainer process, then answers from the cache', async () => {
    const request = { preset: 'tiny', batchSize: 16, backend: 'wasm' } as const;
    const first = await services.dispatch('training.estimate', request);
    expect(first).toMatchObject({ ok: true, value: { backend: 'wasm', cached: false } });
    const measured = (first as { value: { msPerStep: number; measuredAt: string } }).value;
    expect(measured.msPerStep).toBeGreaterThan(0);
    const again = await services.dispatch('training.estimate', request);
    expect(again).toEqual({
      ok: true,
      value: { ...measured, label: expect.any(String), backend: 'wasm', cached: true },
    });
    const cache = JSON.parse(await readFile(join(dataDir, 'cache', 'step-times.json'), 'utf8')) as object;
    expect(Object.keys(cache)).toEqual([expect.stringMatching(/\|wasm\|tiny\|16$/)]);
    // Timed in a process of its own: the app's trainer was not even started.
    expect(services.trainer.status.state).toBe('stopped');
  }, 240_000);

  it('a run that fails keeps its reason on its summary; the failure is told once, and the trainer is idle', async () => {
    // Faces that cannot be decoded: the trainer starts and then fails with its reason.
    const broken = join(dataDir, 'faces');
    for (const name of await readdir(broken)) await writeFile(join(broken, name), 'not a jpeg');
    events.length = 0;
    const started = await services.dispatch('training.start', options);
    expect(started).toMatchObject({ ok: true, value: { state: 'running' } });
    const id = (started as { value: { id: string } }).value.id;
    const start = Date.now();
    while (
      !events.some((e) => e.name === 'training.state' && (e.payload as { state: string }).state === 'failed')
    ) {
      if (Date.now() - start > 60_000) throw new Error('the run did not fail');
      await new Promise((r) => setTimeout(r, 100));
    }
    const runs = await services.dispatch('training.runs', {});
    expect(runs).toMatchObject({
      ok: true,
      value: [{ id, state: 'failed', message: 'none of the training images could be decoded' }],
    });
    // (Each unreadable face is also a warning; the failure itself is one error.)
    const notices = events.filter(
      (e) => e.name === 'app.notice' && (e.payload as { level: string }).level === 'error',
    );
    expect(notices).toEqual([
      {
        name: 'app.notice',
        payload: {
          level: 'error',
          message: expect.stringMatching(
            /^Training “.*” failed: none of the training images could be decoded$/,
          ),
        },
      },
    ]);
    expect(services.trainer.status.state).toBe('idle');
  }, 240_000);

  it('says how many faces a good run needs and how much to crawl for it', () => {
    expect(GOOD_RUN_FACES).toBe(400);
    // 27 illustrations gave 31 faces: 1.15 a piece; 369 more faces → ~354 illustrations → 400 (whole pages).
    expect(crawlToReachGoodRun(31, 27)).toEqual({ illustrations: 400, facesPerIllustration: 31 / 27 });
    // Too few illustrations to trust their yield: about 0.8 faces each (395 more → 544 → 600).
    expect(crawlToReachGoodRun(5, 4)).toEqual({ illustrations: 600, facesPerIllustration: 0.8 });
    expect(crawlToReachGoodRun(1500, 1000).illustrations).toBe(0);
    expect([trainingLevel(148), trainingLevel(4000), trainingLevel(12_000)]).toEqual([
      'barely',
      'early',
      'trained',
    ]);
  });
});
