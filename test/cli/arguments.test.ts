import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendChoices } from '../../src/cli/options.ts';
import { backendNames } from '../../src/core/gan/backend.ts';
import { summariseDriverOutput } from '../../src/core/gan/webgpu-probe.ts';
import { facesDir } from '../helpers/shared-data.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';

const repoRoot = resolve(import.meta.dirname, '../..');

/**
 * A Vulkan driver manifest whose library does not exist: the Vulkan loader and Dawn then print what they
 * print on a desktop whose driver cannot start (warnings with Dawn's source location), the noise the CLI
 * must keep to itself.
 */
let brokenDriverEnv: Record<string, string>;

function kao(args: string[], env: Record<string, string> = {}) {
  const child = spawn(join(repoRoot, 'node_modules/.bin/node'), [join(repoRoot, 'bin/kao.js'), ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...brokenDriverEnv, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((settle) =>
    child.on('close', (code) => settle({ code, stdout, stderr })),
  );
}

describe('kao arguments and backend probing', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };

  beforeAll(async () => {
    tmp = await makeTempDir('kao-cli-args-');
    const icd = join(tmp.dir, 'broken_icd.json');
    await writeFile(
      icd,
      JSON.stringify({
        file_format_version: '1.0.0',
        ICD: { library_path: join(tmp.dir, 'libvulkan_missing.so'), api_version: '1.3.0' },
      }),
    );
    brokenDriverEnv = { VK_ICD_FILENAMES: icd, VK_DRIVER_FILES: icd };
  });
  afterAll(() => tmp.cleanup());

  it('refuses bad values with exit 2 and the allowed values, before any backend is loaded', async () => {
    const run = join(tmp.dir, 'run');
    const cases: Array<[string[], RegExp]> = [
      [
        ['train', '--data', facesDir, '--run', run, '--steps', '-5'],
        /^kao train: --steps must be a whole number ≥ 1, got "-5"\n$/,
      ],
      [
        ['train', '--data', facesDir, '--run', run, '--steps', 'ten'],
        /^kao train: --steps must be a whole number ≥ 1, got "ten"\n$/,
      ],
      [
        ['train', '--data', facesDir, '--run', run, '--backend', 'gpu'],
        /^kao train: --backend must be one of auto, tensorflow-gpu, webgpu, tensorflow, wasm, cpu, got "gpu"\n$/,
      ],
      [
        ['train', '--data', facesDir, '--run', run, '--preset', 'big'],
        /--preset must be one of kao-48, anime-48, dcgan-64, tiny, got "big"/,
      ],
      [['train', '--data', facesDir, '--run', run, '--lr', '0'], /--lr must be a number > 0.*, got "0"/],
      [
        ['train', '--data', facesDir, '--run', run, '--patience', '2000'],
        /^kao train: --patience needs --swd-every N \(the SWD it waits on\)\n$/,
      ],
      [
        ['faces', '--in', tmp.dir, '--out', join(tmp.dir, 'f'), '--size', '100'],
        /^kao faces: --size must be one of 64, 96, 128, got "100"\n$/,
      ],
      [
        ['faces', '--in', tmp.dir, '--out', join(tmp.dir, 'f'), '--margin', '5'],
        /--margin must be a number from 0 to 1, got "5"/,
      ],
      [
        ['faces', '--in', tmp.dir, '--out', join(tmp.dir, 'f'), '--workers', '0'],
        /--workers must be a whole number from 1 to 64, got "0"/,
      ],
      [
        ['sample', '--run', run, '--out', join(tmp.dir, 'x.png'), '--backend', 'nope'],
        /--backend must be one of auto, /,
      ],
      [['eval', '--run', run, '--real', facesDir, '--n', '1'], /--n must be a whole number ≥ 2, got "1"/],
    ];
    const results = await Promise.all(cases.map(([args]) => kao(args)));
    results.forEach((result, i) => {
      expect(result.code, cases[i]![0].join(' ')).toBe(2);
      expect(result.stderr).toMatch(cases[i]![1]);
      expect(result.stderr).not.toMatch(/Warning|vkCreateInstance|Dawn|backend:/);
    });
  }, 240_000);

  it('keeps Dawn and Vulkan output out of the terminal and says it in the backend reason', async () => {
    const result = await kao([
      'train',
      '--data',
      facesDir,
      '--run',
      join(tmp.dir, 'run-webgpu'),
      '--backend',
      'webgpu',
    ]);
    expect(result.code).toBe(1);
    // One line: the reason, with the driver's own conclusion summarised; no raw warnings, no C++ locations.
    expect(result.stderr).toMatch(
      /^kao train: --backend: webgpu: no WebGPU adapter: no GPU with a Vulkan, Metal or Direct3D 12 driver \(driver said: vkCreateInstance failed with VK_ERROR_INCOMPATIBLE_DRIVER, and \d+ more messages\)\n$/,
    );
    expect(result.stderr).not.toMatch(/^Warning|\.cpp:\d+/m);
  }, 120_000);

  it('lists every backend the core knows, and summarises driver output in one line', () => {
    expect([...backendChoices]).toEqual(['auto', ...backendNames]);
    // What Dawn prints on a machine whose only Vulkan driver is Mesa's software one (lavapipe), headless.
    expect(
      summariseDriverOutput(
        'error: XDG_RUNTIME_DIR is invalid or not set in the environment.\n' +
          'error: XDG_RUNTIME_DIR is invalid or not set in the environment.\n' +
          'Warning: Vulkan shaderUniform*ArrayDynamicIndexing required.\n' +
          ' - While initializing adapter (backend=BackendType::Vulkan)\n' +
          '    at InitializeImpl (/dawn/src/dawn/native/vulkan/PhysicalDeviceVk.cpp:257)\n',
      ),
    ).toBe('driver said: Vulkan shaderUniform*ArrayDynamicIndexing required., and 1 more message');
    expect(summariseDriverOutput('\n  \n')).toBeUndefined();
  });
});
