/**
 * One linear classifier per tag on fixed face features (logistic regression, all tags trained at once as one
 * weight matrix). Each tag's loss weighs its positives and negatives equally, so a tag on 10 % of faces is
 * not learned as "never". Features are standardised with the training rows' mean and spread.
 */
import * as tf from '@tensorflow/tfjs';

export interface LinearClassifiers {
  featureSize: number;
  tagCount: number;
  mean: Float32Array;
  /** 1 / standard deviation per feature (0 for a constant feature). */
  inverseStd: Float32Array;
  /** [featureSize, tagCount], row-major. */
  weights: Float32Array;
  bias: Float32Array;
}

export interface TrainOptions {
  steps?: number;
  learningRate?: number;
  /** L2 penalty on the weights (features are standardised, so one value suits every extractor). */
  l2?: number;
}

/**
 * Trains on `features` [count, featureSize] (row-major) with `labels` [count, tagCount] of 0/1. Full-batch
 * Adam: the sets are small (hundreds to a few thousand faces), so every step sees every face.
 */
export function trainLinearClassifiers(
  features: Float32Array,
  labels: Uint8Array,
  count: number,
  tagCount: number,
  options: TrainOptions = {},
): LinearClassifiers {
  const { steps = 300, learningRate = 0.02, l2 = 1e-2 } = options;
  const featureSize = features.length / count;
  if (!Number.isInteger(featureSize) || featureSize < 1) {
    throw new RangeError(`${features.length} feature values do not split into ${count} rows`);
  }
  if (labels.length !== count * tagCount) {
    throw new RangeError(`${labels.length} labels for ${count} faces and ${tagCount} tags`);
  }
  const { mean, inverseStd } = standardisation(features, count, featureSize);

  // Each tag's positives share half of the loss and its negatives the other half.
  const sampleWeights = new Float32Array(count * tagCount);
  for (let t = 0; t < tagCount; t++) {
    let positives = 0;
    for (let n = 0; n < count; n++) positives += labels[n * tagCount + t]!;
    const negatives = count - positives;
    for (let n = 0; n < count; n++) {
      const positive = labels[n * tagCount + t] === 1;
      const share = positive ? positives : negatives;
      sampleWeights[n * tagCount + t] = share > 0 ? 0.5 / share : 0;
    }
  }

  const x = tf.tidy(() => standardise(tf.tensor2d(features, [count, featureSize]), mean, inverseStd));
  const y = tf.tensor2d(Float32Array.from(labels), [count, tagCount]);
  const sampleWeight = tf.tensor2d(sampleWeights, [count, tagCount]);
  // Made in a scope that frees the zeros they start from (variables outlive it).
  const w = tf.tidy(() => tf.variable(tf.zeros([featureSize, tagCount])));
  const b = tf.tidy(() => tf.variable(tf.zeros([tagCount])));
  const optimizer = tf.train.adam(learningRate);
  try {
    for (let step = 0; step < steps; step++) {
      tf.tidy(() => {
        optimizer.minimize(() => {
          const logits = tf.matMul(x, w).add(b);
          const loss = tf.losses.sigmoidCrossEntropy(y, logits, sampleWeight, undefined, tf.Reduction.SUM);
          return loss.div(tagCount).add(
            w
              .square()
              .sum()
              .mul(l2 / 2),
          ) as tf.Scalar;
        });
      });
    }
    return {
      featureSize,
      tagCount,
      mean,
      inverseStd,
      weights: w.dataSync() as Float32Array,
      bias: b.dataSync() as Float32Array,
    };
  } finally {
    optimizer.dispose();
    for (const t of [x, y, sampleWeight, w, b]) t.dispose();
  }
}

/** Logits [rows, tagCount] of feature rows [rows, featureSize]. */
export function scoreFeatures(classifiers: LinearClassifiers, features: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const { featureSize, tagCount, mean, inverseStd, weights, bias } = classifiers;
    if (features.shape[1] !== featureSize) {
      throw new RangeError(`features have ${features.shape[1]} columns, the classifiers ${featureSize}`);
    }
    const x = standardise(features, mean, inverseStd);
    return tf.matMul(x, tf.tensor2d(weights, [featureSize, tagCount])).add(tf.tensor1d(bias));
  });
}

/**
 * Balanced accuracy of tag `tag`: the mean of the share of positives scored above 0 and the share of
 * negatives scored below (0.5 = chance, whatever the tag's frequency). NaN when a class is missing.
 */
export function balancedAccuracy(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  count: number,
  tagCount: number,
  tag: number,
): number {
  let truePositive = 0;
  let positives = 0;
  let trueNegative = 0;
  let negatives = 0;
  for (let n = 0; n < count; n++) {
    const predicted = logits[n * tagCount + tag]! > 0;
    if (labels[n * tagCount + tag] === 1) {
      positives++;
      if (predicted) truePositive++;
    } else {
      negatives++;
      if (!predicted) trueNegative++;
    }
  }
  if (positives === 0 || negatives === 0) return Number.NaN;
  return (truePositive / positives + trueNegative / negatives) / 2;
}

function standardisation(
  features: Float32Array,
  count: number,
  featureSize: number,
): { mean: Float32Array; inverseStd: Float32Array } {
  const mean = new Float64Array(featureSize);
  const square = new Float64Array(featureSize);
  for (let n = 0; n < count; n++) {
    for (let f = 0; f < featureSize; f++) {
      const v = features[n * featureSize + f]!;
      mean[f]! += v;
      square[f]! += v * v;
    }
  }
  const inverseStd = new Float32Array(featureSize);
  for (let f = 0; f < featureSize; f++) {
    mean[f]! /= count;
    const variance = square[f]! / count - mean[f]! ** 2;
    inverseStd[f] = variance > 1e-12 ? 1 / Math.sqrt(variance) : 0;
  }
  return { mean: Float32Array.from(mean), inverseStd };
}

function standardise(x: tf.Tensor2D, mean: Float32Array, inverseStd: Float32Array): tf.Tensor2D {
  return x.sub(tf.tensor1d(mean)).mul(tf.tensor1d(inverseStd));
}
