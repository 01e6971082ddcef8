import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { CliError, defineCommand, withProgress, writeResult } from '../command.ts';
import { choiceOption, intOption, numberOption, requireFlags, stringFlags } from '../options.ts';
import { CancelledError } from '../../core/util/run-control.ts';
import { FolderLockedError } from '../../core/folder-lock.ts';
import { extractFaces, type FaceExtractionSummary } from '../../core/faces/extract.ts';
import { FacesError } from '../../core/faces/errors.ts';
import { faceExtractionOptionsSchema } from '../../core/faces/options.ts';
import { facesProblemForCli } from '../faces-errors.ts';

const usage =
  'kao faces --in DIR --out DIR [--size 64|96|128] [--margin 0.25] [--min-neighbors 5] [--scale-factor 1.1] ' +
  '[--min-size 24] [--min-source-size 48] [--dedupe-distance 8] [--cascade FILE] [--workers N] [--rebuild] [--json]';

/**
 * Where a downloaded cascade is kept: the data folder's cache/ when --out is a data folder's faces/, else the
 * user's cache folder.
 */
function defaultCacheDir(outputDir: string): string {
  const out = resolve(outputDir);
  if (basename(out) === 'faces') return join(dirname(out), 'cache');
  return join(process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'kao-studio');
}

export const facesCommand = defineCommand(
  usage,
  {
    ...stringFlags('in', 'out', 'cascade', 'workers'),
    ...stringFlags('size', 'margin', 'min-neighbors', 'scale-factor', 'min-size', 'min-source-size'),
    ...stringFlags('dedupe-distance'),
    rebuild: { type: 'boolean' },
  },
  async (values, io) => {
    requireFlags(values, ['in', 'out'], usage);
    // Ranges as the options schema has them, checked here so each message says what is allowed.
    const size = choiceOption(values.size, 'size', ['64', '96', '128'] as const);
    const parsed = faceExtractionOptionsSchema.safeParse({
      inputDir: values.in,
      outputDir: values.out,
      size: size === undefined ? undefined : Number(size),
      margin: numberOption(values.margin, 'margin', { min: 0, max: 1 }),
      minNeighbors: intOption(values['min-neighbors'], 'min-neighbors', 1, 50),
      scaleFactor: numberOption(values['scale-factor'], 'scale-factor', { min: 1.01, max: 2 }),
      minSize: intOption(values['min-size'], 'min-size', 8, 1024),
      minSourceSize: intOption(values['min-source-size'], 'min-source-size', 1, 4096),
      duplicateDistance: intOption(values['dedupe-distance'], 'dedupe-distance', -1, 20),
      cascadePath: values.cascade ?? '',
      cacheDir: defaultCacheDir(values.out),
      workers: intOption(values.workers, 'workers', 1, 64),
      rebuild: values.rebuild ?? false,
    });
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new CliError(`--${flagName(String(issue.path[0]))}: ${issue.message}\nusage: ${usage}`, 2);
    }

    let summary: FaceExtractionSummary;
    try {
      summary = await withProgress(io, { label: 'faces', signals: ['SIGINT', 'SIGTERM'] }, (control, bar) =>
        extractFaces(parsed.data, {
          control,
          onWarning: (message) => bar.print(`warning: ${message}`),
          onProgress: (p) => {
            if (p.phase !== 'extracting') return;
            bar.update(p.processed, p.toProcess, `${p.faces} faces, ${p.failed} failed`);
          },
        }),
      );
    } catch (error) {
      if (error instanceof CancelledError) {
        io.stderr.write('faces: interrupted; the index is saved and a re-run continues where this stopped\n');
        return 130;
      }
      if (error instanceof FacesError) throw new CliError(facesProblemForCli(error.problem));
      if (error instanceof FolderLockedError) throw new CliError(error.message);
      throw error;
    }
    writeResult(io, summary, describeExtraction);
    return 0;
  },
);

function describeExtraction(summary: FaceExtractionSummary): string[] {
  return [
    `images: ${summary.images} (${summary.skipped} already done, ${summary.processed} processed, ${summary.failures.length} failed)`,
    `faces: ${summary.faces} new, ${summary.duplicates} near-duplicates dropped, ${summary.tooSmall} too small; ` +
      `${summary.totalFaces} in ${summary.outputDir} (${summary.excludedFaces} excluded, ${summary.taggedFaces} with tags)`,
    ...(summary.prunedImages > 0
      ? [
          `pruned: ${summary.pruned} face${summary.pruned === 1 ? '' : 's'} of ${summary.prunedImages} ` +
            `illustration${summary.prunedImages === 1 ? '' : 's'} deleted from ${summary.inputDir}`,
        ]
      : []),
    `time: ${(summary.elapsedMs / 1000).toFixed(1)} s with ${summary.workers} worker${summary.workers === 1 ? '' : 's'}`,
    ...summary.failures.map((failure) => `failed: ${failure.source}: ${failure.error}`),
  ];
}

function flagName(option: string): string {
  const names: Record<string, string> = {
    inputDir: 'in',
    outputDir: 'out',
    cascadePath: 'cascade',
    duplicateDistance: 'dedupe-distance',
  };
  return names[option] ?? option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
