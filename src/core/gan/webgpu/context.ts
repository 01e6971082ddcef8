/// <reference types="@webgpu/types" />
/**
 * The engine's hold on one GPUDevice: buffers it created (counted, so tests see leaks), a cache of
 * compute pipelines by WGSL source, and `Dispatch`es — a pipeline with its bind group and grid, built
 * once when a trainer is created and encoded into every step's command buffer without new objects.
 */
import { requestWebGpuAdapter, softwareWebGpuAllowed } from '../backend.ts';

/** A storage buffer the kernels bind by name; `size` in floats. */
export interface GpuBuffer {
  readonly name: string;
  readonly buffer: GPUBuffer;
  readonly size: number;
}

export interface Dispatch {
  readonly label: string;
  readonly pipeline: GPUComputePipeline;
  readonly bindGroup: GPUBindGroup;
  readonly grid: readonly [number, number, number];
}

/** A buffer a kernel binds; `write` ones are bound read_write. */
export interface Binding {
  readonly buffer: GpuBuffer;
  readonly write: boolean;
}

/** WebGPU's usage flags (globals in a browser; Dawn defines them on globalThis, see backend.ts). */
const usage = () => (globalThis as unknown as { GPUBufferUsage: Record<string, number> }).GPUBufferUsage;
const mapMode = () => (globalThis as unknown as { GPUMapMode: Record<string, number> }).GPUMapMode;

export class GpuContext {
  #pipelines = new Map<string, GPUComputePipeline>();
  #live = new Set<GPUBuffer>();
  #uniforms: GPUBuffer[] = [];
  #destroyed = false;

  private constructor(
    readonly device: GPUDevice,
    /** The adapter, in words ("NVIDIA: 580.159.04", "SwiftShader Device"). */
    readonly adapter: string,
  ) {}

  /**
   * A device of its own on the adapter backend.ts finds (a software one only with KAO_WEBGPU_SOFTWARE=1),
   * with the adapter's storage limits: the engine binds up to 8 buffers of up to a few hundred MB.
   */
  static async create(): Promise<GpuContext> {
    const { adapter, description } = await requestWebGpuAdapter(softwareWebGpuAllowed());
    const limits = adapter.limits;
    const device = await adapter.requestDevice({
      requiredLimits: {
        maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
        maxBufferSize: limits.maxBufferSize,
        maxStorageBuffersPerShaderStage: Math.min(limits.maxStorageBuffersPerShaderStage, 10),
        maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      },
    });
    return new GpuContext(device, description);
  }

  /** Buffers created and not yet destroyed (the leak check of the tests). */
  get liveBuffers(): number {
    return this.#live.size;
  }

  get pipelineCount(): number {
    return this.#pipelines.size;
  }

  /** A zero-filled storage buffer of `floats` float32s (at least one, WebGPU has no empty bindings). */
  storage(name: string, floats: number): GpuBuffer {
    const limit = this.device.limits.maxStorageBufferBindingSize;
    if (floats * 4 > limit)
      throw new Error(`${name} needs ${floats * 4} bytes, over this GPU's storage binding limit of ${limit}`);
    const u = usage();
    const buffer = this.device.createBuffer({
      label: name,
      size: Math.max(4, floats * 4),
      usage: u.STORAGE! | u.COPY_SRC! | u.COPY_DST!,
    });
    this.#live.add(buffer);
    return { name, buffer, size: floats };
  }

