import * as tf from '@tensorflow/tfjs';
import { conv2dGemm, prefersGemm } from './gemm-conv.ts';
import { conv2dIgemm } from './igemm/conv.ts';
import { stockKernel } from './wasm-kernel-call.ts';

/**
 * Conv2D for the wasm backend: the project's igemm (relaxed-SIMD FMA) where the output channels are a
 * multiple of 8; otherwise tiny output maps go through one XNNPACK GEMM and the rest through the stock
 * XNNPACK convolution.
 */
export function conv2dWasm(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: tf.KernelBackend;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo | tf.TensorInfo[] {
  const { x, filter } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  const { strides, pad, dataFormat, dilations, dimRoundingMode } = args.attrs as unknown as tf.Conv2DAttrs;
  if (dataFormat === undefined || dataFormat === 'NHWC') {
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filter.shape as [number, number, number, number],
      strides,
      dilations ?? 1,
      pad,
      dimRoundingMode,
      false,
      'channelsLast',
    );
    const viaIgemm = conv2dIgemm(args.backend, x, filter, info);
    if (viaIgemm) return viaIgemm;
    if (prefersGemm(info)) return conv2dGemm(args.backend, x, filter, info);
  }
  return stockKernel('Conv2D')(args as Parameters<tf.KernelFunc>[0]);
}
