/**
 * Training-mode batch norm fused with its activation, with a hand-written gradient.
 *
 * Written as tf ops (moments, sub, rsqrt, mul, mul, add, relu / leakyRelu) batch norm costs a dozen
 * element-wise kernels forward and about twice as many through autodiff (Sub, Mul, Select, Greater,
 * per-channel Sums…). Here one kernel computes the batch moments and the activated output (two passes
 * over x) and one kernel its gradient (two passes over dy, x and y), both straight over the wasm heap, or
 * over the cpu backend's arrays with the same code: the loops are in batch-norm-math.ts, this module
 * registers them with tfjs and differentiates through them. Browser-safe: only @tensorflow/tfjs.
 *
 * Semantics are those of
 *   m = tf.moments(x, [0, …, rank−2]);                 // variance: biased (population), like tf.moments
 *   y = act((x − m.mean) · rsqrt(m.variance + ε) · γ + β)
 * over the last (channel) axis, with act ∈ { ReLU, LeakyReLU(leak), identity }. The mean and variance
 * are outputs too (the generator keeps running statistics) and are differentiable.
 */
import * as tf from '@tensorflow/tfjs';
import { forwardValues, gradValues, type BatchNormAttrs } from './batch-norm-math.ts';
import { cpuMemory, wasmMemory, type KernelCall, type KernelMemory, type View } from './kernel-memory.ts';

export const BATCH_NORM_ACTIVATION = 'KaoBatchNormActivation';
export const BATCH_NORM_ACTIVATION_GRAD = 'KaoBatchNormActivationGrad';

/** ReLU, LeakyReLU with this slope for negative inputs, or no activation. */
export type BatchNormActivationKind = 'relu' | 'linear' | { leak: number };

export interface BatchNormActivationResult<R extends tf.Rank = tf.Rank> {
  /** The activated, normalised output, x's shape. */
  y: tf.Tensor<R>;
  /** Batch mean per channel [C]. */
  mean: tf.Tensor1D;
  /** Biased (population) batch variance per channel [C], as tf.moments computes it. */
  variance: tf.Tensor1D;
}

/** Batch norm over every axis but the last (channels), then the activation; output and batch moments. */
export type BatchNormActivationOp = <R extends tf.Rank>(
  x: tf.Tensor<R>,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon: number,
  activation: BatchNormActivationKind,
) => BatchNormActivationResult<R>;

function slopeOf(activation: BatchNormActivationKind): number {
  if (activation === 'relu') return 0;
  if (activation === 'linear') return 1;
  return activation.leak;
}

type KernelArgs = KernelCall;

function shapeOf(x: tf.TensorInfo): { rows: number; channels: number } {
  if (x.dtype !== 'float32') throw new Error(`${BATCH_NORM_ACTIVATION} needs float32, got ${x.dtype}`);
  if (x.shape.length < 1) throw new Error(`${BATCH_NORM_ACTIVATION} needs a channel axis`);
  const channels = x.shape[x.shape.length - 1]!;
  return { rows: channels === 0 ? 0 : tf.util.sizeFromShape(x.shape) / channels, channels };
}

function attrsOf(args: KernelArgs): BatchNormAttrs {
  return args.attrs as unknown as BatchNormAttrs;
}

/** Inputs of the gradient kernel (y: the forward output, for the activation's mask); dMean / dVariance only when those outputs were used. */
interface GradInputs {
  dy: tf.TensorInfo;
  x: tf.TensorInfo;
  y: tf.TensorInfo;
  gamma: tf.TensorInfo;
  beta: tf.TensorInfo;
  mean: tf.TensorInfo;
  variance: tf.TensorInfo;
  dMean?: tf.TensorInfo;
  dVariance?: tf.TensorInfo;
}

/** The forward kernel (outputs y, mean, variance) on a backend's memory. */
function forwardKernel(memory: KernelMemory): (args: KernelArgs) => tf.TensorInfo[] {
  return (args) => {
    const { x, gamma, beta } = args.inputs as { x: tf.TensorInfo; gamma: tf.TensorInfo; beta: tf.TensorInfo };
    const { rows, channels } = shapeOf(x);
    const { ins, outs, results } = memory(args.backend, [x, gamma, beta], [x.shape, [channels], [channels]]);
    const [vx, vGamma, vBeta] = ins as [View, View, View];
    const [y, mean, variance] = outs as [View, View, View];
    forwardValues(vx, vGamma, vBeta, y, mean, variance, rows, channels, attrsOf(args));
    return results();
  };
}

/** The gradient kernel (outputs dx, dGamma, dBeta) on a backend's memory. */
function gradKernel(memory: KernelMemory): (args: KernelArgs) => tf.TensorInfo[] {
  return (args) => {
    const i = args.inputs as unknown as GradInputs;
    const { rows, channels } = shapeOf(i.x);
    const { ins, outs, results } = memory(
      args.backend,
      [i.dy, i.x, i.y, i.gamma, i.beta, i.mean, i.variance, i.dMean, i.dVariance],
      [i.x.shape, [channels], [channels]],
    );
    const [dy, x, y, gamma, beta, mean, variance, dMean, dVariance] = ins;
    const [dx, dGamma, dBeta] = outs as [View, View, View];
    const forward = { dy: dy!, x: x!, y: y!, gamma: gamma!, beta: beta!, mean: mean!, variance: variance! };
    gradValues({ ...forward, dMean, dVariance }, { dx, dGamma, dBeta }, rows, channels, attrsOf(args));
    return results();
  };
}

