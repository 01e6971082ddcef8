/**
 * DCGAN training on WebGPU without tfjs in the loop: the whole state (weights, Adam moments, G's BN
 * running statistics, the average of G's weights) lives in flat GPU buffers, a step is one command
 * buffer of pre-built dispatches (network.ts), and the losses are copied out asynchronously every
 * `readbackEvery` steps — `step()` returns the newest losses that have arrived, with the step they
 * belong to. The interface follows ParallelTrainer: create(gan) → step(real, z) → syncTo(gan) for
 * checkpoints/samples, load(gan) after a restore, dispose().
 */
import type * as tf from '@tensorflow/tfjs';
import type { GanConfig } from '../config.ts';
import { assignParams, readParamRecord, type Gan, type ParamSet, type WeightRecord } from '../models.ts';
import type { StepResult } from '../step.ts';
import { encodeDispatches, GpuContext, type GpuBuffer } from './context.ts';
import { emaFactors } from './ema.ts';
import { createNetwork, type FlatLayout, type Network } from './network.ts';
import { webGpuEngineSupport } from './support.ts';

export interface WebGpuTrainerOptions {
  /** Copy the losses out every N steps (default 10: one blocking read per 10 steps at most). */
  readbackEvery?: number;
  /** Batch size (default: the config's). */
  batch?: number;
  /** A device to share (tests); default: a new one on the adapter backend.ts picks. */
  context?: GpuContext;
}

export interface WebGpuStepResult extends StepResult {
  /** The step (1-based, counted by this trainer) the losses belong to; 0 while none has arrived (NaN losses). */
  lossStep: number;
}

export interface WebGpuCounters {
  steps: number;
  /** Compute dispatches one step records (fixed by the model and gStepsPerD). */
  dispatchesPerStep: number;
  /** Command buffers submitted per step. */
  submitsPerStep: number;
  /** Times the host waited for GPU data (a loss read-back it needed a buffer back from, flush, syncTo). */
  blockingReadbacks: number;
}

interface PendingRead {
  step: number;
  done: Promise<void>;
}

export class WebGpuTrainer {
  readonly #ctx: GpuContext;
  readonly #ownsContext: boolean;
  readonly #net: Network;
  readonly #config: GanConfig;
  readonly #every: number;
  readonly #staging: GPUBuffer[];
  readonly #pending: Array<PendingRead | undefined>;
  #readSlot = 0;
  #steps = 0;
  #stepD = 0;
  #stepG = 0;
  #blocking = 0;
  #latest: WebGpuStepResult = { lossD: NaN, lossG: NaN, dReal: NaN, dFake: NaN, lossStep: 0 };
  #disposed = false;

  private constructor(ctx: GpuContext, ownsContext: boolean, net: Network, every: number) {
    this.#ctx = ctx;
    this.#ownsContext = ownsContext;
    this.#net = net;
    this.#config = net.config;
    this.#every = every;
    this.#staging = [0, 1].map((i) => ctx.staging(`metrics.${i}`, net.metricsLength));
    this.#pending = [undefined, undefined];
  }

  /** Refuses configs the engine does not implement (the reason says which field): fall back to tfjs. */
  static async create(gan: Gan, options: WebGpuTrainerOptions = {}): Promise<WebGpuTrainer> {
    const support = webGpuEngineSupport(gan.config);
    if (!support.ok) throw new Error(support.reason);
    const every = options.readbackEvery ?? 10;
    if (!Number.isInteger(every) || every < 1)
      throw new Error(`readbackEvery must be a positive integer, got ${every}`);
    const batch = options.batch ?? gan.config.batchSize;
    const ctx = options.context ?? (await GpuContext.create());
    try {
      const net = await ctx.validated(() => createNetwork(ctx, gan.config, batch));
      const trainer = new WebGpuTrainer(ctx, !options.context, net, every);
      await trainer.load(gan);
      return trainer;
    } catch (error) {
      if (!options.context) ctx.destroy();
      throw error;
    }
  }

  get adapter(): string {
    return this.#ctx.adapter;
  }

  get counters(): WebGpuCounters {
    return {
      steps: this.#steps,
      dispatchesPerStep: this.#net.dUpdate.length + this.#net.gUpdates.reduce((s, u) => s + u.length, 0),
      submitsPerStep: 1,
      blockingReadbacks: this.#blocking,
    };
  }

  /** The GPU context (tests count its live buffers). */
  get context(): GpuContext {
    return this.#ctx;
  }

