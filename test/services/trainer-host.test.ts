import { afterEach, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { TrainerHost } from '../../src/services/trainer-host.ts';
import { nodeTrainerLauncher } from '../../src/services/node-trainer-launcher.ts';
import type { TrainerStatus } from '../../src/shared/contract.ts';
import { KaoError } from '../../src/shared/errors.ts';

const fixture = (name: string): string =>
  fileURLToPath(new URL(`../fixtures/trainers/${name}.ts`, import.meta.url));
const hosts: TrainerHost[] = [];
function makeHost(entry?: string, statuses: TrainerStatus[] = []): TrainerHost {
  const host = new TrainerHost({
    launch: nodeTrainerLauncher(entry),
    readyTimeoutMs: 30_000,
    exitTimeoutMs: 1500,
    onStatus: (s) => statuses.push(s),
  });
  hosts.push(host);
  return host;
}
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.shutdown(1000)));
});

describe('TrainerHost with the real trainer process', () => {
  it('runs a real tfjs training step on the cpu backend and leaks no tensors', async () => {
    const statuses: TrainerStatus[] = [];
    const host = makeHost(undefined, statuses);
    const result = await host.request<{
      backend: { name: string };
      loss: number;
      numTensorsBefore: number;
      numTensorsAfter: number;
    }>({ type: 'selfTest', backend: 'cpu' }, 60_000);
    expect(result.backend.name).toBe('cpu');
    expect(Number.isFinite(result.loss)).toBe(true);
    expect(result.loss).toBeGreaterThan(0);
    expect(result.numTensorsAfter).toBe(result.numTensorsBefore);
    expect(host.status.backend?.name).toBe('cpu');
    expect(statuses.map((s) => s.state)).toContain('idle');
  });

  it('runs the same step on wasm, the backend with the custom gradient kernels', async () => {
    const host = makeHost();
    const result = await host.request<{ backend: { name: string }; loss: number }>(
      { type: 'selfTest', backend: 'wasm' },
      60_000,
    );
    expect(result.backend.name).toBe('wasm');
    expect(Number.isFinite(result.loss)).toBe(true);
  });

  it('answers a request outside the contract with invalid-input, and shuts down cleanly', async () => {
    const statuses: TrainerStatus[] = [];
    const host = makeHost(undefined, statuses);
    await host.ensureStarted();
    // A job that does not fit the contract (a stale run.json's options, say) is refused at once, not
    // left to time out, and the trainer lives on.
    const job = { runDir: '/nowhere', faces: ['/nowhere/a.png'], options: { preset: 'tiny' } };
    const refused = await host.request({ type: 'start', job } as never, 20_000).catch((e: unknown) => e);
    expect(refused).toMatchObject({
      code: 'invalid-input',
      message: expect.stringMatching(/malformed message/),
    });
    expect(host.status.state).toBe('idle');
    await host.shutdown();
    expect(host.status.state).toBe('stopped');
    expect(host.status.lastCrash).toBeUndefined();
  });
});

describe('TrainerHost with misbehaving trainers', () => {
  it('reports a crash, fails the pending request, and does not restart silently', async () => {
    const statuses: TrainerStatus[] = [];
    const host = makeHost(fixture('crash-after-ready'), statuses);
    const error = await host.request({ type: 'selfTest', backend: 'cpu' }, 20_000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KaoError);
    expect((error as KaoError).code).toBe('trainer-crashed');
    expect(host.status.state).toBe('crashed');
    expect(host.status.lastCrash).toMatch(/stopped unexpectedly \(killed by SIGKILL\)/);
    await new Promise((r) => setTimeout(r, 300));
    expect(statuses.at(-1)?.state).toBe('crashed');
  });

  it('times out a request to a hung trainer and kills it on shutdown', async () => {
    const host = makeHost(fixture('hang'));
    const error = await host.request({ type: 'selfTest', backend: 'cpu' }, 500).catch((e: unknown) => e);
    expect((error as KaoError).message).toMatch(/did not answer within/);
    const pid = host.status.pid!;
    await host.shutdown(500);
    expect(() => process.kill(pid, 0)).toThrow();
    expect(host.status.state).toBe('stopped');
  });

  it('stops a trainer that sends a malformed message and says why', async () => {
    const host = makeHost(fixture('garbage'));
    const error = await host.request({ type: 'selfTest', backend: 'cpu' }, 20_000).catch((e: unknown) => e);
    expect((error as KaoError).code).toBe('trainer-crashed');
    expect(host.status.lastCrash).toMatch(/malformed message/);
  });
});
