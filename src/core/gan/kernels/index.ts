import * as tf from '@tensorflow/tfjs';
import { conv2dBackpropFilterWasm } from './conv2d-backprop-filter.ts';
import { conv2dBackpropInputWasm } from './conv2d-backprop-input.ts';
import { batchMatMulWasm } from './batch-mat-mul.ts';
import { conv2dWasm } from './conv2d.ts';
import { meanWasm, sumWasm } from './reduce.ts';
import { captureStockKernel } from './wasm-kernel-call.ts';
import { registerBatchNormKernels } from './batch-norm.ts';

export { conv2dBackpropFilterWasm } from './conv2d-backprop-filter.ts';
export { conv2dBackpropInputWasm } from './conv2d-backprop-input.ts';
export { batchMatMulWasm } from './batch-mat-mul.ts';
export { conv2dWasm } from './conv2d.ts';
export { meanWasm, sumWasm } from './reduce.ts';
export { setGemmThresholds } from './gemm-conv.ts';
export {
  BATCH_NORM_ACTIVATION,
  BATCH_NORM_ACTIVATION_GRAD,
  batchNormActivation,
  registerBatchNormKernels,
  type BatchNormActivationKind,
} from './batch-norm.ts';

/** Kernels a DCGAN training step needs on wasm that tfjs-wasm 4.22 lacks or runs slowly. */
const trainingKernels: Array<{ kernelName: string; kernelFunc: tf.KernelFunc }> = [
  { kernelName: 'Conv2DBackpropFilter', kernelFunc: conv2dBackpropFilterWasm as tf.KernelFunc },
  { kernelName: 'Conv2DBackpropInput', kernelFunc: conv2dBackpropInputWasm as tf.KernelFunc },
  { kernelName: 'Conv2D', kernelFunc: conv2dWasm as tf.KernelFunc },
  { kernelName: 'Sum', kernelFunc: sumWasm as tf.KernelFunc },
  { kernelName: 'Mean', kernelFunc: meanWasm as tf.KernelFunc },
  { kernelName: 'BatchMatMul', kernelFunc: batchMatMulWasm as tf.KernelFunc },
];

/** Registers (or replaces) the training kernels on the wasm backend. Idempotent. */
export function registerWasmTrainingKernels(): void {
  // Ours fall back to (or build on) the stock kernels; keep those before replacing them.
  for (const name of ['Conv2D', 'Sum', 'Mean', 'BatchMatMul']) captureStockKernel(name);
  for (const { kernelName, kernelFunc } of trainingKernels) {
    const previous = tf.getKernel(kernelName, 'wasm');
    if (previous) tf.unregisterKernel(kernelName, 'wasm');
    // Keep the stock setupFunc: it binds the C++ function the stock kernel (still called by ours) uses.
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc, setupFunc: previous?.setupFunc });
  }
  // Fused training-mode batch norm + activation (wasm and cpu) and its gradient; models.ts also
  // registers them on first use, so this only makes the wasm setup explicit.
  registerBatchNormKernels();
}

/** The kernel names registerWasmTrainingKernels installs, for reports and tests. */
export const wasmTrainingKernelNames = trainingKernels.map((k) => k.kernelName);
