/**
 * A GAN's whole training state as plain typed arrays — weights, the generator's BN running statistics
 * and both Adam optimizers — so it can cross a worker_threads boundary and come back bit-exact.
 */
import { assignParams, paramsToRecord, type Gan, type ParamSet, type WeightRecord } from '../models.ts';
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
  optG: AdamState;
  optD: AdamState;
}

export function readGanState(gan: Gan): GanState {
  return {
    g: paramsToRecord(gan.g),
    d: paramsToRecord(gan.d),
    gStats: paramsToRecord(gan.gStats),
    optG: readAdam(gan.optG),
    optD: readAdam(gan.optD),
  };
}

export function writeGanState(gan: Gan, state: GanState): void {
  assignParams(gan.g, state.g);
  assignParams(gan.d, state.d);
  assignParams(gan.gStats, state.gStats);
  writeAdam(gan.optG, state.optG);
  writeAdam(gan.optD, state.optD);
}

function readAdam(adam: Adam): AdamState {
  return { m: paramsToRecord(adam.m as ParamSet), v: paramsToRecord(adam.v as ParamSet), step: adam.step };
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
