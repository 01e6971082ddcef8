/**
 * TensorFlow.js in the renderer: picks a backend (WebGL, else WebAssembly, else plain JS), builds the
 * generator from the weights file the explorer service wrote, renders faces and finds GANSpace directions.
 * Loaded with a dynamic import so tfjs stays out of the app's startup bundle.
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import simdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import threadedSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import type { GanConfig } from '../../../core/gan/config.ts';
import type { WeightRecord } from '../../../core/gan/models.ts';
import {
  computePrincipalDirections,
  type PrincipalDirections,
  type PrincipalDirectionsProgress,
} from '../../../core/explorer/directions.ts';
import {
  explorerGeneratorFromWeights,
  generateImages,
  type ExplorerGenerator,
  type RgbaImage,
} from '../../../core/explorer/generator.ts';
import type { Latent } from '../../../core/explorer/latent.ts';
import type { GeneratorManifest } from '../../../shared/explorer-schemas.ts';

export type RuntimeBackend = 'webgl' | 'wasm' | 'cpu';

export interface BackendChoice {
  name: RuntimeBackend;
  /** Why the faster ones were skipped, for the tooltip. */
  skipped: string[];
}

let backend: Promise<BackendChoice> | undefined;

/** WebGL when the GPU path works, else WebAssembly (SIMD), else the pure-JS backend. Chosen once. */
export function selectRuntimeBackend(): Promise<BackendChoice> {
  backend ??= (async () => {
    setWasmPaths({
      'tfjs-backend-wasm.wasm': wasmUrl,
      'tfjs-backend-wasm-simd.wasm': simdUrl,
      'tfjs-backend-wasm-threaded-simd.wasm': threadedSimdUrl,
    });
    const skipped: string[] = [];
    for (const name of ['webgl', 'wasm', 'cpu'] as const) {
      try {
        const problem = name === 'webgl' ? webglProblem() : undefined;
        if (problem) throw new Error(problem);
        if (!(await tf.setBackend(name))) throw new Error('could not initialise');
        await tf.ready();
        if (name === 'wasm') {
          // The training engine's wasm kernels: its Conv2DBackpropInput (the generator's transposed convs)
          // is several times faster than tfjs-wasm's stock loop. Browser-safe (tfjs only).
          const { registerWasmTrainingKernels } = await import('../../../core/gan/kernels/index.ts');
          registerWasmTrainingKernels();
        }
        // A real op: some WebGL contexts initialise and then fail on the first shader.
        const probe = tf.tidy(() =>
          tf.conv2dTranspose(
            tf.ones([1, 2, 2, 2]) as tf.Tensor4D,
            tf.ones([3, 3, 2, 2]) as tf.Tensor4D,
            [1, 4, 4, 2],
            2,
            'same',
          ),
        );
        await probe.data();
        probe.dispose();
        return { name, skipped };
      } catch (error) {
        skipped.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    throw new Error(`No TensorFlow.js backend works in this window (${skipped.join('; ')})`);
  })();
  return backend;
}

/** Why WebGL should not run the generator here (no context, or no GPU behind it), else undefined. */
function webglProblem(): string | undefined {
  try {
    const canvas = document.createElement('canvas');
    const gl = canvas.getContext('webgl2') ?? canvas.getContext('webgl');
    if (!gl) return 'WebGL is not available in this window';
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    // A software rasterizer runs the generator several times slower than WebAssembly does.
    return /swiftshader|llvmpipe|softpipe|software|basic render/i.test(renderer)
      ? `software rendering only (${renderer}), slower than WebAssembly`
      : undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/** The float32 weights file as the record `generatorFromWeights` takes (views, no copies). */
export function weightsFromBuffer(buffer: ArrayBuffer, manifest: GeneratorManifest): WeightRecord {
  if (buffer.byteLength !== manifest.byteLength) {
    throw new Error(`The weights file has ${buffer.byteLength} bytes, expected ${manifest.byteLength}.`);
  }
  const weights: WeightRecord = {};
  for (const t of manifest.tensors) {
    weights[t.name] = { shape: t.shape, data: new Float32Array(buffer, t.byteOffset, t.length) };
  }
  return weights;
}

export class GeneratorRuntime {
  private constructor(
    readonly manifest: GeneratorManifest,
    readonly backend: BackendChoice,
    private readonly generator: ExplorerGenerator,
  ) {}

  get zDim(): number {
    return this.generator.zDim;
  }
  get imageSize(): number {
    return this.generator.imageSize;
  }

  /** Fetches the weights through the media URL and builds the generator on the chosen backend. */
  static async load(
    manifest: GeneratorManifest,
    url: string,
    signal?: AbortSignal,
  ): Promise<GeneratorRuntime> {
    const choice = await selectRuntimeBackend();
    const response = await fetch(url, { signal });
    if (!response.ok) throw new Error(`The generator weights could not be loaded (HTTP ${response.status}).`);
    const weights = weightsFromBuffer(await response.arrayBuffer(), manifest);
    const generator = explorerGeneratorFromWeights(manifest.config as unknown as GanConfig, weights);
    return new GeneratorRuntime(manifest, choice, generator);
  }

  /** Faces for the latents, as RGBA pixels at the model's size (one batched forward). */
  render(latents: readonly Latent[]): Promise<RgbaImage[]> {
    return generateImages(this.generator, latents);
  }

  /** GANSpace directions of this checkpoint; yields between batches so the UI stays responsive. */
  directions(options: {
    samples?: number;
    components?: number;
    onProgress?: (progress: PrincipalDirectionsProgress) => void;
    signal?: AbortSignal;
  }): Promise<PrincipalDirections> {
    return computePrincipalDirections(this.generator.project, this.generator.zDim, options);
  }

  dispose(): void {
    this.generator.dispose();
  }
}

/** Paints an RGBA image into a canvas at the image's own size (CSS scales it up smoothly). */
export function paint(canvas: HTMLCanvasElement, image: RgbaImage): void {
  if (canvas.width !== image.width) canvas.width = image.width;
  if (canvas.height !== image.height) canvas.height = image.height;
  const context = canvas.getContext('2d');
  if (!context) return;
  context.putImageData(new ImageData(new Uint8ClampedArray(image.data), image.width, image.height), 0, 0);
}
