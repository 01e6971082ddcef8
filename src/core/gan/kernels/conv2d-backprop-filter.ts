import type * as tf from '@tensorflow/tfjs';
import { convGradientKernel, type ConvPath } from './conv2d.ts';
import { conv2d, release, slice, transpose } from './wasm-kernel-call.ts';

/** The swapped conv described below, on XNNPACK. */
const swappedConv: ConvPath = (backend, x, dy, info) => {
  const { inHeight, inWidth, outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth } =
    info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  // Padding after the input so the "output" of the swapped conv is exactly filterHeight × filterWidth;
  // negative means the forward conv never read those trailing rows/columns.
  const padBottom = filterHeight + (outHeight - 1) * strideHeight - inHeight - padTop;
  const padRight = filterWidth + (outWidth - 1) * strideWidth - inWidth - padLeft;

  const temps: tf.TensorInfo[] = [];
  let input = x;
  if (padBottom < 0 || padRight < 0) {
    const [n, h, w, c] = x.shape as [number, number, number, number];
    input = slice(backend, x, [0, 0, 0, 0], [n, h + Math.min(0, padBottom), w + Math.min(0, padRight), c]);
    temps.push(input);
  }
  const xT = transpose(backend, input, [3, 1, 2, 0]);
  const dyT = transpose(backend, dy, [1, 2, 0, 3]);
  temps.push(xT, dyT);
  const swapped = conv2d(
    backend,
    xT,
    dyT,
    { top: padTop, bottom: Math.max(0, padBottom), left: padLeft, right: Math.max(0, padRight) },
    [strideHeight, strideWidth],
  );
  temps.push(swapped);
  const dw = transpose(backend, swapped, [1, 2, 0, 3]);
  release(backend, ...temps);
  return dw;
};

/**
 * Conv2DBackpropFilter for the wasm backend, which has none (without it no conv layer can train).
 *
 * dW[a,b,ci,co] = Σ_{n,i,j} x[n, i·s+a−pad, j·s+b−pad, ci] · dy[n,i,j,co] is itself a convolution: a
 * stride-1 conv over x with channels and batch swapped ([Ci,H,W,N]) by dy as the filter ([Ho,Wo,N,Co]),
 * dilated by the forward stride. That lands on XNNPACK's conv (where neither Kao's igemm nor the GEMM
 * path applies, see fastConv).
 * (Going through Conv3DBackpropFilterV2 on a depth-1 reshape is wrong in tfjs-wasm 4.22 for stride > 1.)
 */
export const conv2dBackpropFilterWasm = convGradientKernel('Conv2DBackpropFilter', swappedConv);
