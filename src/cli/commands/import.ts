import { resolve } from 'node:path';
import { defineCommand, withProgress, writeResult } from '../command.ts';
import { requireFlags } from '../options.ts';
import { importFolder, type ImportSummary } from '../../core/crawler/import.ts';

const usage = 'kao import --from DIR --out DIR [--link] [--json]';

export const importCommand = defineCommand(
  usage,
  { from: { type: 'string' }, out: { type: 'string' }, link: { type: 'boolean' } },
  async (values, io) => {
    requireFlags(values, ['from', 'out'], usage);
    const summary = await withProgress(io, { label: 'import', signals: ['SIGINT'] }, (control, bar) =>
      importFolder(
        { from: resolve(values.from), datasetDir: resolve(values.out), mode: values.link ? 'link' : 'copy' },
        {
          control,
          onWarning: (message) => bar.print(`warning: ${message}`),
          onProgress: (p) =>
            bar.update(
              p.processed,
              p.total,
              `${p.imported} new · ${p.skipped} duplicate · ${p.rejected} rejected`,
            ),
        },
      ),
    );
    writeResult(io, summary, describeImport);
    return summary.state === 'done' ? 0 : 130;
  },
);

function describeImport(summary: ImportSummary): string[] {
  return [
    `${summary.state === 'done' ? 'Import finished' : 'Import cancelled'}: ${summary.total} file(s) in ${(summary.durationMs / 1000).toFixed(1)} s`,
    `  imported: ${summary.imported} (${(summary.bytes / (1024 * 1024)).toFixed(1)} MB)`,
    `  skipped:  ${summary.skipped} duplicate(s)`,
    `  rejected: ${summary.rejected}`,
    ...summary.rejectedFiles.slice(0, 20).map((r) => `    ${r.path}: ${r.reason}`),
    `  ignored:  ${summary.ignored}`,
    ...summary.ignoredFiles.slice(0, 10).map((r) => `    ${r.path}: ${r.reason}`),
    `  tagged:   ${summary.tagged} (tags from .txt or gallery-dl .json sidecars)`,
    ...(summary.tagProblems.length > 0
      ? [`  tag files not read: ${summary.tagProblems.length} (their images came in without tags)`]
      : []),
    ...summary.tagProblems.slice(0, 10).map((r) => `    ${r.path}: ${r.reason}`),
  ];
}
