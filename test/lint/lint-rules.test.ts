/**
 * The lint rules that hold the layering (eslint.config.js) fail on what they forbid. Each case lints a
 * small text as if it were a file at that path of the tree; imports resolve against the real tree.
 */
import { ESLint } from 'eslint';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
let eslint: ESLint;

beforeAll(async () => {
  eslint = new ESLint({ cwd: root });
  // Loading the config and its plugins is most of the cost; pay it once, here.
  await eslint.lintText('export {};\n', { filePath: `${root}/src/shared/layer-fixture.ts` });
}, 180_000);

const layerRules = ['import-x/no-restricted-paths', 'no-restricted-imports', 'kao/no-import-cycle'];

/** The layering problems of `code` linted as `file`: `rule: the import it is about`. */
async function problems(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${root}/${file}` });
  const lines = code.split('\n');
  return result!.messages
    .filter((m) => m.ruleId && layerRules.includes(m.ruleId))
    .map((m) => `${m.ruleId}: ${/'([^']+)'/.exec(lines[m.line - 1]!)![1]}`);
}

describe('lint holds the layering', () => {
  it('core imports only core and shared, and no Electron', async () => {
    const code = [
      "import type { ServiceContext } from '../services/context.ts';",
      "import type { ParentPort } from '../trainer/port.ts';",
      "import { app } from 'electron';",
      "import { Rng } from '../shared/rng.ts';",
      "import { dataPaths } from './util/data-paths.ts';",
      'export type T = [ServiceContext, ParentPort, typeof app, Rng, typeof dataPaths];',
    ].join('\n');
    expect(await problems('src/core/layer-fixture.ts', code)).toEqual([
      'import-x/no-restricted-paths: ../services/context.ts',
      'import-x/no-restricted-paths: ../trainer/port.ts',
      'no-restricted-imports: electron',
    ]);
  });

  it('services import no adapter', async () => {
    const code = [
      "import type { ParentPort } from '../trainer/port.ts';",
      "import { appUrl } from '../main/app-url.ts';",
      "import type { CliCommand } from '../cli/command.ts';",
      "import { KaoError } from '../shared/errors.ts';",
      "import { dataPaths } from '../core/util/data-paths.ts';",
      'export type T = [ParentPort, typeof appUrl, CliCommand, KaoError, typeof dataPaths];',
    ].join('\n');
    expect(await problems('src/services/layer-fixture.ts', code)).toEqual([
      'import-x/no-restricted-paths: ../trainer/port.ts',
      'import-x/no-restricted-paths: ../main/app-url.ts',
      'import-x/no-restricted-paths: ../cli/command.ts',
    ]);
  });

  it('shared imports only shared and zod', async () => {
    const code = [
      "import { dataPaths } from '../core/util/data-paths.ts';",
      "import { hostname } from 'node:os';",
      "import sharp from 'sharp';",
      "import { z } from 'zod';",
      "import { KaoError } from './errors.ts';",
      'export type T = [typeof dataPaths, typeof hostname, typeof sharp, typeof z, KaoError];',
    ].join('\n');
    expect(await problems('src/shared/layer-fixture.ts', code)).toEqual([
      'import-x/no-restricted-paths: ../core/util/data-paths.ts',
      'no-restricted-imports: node:os',
      'no-restricted-imports: sharp',
    ]);
  });

  it('the renderer imports renderer, shared and browser-safe core only', async () => {
    const code = [
      "import type { ServiceContext } from '../../../services/context.ts';",
      "import type { ParentPort } from '../../../trainer/port.ts';",
      "import { runTraining } from '../../../core/gan/run.ts';",
      "import { fileURLToPath } from 'url';",
      "import { resolveGanConfig } from '../../../core/gan/config.ts';",
      "import { History } from '../../../core/explorer/history.ts';",
      "import { RunId } from '../../../shared/training-schemas.ts';",
      "import { kao } from './api.ts';",
      'export type T = [ServiceContext, ParentPort, typeof runTraining, typeof fileURLToPath];',
      'export type U = [typeof resolveGanConfig, History, typeof RunId, typeof kao];',
    ].join('\n');
    expect(await problems('src/renderer/src/lib/layer-fixture.ts', code)).toEqual([
      'import-x/no-restricted-paths: ../../../services/context.ts',
      'import-x/no-restricted-paths: ../../../trainer/port.ts',
      'import-x/no-restricted-paths: ../../../core/gan/run.ts',
      'no-restricted-imports: url',
    ]);
  });

  it('browser-safe core stays browser-safe', async () => {
    const code = [
      "import { readFile } from 'node:fs/promises';",
      "import { writeJsonAtomic } from '../util/atomic-file.ts';",
      "import { resolveGanConfig } from '../gan/config.ts';",
      'export type T = [typeof readFile, typeof writeJsonAtomic, typeof resolveGanConfig];',
    ].join('\n');
    expect(await problems('src/core/explorer/layer-fixture.ts', code)).toEqual([
      'no-restricted-imports: node:fs/promises',
      'import-x/no-restricted-paths: ../util/atomic-file.ts',
    ]);
  });
});

describe('lint refuses import cycles', () => {
  it('reports a cycle made of type-only imports, with its path', async () => {
    // contract.ts imports contract-base.ts; contract-base.ts importing contract.ts back closes a cycle.
    const [result] = await eslint.lintText(
      "import type { Settings } from './contract.ts';\nexport type S = Settings;\n",
      { filePath: `${root}/src/shared/contract-base.ts` },
    );
    const cycles = result!.messages.filter((m) => m.ruleId === 'kao/no-import-cycle');
    expect(cycles.map((m) => m.message)).toEqual([
      'Import cycle: src/shared/contract-base.ts → src/shared/contract.ts → src/shared/contract-base.ts. ' +
        'Move what both need into a module below them.',
    ]);
  });

  it('follows imports through Svelte components', async () => {
    // App.svelte imports the icon component; the icon importing App back closes a cycle.
    const code = `<script lang="ts">\n  import App from '../App.svelte';\n</script>\n\n<App />\n`;
    expect(await problems('src/renderer/src/components/icon.svelte', code)).toEqual([
      'kao/no-import-cycle: ../App.svelte',
    ]);
  });

  it('leaves a lazy import() alone', async () => {
    const code = "export const load = () => import('./contract.ts');\n";
    expect(await problems('src/shared/contract-base.ts', code)).toEqual([]);
  });
});
