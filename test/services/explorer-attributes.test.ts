/** The `explorer.attributes` channel over the real services (what `kao serve` and the desktop app run). */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/core/gan/backend.ts';
import { recordEvents, startAppServices } from '../helpers/app-services.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';
import { makeTaggedFaceFolder } from '../helpers/tagged-faces.ts';
import { makeAppRun } from '../helpers/trained-run.ts';

let root: { dir: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  await selectBackend('wasm');
  root = await makeTempDir('kao-explorer-attributes-');
  const faces = join(root.dir, 'tagged-faces');
  await makeTaggedFaceFolder(faces, 300);
  await makeAppRun(join(root.dir, 'data'), { id: 'tagged', dataDir: faces, steps: 100, checkpointEvery: 50 });
  await makeAppRun(join(root.dir, 'data'), { id: 'untagged', steps: 5, checkpointEvery: 5 });
}, 120_000);
afterAll(() => root?.cleanup());

/** Fresh services on the shared data folder (each test's are disposed when it finishes). */
const taggedApp = async () => startAppServices(root.dir);

describe('explorer.attributes', () => {
  it('learns a checkpoint’s named sliders with progress events, then answers from the cache', async () => {
    const app = await taggedApp();
    const progress = recordEvents(app.services, 'explorer.attributes');
    // Two requests for the same checkpoint at once share one learning.
    const [first, twin] = await Promise.all([
      app.ok('explorer.attributes', { runId: 'tagged' }),
      app.ok('explorer.attributes', { runId: 'tagged', step: 100 }),
    ]);
    expect(twin).toEqual(first);
    expect(first).toMatchObject({ runId: 'tagged', step: 100, faces: 300, taggedFaces: 300, cached: false });
    expect(first.attributes.map((a) => a.tag).sort()).toEqual(['dark_hair', 'warm_hair']);
    const phases = progress.events.map((e) => e.phase);
    expect(progress.events.every((e) => e.runId === 'tagged')).toBe(true);
    expect([...new Set(phases)]).toEqual(['faces', 'classifiers', 'sampling', 'directions', 'checking']);
    expect(progress.events.filter((e) => e.phase === 'faces' && e.done === 0)).toHaveLength(1);

    const again = await app.ok('explorer.attributes', { runId: 'tagged' });
    expect(again).toMatchObject({ cached: true, seconds: 0 });
    expect(again.attributes).toEqual(first.attributes);
    // Another checkpoint of the same run has its own sliders.
    expect((await app.ok('explorer.attributes', { runId: 'tagged', step: 50 })).step).toBe(50);
  }, 180_000);

  it('stops learning on explorer.cancelAttributes', async () => {
    const app = await taggedApp();
    const progress = recordEvents(app.services, 'explorer.attributes');
    const learning = app.call('explorer.attributes', { runId: 'tagged', recompute: true });
    await progress.first((e) => e.phase === 'classifiers');
    // Another window's cancel, for another run or checkpoint, leaves it alone.
    expect(await app.ok('explorer.cancelAttributes', { runId: 'untagged' })).toEqual({ cancelled: false });
    expect(await app.ok('explorer.cancelAttributes', { runId: 'tagged', step: 50 })).toEqual({
      cancelled: false,
    });
    expect(await app.ok('explorer.cancelAttributes', { runId: 'tagged', step: 100 })).toEqual({
      cancelled: true,
    });
    expect(await learning).toMatchObject({
      ok: false,
      error: { code: 'cancelled', message: 'Learning the named sliders was cancelled.' },
    });
    expect(await app.ok('explorer.cancelAttributes', {})).toEqual({ cancelled: false });
  }, 120_000);

  it('says why a run has no named sliders, and refuses bad requests', async () => {
    const app = await taggedApp();
    const none = await app.ok('explorer.attributes', { runId: 'untagged' });
    expect(none.attributes).toEqual([]);
    expect(none.note).toMatch(/does not record the folder of faces it trained on/);

    expect(await app.call('explorer.attributes', { runId: 'tagged', step: 7 })).toMatchObject({
      ok: false,
      error: {
        code: 'not-found',
        message: expect.stringMatching(/no checkpoint at step 7 \(it has 50, 100\)/),
      },
    });
    expect(await app.call('explorer.attributes', { runId: 'nope' })).toMatchObject({
      ok: false,
      error: { code: 'not-found' },
    });
    for (const bad of [
      { runId: '../etc' },
      { runId: 'tagged', step: -1 },
      { runId: 'tagged', extra: 1 },
      {},
    ]) {
      expect(await app.call('explorer.attributes', bad)).toMatchObject({
        ok: false,
        error: { code: 'invalid-input' },
      });
    }
  }, 60_000);
});
