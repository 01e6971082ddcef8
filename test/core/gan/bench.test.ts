import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { benchCommand } from '../../../src/cli/commands/bench.ts';
import type { CliIO } from '../../../src/cli/command.ts';
import { layerFlops, median, trainingStepFlops } from '../../../src/core/gan/bench.ts';
import { resolveGanConfig } from '../../../src/core/gan/config.ts';

function captureIO(json: boolean): { io: CliIO; stdout: () => string; stderr: () => string } {
  const out = new PassThrough();
  const err = new PassThrough();
  let o = '';
  let e = '';
  out.on('data', (d: Buffer) => (o += d.toString()));
  err.on('data', (d: Buffer) => (e += d.toString()));
  return { io: { stdout: out, stderr: err, json }, stdout: () => o, stderr: () => e };
}

describe('FLOP accounting', () => {
  it('counts the anime-48 layers from their shapes', () => {
    const { generator, discriminator } = layerFlops(resolveGanConfig('anime-48'));
    // 5×5 stride-2 layers: e.g. D conv1 reads 24×24×64 and writes 12×12×128.
    expect(discriminator.map((l) => l.flops)).toEqual([
      2 * 24 * 24 * 25 * 3 * 64,
      2 * 12 * 12 * 25 * 64 * 128,
      2 * 6 * 6 * 25 * 128 * 256,
      2 * 3 * 3 * 25 * 256 * 512,
      2 * 3 * 3 * 512,
    ]);
    expect(generator.map((l) => l.flops)).toEqual([
      2 * 100 * 3 * 3 * 512,
      2 * 3 * 3 * 25 * 512 * 256,
      2 * 6 * 6 * 25 * 256 * 128,
      2 * 12 * 12 * 25 * 128 * 64,
      2 * 24 * 24 * 25 * 64 * 3,
    ]);
  });

  it('gives ~140 GFLOP for one D and one G update at batch 64, and adds one G update per extra G step', () => {
    const config = resolveGanConfig('anime-48');
    const oneToOne = trainingStepFlops(config, 64, 1);
    expect(oneToOne / 1e9).toBeCloseTo(139.616, 2);
    const gUpdate = trainingStepFlops(config, 64, 2) - oneToOne;
    const { generator, discriminator } = layerFlops(config);
    const g = generator.reduce((s, l) => s + l.flops, 0);
    const d = discriminator.reduce((s, l) => s + l.flops, 0);
    // G forward + D forward + D input grads + G weight grads + G input grads (no dense input grad).
    expect(gUpdate).toBe(64 * (3 * g - generator[0]!.flops + 2 * d));
    expect(trainingStepFlops(config, 32, 1)).toBe(oneToOne / 2);
  });

  it('takes the median of odd and even lists', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
});

describe('kao bench', () => {
  it('prints JSON rows for a real (tiny) training run on wasm with two workers', async () => {
    const { io, stdout } = captureIO(true);
    const code = await benchCommand.run(
      [
        '--preset',
        'tiny',
        '--backend',
        'wasm',
        '--workers',
        '2',
        '--steps',
        '2',
        '--warmup',
        '1',
        '--batch',
        '8',
      ],
      io,
    );
    expect(code).toBe(0);
    const rows = JSON.parse(stdout()) as Array<Record<string, unknown>>;
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(Object.keys(row).sort()).toEqual(
      [
        'backend',
        'batch',
        'gStepsPerD',
        'gflopsPerSec',
        'gflopsPerStep',
        'imagesPerSec',
        'msPerStep',
        'preset',
        'workers',
      ].sort(),
    );
    expect(row).toMatchObject({ backend: 'wasm', preset: 'tiny', batch: 8, workers: 2, gStepsPerD: 1 });
    expect(row.gflopsPerStep).toBeCloseTo(trainingStepFlops(resolveGanConfig('tiny'), 8) / 1e9, 9);
    expect(row.imagesPerSec as number).toBeGreaterThan(0);
    expect(row.gflopsPerSec as number).toBeCloseTo(
      ((row.gflopsPerStep as number) * 1000) / (row.msPerStep as number),
      6,
    );
  });

  it('prints a table and skips the backends this machine lacks, saying why', async () => {
    const { io, stdout, stderr } = captureIO(false);
    const code = await benchCommand.run(
      ['--preset', 'tiny', '--steps', '1', '--warmup', '0', '--batch', '4', '--workers', '1'],
      io,
    );
    expect(code).toBe(0);
    expect(stderr()).toMatch(/skipping tensorflow: @tensorflow\/tfjs-node is not installed/);
    const lines = stdout().trim().split('\n');
    expect(lines[0]).toMatch(
      /^backend\s+preset\s+batch\s+workers\s+G steps\s+images\/s\s+ms\/step\s+GFLOP\/step\s+GFLOP\/s$/,
    );
    expect(lines.slice(2).map((l) => l.split(/\s+/)[0])).toEqual(['wasm', 'cpu']);
  });

  it('rejects bad options with a usage error', async () => {
    const { io } = captureIO(false);
    await expect(benchCommand.run(['--preset', 'huge'], io)).rejects.toThrow(/unknown preset "huge"/);
    await expect(benchCommand.run(['--backend', 'tpu'], io)).rejects.toThrow(/unknown backend "tpu"/);
    await expect(benchCommand.run(['--batch', '0'], io)).rejects.toThrow(
      /--batch must be a whole number ≥ 1/,
    );
    await expect(benchCommand.run(['--backend', 'tensorflow'], io)).rejects.toThrow(
      /tfjs-node is not installed/,
    );
  });
});
