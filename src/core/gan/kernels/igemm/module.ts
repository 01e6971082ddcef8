import type * as tf from '@tensorflow/tfjs';
import { igemmFmaBase64, igemmMulAddBase64 } from './igemm-binary.generated.ts';

/** The instantiated igemm for one tfjs-wasm instance (one per thread: each has its own memory). */
export interface Igemm {
  /** 'fma' with relaxed SIMD (f32x4.relaxed_madd), else 'mul-add'. */
  variant: 'fma' | 'mul-add';
  /** See wat.ts for the contract; addresses are byte offsets into the tfjs-wasm heap. */
  igemm(
    rows: number,
    taps: number,
    channels: number,
    columns: number,
    indirection: number,
    packedB: number,
    outputRows: number,
    tapsPerBlock: number,
    columnsPerBlock: number,
  ): void;
}

interface EmscriptenModule {
  asm?: { memory?: WebAssembly.Memory };
}

function decode(base64: string): Uint8Array<ArrayBuffer> {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

let preferredBinary: { bytes: Uint8Array<ArrayBuffer>; variant: Igemm['variant'] } | undefined;

function binary(): { bytes: Uint8Array<ArrayBuffer>; variant: Igemm['variant'] } {
  if (!preferredBinary) {
    const fma = decode(igemmFmaBase64);
    preferredBinary = WebAssembly.validate(fma)
      ? { bytes: fma, variant: 'fma' }
      : { bytes: decode(igemmMulAddBase64), variant: 'mul-add' };
  }
  return preferredBinary;
}

const instances = new WeakMap<WebAssembly.Memory, Igemm | null>();
// KAO_IGEMM=off (Node only) measures the XNNPACK path in the same build, e.g. `KAO_IGEMM=off kao bench`.
let disabled =
  (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.['KAO_IGEMM'] ===
  'off';
let calls = 0;
let milliseconds = 0;

/** How many igemm calls this thread has made (tests check that a kernel really took this path). */
export function igemmCallCount(): number {
  return calls;
}

/** Wall time spent inside igemm calls on this thread (profiling: the rest of a kernel is table building). */
export function igemmMilliseconds(): number {
  return milliseconds;
}

/** Tuning and tests: route every convolution back to tfjs-wasm's stock (XNNPACK) kernels. */
export function setIgemmEnabled(enabled: boolean): void {
  disabled = !enabled;
}

/**
 * The igemm bound to this wasm backend's memory, or null where it cannot run: not the wasm backend,
 * a shared (threaded) heap, or a runtime without wasm SIMD. Instantiated once per memory, synchronously
 * (the module is a few KB).
 */
export function igemmFor(backend: tf.KernelBackend): Igemm | null {
  if (disabled) return null;
  const memory = (backend as unknown as { wasm?: EmscriptenModule }).wasm?.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) return null;
  const known = instances.get(memory);
  if (known !== undefined) return known;
  let made: Igemm | null = null;
  // A threaded tfjs-wasm build shares its memory; this module imports an unshared one.
  if (!(typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer)) {
    try {
      const { bytes, variant } = binary();
      const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
      const igemm = instance.exports['igemm'] as Igemm['igemm'];
      made = {
        variant,
        igemm: (...args) => {
          calls++;
          const start = performance.now();
          igemm(...args);
          milliseconds += performance.now() - start;
        },
      };
    } catch {
      made = null; // no wasm SIMD at all: the stock kernels stay in charge
    }
  }
  instances.set(memory, made);
  return made;
}
