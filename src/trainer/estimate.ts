import { pathToFileURL } from 'node:url';
import { benchTraining } from '../core/gan/bench.ts';
import { selectBackend } from '../core/gan/backend.ts';
import type { PresetName } from '../core/gan/config.ts';
import type { BackendPreference } from '../shared/contract-base.ts';
import type { BackendStatus } from '../shared/contract.ts';

export interface StepTiming {
  backend: BackendStatus;
  msPerStep: number;
}

/**
 * Times one training step of `preset` at `batchSize` on the backend a run with these options would get,
 * split over workers exactly as a run is (one per core on wasm): a warm-up step (kernels compile, the heap
 * grows), then one timed step on random data. A few seconds on wasm; the service caches the answer.
 */
export async function timeTrainingStep(
  preset: PresetName,
  batchSize: number,
  preference: BackendPreference,
): Promise<StepTiming> {
  const backend = await selectBackend(preference);
  const row = await benchTraining({
    backend: backend.name,
    preset,
    batch: batchSize,
    steps: 1,
    warmup: 1,
    ...(process.env.KAO_GAN_WORKER ? { workerUrl: pathToFileURL(process.env.KAO_GAN_WORKER) } : {}),
  });
  return {
    backend: { name: backend.name, label: backend.label, reason: backend.reason, tried: backend.tried },
    msPerStep: row.msPerStep,
  };
}
