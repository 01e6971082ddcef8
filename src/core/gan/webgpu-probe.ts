/**
 * Asks Dawn for a WebGPU adapter in a short-lived child process before Dawn is loaded into this one.
 * Loading `dawn.node` and creating a Vulkan instance makes the driver stack print to the process's own
 * stderr (file descriptor 2, out of Node's reach): "XDG_RUNTIME_DIR is invalid", Vulkan loader warnings,
 * Dawn errors with their C++ source location. In the child that output is captured and summarised in the
 * reason, so a machine without a usable GPU never sees it; Dawn is loaded here only when the child found one.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

export interface WebGpuProbeResult {
  /** The adapter Dawn offers, or undefined when it offers none. */
  adapter?: { description: string; software: boolean };
  /** What the driver stack printed, summarised in one line (undefined when it printed nothing). */
  driverOutput?: string;
}

/** Long enough for a cold driver load on a slow disk; a hung driver must not hang the backend choice. */
const PROBE_TIMEOUT_MS = 20_000;

/** The child: load Dawn, ask for the adapter the trainer would get, print it as JSON, exit at once. */
const PROBE_SCRIPT = `
const dawn = await import(process.argv[1]);
const adapter = await dawn.create([]).requestAdapter({ powerPreference: 'high-performance' });
const info = adapter ? (adapter.info ?? {}) : undefined;
const answer = adapter
  ? { description: info.description || info.device || info.architecture || info.vendor || 'unknown GPU',
      software: adapter.isFallbackAdapter === true ||
        /llvmpipe|lavapipe|swiftshader|software/i.test((info.description ?? '') + ' ' + (info.architecture ?? '')) }
  : null;
process.stdout.write(JSON.stringify({ adapter: answer }), () => process.exit(0));
`;

/**
 * Runs the probe. Throws the module-not-found error when the optional `webgpu` package is missing (the
 * caller words it), and an Error with a reason when the child fails or hangs.
 */
export async function probeWebGpu(): Promise<WebGpuProbeResult> {
  const entry = pathToFileURL(createRequire(import.meta.url).resolve('webgpu')).href;
  const child = spawn(process.execPath, ['--input-type=module', '-e', PROBE_SCRIPT, entry], {
    // Under Electron (a utility process) the executable is Electron: make it behave as Node.
    env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
    windowsHide: true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), PROBE_TIMEOUT_MS);
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('error', () => resolve({ code: null, signal: null }));
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  clearTimeout(timer);
  const driverOutput = summariseDriverOutput(stderr);
  const said = driverOutput ? ` (${driverOutput})` : '';
  if (exit.signal === 'SIGKILL')
    throw new Error(`the WebGPU probe did not answer in ${PROBE_TIMEOUT_MS / 1000} s${said}`);
  let parsed: { adapter: { description: string; software: boolean } | null } | undefined;
  try {
    parsed = JSON.parse(stdout) as typeof parsed;
  } catch {
    parsed = undefined;
  }
  if (exit.code !== 0 || !parsed)
    throw new Error(`loading Dawn failed (exit ${exit.signal ?? exit.code})${said}`);
  return {
    ...(parsed.adapter ? { adapter: parsed.adapter } : {}),
    ...(driverOutput ? { driverOutput } : {}),
  };
}

/**
 * One line from what Vulkan, Mesa and Dawn printed: the last message (usually the conclusion, such as
 * "vkCreateInstance failed with VK_ERROR_INCOMPATIBLE_DRIVER" or "Vulkan shaderUniform*ArrayDynamicIndexing
 * required."), and how many others there were. Stack frames, context lines and source locations are dropped.
 */
export function summariseDriverOutput(stderr: string): string | undefined {
  const messages: string[] = [];
  for (const raw of stderr.split(/\r?\n/)) {
    const line = raw
      .trim()
      .replace(/^(warning|error|info)\s*:\s*/i, '')
      .trim();
    // Stack frames ("at …") and Dawn's context lines ("- While initializing adapter …") are not the message.
    if (!line || /^(at\s|-\s)/.test(line) || messages.includes(line)) continue;
    messages.push(line.length > 160 ? `${line.slice(0, 157)}…` : line);
  }
  if (messages.length === 0) return undefined;
  const last = messages[messages.length - 1]!;
  const others = messages.length - 1;
  return others === 0
    ? `driver said: ${last}`
    : `driver said: ${last}, and ${others} more message${others === 1 ? '' : 's'}`;
}

/**
 * Throws the reason when the probe finds no adapter, or only a software renderer (not wanted unless
 * KAO_WEBGPU_SOFTWARE=1), so Dawn is never loaded into this process for nothing.
 */
export async function assertWebGpuAdapterQuietly(): Promise<void> {
  const probe = await probeWebGpu();
  const said = probe.driverOutput ? ` (${probe.driverOutput})` : '';
  if (!probe.adapter)
    throw new Error(`no WebGPU adapter: no GPU with a Vulkan, Metal or Direct3D 12 driver${said}`);
  if (probe.adapter.software && process.env.KAO_WEBGPU_SOFTWARE !== '1')
    throw new Error(
      `only a software renderer was found (${probe.adapter.description}); KAO_WEBGPU_SOFTWARE=1 with --backend webgpu uses it`,
    );
}
