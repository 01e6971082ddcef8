import { extname, join, resolve } from 'node:path';
import {
  backendOption,
  generatorFlags,
  selectCliBackend,
  CliError,
  intOption,
  defineCommand,
  requireFlags,
  writeResult,
} from '../command.ts';
import { latentForSeed } from '../../shared/rng.ts';
import type { Generator } from '../../core/gan/generator-web.ts';

const usage =
  'kao sample --run DIR --out FILE.png|DIR [--n 64] [--seed N] [--step N] [--backend auto|wasm|cpu|…] [--json]\n' +
  '       kao sample --run DIR --z FILE.json --out FILE.png [--size 192] [--step N] [--backend …] [--json]';

/** Latents to render: image i uses the z of seed `seed + i` (the app's "same seed, same face"). */
export interface LatentSet {
  z: Float32Array;
  count: number;
  /** Names for single-image output (without extension). */
  names: string[];
}

export function latentsForSeeds(seed: number, count: number, zDim: number): LatentSet {
  const z = new Float32Array(count * zDim);
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    z.set(latentForSeed(seed + i, zDim), i * zDim);
    names.push(`seed-${seed + i}`);
  }
  return { z, count, names };
}

/** Writes a grid when `out` ends in .png, else one PNG per latent in the folder `out`. */
export async function writeSamples(
  generator: Generator,
  latents: LatentSet,
  out: string,
): Promise<{ kind: 'grid' | 'files'; paths: string[] }> {
  const { writePng, writeSampleGrid } = await import('../../core/gan/images.ts');
  const batch = await generator.generate(latents.z, { format: 'rgb' });
  if (extname(out).toLowerCase() === '.png') {
    await writeSampleGrid(batch, resolve(out));
    return { kind: 'grid', paths: [resolve(out)] };
  }
  const paths = latents.names.map((name) => join(resolve(out), `${name}.png`));
  for (let i = 0; i < batch.count; i++) await writePng(batch, i, paths[i]!);
  return { kind: 'files', paths };
}

export const sampleCommand = defineCommand(
  usage,
  { ...generatorFlags, out: { type: 'string' }, z: { type: 'string' }, size: { type: 'string' } },
  async (values, io) => {
    requireFlags(values, ['run', 'out'], usage);
    const n = intOption(values.n, 'n', 1) ?? 64;
    const seed = intOption(values.seed, 'seed', 0) ?? 1;
    const step = intOption(values.step, 'step', 0);
    const size = intOption(values.size, 'size', 8);
    const backend = backendOption(values.backend);

    await selectCliBackend(backend);
    if (values.z) {
      // One face from a saved z (a JSON array or a favorite's .json): explorer/favorites code, src/core/library.
      const { renderLatentFileToPng } = await import('../../core/library/render.ts');
      const result = await renderLatentFileToPng(values.run, values.z, resolve(values.out), { step, size });
      writeResult(io, result, (r) => [
        `wrote ${r.path} (${r.size}×${r.size}, step ${r.step}, ψ ${r.truncation})`,
      ]);
      return 0;
    }
    const { loadGenerator } = await import('../../core/gan/generator-node.ts');
    const loaded = await loadGenerator(values.run, { step }).catch((error: Error) => {
      throw new CliError(error.message);
    });
    for (const warning of loaded.warnings) io.stderr.write(`warning: ${warning}\n`);
    try {
      const result = await writeSamples(
        loaded.generator,
        latentsForSeeds(seed, n, loaded.config.zDim),
        values.out,
      );
      writeResult(io, { step: loaded.step, seed, n, ...result }, (r) => [
        r.kind === 'grid'
          ? `wrote a grid of ${n} faces (step ${r.step}, seeds ${seed}–${seed + n - 1}) to ${r.paths[0]}`
          : `wrote ${n} faces (step ${r.step}) to ${resolve(values.out)}`,
      ]);
    } finally {
      loaded.generator.dispose();
    }
    return 0;
  },
);
