import { resolve } from 'node:path';
import {
  type CliCommand,
  CliError,
  type CliIO,
  parseCommandArgs,
  writeJson,
  writeResult,
} from '../command.ts';
import { backendOption, intOption, requireFlags, selectCliBackend, stringFlags } from '../options.ts';
import { dataPaths } from '../../core/util/data-paths.ts';
import { currentDataDir } from '../../services/node-services.ts';
import { exportFavoritePng, FavoriteNotFoundError, listFavorites } from '../../core/library/favorites.ts';

const usage = [
  'kao favorites list [--library DIR] [--json]',
  '       kao favorites export --id ID --out FILE.png [--size 384 (default)] [--library DIR] [--backend auto|wasm|cpu|…] [--json]',
].join('\n');

/** The library of the data folder the app opens (its setting, else its default), unless --library is given. */
function libraryDir(option: string | undefined): string {
  if (option) return resolve(option);
  return dataPaths(currentDataDir()).favorites;
}

export const favoritesCommand: CliCommand = {
  usage,
  async run(argv: string[], io: CliIO): Promise<number> {
    const [action, ...rest] = argv;
    if (action === 'list') return list(rest, io);
    if (action === 'export') return exportOne(rest, io);
    throw new CliError(
      `expected "list" or "export", got ${action ? `"${action}"` : 'nothing'}\nusage: ${usage}`,
      2,
    );
  },
};

async function list(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseCommandArgs(argv, { library: { type: 'string' } }, usage);
  const dir = libraryDir(values.library);
  const { favorites, problems } = await listFavorites(dir);
  if (io.json) {
    writeJson(io, { library: dir, favorites, problems });
    return 0;
  }
  if (favorites.length === 0) io.stdout.write(`No favorites in ${dir}\n`);
  for (const f of favorites) {
    const model = f.modelAvailable ? '' : '  (checkpoint gone: export resizes the saved PNG)';
    io.stdout.write(
      `${f.id}  ${f.createdAt.slice(0, 19).replace('T', ' ')}  ${f.name}  [${f.runId} @ ${f.step}, ψ ${f.truncation}]${model}\n`,
    );
  }
  for (const p of problems) io.stderr.write(`skipped ${p.file}: ${p.reason}\n`);
  return 0;
}

async function exportOne(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseCommandArgs(
    argv,
    {
      ...stringFlags('library', 'id', 'out', 'size', 'backend'),
    },
    usage,
  );
  requireFlags(values, ['id', 'out'], usage);
  const size = intOption(values.size, 'size', 8) ?? 384;
  await selectCliBackend(backendOption(values.backend));
  try {
    const result = await exportFavoritePng(libraryDir(values.library), values.id, resolve(values.out), {
      size,
    });
    writeResult(io, result, (r) => {
      const how =
        r.source === 'model'
          ? 're-rendered from its checkpoint'
          : 'resized from the saved PNG (checkpoint gone)';
      return [`Wrote ${r.path} (${r.size}×${r.size}, ${how})`];
    });
    return 0;
  } catch (error) {
    if (error instanceof FavoriteNotFoundError || error instanceof RangeError)
      throw new CliError(error.message, 2);
    throw error;
  }
}
