import { resolve } from 'node:path';
import { CliError, defineCommand, withProgress, writeResult } from '../command.ts';
import { backendOption, intOption, requireFlags, selectCliBackend, stringFlags } from '../options.ts';
import type { AttributeDirection, AttributeDirections } from '../../shared/explorer-schemas.ts';

const usage =
  'kao attributes --run DIR [--step N] [--faces DIR] [--recompute] [--backend auto|wasm|cpu|…] [--json]';

/**
 * The named sliders of a run's checkpoint (learned from its training faces' tags, or read from the run
 * folder's cache), each with the faces it was learned from, its held-out accuracy and its measured effect.
 */
export const attributesCommand = defineCommand(
  usage,
  { ...stringFlags('run', 'step', 'faces', 'backend'), recompute: { type: 'boolean' } },
  async (values, io) => {
    requireFlags(values, ['run'], usage);
    const step = intOption(values.step, 'step', 0);
    const backend = backendOption(values.backend);
    await selectCliBackend(backend);
    const result = await runAttributes(io, values.run, {
      ...(step !== undefined ? { step } : {}),
      ...(values.faces ? { facesDir: resolve(values.faces) } : {}),
      recompute: values.recompute ?? false,
    });
    writeResult(io, result, describeAttributes);
    return 0;
  },
);

/** Learns (or reads) a checkpoint's sliders with a progress bar; Ctrl-C cancels. */
export async function runAttributes(
  io: Parameters<typeof writeResult>[0],
  runDir: string,
  options: { step?: number; facesDir?: string; recompute?: boolean },
): Promise<AttributeDirections> {
  const { getCheckpointAttributes } = await import('../../core/attributes/cache.ts');
  return withProgress(
    io,
    { label: 'learning named sliders', signals: ['SIGINT', 'SIGTERM'] },
    (control, bar) =>
      getCheckpointAttributes(runDir, {
        ...options,
        signal: control.signal,
        onProgress: (p) => bar.update(p.done, p.total, p.phase),
      }),
  ).catch((error: Error) => {
    throw new CliError(error.message);
  });
}

function describeAttributes(r: AttributeDirections): string[] {
  const lines = [
    `named sliders of step ${r.step}: ${r.attributes.length} from ${r.taggedFaces} tagged of ${r.faces} faces` +
      (r.cached ? ' (cached)' : ` (learned in ${r.seconds.toFixed(1)} s)`),
  ];
  if (r.note) lines.push(r.note);
  for (const a of r.attributes) lines.push(`  ${describeAttribute(a)}`);
  if (r.skipped.length) {
    lines.push(`not used: ${r.skipped.length} tag${r.skipped.length === 1 ? '' : 's'}`);
    for (const s of r.skipped.slice(0, 10)) lines.push(`  ${s.tag}: ${s.reason}`);
    if (r.skipped.length > 10) lines.push(`  … ${r.skipped.length - 10} more (--json lists them all)`);
  }
  return lines;
}

const FEATURE_NAMES: Record<AttributeDirection['features'], string> = {
  pixels: 'colour features',
  discriminator: 'the run’s own D features',
};

export function describeAttribute(a: AttributeDirection): string {
  const percent = (x: number) => `${Math.round(x * 100)} %`;
  const effect =
    `at +2 its score rises on ${percent(a.effect.moved)} of faces` +
    (a.effect.mostAffected ? `, ${a.effect.mostAffected} moves ${percent(a.effect.crossTalk)} as much` : '');
  return (
    `${a.tag}: learned from ${a.positives} faces with it and ${a.negatives} without, ` +
    `${percent(a.accuracy)} accurate on ${a.heldOut} held-out faces (${FEATURE_NAMES[a.features]}); ${effect}`
  );
}
