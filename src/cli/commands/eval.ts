import { CliError, defineCommand, writeResult } from '../command.ts';
import { backendOption, generatorFlags, intOption, requireFlags, selectCliBackend } from '../options.ts';
import { trainingImages } from './train.ts';

const usage =
  'kao eval --run DIR --real DIR [--n 1000] [--step N] [--seed N] [--backend auto|wasm|cpu|…] [--json]';

export const evalCommand = defineCommand(
  usage,
  { ...generatorFlags, real: { type: 'string' } },
  async (values, io) => {
    requireFlags(values, ['run', 'real'], usage);
    const n = intOption(values.n, 'n', 2) ?? 1000;
    const step = intOption(values.step, 'step', 0);
    const seed = intOption(values.seed, 'seed', 0);
    const backend = backendOption(values.backend);
    const real = await trainingImages(values.real);
    await selectCliBackend(backend);
    const { evaluateRun } = await import('../../core/gan/evaluate.ts');
    const result = await evaluateRun(values.run, real, {
      n,
      step,
      seed,
    }).catch((error: Error) => {
      throw new CliError(error.message);
    });
    for (const warning of result.warnings) io.stderr.write(`warning: ${warning}\n`);
    writeResult(io, result, (r) => [
      `SWD ×10³ at step ${r.step}, ${r.images} images of ${r.imageSize}px (lower is better)`,
      ...r.swd.levels.map((level) => `  ${String(level.resolution).padStart(4)}px  ${level.swd.toFixed(2)}`),
      `  average ${r.swd.average.toFixed(2)}`,
    ]);
    return 0;
  },
);