export const batchNormActivationWasm = forwardKernel(wasmMemory);
export const batchNormActivationGradWasm = gradKernel(wasmMemory);
export const batchNormActivationCpu = forwardKernel(cpuMemory);
export const batchNormActivationGradCpu = gradKernel(cpuMemory);

/** The backends that have the fused kernels. */
export const batchNormBackends = ['wasm', 'cpu'] as const;

const kernels: Array<{ kernelName: string; backendName: string; kernelFunc: tf.KernelFunc }> = [
  { kernelName: BATCH_NORM_ACTIVATION, backendName: 'wasm', kernelFunc: batchNormActivationWasm },
  { kernelName: BATCH_NORM_ACTIVATION_GRAD, backendName: 'wasm', kernelFunc: batchNormActivationGradWasm },
  { kernelName: BATCH_NORM_ACTIVATION, backendName: 'cpu', kernelFunc: batchNormActivationCpu },
  { kernelName: BATCH_NORM_ACTIVATION_GRAD, backendName: 'cpu', kernelFunc: batchNormActivationGradCpu },
] as Array<{ kernelName: string; backendName: string; kernelFunc: tf.KernelFunc }>;

function batchNormActivationGrad(dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) {
  const [x, gamma, beta, y, mean, variance] = saved as [
    tf.Tensor,
    tf.Tensor,
    tf.Tensor,
    tf.Tensor,
    tf.Tensor,
    tf.Tensor,
  ];
  // tfjs passes null for outputs that do not reach the differentiated value.
  const [dy, dMean, dVariance] = dys as Array<tf.Tensor | null>;
  const inputs: tf.NamedTensorMap = { dy: dy ?? tf.zerosLike(x), x, y, gamma, beta, mean, variance };
  if (dMean) inputs['dMean'] = dMean;
  if (dVariance) inputs['dVariance'] = dVariance;
  const [dx, dGamma, dBeta] = tf.engine().runKernel<tf.Tensor[]>(BATCH_NORM_ACTIVATION_GRAD, inputs, attrs);
  return { x: () => dx!, gamma: () => dGamma!, beta: () => dBeta! };
}

let registered = false;

/**
 * Registers the fused kernels for wasm and cpu and the forward kernel's gradient. Idempotent; kernels
 * somebody else registered under these names are left alone.
 */
export function registerBatchNormKernels(): void {
  if (registered) return;
  for (const kernel of kernels) {
    if (!tf.getKernel(kernel.kernelName, kernel.backendName)) tf.registerKernel(kernel);
  }
  if (!tf.getGradient(BATCH_NORM_ACTIVATION)) {
    tf.registerGradient({
      kernelName: BATCH_NORM_ACTIVATION,
      inputsToSave: ['x', 'gamma', 'beta'],
      outputsToSave: [true, true, true],
      gradFunc: batchNormActivationGrad,
    });
  }
  registered = true;
}

/** Today's composition of tf ops: the reference, and the path on backends without the fused kernel. */
export const batchNormActivationComposed: BatchNormActivationOp = (x, gamma, beta, epsilon, activation) => {
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const m = tf.moments(x, axes);
  const z = x
    .sub(m.mean)
    .mul(tf.rsqrt(m.variance.add(epsilon)))
    .mul(gamma)
    .add(beta) as typeof x;
  const y =
    activation === 'relu' ? tf.relu(z) : activation === 'linear' ? z : tf.leakyRelu(z, activation.leak);
  return { y, mean: m.mean as tf.Tensor1D, variance: m.variance as tf.Tensor1D };
};

/**
 * Training-mode batch norm over every axis but the last, followed by `activation`; returns the output
 * and the batch moments. One fused kernel (and one for its gradient) where the backend has it (wasm,
 * cpu), the equivalent tf-op composition elsewhere (webgl, tfjs-node).
 */
export const batchNormActivation: BatchNormActivationOp = (x, gamma, beta, epsilon, activation) => {
  registerBatchNormKernels();
  const channels = x.shape[x.shape.length - 1];
  if (x.rank < 1 || gamma.shape.join() !== `${channels}` || beta.shape.join() !== `${channels}`) {
    throw new Error(
      `batchNormActivation: gamma [${gamma.shape}] and beta [${beta.shape}] must be [channels] of x [${x.shape}]`,
    );
  }
  const alpha = slopeOf(activation);
  // The gradient reads the activation's mask off the sign of y, which needs a slope ≥ 0.
  if (x.dtype !== 'float32' || !(alpha >= 0) || !tf.getKernel(BATCH_NORM_ACTIVATION, tf.getBackend())) {
    return batchNormActivationComposed(x, gamma, beta, epsilon, activation);
  }
  const attrs: BatchNormAttrs = { epsilon, alpha };
  const [y, mean, variance] = tf
    .engine()
    .runKernel<tf.Tensor[]>(BATCH_NORM_ACTIVATION, { x, gamma, beta }, attrs as unknown as tf.NamedAttrMap);
  return { y: y as typeof x, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
};
