import { existsSync } from 'node:fs';

/** Debian's chromium ships SwiftShader, a CPU Vulkan driver: correct (if slow) WebGPU everywhere. */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const VULKAN_LOADERS = [
  '/usr/lib/x86_64-linux-gnu/libvulkan.so.1',
  '/usr/lib/aarch64-linux-gnu/libvulkan.so.1',
];

/**
 * Points Dawn at SwiftShader and allows a software adapter (KAO_WEBGPU_SOFTWARE=1); returns why the
 * WebGPU tests cannot run here, or undefined when they can.
 */
export function useSoftwareWebGpu(): string | undefined {
  if (!existsSync(SWIFTSHADER_ICD))
    return `no Vulkan ICD file at ${SWIFTSHADER_ICD} (apt-get install chromium provides SwiftShader)`;
  if (!VULKAN_LOADERS.some((p) => existsSync(p))) return 'no Vulkan loader (apt-get install libvulkan1)';
  process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  process.env.KAO_WEBGPU_SOFTWARE = '1';
  return undefined;
}
