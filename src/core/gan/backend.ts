/**
 * Picks the fastest TensorFlow.js backend this machine can run: native TensorFlow with CUDA, WebGPU
 * (any Vulkan, Metal or Direct3D 12 GPU through Dawn, the `webgpu` package), native TensorFlow on the
 * CPU, WebAssembly (SIMD, our FMA convolutions) or the pure-JS cpu backend. The native packages are
 * optional dependencies, so most installs without a GPU land on wasm; it gets our training kernels.
 *
 * Every module in the app imports the same `@tensorflow/tfjs` union package, so one engine (and one
 * set of registered kernels) is shared by the models, the training loop and this file.
 */
/// <reference types="@webgpu/types" />
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { igemmFor } from './kernels/igemm/module.ts';
import { registerWasmTrainingKernels } from './kernels/index.ts';
import { assertWebGpuAdapterQuietly } from './webgpu-probe.ts';

import {
  BackendName,
  type BackendAttempt,
  type BackendPreference,
  type BackendStatus,
} from '../../shared/contract-base.ts';

export const backendNames: readonly BackendName[] = BackendName.options;

const WASM_FILES = [
  'tfjs-backend-wasm.wasm',
  'tfjs-backend-wasm-simd.wasm',
  'tfjs-backend-wasm-threaded-simd.wasm',
];

let wasmDirOverride: string | undefined = process.env.KAO_TFJS_WASM_DIR || undefined;
let wasmPathsSet = false;

/**
 * Where the tfjs-backend-wasm .wasm binaries live. Bundled apps (electron-vite, asar) override it,
 * either here or with the KAO_TFJS_WASM_DIR environment variable; call before selectBackend.
 */
export function setWasmDirectory(dir: string): void {
  wasmDirOverride = dir;
}

/** The folder of the .wasm binaries: the override, else `dist/` of the installed package. */
export function wasmDirectory(): string {
  if (wasmDirOverride) return wasmDirOverride;
  const require = createRequire(import.meta.url);
  return path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
}

/** Backend names this process can try, in order, for a preference. */
function candidatesFor(preference: BackendPreference): BackendName[] {
  if (preference === 'auto') return [...backendNames];
  if (!backendNames.includes(preference))
    throw new Error(`unknown backend "${String(preference)}" (expected auto, ${backendNames.join(', ')})`);
  return [preference];
}

/**
 * Select and initialise a backend. `auto` tries tensorflow-gpu → webgpu → tensorflow → wasm → cpu and keeps
 * the first that works; an explicit name tries only that one and throws with the reason if it fails.
 */
export async function selectBackend(preference: BackendPreference = 'auto'): Promise<BackendStatus> {
  const tried: BackendAttempt[] = [];
  for (const name of candidatesFor(preference)) {
    try {
      await activate(name, preference !== 'auto');
      tried.push({ name, ok: true });
      return { name, label: label(name), reason: reasonFor(name, preference, tried), tried };
    } catch (error) {
      tried.push({ name, ok: false, error: humanReason(name, error) });
    }
  }
  throw new BackendUnavailableError(tried);
}

/** No backend of the preference could start; `tried` says why for each. */
export class BackendUnavailableError extends Error {
  override readonly name = 'BackendUnavailableError';
  constructor(readonly tried: BackendAttempt[]) {
    super(
      tried.length === 1
        ? `${tried[0]!.name}: ${tried[0]!.error}`
        : `no TensorFlow.js backend could start (${tried.map((t) => `${t.name}: ${t.error}`).join('; ')})`,
    );
  }
}

async function activate(name: BackendName, explicit: boolean): Promise<void> {
  switch (name) {
    case 'tensorflow-gpu':
      if (process.platform === 'linux' && !existsSync('/proc/driver/nvidia/version')) {
        // Without a driver the GPU build silently runs on the CPU; say so instead.
        throw new Error('no NVIDIA driver found (/proc/driver/nvidia/version is missing)');
      }
      await importOptional('@tensorflow/tfjs-node-gpu');
      await use('tensorflow');
      return;
    case 'webgpu':
      // Decided in a child first, so the driver stack's stderr noise stays out of this process.
      if (!tf.findBackendFactory('webgpu') && (process.platform !== 'linux' || vulkanDriverInstalled()))
        await assertWebGpuAdapterQuietly();
      await activateWebGpu(explicit);
      return;
    case 'tensorflow':
      await importOptional('@tensorflow/tfjs-node');
      await use('tensorflow');
      return;
    case 'wasm':
      if (!wasmPathsSet) {
        const dir = wasmDirectory();
        const missing = WASM_FILES.filter((f) => !existsSync(path.join(dir, f)));
        if (missing.length === WASM_FILES.length) throw new Error(`no .wasm binaries in ${dir}`);
        setWasmPaths(dir.endsWith(path.sep) ? dir : dir + path.sep);
        wasmPathsSet = true;
      }
      registerWasmTrainingKernels();
      await use('wasm');
      return;
    case 'cpu':
      await use('cpu');
      return;
  }
}

