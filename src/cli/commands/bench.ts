import { pathToFileURL } from 'node:url';
import { CliError, defineCommand, ProgressBar, writeJson } from '../command.ts';
import { intOption, stringFlags } from '../options.ts';
import type { BackendName, PresetName } from '../../shared/contract-base.ts';
import { backendNames, selectBackend } from '../../core/gan/backend.ts';
import { benchTraining, type BenchRow } from '../../core/gan/bench.ts';
import { isPresetName, presetNames } from '../../core/gan/config.ts';

const usage =
  `kao bench [--preset ${presetNames.join('|')}] [--batch N] [--backend tensorflow-gpu|webgpu|tensorflow|wasm|cpu] ` +
  '[--workers N] [--steps N] [--warmup N] [--g-steps N] [--tfjs-webgpu] [--json]';

export const benchCommand = defineCommand(
  usage,
  {
    ...stringFlags('preset', 'batch', 'backend', 'workers', 'steps', 'warmup', 'g-steps'),
    // webgpu through tfjs-backend-webgpu op by op, instead of Kao's WebGPU engine (for comparisons).
    'tfjs-webgpu': { type: 'boolean' },
  },
  async (values, io) => {
    if (values.preset !== undefined && !isPresetName(values.preset)) {
      throw new CliError(`unknown preset "${values.preset}" (known: ${presetNames.join(', ')})`, 2);
    }
    if (values.backend !== undefined && !(backendNames as readonly string[]).includes(values.backend)) {
      throw new CliError(`unknown backend "${values.backend}" (known: ${backendNames.join(', ')})`, 2);
    }
    const batch = intOption(values.batch, 'batch', 1) ?? 64;
    const workers = intOption(values.workers, 'workers', 1);
    const steps = intOption(values.steps, 'steps', 1) ?? 5;
    const warmup = intOption(values.warmup, 'warmup', 0) ?? 2;
    const gStepsPerD = intOption(values['g-steps'], 'g-steps', 1);
    const presets: PresetName[] = values.preset ? [values.preset as PresetName] : [...presetNames];
    const explicitBackend = values.backend as BackendName | undefined;
    const backends: BackendName[] = explicitBackend ? [explicitBackend] : [...backendNames];

    const rows: BenchRow[] = [];
    for (const backend of backends) {
      try {
        await selectBackend(backend);
      } catch (error) {
        if (explicitBackend)
          throw new CliError(`backend ${backend} is not available: ${(error as Error).message}`);
        io.stderr.write(`skipping ${firstReason(error)}\n`);
        continue;
      }
      for (const preset of presets) {
        // The pure-JS backend needs minutes per full-size step (~0.03 images/s): only when asked for.
        if (backend === 'cpu' && !explicitBackend && preset !== 'tiny') {
          io.stderr.write(
            `skipping cpu × ${preset} (pure JavaScript, ~0.03 images/s; ask with --backend cpu)\n`,
          );
          continue;
        }
        const bar = new ProgressBar(io, `bench ${backend} ${preset}`);
        const row = await benchTraining({
          backend,
          preset,
          batch,
          workers,
          steps,
          warmup,
          gStepsPerD,
          ...(process.env.KAO_GAN_WORKER ? { workerUrl: pathToFileURL(process.env.KAO_GAN_WORKER) } : {}),
          onProgress: (e) => {
            if (e.type === 'step')
              bar.update(e.done, e.total, `${e.warmup ? 'warm-up ' : ''}${(e.ms / 1000).toFixed(2)} s/step`);
          },
        });
        bar.done();
        rows.push(row);
        if (!io.json) io.stderr.write(`${formatRow(row)}\n`);
      }
    }
    if (rows.length === 0) throw new CliError('no backend could run the benchmark');
    if (io.json) {
      writeJson(
        io,
        rows.map(({ stepMs: _stepMs, ...row }) => row),
      );
    } else {
      io.stdout.write(formatTable(rows) + '\n');
    }
    return 0;
  },
);

function firstReason(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}

const columns: Array<[string, (r: BenchRow) => string]> = [
  ['backend', (r) => r.backend],
  ['preset', (r) => r.preset],
  ['batch', (r) => String(r.batch)],
  ['workers', (r) => String(r.workers)],
  ['G steps', (r) => String(r.gStepsPerD)],
  ['images/s', (r) => r.imagesPerSec.toFixed(2)],
  ['ms/step', (r) => r.msPerStep.toFixed(0)],
  ['GFLOP/step', (r) => r.gflopsPerStep.toFixed(1)],
  ['GFLOP/s', (r) => r.gflopsPerSec.toFixed(1)],
];

function formatRow(row: BenchRow): string {
  const spread = `${Math.min(...row.stepMs).toFixed(0)}–${Math.max(...row.stepMs).toFixed(0)} ms`;
  const engine =
    row.dispatchesPerStep !== undefined
      ? `; Kao's WebGPU engine: ${row.dispatchesPerStep} dispatches/step, ${row.readbacksPerStep} blocking read-backs/step`
      : row.engine === 'tfjs'
        ? '; tfjs-backend-webgpu op by op'
        : '';
  return `${row.backend} ${row.preset}: ${row.imagesPerSec.toFixed(2)} images/s (${row.dispatchesPerStep !== undefined ? 'end to end over' : 'median of'} ${row.stepMs.length} steps, ${spread}${engine})`;
}

export function formatTable(rows: BenchRow[]): string {
  const cells = [columns.map(([h]) => h), ...rows.map((r) => columns.map(([, f]) => f(r)))];
  const widths = columns.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  return cells
    .map((c, ri) => {
      const line = c.map((v, i) => (i < 2 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
      return ri === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
    })
    .join('\n');
}
