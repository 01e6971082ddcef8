/** Messages between ParallelTrainer (main thread) and its gradient workers. */
import type { BackendPreference, BackendStatus } from '../../../shared/contract-base.ts';
import type { GanConfig } from '../config.ts';
import type { AugmentPlan } from '../recipe/diff-augment.ts';
import type { GanState } from './state.ts';

/**
 * Gradients live in SharedArrayBuffers, one per model: [slot 0|1][worker][FlatLayout order]. A worker
 * writes its slice's gradients into its own row of a slot; every worker then averages all rows itself
 * (no copies through the main thread). Two slots alternate so a fast worker writing the next gradients
 * never overwrites a row a slower worker is still averaging.
 */
export interface SharedGradients {
  d: SharedArrayBuffer;
  g: SharedArrayBuffer;
  workerIndex: number;
  workerCount: number;
}

/** An update to apply before the next computation: Σ weights[i] · row i of `slot`. */
export interface PendingUpdate {
  model: 'd' | 'g';
  slot: number;
  /** One weight per worker row (slice size / batch); rows of idle workers get 0 and are not read. */
  weights: number[];
  /** Generator only: full-batch BN moments, per layer index, for the running statistics. */
  moments?: Array<{ layer: number; mean: Float32Array; variance: Float32Array }>;
}

export type WorkerRequest =
  | {
      id: number;
      type: 'init';
      config: GanConfig;
      state: GanState;
      backend: BackendPreference;
      wasmDir: string;
      shared: SharedGradients;
    }
  | { id: number; type: 'setState'; state: GanState }
  | { id: number; type: 'getState'; apply?: PendingUpdate }
  | { id: number; type: 'apply'; apply: PendingUpdate }
  /** D gradients on this worker's slice into `slot`; remembers `z` for the generator steps that follow. */
  | {
      id: number;
      type: 'dGrads';
      real: Float32Array;
      z: Float32Array;
      count: number;
      /** DiffAugment draws of this slice (also used by the G updates that follow). */
      augment: AugmentPlan;
      slot: number;
      apply?: PendingUpdate;
    }
  /** `update`: which G update of the step this is (its augmentation draws). */
  | { id: number; type: 'gGrads'; slot: number; update: number; apply?: PendingUpdate };

export type WorkerReply =
  | { id: number; type: 'ready'; backend: BackendStatus }
  | { id: number; type: 'done' }
  | { id: number; type: 'state'; state: GanState }
  | { id: number; type: 'dGrads'; lossD: number; dReal: number; dFake: number }
  | {
      id: number;
      type: 'gGrads';
      lossG: number;
      moments: Array<{ layer: number; mean: Float32Array; variance: Float32Array }>;
    }
  | { id: number; type: 'error'; message: string; stack?: string };
