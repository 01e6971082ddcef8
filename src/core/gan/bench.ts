/**
 * Training-speed benchmark: median images/s of full training steps per backend and preset, with the
 * step's analytic FLOP count and the achieved GFLOP/s.
 *
 * FLOP formula (multiply-add = 2 FLOPs; convolutions and dense layers only — batch norm, activations,
 * losses and Adam are < 1 % and left out). Per image, for a layer with forward cost F:
 *   conv / dense forward          F = 2 · outH · outW · k² · Cin · Cout   (transposed conv: its input
 *                                     spatial size in place of outH · outW; dense: 2 · in · out)
 *   weight gradient               F
 *   input gradient                F   (skipped for layers whose input needs no gradient)
 * A trainStep (step.ts) on a batch of B computes
 *   fakes for D                   B  · G_fwd
 *   D update (real + fake)        2B · (D_fwd + D_wgrad + D_igrad without the first layer)
 *   each of gStepsPerD G updates  B  · (G_fwd + D_fwd + D_igrad + G_wgrad + G_igrad without the dense)
 * which is what tfjs actually runs (its tape only differentiates towards the requested variables).
 * The textbook "forward + backward ≈ 3 × forward" is within a few % of this for these models.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendName, BackendStatus } from '../../shared/contract-base.ts';
import { selectBackend } from './backend.ts';
import { resolveGanConfig, type GanConfig, type PresetName } from './config.ts';
import { createGan, disposeGan } from './models.ts';
import { trainStep } from './step.ts';
import { ParallelTrainer, defaultWorkerCount } from './parallel/trainer.ts';
import { webGpuEngineSupport } from './webgpu/support.ts';
import { WebGpuTrainer } from './webgpu/trainer.ts';
import { Rng } from '../../shared/rng.ts';

export interface BenchRow {
  backend: BackendName;
  preset: PresetName;
  batch: number;
  workers: number;
  /** Generator updates per step (the preset's recipe unless overridden). */
  gStepsPerD: number;
  imagesPerSec: number;
  msPerStep: number;
  gflopsPerStep: number;
  gflopsPerSec: number;
  /** Every timed step, in ms, for the spread. */
  stepMs: number[];
  /** webgpu only: which engine trained ('kao': src/core/gan/webgpu; 'tfjs': op by op, when Kao's refuses the config). */
  engine?: 'kao' | 'tfjs';
  /** Kao's WebGPU engine: compute dispatches one step records. */
  dispatchesPerStep?: number;
  /** Kao's WebGPU engine: times per timed step the host waited for GPU data (loss read-backs). */
  readbacksPerStep?: number;
}

export interface BenchOptions {
  backend: BackendName;
  preset: PresetName;
  batch?: number;
  /** Worker threads (wasm/cpu only); 1 runs in this thread. Default: one per core on wasm, else 1. */
  workers?: number;
  /** Timed steps (the median is reported). */
  steps?: number;
  /** Untimed steps first: XNNPACK builds its operators and the heap grows on the first ones. */
  warmup?: number;
  gStepsPerD?: number;
  /** The data-parallel worker's entry when it is not beside the sources (a bundled app). */
  workerUrl?: URL;
  /** On webgpu, train through tfjs-backend-webgpu op by op instead of Kao's WebGPU engine (comparisons). */
  tfjsWebGpu?: boolean;
  onProgress?: (event: BenchProgress) => void;
}

export type BenchProgress =
  | { type: 'backend'; backend: BackendStatus }
  | {
      type: 'step';
      preset: PresetName;
      backend: BackendName;
      done: number;
      total: number;
      warmup: boolean;
      ms: number;
    };

/** Forward FLOPs per image of each layer, in order, with whether its input needs a gradient. */
export function layerFlops(config: GanConfig): {
  generator: Array<{ name: string; flops: number }>;
  discriminator: Array<{ name: string; flops: number }>;
} {
  const { zDim, baseSize, kernelSize: k, gChannels, dChannels, imageSize } = config;
  const generator = [{ name: 'g.dense', flops: 2 * zDim * baseSize * baseSize * gChannels[0]! }];
  let size = baseSize;
  const gOut = [...gChannels.slice(1), 3];
  // Resize-convolution runs as a 4×4 stride-2 transposed convolution (recipe/resize-conv.ts).
  const gk = config.upsample === 'resize' ? 4 : k;
  gChannels.forEach((cin, i) => {
    // A stride-2 transposed conv costs what the mirrored conv does: each input pixel meets k² taps.
    generator.push({
      name: i + 1 < gChannels.length ? `g.up${i + 1}` : 'g.out',
      flops: 2 * size * size * gk * gk * cin * gOut[i]!,
    });
    size *= 2;
  });
  const discriminator: Array<{ name: string; flops: number }> = [];
  size = imageSize;
  dChannels.forEach((cout, i) => {
    size /= 2;
    const cin = i === 0 ? 3 : dChannels[i - 1]!;
    discriminator.push({ name: `d.conv${i}`, flops: 2 * size * size * k * k * cin * cout });
  });
  const features = dChannels.at(-1)! + (config.minibatchStd ? 1 : 0);
  discriminator.push({ name: 'd.out', flops: 2 * size * size * features });
  return { generator, discriminator };
}

