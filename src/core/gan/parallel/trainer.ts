/**
 * Data-parallel DCGAN training over worker_threads. The wasm backend runs one thread per process
 * (tfjs disables wasm threads in Node), so each batch is split across N workers, each with its own
 * wasm backend and an identical copy of the GAN; their gradients are averaged here (weighted by slice
 * size) and every worker applies the same averaged update, which keeps the copies bit-identical.
 *
 * Batch norm is per worker ("ghost batch norm"): each worker normalises with its own slice's
 * statistics, as if the batch were B/N. The generator's running statistics (inference only) are
 * updated with the exact full-batch moments, recombined from the workers' means and variances.
 *
 * A step mirrors step.ts' trainStep: one D update on (real, G(z)), then gStepsPerD G updates on the
 * same z. The last G update is applied lazily at the start of the next request (saves a round trip);
 * `syncTo` and `dispose` flush it.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type * as tf from '@tensorflow/tfjs';
import type { BackendPreference, BackendStatus } from '../../../shared/contract-base.ts';
import { wasmDirectory } from '../backend.ts';
import type { Gan } from '../models.ts';
import type { StepResult } from '../step.ts';
import type { PendingUpdate, WorkerReply, WorkerRequest } from './protocol.ts';
import { flatLayout, readGanState, writeGanState, type GanState } from './state.ts';

export interface ParallelTrainerOptions {
  /** Number of worker threads; default: one per core. */
  workers?: number;
  /** Backend each worker selects; default 'wasm' (the point of workers is the single-threaded wasm). */
  backend?: BackendPreference;
  /** The worker entry. Default: worker.ts next to this file, run through tsx. Bundled apps pass their .js. */
  workerUrl?: URL;
  /** Node options for the workers; default ['--import', 'tsx'] for a .ts entry, none for .js. */
  execArgv?: string[];
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type Request = DistributiveOmit<WorkerRequest, 'id'>;

class GanWorker {
  readonly #worker: Worker;
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }>();
  #failure: Error | undefined;

  constructor(url: URL, execArgv: string[]) {
    this.#worker = new Worker(url, { execArgv });
    this.#worker.on('message', (reply: WorkerReply) => {
      const waiter = this.#pending.get(reply.id);
      if (!waiter) return;
      this.#pending.delete(reply.id);
      if (reply.type === 'error') {
        const error = new Error(`gan worker: ${reply.message}`);
        if (reply.stack) error.stack = reply.stack;
        waiter.reject(error);
      } else waiter.resolve(reply);
    });
    const fail = (error: Error) => {
      this.#failure = error;
      for (const waiter of this.#pending.values()) waiter.reject(error);
      this.#pending.clear();
    };
    this.#worker.on('error', (e) => fail(new Error(`gan worker crashed: ${e.message}`)));
    this.#worker.on('exit', (code) => fail(new Error(`gan worker exited (code ${code})`)));
  }

  request<T extends WorkerReply['type']>(
    message: Request,
    expect: T,
    transfer: ArrayBuffer[] = [],
  ): Promise<Extract<WorkerReply, { type: T }>> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, {
        resolve: (reply) => {
          if (reply.type !== expect) reject(new Error(`gan worker: expected ${expect}, got ${reply.type}`));
          else resolve(reply as Extract<WorkerReply, { type: T }>);
        },
        reject,
      });
      this.#worker.postMessage({ ...message, id }, transfer);
    });
  }

  async terminate(): Promise<void> {
    this.#worker.removeAllListeners('exit');
    await this.#worker.terminate();
  }
}

export function defaultWorkerCount(): number {
  return Math.max(1, availableParallelism());
}

export function defaultWorkerUrl(): URL {
  return new URL('./worker.ts', import.meta.url);
}

/** Sizes of the slices a batch is split into: as even as possible, largest first. */
export function splitBatch(batch: number, workers: number): number[] {
  const parts = Math.min(batch, workers);
  return Array.from({ length: parts }, (_, i) => Math.floor(batch / parts) + (i < batch % parts ? 1 : 0));
}

