/**
 * Gradient worker: one tfjs backend (wasm: one XNNPACK thread) holding a full copy of the GAN. It
 * computes D or G gradients on its slice of each batch and applies the averaged updates it is sent, so
 * every worker's weights stay identical without ever shipping weights around.
 *
 * Started from TS sources with `execArgv: ['--import', 'tsx']`, or from a bundled .js in the app.
 */
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { selectBackend, setWasmDirectory } from '../backend.ts';
import { createGan, type BatchMoments, type Gan } from '../models.ts';
import type { AugmentPlan } from '../recipe/diff-augment.ts';
import {
  applyGeneratorUpdate,
  applyGrads,
  computeDiscriminatorGrads,
  computeGeneratorGrads,
  disposeGrads,
} from '../step.ts';
import type { GradMap } from '../step.ts';
import type { PendingUpdate, SharedGradients, WorkerReply, WorkerRequest } from './protocol.ts';
import { averageRowsInto, flatLayout, writeGanState, readGanState, type FlatLayout } from './state.ts';

if (!parentPort) throw new Error('gan worker must run in a worker thread');
const port = parentPort;

let gan: Gan | undefined;
let layoutD: FlatLayout | undefined;
let layoutG: FlatLayout | undefined;
let z: tf.Tensor2D | undefined;
let augment: AugmentPlan | undefined;
let shared: SharedGradients | undefined;
/** Scratch for the averaged gradient, reused across updates. */
const averaged = { d: new Float32Array(0), g: new Float32Array(0) };

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`worker not initialised (${what})`);
  return value;
}

/** Row `worker` of gradient slot `slot` in the shared buffer of `model`. */
function row(model: 'd' | 'g', slot: number, worker: number): Float32Array {
  const sh = need(shared, 'shared');
  const layout = need(model === 'd' ? layoutD : layoutG, 'layout');
  const offset = (slot * sh.workerCount + worker) * layout.total;
  return new Float32Array(model === 'd' ? sh.d : sh.g, offset * 4, layout.total);
}

function writeGrads(grads: GradMap, model: 'd' | 'g', slot: number): void {
  const layout = need(model === 'd' ? layoutD : layoutG, 'layout');
  const target = row(model, slot, need(shared, 'shared').workerIndex);
  layout.names.forEach((name, i) =>
    target.set(grads.get(name)!.dataSync() as Float32Array, layout.offsets[i]),
  );
}

/** Σ wᵢ·rowᵢ, summed in the same order and precision as averageInto (so results match it exactly). */
function averageRows(update: PendingUpdate): Float32Array {
  const layout = need(update.model === 'd' ? layoutD : layoutG, 'layout');
  if (averaged[update.model].length !== layout.total) averaged[update.model] = new Float32Array(layout.total);
  const out = averaged[update.model];
  const rows: Float32Array[] = [];
  const weights: number[] = [];
  update.weights.forEach((w, i) => {
    if (w > 0) {
      rows.push(row(update.model, update.slot, i));
      weights.push(w);
    }
  });
  averageRowsInto(out, rows, weights);
  return out;
}

function unflatten(flat: Float32Array, layout: FlatLayout): GradMap {
  const grads: GradMap = new Map();
  layout.names.forEach((name, i) => {
    const shape = layout.shapes[i]!;
    const size = shape.reduce((a, b) => a * b, 1);
    const offset = layout.offsets[i]!;
    grads.set(name, tf.tensor(flat.subarray(offset, offset + size), shape, 'float32'));
  });
  return grads;
}

function applyPending(update: PendingUpdate | undefined): void {
  if (!update) return;
  const g = need(gan, 'apply');
  const layout = update.model === 'd' ? need(layoutD, 'layout') : need(layoutG, 'layout');
  const grads = unflatten(averageRows(update), layout);
  if (update.model === 'd') {
    applyGrads(g.optD, grads);
  } else {
    const moments = new Map<number, BatchMoments>();
    for (const m of update.moments ?? [])
      moments.set(m.layer, { mean: tf.tensor1d(m.mean), variance: tf.tensor1d(m.variance) });
    applyGeneratorUpdate(g, grads, moments);
  }
  disposeGrads(grads);
}

async function handle(request: WorkerRequest): Promise<{ reply: WorkerReply; transfer: ArrayBuffer[] }> {
  switch (request.type) {
    case 'init': {
      setWasmDirectory(request.wasmDir);
      shared = request.shared;
      const backend = await selectBackend(request.backend);
      gan = createGan(request.config, 0);
      writeGanState(gan, request.state);
      layoutD = flatLayout(gan.d);
      layoutG = flatLayout(gan.g);
      return { reply: { id: request.id, type: 'ready', backend }, transfer: [] };
    }
    case 'setState':
      writeGanState(need(gan, 'setState'), request.state);
      return { reply: { id: request.id, type: 'done' }, transfer: [] };
    case 'getState':
      applyPending(request.apply);
      return {
        reply: { id: request.id, type: 'state', state: await readGanState(need(gan, 'getState')) },
        transfer: [],
      };
    case 'apply':
      applyPending(request.apply);
      return { reply: { id: request.id, type: 'done' }, transfer: [] };
    case 'dGrads': {
      applyPending(request.apply);
      const g = need(gan, 'dGrads');
      const { imageSize, zDim } = g.config;
      z?.dispose();
      z = tf.tensor2d(request.z, [request.count, zDim]);
      augment = request.augment;
      const real = tf.tensor4d(request.real, [request.count, imageSize, imageSize, 3]);
      try {
        const d = await computeDiscriminatorGrads(g, real, z, augment);
        writeGrads(d.grads, 'd', request.slot);
        disposeGrads(d.grads);
        return {
          reply: { id: request.id, type: 'dGrads', lossD: d.lossD, dReal: d.dReal, dFake: d.dFake },
          transfer: [],
        };
      } finally {
        real.dispose();
      }
    }
    case 'gGrads': {
      applyPending(request.apply);
      const g = need(gan, 'gGrads');
      const r = await computeGeneratorGrads(g, need(z, 'z'), augment, request.update);
      writeGrads(r.grads, 'g', request.slot);
      disposeGrads(r.grads);
      const moments = [...r.moments].map(([layer, m]) => ({
        layer,
        mean: m.mean.dataSync() as Float32Array,
        variance: m.variance.dataSync() as Float32Array,
      }));
      for (const m of r.moments.values()) {
        m.mean.dispose();
        m.variance.dispose();
      }
      return { reply: { id: request.id, type: 'gGrads', lossG: r.lossG, moments }, transfer: [] };
    }
  }
}

// Requests are handled strictly in order.
let queue = Promise.resolve();
port.on('message', (request: WorkerRequest) => {
  queue = queue.then(async () => {
    try {
      const { reply, transfer } = await handle(request);
      port.postMessage(reply, transfer);
    } catch (error) {
      const e = error instanceof Error ? error : new Error(String(error));
      port.postMessage({
        id: request.id,
        type: 'error',
        message: e.message,
        stack: e.stack,
      } satisfies WorkerReply);
    }
  });
});
