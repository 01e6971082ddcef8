import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { BackendUnavailableError, selectBackend, wasmDirectory } from '../../../src/core/gan/backend.ts';
import type { BackendPreference } from '../../../src/shared/contract-base.ts';

describe('selectBackend', () => {
  it('finds the wasm binaries in the installed package', () => {
    expect(existsSync(join(wasmDirectory(), 'tfjs-backend-wasm-simd.wasm'))).toBe(true);
  });

  it('auto falls through the missing native packages to wasm and says why', async () => {
    const info = await selectBackend('auto');
    expect(info.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.tried.map((t) => [t.name, t.ok])).toEqual([
      ['tensorflow-gpu', false],
      ['webgpu', false],
      ['tensorflow', false],
      ['wasm', true],
    ]);
    // No GPU driver on this machine, and @tensorflow/tfjs-node is an optional dependency not installed here.
    expect(info.tried[0]!.error).toMatch(/NVIDIA driver|tfjs-node-gpu is not installed|CUDA/);
    // No Vulkan driver (CI) or only a software one (llvmpipe): WebGPU is skipped with the reason.
    expect(info.tried[1]!.error).toMatch(/no Vulkan driver installed|no WebGPU adapter|software renderer/);
    expect(info.tried[2]!.error).toBe('@tensorflow/tfjs-node is not installed');
    expect(info.reason).toMatch(/^WebAssembly with SIMD/);
    expect(info.reason).toContain('@tensorflow/tfjs-node is not installed');
    // And it computes.
    expect(
      Array.from(
        tf
          .tidy(() =>
            tf.conv2d(tf.ones([1, 4, 4, 1]) as tf.Tensor4D, tf.ones([3, 3, 1, 1]) as tf.Tensor4D, 1, 'same'),
          )
          .dataSync(),
      ),
    ).toEqual([4, 6, 6, 4, 6, 9, 9, 6, 6, 9, 9, 6, 4, 6, 6, 4]);
  });

  it('an explicit backend that cannot run is an error with the reason, and changes nothing', async () => {
    await selectBackend('wasm');
    const error = await selectBackend('tensorflow').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect((error as Error).message).toBe('tensorflow: @tensorflow/tfjs-node is not installed');
    expect((error as BackendUnavailableError).tried).toHaveLength(1);
    expect(tf.getBackend()).toBe('wasm');
  });

  it('webgpu without a GPU: Dawn really loads, finds no hardware adapter, and the reason says so', async () => {
    await selectBackend('wasm');
    // Past the "no Vulkan driver" shortcut: a driver manifest that names no driver makes Dawn search.
    const saved = process.env.VK_DRIVER_FILES;
    process.env.VK_DRIVER_FILES = join(import.meta.dirname, 'no-such-vulkan-driver.json');
    try {
      const error = await selectBackend('webgpu').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BackendUnavailableError);
      expect((error as Error).message).toMatch(/^webgpu: (no WebGPU adapter|only a software renderer)/);
      expect(tf.getBackend()).toBe('wasm');
      expect(tf.findBackendFactory('webgpu')).toBeNull();
      expect('gpu' in globalThis.navigator).toBe(false);
    } finally {
      if (saved === undefined) delete process.env.VK_DRIVER_FILES;
      else process.env.VK_DRIVER_FILES = saved;
    }
  });

  it('switches to the pure-JS backend when asked', async () => {
    const info = await selectBackend('cpu');
    expect(info).toMatchObject({ name: 'cpu', tried: [{ name: 'cpu', ok: true }] });
    expect(info.reason).toMatch(/chosen explicitly/);
    await selectBackend('wasm');
  });

  it('rejects an unknown preference', async () => {
    await expect(selectBackend('gpu' as BackendPreference)).rejects.toThrow(/unknown backend "gpu"/);
  });
});