/** FLOPs of one trainStep on `batch` images (see the formula at the top of this file). */
export function trainingStepFlops(config: GanConfig, batch: number, gStepsPerD = config.gStepsPerD): number {
  const { generator, discriminator } = layerFlops(config);
  const sum = (layers: Array<{ flops: number }>) => layers.reduce((s, l) => s + l.flops, 0);
  const gFwd = sum(generator);
  const dFwd = sum(discriminator);
  const dIgradNoFirst = dFwd - discriminator[0]!.flops;
  const gIgradNoDense = gFwd - generator[0]!.flops;
  const fakes = batch * gFwd;
  const dUpdate = 2 * batch * (dFwd + dFwd + dIgradNoFirst);
  const gUpdate = batch * (gFwd + dFwd + dFwd + gFwd + gIgradNoDense);
  return fakes + dUpdate + gStepsPerD * gUpdate;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Benchmarks one backend × preset. Selects the backend (throws with the reason if it cannot run). */
export async function benchTraining(options: BenchOptions): Promise<BenchRow> {
  const { backend, preset, steps = 5, warmup = 2 } = options;
  const batch = options.batch ?? 64;
  const config = resolveGanConfig(preset, {
    batchSize: batch,
    ...(options.gStepsPerD ? { gStepsPerD: options.gStepsPerD } : {}),
  });
  const info = await selectBackend(backend);
  options.onProgress?.({ type: 'backend', backend: info });
  const workers = Math.min(batch, options.workers ?? (backend === 'wasm' ? defaultWorkerCount() : 1));

  const rng = new Rng(7);
  const pixels = batch * config.imageSize * config.imageSize * 3;
  const real = new Float32Array(pixels).map(() => rng.next() * 2 - 1);
  const z = rng.normalArray(batch * config.zDim);
  const gan = createGan(config, 1);
  let trainer: ParallelTrainer | undefined;
  let gpuTrainer: WebGpuTrainer | undefined;
  const stepMs: number[] = [];
  let engineStats: Pick<BenchRow, 'engine' | 'dispatchesPerStep' | 'readbacksPerStep'> = {};
  // Kao's WebGPU engine returns before the GPU has finished (losses arrive later), so its steps are
  // timed as a whole: from a drained queue after the warm-up to a drained queue after the last step.
  let wallMs: number | undefined;
  try {
    let runStep: () => Promise<unknown>;
    const useEngine = backend === 'webgpu' && !options.tfjsWebGpu && webGpuEngineSupport(config).ok;
    if (useEngine) {
      gpuTrainer = await WebGpuTrainer.create(gan);
      const t = gpuTrainer;
      runStep = () => t.step(real, z);
    } else if (workers > 1) {
      trainer = await ParallelTrainer.create(gan, {
        workers,
        backend,
        ...(options.workerUrl ? { workerUrl: options.workerUrl } : {}),
      });
      const t = trainer;
      runStep = () => t.step(real.slice(), z.slice());
    } else {
      const realT = tf.tensor4d(real, [batch, config.imageSize, config.imageSize, 3]);
      const zT = tf.tensor2d(z, [batch, config.zDim]);
      runStep = () => trainStep(gan, realT, zT);
    }
    const total = warmup + steps;
    let timedFrom = 0;
    let blockingBefore = 0;
    for (let i = 0; i < total; i++) {
      if (i === warmup && gpuTrainer) {
        await gpuTrainer.flush();
        blockingBefore = gpuTrainer.counters.blockingReadbacks;
        timedFrom = performance.now();
      }
      const t0 = performance.now();
      await runStep();
      const ms = performance.now() - t0;
      if (i >= warmup) stepMs.push(ms);
      options.onProgress?.({ type: 'step', preset, backend, done: i + 1, total, warmup: i < warmup, ms });
    }
    if (gpuTrainer) {
      const blocking = gpuTrainer.counters.blockingReadbacks - blockingBefore;
      await gpuTrainer.flush();
      wallMs = performance.now() - timedFrom;
      engineStats = {
        engine: 'kao',
        dispatchesPerStep: gpuTrainer.counters.dispatchesPerStep,
        readbacksPerStep: blocking / steps,
      };
    } else if (backend === 'webgpu') engineStats = { engine: 'tfjs' };
  } finally {
    await gpuTrainer?.dispose();
    await trainer?.dispose();
    disposeGan(gan);
  }
  const msPerStep = wallMs !== undefined ? wallMs / steps : median(stepMs);
  const gflopsPerStep = trainingStepFlops(config, batch) / 1e9;
  return {
    backend,
    preset,
    batch,
    workers,
    gStepsPerD: config.gStepsPerD,
    imagesPerSec: (batch * 1000) / msPerStep,
    msPerStep,
    gflopsPerStep,
    gflopsPerSec: (gflopsPerStep * 1000) / msPerStep,
    stepMs,
    ...engineStats,
  };
}
