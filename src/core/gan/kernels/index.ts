import * as tf from '@tensorflow/tfjs';
import { conv2dBackpropFilterWasm } from './conv2d-backprop-filter.ts';
import { conv2dBackpropInputWasm } from './conv2d-backprop-input.ts';

export { conv2dBackpropFilterWasm } from './conv2d-backprop-filter.ts';
export { conv2dBackpropInputWasm } from './conv2d-backprop-input.ts';

/** Kernels a DCGAN training step needs on wasm that tfjs-wasm 4.22 lacks or runs slowly. */
const trainingKernels: Array<{ kernelName: string; kernelFunc: tf.KernelFunc }> = [
  { kernelName: 'Conv2DBackpropFilter', kernelFunc: conv2dBackpropFilterWasm as tf.KernelFunc },
  { kernelName: 'Conv2DBackpropInput', kernelFunc: conv2dBackpropInputWasm as tf.KernelFunc },
];

/** Registers (or replaces) the training kernels on the wasm backend. Idempotent. */
export function registerWasmTrainingKernels(): void {
  for (const { kernelName, kernelFunc } of trainingKernels) {
    if (tf.getKernel(kernelName, 'wasm')) tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
  }
}

/** The kernel names registerWasmTrainingKernels installs, for reports and tests. */
export const wasmTrainingKernelNames = trainingKernels.map((k) => k.kernelName);