export class ParallelTrainer {
  readonly #workers: GanWorker[];
  readonly #config: Gan['config'];
  #pending: PendingUpdate | undefined;
  #disposed = false;
  /** Gradient slot each model writes next (0/1, see SharedGradients). */
  readonly #nextSlot = { d: 0, g: 0 };

  private constructor(
    workers: GanWorker[],
    config: Gan['config'],
    /** The backend worker 0 ended up with (all workers select the same way). */
    readonly backend: BackendStatus,
  ) {
    this.#workers = workers;
    this.#config = config;
  }

  get workerCount(): number {
    return this.#workers.length;
  }

  /** Starts the workers and copies the GAN's whole state (weights, BN stats, Adam) into each. */
  static async create(gan: Gan, options: ParallelTrainerOptions = {}): Promise<ParallelTrainer> {
    const count = options.workers ?? defaultWorkerCount();
    if (!Number.isInteger(count) || count < 1)
      throw new Error(`workers must be a positive integer, got ${count}`);
    const url = options.workerUrl ?? defaultWorkerUrl();
    const execArgv = options.execArgv ?? (url.pathname.endsWith('.ts') ? ['--import', 'tsx'] : []);
    const workers = Array.from({ length: count }, () => new GanWorker(url, execArgv));
    try {
      const state = await readGanState(gan);
      const wasmDir = wasmDirectory();
      // Two slots × one row per worker × every parameter, float32.
      const sharedBuffer = (params: Gan['g']) =>
        new SharedArrayBuffer(2 * count * flatLayout(params).total * 4);
      const d = sharedBuffer(gan.d);
      const g = sharedBuffer(gan.g);
      const backend = options.backend ?? 'wasm';
      const replies = await Promise.all(
        workers.map((w, workerIndex) =>
          w.request(
            {
              type: 'init',
              config: gan.config,
              state,
              backend,
              wasmDir,
              shared: { d, g, workerIndex, workerCount: count },
            },
            'ready',
          ),
        ),
      );
      return new ParallelTrainer(workers, gan.config, replies[0]!.backend);
    } catch (error) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw error;
    }
  }

  /**
   * One training step on a batch: `real` [B,S,S,3] in [-1, 1] and `z` [B, zDim], as flat Float32Arrays
   * (row-major) or tensors. Returns the batch-mean losses and D probabilities like trainStep.
   */
  async step(
    real: Float32Array | tf.Tensor4D,
    z: Float32Array | tf.Tensor2D,
    /** This step's DiffAugment seed (see trainStep). */
    augmentSeed = 0,
  ): Promise<StepResult> {
    this.#assertAlive();
    const { imageSize, zDim, gStepsPerD } = this.#config;
    const realData = real instanceof Float32Array ? real : (real.dataSync() as Float32Array);
    const zData = z instanceof Float32Array ? z : (z.dataSync() as Float32Array);
    const batch = zData.length / zDim;
    const pixels = imageSize * imageSize * 3;
    if (!Number.isInteger(batch) || batch < 1)
      throw new Error(`z has ${zData.length} values, not a multiple of zDim ${zDim}`);
    if (realData.length !== batch * pixels) {
      throw new Error(
        `real batch has ${realData.length / pixels} images of ${imageSize}×${imageSize}×3, z has ${batch} rows`,
      );
    }
    const sizes = splitBatch(batch, this.#workers.length);
    const active = this.#workers.slice(0, sizes.length);
    const weights = sizes.map((s) => s / batch);
    // One weight per worker row; workers without a slice (tiny batches) contribute nothing.
    const rowWeights = this.#workers.map((_, i) => weights[i] ?? 0);

    // D update: every worker writes its slice's gradients into the shared slot; the average is
    // applied with the next request.
    let start = 0;
    const pending = this.#takePending();
    const dSlot = this.#takeSlot('d');
    const dReplies = await Promise.all(
      active.map((w, i) => {
        const n = sizes[i]!;
        const real = realData.slice(start * pixels, (start + n) * pixels);
        const zPart = zData.slice(start * zDim, (start + n) * zDim);
        start += n;
        const augment = { seed: augmentSeed, batch, offset: start - n };
        const request = {
          type: 'dGrads',
          real,
          z: zPart,
          count: n,
          augment,
          slot: dSlot,
          apply: pending,
        } as const;
        return w.request(request, 'dGrads', [real.buffer, zPart.buffer]);
      }),
    );
    // Idle workers (batch smaller than the worker count) must still apply every update.
    await this.#applyToIdle(active.length, pending);
    const mean = (values: number[]) => weightedSum(values, weights);
    const result: StepResult = {
      lossD: mean(dReplies.map((r) => r.lossD)),
      dReal: mean(dReplies.map((r) => r.dReal)),
      dFake: mean(dReplies.map((r) => r.dFake)),
      lossG: NaN,
    };
    let update: PendingUpdate = { model: 'd', slot: dSlot, weights: rowWeights };

    for (let k = 0; k < gStepsPerD; k++) {
      const apply = update;
      const gSlot = this.#takeSlot('g');
      const gReplies = await Promise.all(
        active.map((w) => w.request({ type: 'gGrads', slot: gSlot, update: k, apply }, 'gGrads')),
      );
      await this.#applyToIdle(active.length, apply);
      result.lossG = mean(gReplies.map((r) => r.lossG));
      const moments = combineMoments(
        gReplies.map((r) => r.moments),
        weights,
      );
      update = { model: 'g', slot: gSlot, weights: rowWeights, moments };
    }
    this.#pending = update;
    return result;
  }

  /** Applies any outstanding update and copies the workers' state into `gan` (checkpoints, sampling). */
  async syncTo(gan: Gan): Promise<void> {
    this.#assertAlive();
    const pending = this.#takePending();
    const [first, ...rest] = this.#workers;
    const [reply] = await Promise.all([
      first!.request({ type: 'getState', apply: pending }, 'state'),
      ...rest.map((w) =>
        pending ? w.request({ type: 'apply', apply: pending }, 'done') : Promise.resolve(),
      ),
    ]);
    writeGanState(gan, (reply as { state: GanState }).state);
  }

  /** Replaces the workers' state with `gan`'s (after loading a checkpoint). Drops any outstanding update. */
  async load(gan: Gan): Promise<void> {
    this.#assertAlive();
    this.#pending = undefined;
    const state = await readGanState(gan);
    await Promise.all(this.#workers.map((w) => w.request({ type: 'setState', state }, 'done')));
  }

  /** Stops the workers. Call syncTo first to keep the last update. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }

  #takeSlot(model: 'd' | 'g'): number {
    const slot = this.#nextSlot[model];
    this.#nextSlot[model] = 1 - slot;
    return slot;
  }

  #takePending(): PendingUpdate | undefined {
    const p = this.#pending;
    this.#pending = undefined;
    return p;
  }

  async #applyToIdle(activeCount: number, update: PendingUpdate | undefined): Promise<void> {
    if (!update) return;
    await Promise.all(
      this.#workers.slice(activeCount).map((w) => w.request({ type: 'apply', apply: update }, 'done')),
    );
  }

  #assertAlive(): void {
    if (this.#disposed) throw new Error('ParallelTrainer was disposed');
  }
}

function weightedSum(values: number[], weights: number[]): number {
  return values.reduce((sum, v, i) => sum + v * weights[i]!, 0);
}

/** Full-batch moments from per-slice ones: mean = Σ wᵢ·μᵢ, var = Σ wᵢ·(σᵢ² + (μᵢ − mean)²). */
export function combineMoments(
  parts: Array<Array<{ layer: number; mean: Float32Array; variance: Float32Array }>>,
  weights: number[],
): Array<{ layer: number; mean: Float32Array; variance: Float32Array }> {
  return parts[0]!.map((first, li) => {
    const mean = new Float32Array(first.mean.length);
    const variance = new Float32Array(first.mean.length);
    for (let c = 0; c < mean.length; c++) {
      let m = 0;
      for (let i = 0; i < parts.length; i++) m += weights[i]! * parts[i]![li]!.mean[c]!;
      let v = 0;
      for (let i = 0; i < parts.length; i++) {
        const p = parts[i]![li]!;
        v += weights[i]! * (p.variance[c]! + (p.mean[c]! - m) ** 2);
      }
      mean[c] = m;
      variance[c] = v;
    }
    return { layer: first.layer, mean, variance };
  });
}
