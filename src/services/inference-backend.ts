import * as tf from '@tensorflow/tfjs';

let backendReady: Promise<void> | undefined;

/**
 * The tf backend for renders in this process (favorites, animations): wasm when it starts, else the
 * pure-JS cpu backend. A process that already picked a faster one (native TensorFlow, tests) keeps it.
 */
export function ensureInferenceBackend(): Promise<void> {
  backendReady ??= (async () => {
    // `backendName` stays undefined until someone picks or uses a backend.
    if (tf.engine().backendName !== undefined) return;
    // Imported on first use: loading it registers the wasm backend as the highest priority one, which
    // other code in this process that uses tf synchronously (without tf.ready()) must not trip over.
    const { selectBackend } = await import('../core/gan/backend.ts');
    await selectBackend('wasm').catch(() => selectBackend('cpu'));
  })();
  return backendReady;
}