/** The GPU WebGPU found, for the label ("NVIDIA: 580.159.04"). */
let webGpuAdapter: string | undefined;

/** Dawn's `navigator.gpu` and its globals (GPUBufferUsage & co.), created once per process. */
export interface DawnWebGpu {
  gpu: GPU;
  globals: Record<string, unknown>;
}
let dawn: DawnWebGpu | undefined;

/** Software adapters (llvmpipe, SwiftShader) are slower than our wasm kernels: used only when asked for. */
export function softwareWebGpuAllowed(): boolean {
  return process.env.KAO_WEBGPU_SOFTWARE === '1';
}

/**
 * Loads Dawn (the optional `webgpu` package) and finds an adapter. A software rasteriser is refused
 * unless `allowSoftware` (an explicit `--backend webgpu` with KAO_WEBGPU_SOFTWARE=1: tests, curious users).
 */
export async function requestWebGpuAdapter(
  allowSoftware: boolean,
): Promise<{ dawn: DawnWebGpu; adapter: GPUAdapter; description: string }> {
  // Dawn talks to the GPU through Vulkan on Linux: without an installed driver it only prints warnings.
  if (process.platform === 'linux' && !vulkanDriverInstalled())
    throw new Error(
      'no Vulkan driver installed (no ICD file in /usr/share/vulkan/icd.d or /etc/vulkan/icd.d)',
    );
  if (!dawn) {
    const module = (await importOptional('webgpu')) as {
      create: (flags: string[]) => GPU;
      globals: Record<string, unknown>;
    };
    dawn = { gpu: module.create([]), globals: module.globals };
    // GPUBufferUsage & co. are globals in browsers; tfjs-backend-webgpu and our engine read them there.
    for (const [name, value] of Object.entries(dawn.globals)) {
      if (!(name in globalThis)) Object.defineProperty(globalThis, name, { value, configurable: true });
    }
  }
  const adapter = await dawn.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('no WebGPU adapter: no GPU with a Vulkan, Metal or Direct3D 12 driver');
  // `info` is newer than the @webgpu/types version tfjs pins.
  const info: Partial<Record<'vendor' | 'architecture' | 'device' | 'description', string>> =
    (adapter as unknown as { info?: Record<string, string> }).info ?? {};
  const description = info.description || info.device || info.architecture || info.vendor || 'unknown GPU';
  const software =
    (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true ||
    /llvmpipe|lavapipe|swiftshader|software/i.test(`${info.description} ${info.architecture}`);
  if (software && !allowSoftware)
    throw new Error(
      `only a software renderer was found (${description}); KAO_WEBGPU_SOFTWARE=1 with --backend webgpu uses it`,
    );
  return { dawn, adapter, description };
}

/**
 * WebGPU in Node: Dawn's `dawn.node` (the optional `webgpu` package) provides `navigator.gpu`, which
 * tfjs-backend-webgpu needs before it is imported. Only a hardware adapter counts unless chosen
 * explicitly with KAO_WEBGPU_SOFTWARE=1.
 */
async function activateWebGpu(explicit: boolean): Promise<void> {
  if (!tf.findBackendFactory('webgpu')) {
    const found = await requestWebGpuAdapter(explicit && softwareWebGpuAllowed());
    webGpuAdapter = found.description;
    // Node ≥ 21 has a `navigator`; define one where a runtime does not.
    if (!globalThis.navigator)
      Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true });
    Object.defineProperty(globalThis.navigator, 'gpu', { value: found.dawn.gpu, configurable: true });
    await import('@tensorflow/tfjs-backend-webgpu');
  }
  await use('webgpu');
}

/**
 * Lets go of the GPU: Dawn keeps Node's event loop alive while `navigator.gpu` is referenced, so a CLI
 * command that trained on WebGPU would never exit. Switches to the cpu backend first if webgpu is active.
 */
