import { extname, join, resolve } from 'node:path';
import { CliError, defineCommand, writeResult } from '../command.ts';
import { backendOption, generatorFlags, intOption, requireFlags, selectCliBackend } from '../options.ts';
import { latentForSeed } from '../../shared/rng.ts';
import type { Generator } from '../../core/gan/generator-web.ts';
import { runAttributes } from './attributes.ts';

const usage =
  'kao sample --run DIR --out FILE.png|DIR [--n 64] [--seed N] [--step N] [--attr TAG=VALUE …] [--backend auto|wasm|cpu|…] [--json]\n' +
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
  {
    ...generatorFlags,
    out: { type: 'string' },
    z: { type: 'string' },
    size: { type: 'string' },
    attr: { type: 'string', multiple: true },
  },
  async (values, io) => {
    requireFlags(values, ['run', 'out'], usage);
    const n = intOption(values.n, 'n', 1) ?? 64;
    const seed = intOption(values.seed, 'seed', 0) ?? 1;
    const step = intOption(values.step, 'step', 0);
    const size = intOption(values.size, 'size', 8);
    const backend = backendOption(values.backend);
    const attributes = attributeOptions(values.attr ?? []);
    if (values.z && attributes.length) {
      throw new CliError('--attr moves the faces of --seed/--n; a saved z is drawn as it was saved', 2);
    }

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
      const latents = latentsForSeeds(seed, n, loaded.config.zDim);
      if (attributes.length) await moveAlongAttributes(io, values.run, loaded.step, latents, attributes);
      const result = await writeSamples(loaded.generator, latents, values.out);
      const moved = Object.fromEntries(attributes.map((a) => [a.tag, a.value]));
      writeResult(
        io,
        { step: loaded.step, seed, n, ...(attributes.length ? { attributes: moved } : {}), ...result },
        (r) => [
          r.kind === 'grid'
            ? `wrote a grid of ${n} faces (step ${r.step}, seeds ${seed}–${seed + n - 1}) to ${r.paths[0]}`
            : `wrote ${n} faces (step ${r.step}) to ${resolve(values.out)}`,
        ],
      );
    } finally {
      loaded.generator.dispose();
    }
    return 0;
  },
);

/** `--attr blonde_hair=+2`: a tag and how far to move along its slider, in standard deviations (−10…10). */
export function attributeOptions(values: string[]): Array<{ tag: string; value: number }> {
  return values.map((text) => {
    const match = /^([^=]+)=([-+]?\d*\.?\d+)$/.exec(text.trim());
    const value = match ? Number(match[2]) : Number.NaN;
    if (!match || !(Math.abs(value) <= 10)) {
      throw new CliError(
        `--attr must be TAG=VALUE with VALUE from -10 to 10 (e.g. blonde_hair=+2), got "${text}"`,
        2,
      );
    }
    return { tag: match[1]!.trim(), value };
  });
}

/** Adds value·direction of each named slider to every latent (the Explorer's Attributes panel, in bulk). */
async function moveAlongAttributes(
  io: Parameters<typeof runAttributes>[0],
  runDir: string,
  step: number,
  latents: LatentSet,
  moves: Array<{ tag: string; value: number }>,
): Promise<void> {
  const learned = await runAttributes(io, runDir, { step });
  const zDim = latents.z.length / latents.count;
  for (const { tag, value } of moves) {
    const attribute = learned.attributes.find((a) => a.tag === tag);
    if (!attribute) {
      const known = learned.attributes.map((a) => a.tag).join(', ');
      throw new CliError(
        `no named slider "${tag}" at step ${step}: ` +
          (known ? `this checkpoint has ${known}` : (learned.note ?? 'none')),
      );
    }
    for (let i = 0; i < latents.count; i++) {
      for (let k = 0; k < zDim; k++) latents.z[i * zDim + k]! += value * attribute.vector[k]!;
    }
  }
}
