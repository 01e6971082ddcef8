/**
 * A memorisation check beside SWD: SWD compares distributions and cannot tell a generator that copies its
 * training faces from one that generalises. Here every generated face is matched to its nearest training
 * face and to its nearest face from a held-out set of the same size (mean squared pixel difference; the
 * training faces also in mirror image, since training flips them). A generator that generalises lands as
 * close to unseen faces as to training faces (ratio ≈ 1); one that copies lands much closer to training
 * faces (ratio → 0). `nearCopies` counts samples closer to a training face than any held-out face is —
 * closer than an unseen real face ever gets. Plain TypeScript, no tensors.
 */
import type { ImageSet } from './swd.ts';

export interface MemorisationResult {
  /** Median over samples of the distance to the nearest training face (mean squared difference, [-1, 1] pixels). */
  nearestTrain: number;
  /** Median over samples of the distance to the nearest held-out face. */
  nearestHeldOut: number;
  /** nearestTrain / nearestHeldOut: ≈ 1 generalises, → 0 copies. */
  ratio: number;
  /** Fraction of samples nearer to a training face than the nearest any held-out face comes to one. */
  nearCopies: number;
  samples: number;
}

export function memorisation(samples: ImageSet, train: ImageSet, heldOut: ImageSet): MemorisationResult {
  const size = samples.size;
  if (train.size !== size || heldOut.size !== size) throw new Error('image sets of different sizes');
  if (samples.count === 0 || train.count === 0 || heldOut.count === 0) throw new Error('an empty image set');
  // Equal set sizes: the nearest of more candidates is nearer by chance alone.
  const n = Math.min(train.count, heldOut.count);
  const trainFaces = withMirrors(take(train, n));
  const heldOutFaces = withMirrors(take(heldOut, n));
  const toTrain = nearestDistances(samples, trainFaces);
  const toHeldOut = nearestDistances(samples, heldOutFaces);
  // The closest an unseen real face comes to a training face (mirrors included on one side suffice).
  const realFloor = Math.min(...nearestDistances(take(heldOut, n), trainFaces));
  const nearestTrain = median(toTrain);
  const nearestHeldOut = median(toHeldOut);
  return {
    nearestTrain,
    nearestHeldOut,
    ratio: nearestTrain / nearestHeldOut,
    nearCopies: toTrain.filter((d) => d < realFloor).length / toTrain.length,
    samples: samples.count,
  };
}

function take(set: ImageSet, count: number): ImageSet {
  const pixels = set.size * set.size * 3;
  return { data: set.data.subarray(0, count * pixels), count, size: set.size };
}

/** The set followed by each image mirrored left–right. */
function withMirrors(set: ImageSet): ImageSet {
  const { size, count } = set;
  const pixels = size * size * 3;
  const data = new Float32Array(2 * count * pixels);
  data.set(set.data.subarray(0, count * pixels));
  for (let i = 0; i < count; i++) {
    const from = i * pixels;
    const to = (count + i) * pixels;
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++)
        for (let c = 0; c < 3; c++)
          data[to + (y * size + x) * 3 + c] = set.data[from + (y * size + (size - 1 - x)) * 3 + c]!;
  }
  return { data, count: 2 * count, size };
}

/** For each image of `queries`, the mean squared difference to its nearest image in `pool`. */
function nearestDistances(queries: ImageSet, pool: ImageSet): number[] {
  const pixels = queries.size * queries.size * 3;
  const out: number[] = [];
  for (let q = 0; q < queries.count; q++) {
    const qo = q * pixels;
    let best = Infinity;
    for (let p = 0; p < pool.count; p++) {
      const po = p * pixels;
      let sum = 0;
      // Stop early once this candidate cannot beat the best: most of the pool is far.
      for (let k = 0; k < pixels && sum < best; k++) {
        const d = queries.data[qo + k]! - pool.data[po + k]!;
        sum += d * d;
      }
      if (sum < best) best = sum;
    }
    out.push(best / pixels);
  }
  return out;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
