/** Messages between ParallelTrainer (main thread) and its gradient workers. */
import type { BackendInfo, BackendPreference } from '../backend.ts';
import type { GanConfig } from '../config.ts';
import type { GanState } from './state.ts';

/** Averaged gradients (flat, in the model's FlatLayout order) to apply before the next computation. */
export interface PendingUpdate {
  model: 'd' | 'g';
  grads: Float32Array;
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
    }
  | { id: number; type: 'setState'; state: GanState }
  | { id: number; type: 'getState'; apply?: PendingUpdate }
  | { id: number; type: 'apply'; apply: PendingUpdate }
  /** D gradients on this worker's slice; remembers `z` for the generator steps that follow. */
  | { id: number; type: 'dGrads'; real: Float32Array; z: Float32Array; count: number; apply?: PendingUpdate }
  | { id: number; type: 'gGrads'; apply?: PendingUpdate };

export type WorkerReply =
  | { id: number; type: 'ready'; backend: BackendInfo }
  | { id: number; type: 'done' }
  | { id: number; type: 'state'; state: GanState }
  | { id: number; type: 'dGrads'; grads: Float32Array; lossD: number; dReal: number; dFake: number }
  | {
      id: number;
      type: 'gGrads';
      grads: Float32Array;
      lossG: number;
      moments: Array<{ layer: number; mean: Float32Array; variance: Float32Array }>;
    }
  | { id: number; type: 'error'; message: string; stack?: string };