  /**
   * One training step: a D update, then gStepsPerD G updates on the same z (like trainStep). `real`
   * [B,S,S,3] in [-1, 1], `z` [B, zDim]. Returns without waiting for the GPU; the losses are the newest
   * read back (from step `lossStep`, at most 2·readbackEvery steps old; NaN until the first arrives).
   */
  async step(real: Float32Array | tf.Tensor4D, z: Float32Array | tf.Tensor2D): Promise<WebGpuStepResult> {
    this.#assertAlive();
    const { imageSize: S, zDim, gStepsPerD, lrD, lrG, beta1, beta2, emaDecay } = this.#config;
    const net = this.#net;
    const B = net.batch;
    const realData = real instanceof Float32Array ? real : ((await real.data()) as Float32Array);
    const zData = z instanceof Float32Array ? z : ((await z.data()) as Float32Array);
    if (realData.length !== B * S * S * 3)
      throw new Error(`real has ${realData.length} values, expected ${B}×${S}×${S}×3`);
    if (zData.length !== B * zDim) throw new Error(`z has ${zData.length} values, expected ${B}×${zDim}`);

    // Bias-corrected learning rates of this step's updates, in float64 as adam.ts computes them.
    const lrT = (lr: number, t: number) => (lr * Math.sqrt(1 - beta2 ** t)) / (1 - beta1 ** t);
    const hyper = new Float32Array(net.hyper.size);
    hyper[0] = lrT(lrD, this.#stepD + 1);
    for (let k = 0; k < gStepsPerD; k++) hyper[1 + k] = lrT(lrG, this.#stepG + 1 + k);
    // The weight average's d and 1 − d after each G update (recipe/ema.ts: the count after the update).
    if (net.ema)
      for (let k = 0; k < gStepsPerD; k++)
        hyper.set(emaFactors(emaDecay, this.#stepG + 1 + k), 1 + gStepsPerD + 2 * k);

    const readNow = (this.#steps + 1) % this.#every === 0;
    const slot = this.#readSlot;
    if (readNow) {
      // The staging buffer must be unmapped before the copy: wait for its previous read (a blocking read).
      const previous = this.#pending[slot];
      if (previous) {
        this.#blocking++;
        await previous.done;
      }
    }
    this.#ctx.write(net.images, realData, B * S * S * 3);
    this.#ctx.write(net.z, zData);
    this.#ctx.write(net.hyper, hyper);
    const encoder = this.#ctx.device.createCommandEncoder();
    encodeDispatches(encoder, net.dUpdate);
    for (const update of net.gUpdates) encodeDispatches(encoder, update);
    if (readNow) this.#copyMetrics(encoder, slot);
    this.#ctx.device.queue.submit([encoder.finish()]);
    this.#steps++;
    this.#stepD++;
    this.#stepG += gStepsPerD;
    if (readNow) {
      this.#pending[slot] = { step: this.#steps, done: this.#readMetrics(slot, this.#steps) };
      this.#readSlot = 1 - slot;
    }
    return { ...this.#latest };
  }

  /** Records the copy of the newest losses into read-back buffer `slot`. */
  #copyMetrics(encoder: GPUCommandEncoder, slot: number): void {
    const net = this.#net;
    encoder.copyBufferToBuffer(
      net.scratch.buffer,
      net.metricsOffset * 4,
      this.#staging[slot]!,
      0,
      net.metricsLength * 4,
    );
  }

  async #readMetrics(slot: number, step: number): Promise<void> {
    const staging = this.#staging[slot]!;
    await staging.mapAsync(GPUMapMode.READ);
    const m = new Float32Array(staging.getMappedRange().slice(0));
    staging.unmap();
    this.#pending[slot] = undefined;
    if (step < this.#latest.lossStep) return;
    const B = this.#net.batch;
    const sum = (from: number, n: number) => {
      let s = 0;
      for (let i = from; i < from + n; i++) s += m[i]!;
      return s;
    };
    // D update: [loss fake B | loss real B | σ fake B | σ real B]; G update: [loss B | σ B].
    this.#latest = {
      lossD: sum(0, 2 * B) / B,
      dFake: sum(2 * B, B) / B,
      dReal: sum(3 * B, B) / B,
      lossG: sum(4 * B, B) / B,
      lossStep: step,
    };
  }

  /** Waits for the GPU and returns the losses of the last step (reads them back now if needed). */
  async flush(): Promise<WebGpuStepResult> {
    this.#assertAlive();
    this.#blocking++;
    if (this.#latest.lossStep !== this.#steps && this.#steps > 0) {
      await Promise.all(this.#pending.map((p) => p?.done));
      const slot = this.#readSlot;
      const encoder = this.#ctx.device.createCommandEncoder();
      this.#copyMetrics(encoder, slot);
      this.#ctx.device.queue.submit([encoder.finish()]);
      await this.#readMetrics(slot, this.#steps);
    }
    return { ...this.#latest };
  }

  /**
   * Copies the GPU state (weights, G's BN running statistics, both Adams, the weight average) into `gan`:
   * checkpoints, samples. The average's BN statistics are not trained: recipe/ema.ts re-estimates them
   * from these weights when `gan` is sampled or saved (keyed on optG.step, set here).
   */
  async syncTo(gan: Gan): Promise<void> {
    this.#assertAlive();
    this.#blocking++;
    const net = this.#net;
    const read = async (buffer: GpuBuffer, layout: FlatLayout) =>
      toRecord(await this.#ctx.read(buffer), layout);
    assignParams(gan.g, await read(net.g.params, net.g.layout));
    assignParams(gan.d, await read(net.d.params, net.d.layout));
    assignParams(gan.gStats, await read(net.running, net.statLayout));
    assignParams(gan.optG.m as ParamSet, await read(net.g.m, net.g.layout));
    assignParams(gan.optG.v as ParamSet, await read(net.g.v, net.g.layout));
    assignParams(gan.optD.m as ParamSet, await read(net.d.m, net.d.layout));
    assignParams(gan.optD.v as ParamSet, await read(net.d.v, net.d.layout));
    if (net.ema) assignParams(emaOf(gan), await read(net.ema, net.g.layout));
    gan.optG.step = this.#stepG;
    gan.optD.step = this.#stepD;
  }

  /** Replaces the GPU state with `gan`'s (a restored checkpoint, or a run moving from another backend). */
  async load(gan: Gan): Promise<void> {
    this.#assertAlive();
    const net = this.#net;
    const write = async (buffer: GpuBuffer, layout: FlatLayout, params: ParamSet) =>
      this.#ctx.write(buffer, fromRecord(await readParamRecord(params), layout));
    await write(net.g.params, net.g.layout, gan.g);
    await write(net.d.params, net.d.layout, gan.d);
    await write(net.running, net.statLayout, gan.gStats);
    await write(net.g.m, net.g.layout, gan.optG.m as ParamSet);
    await write(net.g.v, net.g.layout, gan.optG.v as ParamSet);
    await write(net.d.m, net.d.layout, gan.optD.m as ParamSet);
    await write(net.d.v, net.d.layout, gan.optD.v as ParamSet);
    if (net.ema) await write(net.ema, net.g.layout, emaOf(gan));
    this.#stepG = gan.optG.step;
    this.#stepD = gan.optD.step;
  }

  /** Reads a flat buffer's values by parameter name (tests: gradients of the last step). */
  async readGradients(model: 'g' | 'd'): Promise<WeightRecord> {
    const m = this.#net[model];
    return toRecord(await this.#ctx.read(m.grads), m.layout);
  }

  /** Frees the GPU buffers (and the device, if the trainer created it). Call syncTo first to keep the state. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await Promise.allSettled(this.#pending.map((p) => p?.done));
    if (this.#ownsContext) this.#ctx.destroy();
    else {
      const net = this.#net;
      for (const b of [
        net.g.params,
        net.g.grads,
        net.g.m,
        net.g.v,
        net.d.params,
        net.d.grads,
        net.d.m,
        net.d.v,
        net.running,
        net.scratch,
        net.hyper,
        ...net.buffers,
      ])
        this.#ctx.release(b.buffer);
      for (const s of this.#staging) this.#ctx.release(s);
      this.#ctx.releaseUniforms();
    }
  }

  #assertAlive(): void {
    if (this.#disposed) throw new Error('WebGpuTrainer was disposed');
  }
}

/** The averaged generator's weights of a GAN whose config keeps an average. */
function emaOf(gan: Gan): ParamSet {
  if (!gan.ema) throw new Error('the config keeps a weight average (emaDecay) but the GAN has none');
  return gan.ema.g;
}

function toRecord(data: Float32Array, layout: FlatLayout): WeightRecord {
  const out: WeightRecord = {};
  for (const spec of layout.specs) {
    const offset = layout.offsets.get(spec.name)!;
    const size = spec.shape.reduce((a, b) => a * b, 1);
    out[spec.name] = { shape: spec.shape, data: data.slice(offset, offset + size) };
  }
  return out;
}

function fromRecord(record: WeightRecord, layout: FlatLayout): Float32Array {
  const out = new Float32Array(layout.total);
  for (const spec of layout.specs) {
    const value = record[spec.name];
    if (!value) throw new Error(`missing ${spec.name}`);
    out.set(value.data, layout.offsets.get(spec.name)!);
  }
  return out;
}