export async function releaseWebGpu(): Promise<void> {
  dawn = undefined;
  if (!tf.findBackendFactory('webgpu')) return;
  if (tf.getBackend() === 'webgpu') await tf.setBackend('cpu');
  tf.removeBackend('webgpu');
  if (globalThis.navigator && 'gpu' in globalThis.navigator)
    Reflect.deleteProperty(globalThis.navigator, 'gpu');
}

/** Vulkan's loader finds drivers through ICD manifests in these folders (or the override variables). */
function vulkanDriverInstalled(): boolean {
  if (process.env.VK_DRIVER_FILES || process.env.VK_ICD_FILENAMES) return true;
  const dataDirs = (process.env.XDG_DATA_DIRS || '/usr/local/share:/usr/share').split(':');
  const folders = ['/etc/vulkan/icd.d', ...dataDirs.map((d) => path.join(d, 'vulkan/icd.d'))];
  return folders.some((dir) => {
    try {
      return readdirSync(dir).some((f) => f.endsWith('.json'));
    } catch {
      return false;
    }
  });
}

async function use(backendName: string): Promise<void> {
  if (!tf.findBackendFactory(backendName)) throw new Error(`backend "${backendName}" is not registered`);
  const ok = await tf.setBackend(backendName);
  if (!ok || tf.getBackend() !== backendName)
    throw new Error(`backend "${backendName}" failed to initialise`);
  await tf.ready();
}

/** A dynamic import the bundler and TypeScript leave alone: these packages are optional. */
async function importOptional(specifier: string): Promise<unknown> {
  return import(/* @vite-ignore */ specifier);
}

function humanReason(name: BackendName, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: string } | undefined)?.code;
  const pkg = name === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
  if (
    code === 'ERR_MODULE_NOT_FOUND' ||
    code === 'MODULE_NOT_FOUND' ||
    /Cannot find (package|module)/.test(message)
  ) {
    if (name === 'webgpu' && /'webgpu'|"webgpu"|webgpu\b/.test(message))
      return 'the webgpu package is not installed';
    if (message.includes(pkg)) return `${pkg} is not installed`;
  }
  const lib = /(lib(?:cudart|cudnn|cublas|cublasLt|cufft|curand|cusolver|cusparse|nvinfer)[\w.-]*)/.exec(
    message,
  );
  if (lib)
    return `CUDA libraries not found (${lib[1]}): install the CUDA toolkit and cuDNN versions tfjs-node-gpu expects`;
  if (/libtensorflow[\w.-]*/.test(message))
    return `the native TensorFlow library failed to load (${/libtensorflow[\w.-]*/.exec(message)![0]}); reinstall ${pkg}`;
  if (/tfjs_binding\.node/.test(message))
    return `${pkg}'s native binding is missing or built for another Node/Electron version; rebuild it`;
  return message.split('\n')[0] ?? message;
}

function reasonFor(name: BackendName, preference: BackendPreference, tried: BackendAttempt[]): string {
  if (preference !== 'auto') return `${label(name)} (chosen explicitly)`;
  const skipped = tried.filter((t) => !t.ok).map((t) => `${t.name}: ${t.error}`);
  const why = skipped.length ? ` — ${skipped.join('; ')}` : '';
  return `${label(name)}${why}`;
}

function label(name: BackendName): string {
  switch (name) {
    case 'tensorflow-gpu':
      return 'native TensorFlow with CUDA (GPU)';
    case 'webgpu':
      return `WebGPU on ${webGpuAdapter ?? 'the GPU'} (Dawn)`;
    case 'tensorflow':
      return 'native TensorFlow on the CPU';
    case 'wasm': {
      const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? ' with SIMD' : '';
      // Which convolution engine runs: ours (relaxed-SIMD FMA where the runtime has it) or XNNPACK's.
      const igemm = tf.getBackend() === 'wasm' ? igemmFor(tf.backend()) : null;
      const convs = !igemm
        ? 'XNNPACK convolutions'
        : igemm.variant === 'fma'
          ? "Kao's fused multiply-add convolution kernels"
          : "Kao's SIMD convolution kernels (no relaxed SIMD here)";
      return `WebAssembly${simd} (${convs}, one thread per worker)`;
    }
    case 'cpu':
      return 'pure-JavaScript cpu backend (very slow for training)';
  }
}
