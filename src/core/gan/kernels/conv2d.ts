import * as tf from '@tensorflow/tfjs';
import { conv2dGemm, prefersGemm } from './gemm-conv.ts';
import { conv2dIgemm } from './igemm/conv.ts';
import type { KernelCall } from './kernel-memory.ts';
import { stockKernel } from './wasm-kernel-call.ts';

type Shape4 = [number, number, number, number];

/**
 * A channels-last (NHWC) conv's geometry: the forward conv of Conv2D and of both its gradients. `kernel`
 * names the caller in the error for another data format.
 */
export function nhwcConvInfo(
  kernel: string,
  xShape: readonly number[],
  filterShape: readonly number[],
  attrs: Pick<tf.Conv2DAttrs, 'strides' | 'pad' | 'dimRoundingMode' | 'dataFormat'> & {
    dilations?: tf.Conv2DAttrs['dilations'];
  },
): tf.backend_util.Conv2DInfo {
  const { strides, pad, dimRoundingMode, dataFormat, dilations = 1 } = attrs;
  if (dataFormat !== undefined && dataFormat !== 'NHWC') throw new Error(`${kernel} (wasm): only NHWC`);
  return tf.backend_util.computeConv2DInfo(
    xShape as Shape4,
    filterShape as Shape4,
    strides,
    dilations,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
}

/**
 * Conv2D for the wasm backend: the project's igemm (relaxed-SIMD FMA) where the output channels are a
 * multiple of 8; otherwise tiny output maps go through one XNNPACK GEMM and the rest through the stock
 * XNNPACK convolution.
 */
export function conv2dWasm(args: KernelCall): tf.TensorInfo | tf.TensorInfo[] {
  const { x, filter } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = args.attrs as unknown as tf.Conv2DAttrs;
  if (attrs.dataFormat === undefined || attrs.dataFormat === 'NHWC') {
    const info = nhwcConvInfo('Conv2D', x.shape, filter.shape, attrs);
    const viaIgemm = conv2dIgemm(args.backend, x, filter, info);
    if (viaIgemm) return viaIgemm;
    if (prefersGemm(info)) return conv2dGemm(args.backend, x, filter, info);
  }
  return stockKernel('Conv2D')(args as Parameters<tf.KernelFunc>[0]);
}