  /** A host-readable buffer for asynchronous read-backs. */
  staging(name: string, floats: number): GPUBuffer {
    const u = usage();
    const buffer = this.device.createBuffer({
      label: name,
      size: Math.max(4, floats * 4),
      usage: u.MAP_READ! | u.COPY_DST!,
    });
    this.#live.add(buffer);
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    if (this.#live.delete(buffer)) buffer.destroy();
  }

  write(target: GpuBuffer, data: Float32Array, offsetFloats = 0): void {
    if (offsetFloats + data.length > target.size)
      throw new Error(
        `${target.name}: writing ${data.length} floats at ${offsetFloats} overflows ${target.size}`,
      );
    this.device.queue.writeBuffer(
      target.buffer,
      offsetFloats * 4,
      data.buffer,
      data.byteOffset,
      data.byteLength,
    );
  }

  /** Copies `floats` values of `source` from `offset` to the host (a blocking read-back: setup and checkpoints). */
  async read(source: GpuBuffer, offset = 0, floats = source.size - offset): Promise<Float32Array> {
    const staging = this.staging(`${source.name}.read`, floats);
    try {
      const encoder = this.device.createCommandEncoder();
      encoder.copyBufferToBuffer(source.buffer, offset * 4, staging, 0, floats * 4);
      this.device.queue.submit([encoder.finish()]);
      await staging.mapAsync(mapMode().READ!);
      return new Float32Array(staging.getMappedRange().slice(0));
    } finally {
      this.release(staging);
    }
  }

  /**
   * Compiles (or reuses) the pipeline of a WGSL source and binds `bindings` in order as @binding(0…);
   * with `uniform`, a uniform buffer holding it is @binding(0) and the storage buffers follow.
   */
  dispatch(
    label: string,
    code: string,
    bindings: Binding[],
    grid: [number, number, number],
    uniform?: ArrayBuffer,
  ): Dispatch {
    let pipeline = this.#pipelines.get(code);
    if (!pipeline) {
      const module = this.device.createShaderModule({ label, code });
      pipeline = this.device.createComputePipeline({
        label,
        layout: 'auto',
        compute: { module, entryPoint: 'main' },
      });
      this.#pipelines.set(code, pipeline);
    }
    const entries: GPUBindGroupEntry[] = [];
    if (uniform) {
      const u = usage();
      const buffer = this.device.createBuffer({
        label: `${label}.uniform`,
        size: uniform.byteLength,
        usage: u.UNIFORM! | u.COPY_DST!,
      });
      this.#live.add(buffer);
      this.#uniforms.push(buffer);
      this.device.queue.writeBuffer(buffer, 0, uniform);
      entries.push({ binding: 0, resource: { buffer } });
    }
    for (const b of bindings)
      entries.push({ binding: entries.length, resource: { buffer: b.buffer.buffer } });
    const bindGroup = this.device.createBindGroup({ label, layout: pipeline.getBindGroupLayout(0), entries });
    for (const size of grid)
      if (!(size >= 1 && size <= 65535 && Number.isInteger(size)))
        throw new Error(`${label}: workgroup grid [${grid}] out of range`);
    return { label, pipeline, bindGroup, grid };
  }

  /** Frees the uniform buffers dispatches made (with the buffers of the network they belong to). */
  releaseUniforms(): void {
    for (const b of this.#uniforms) this.release(b);
    this.#uniforms = [];
  }

  /** Collects validation errors (a WGSL compile error, a bad binding) of what `build` creates, and throws the first. */
  async validated<T>(build: () => T): Promise<T> {
    this.device.pushErrorScope('validation');
    let result: T | undefined;
    let thrown: unknown;
    try {
      result = build();
    } catch (error) {
      thrown = error;
    }
    const error = await this.device.popErrorScope();
    if (error) throw new Error(`WebGPU: ${error.message}`);
    if (thrown !== undefined) throw thrown;
    return result as T;
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const buffer of this.#live) buffer.destroy();
    this.#live.clear();
    this.#pipelines.clear();
    this.device.destroy();
  }
}

/** Encodes dispatches into one compute pass (WebGPU orders them and makes each one's writes visible). */
export function encodeDispatches(encoder: GPUCommandEncoder, dispatches: readonly Dispatch[]): void {
  const pass = encoder.beginComputePass();
  for (const d of dispatches) {
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, d.bindGroup);
    pass.dispatchWorkgroups(d.grid[0], d.grid[1], d.grid[2]);
  }
  pass.end();
}

/** Binding names and WGSL declarations for a kernel's buffers (deduplicated; read_write if any use writes). */
export function declareBindings(uses: Binding[]): {
  bindings: Binding[];
  names: Map<GpuBuffer, string>;
  wgsl: string;
} {
  const bindings: Binding[] = [];
  const names = new Map<GpuBuffer, string>();
  for (const use of uses) {
    const i = bindings.findIndex((b) => b.buffer === use.buffer);
    if (i >= 0) {
      if (use.write && !bindings[i]!.write) bindings[i] = use;
    } else {
      bindings.push(use);
      names.set(use.buffer, `b${bindings.length - 1}`);
    }
  }
  const wgsl = bindings
    .map(
      (b, i) =>
        `@group(0) @binding(${i}) var<storage, ${b.write ? 'read_write' : 'read'}> b${i}: array<f32>;`,
    )
    .join('\n');
  return { bindings, names, wgsl };
}

/**
 * A kernel whose WGSL is generated for its buffers: `uses` are declared in order (deduplicated, see
 * declareBindings) and `source` writes the kernel from their binding names and declarations.
 */
export function kernelDispatch(
  ctx: GpuContext,
  label: string,
  uses: Binding[],
  source: (names: Map<GpuBuffer, string>, declarations: string) => string,
  grid: [number, number, number],
): Dispatch {
  const { bindings, names, wgsl } = declareBindings(uses);
  return ctx.dispatch(label, source(names, wgsl), bindings, grid);
}

/** A WGSL f32 literal. */
export function f32(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`not a finite float: ${x}`);
  const s = String(Math.fround(x));
  return /[.e]/.test(s) ? `f32(${s})` : `f32(${s}.0)`;
}
