import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../core/gan/backend.ts';
import type { BackendPreference } from '../shared/contract.ts';
import type { z } from 'zod';
import type { SelfTestResult } from '../shared/contract.ts';

/**
 * One real training step of a tiny conv net on the selected backend: proves the backend loads, that
 * gradients (including the conv backprop kernels the wasm backend lacks natively) run, and leaks nothing.
 */
export async function runSelfTest(
  preference: z.infer<typeof BackendPreference>,
): Promise<z.infer<typeof SelfTestResult>> {
  const backend = await selectBackend(preference);
  const started = performance.now();
  const numTensorsBefore = tf.memory().numTensors;
  const kernel = variableFrom(tf.randomNormal([3, 3, 3, 4], 0, 0.1, 'float32', 7));
  const dense = variableFrom(tf.randomNormal([4 * 4 * 4, 1], 0, 0.1, 'float32', 8));
  const optimizer = tf.train.adam(2e-4, 0.5);
  const images = tf.randomUniform([8, 8, 8, 3], -1, 1, 'float32', 9) as tf.Tensor4D;
  const labels = tf.tidy(() => tf.concat([tf.ones([4, 1]), tf.zeros([4, 1])]));
  const lossTensor = optimizer.minimize(
    () =>
      tf.tidy(() => {
        const features = tf.relu(tf.conv2d(images, kernel as tf.Variable<tf.Rank.R4>, 2, 'same'));
        const logits = tf.matMul(tf.reshape(features, [8, -1]), dense);
        return tf.losses.sigmoidCrossEntropy(labels, logits) as tf.Scalar;
      }),
    true,
    [kernel, dense],
  );
  const loss = (await lossTensor!.data())[0]!;
  tf.dispose([lossTensor!, images, labels, kernel, dense]);
  optimizer.dispose();
  return {
    backend,
    loss,
    millis: performance.now() - started,
    numTensorsBefore,
    numTensorsAfter: tf.memory().numTensors,
  };
}

/** tf.variable keeps its own copy; the initial value would otherwise stay allocated. */
function variableFrom(initial: tf.Tensor): tf.Variable {
  const variable = tf.variable(initial);
  initial.dispose();
  return variable;
}
