/**
 * A GAN's whole training state as plain typed arrays — weights, the generator's BN running statistics,
 * D's spectral-norm vectors, G's weight average and both Adam optimizers — so it can cross a
 * worker_threads boundary and come back bit-exact.
 */
import { assignParams, readParamRecord, type Gan, type ParamSet, type WeightRecord } from '../models.ts';
import type { Adam } from '../adam.ts';

export interface AdamState {
  m: WeightRecord;
  v: WeightRecord;
  step: number;
}

export interface GanState {
  g: WeightRecord;
  d: WeightRecord;
  gStats: WeightRecord;
  dStats: WeightRecord;
  /** The moving average of G's weights (its BN statistics are re-estimated where it is sampled). */
  gEma?: WeightRecord;
  optG: AdamState;
  optD: AdamState;
}

export async function readGanState(gan: Gan): Promise<GanState> {
  return {
    g: await readParamRecord(gan.g),
    d: await readParamRecord(gan.d),
    gStats: await readParamRecord(gan.gStats),
    dStats: await readParamRecord(gan.dStats),
    ...(gan.ema ? { gEma: await readParamRecord(gan.ema.g) } : {}),
    optG: await readAdam(gan.optG),
    optD: await readAdam(gan.optD),
  };
}

export function writeGanState(gan: Gan, state: GanState): void {
  assignParams(gan.g, state.g);
  assignParams(gan.d, state.d);
  assignParams(gan.gStats, state.gStats);
  assignParams(gan.dStats, state.dStats);
  if (gan.ema) {
    if (!state.gEma) throw new Error('GAN state lacks the weight average its config keeps');
    assignParams(gan.ema.g, state.gEma);
  }
  writeAdam(gan.optG, state.optG);
  writeAdam(gan.optD, state.optD);
}

async function readAdam(adam: Adam): Promise<AdamState> {
  return {
    m: await readParamRecord(adam.m as ParamSet),
    v: await readParamRecord(adam.v as ParamSet),
    step: adam.step,
  };
}

function writeAdam(adam: Adam, state: AdamState): void {
  assignParams(adam.m as ParamSet, state.m);
  assignParams(adam.v as ParamSet, state.v);
  adam.step = state.step;
}

/** Parameter names in a fixed order and the offsets of each in one flat gradient vector. */
export interface FlatLayout {
  names: string[];
  shapes: number[][];
  offsets: number[];
  total: number;
}

export function flatLayout(params: ParamSet): FlatLayout {
  const names: string[] = [];
  const shapes: number[][] = [];
  const offsets: number[] = [];
  let total = 0;
  for (const [name, p] of params) {
    names.push(name);
    shapes.push([...p.shape]);
    offsets.push(total);
    total += p.size;
  }
  return { names, shapes, offsets, total };
}

/**
 * out = Σ wᵢ·rowsᵢ, accumulated in float64 in row order and rounded once. Workers average their
 * gradients with this, and tests reproduce the parallel step with it bit for bit.
 */
export function averageRowsInto(out: Float32Array, rows: Float32Array[], weights: number[]): Float32Array {
  if (rows.length === 1 && weights[0] === 1) {
    out.set(rows[0]!);
    return out;
  }
  if (rows.length === 2) {
    // The common case (two cores), without the inner loop.
    const [a, b] = rows as [Float32Array, Float32Array];
    const [wa, wb] = weights as [number, number];
    for (let j = 0; j < out.length; j++) out[j] = a[j]! * wa + b[j]! * wb;
    return out;
  }
  for (let j = 0; j < out.length; j++) {
    let s = 0;
    for (let i = 0; i < rows.length; i++) s += rows[i]![j]! * weights[i]!;
    out[j] = s;
  }
  return out;
}
