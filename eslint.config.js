import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import svelte from 'eslint-plugin-svelte';
import { importX, createNodeResolver } from 'eslint-plugin-import-x';
import globals from 'globals';
import noImportCycle from './lint/no-import-cycle.js';

// Who may import whom. Arrows point down: adapters (main, preload, cli, the trainer entry, the renderer)
// → services → core → shared. `import-x/no-restricted-paths` checks where an import resolves to, so a
// relative path cannot dodge it; `no-restricted-imports` covers packages (Electron, Node built-ins).

const layers = ['shared', 'core', 'services', 'trainer', 'main', 'preload', 'cli', 'renderer'];
const dir = (layer) => `./src/${layer}`;

/** A zone: files under `target` may not import files under any of `from`. */
function zone(target, from, message) {
  return { target: dir(target), from: from.map(dir), message };
}

/**
 * The core modules the renderer runs in the page (in-page generation, latent-space maths). They and what
 * they import must run in a sandboxed browser: no Node, no other core. tsconfig.web.json checks them too.
 */
const browserCore = [
  'src/core/explorer/**',
  'src/core/gan/generator-web.ts',
  'src/core/gan/config.ts',
  'src/core/gan/models.ts',
  'src/core/gan/adam.ts',
  'src/core/gan/seeds.ts',
  'src/core/gan/kernels/**',
  'src/core/gan/recipe/**',
];
/** The same, relative to src/core, for `except` of a zone whose `from` is src/core. */
const browserCoreInCore = browserCore.map((glob) =>
  glob.replace(/^src\/core\//, './').replace(/\/\*\*$/, ''),
);

/** By exact name: a pattern `util` would also match `../util/x.ts`. */
const nodeBuiltins = builtinModules.map((name) => ({
  name,
  message: 'This code runs in the sandboxed page: no Node built-ins (talk to main through window.kao).',
}));
const electron = {
  group: ['electron', 'electron/*', 'electron-store'],
  message: 'Only src/main and src/preload may import Electron.',
};
const noNodePrefixed = {
  group: ['node:*'],
  message: 'This code runs in the sandboxed page: no Node built-ins (talk to main through window.kao).',
};
const noNodePackages = {
  group: ['sharp', 'ws', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'],
  message: 'This code runs in the sandboxed page: no Node packages.',
};

export default tseslint.config(
  { ignores: ['node_modules', 'out', 'dist', 'e2e/screenshots', '.tmp'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...svelte.configs['flat/recommended'],
  {
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['**/*.svelte', '**/*.svelte.ts'],
    languageOptions: { parserOptions: { parser: tseslint.parser, extraFileExtensions: ['.svelte'] } },
  },
  // ---- the layering
  {
    files: ['src/**/*.ts', 'src/**/*.svelte'],
    plugins: { 'import-x': importX, kao: { rules: { 'no-import-cycle': noImportCycle } } },
    settings: {
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.svelte'] })],
    },
    rules: {
      'kao/no-import-cycle': 'error',
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            zone(
              'shared',
              layers.filter((l) => l !== 'shared'),
              'src/shared is the contract: it imports only itself (and zod).',
            ),
            zone(
              'core',
              layers.filter((l) => l !== 'shared' && l !== 'core'),
              'src/core imports only core and shared.',
            ),
            zone(
              'services',
              ['trainer', 'main', 'preload', 'cli', 'renderer'],
              'src/services may not import an adapter (main, preload, cli, the trainer entry, the renderer).',
            ),
            zone(
              'trainer',
              ['services', 'main', 'preload', 'cli', 'renderer'],
              'The trainer entry runs core in its own process: it imports core and shared only.',
            ),
            zone(
              'preload',
              layers.filter((l) => l !== 'shared' && l !== 'preload'),
              'The preload is sandboxed: it imports only shared.',
            ),
            zone(
              'renderer',
              ['services', 'trainer', 'main', 'preload', 'cli'],
              'The renderer imports only renderer and shared code (and the browser-safe core modules).',
            ),
            {
              target: dir('renderer'),
              from: dir('core'),
              except: browserCoreInCore,
              message: 'The renderer may only import the browser-safe core modules (see browserCore).',
            },
            {
              target: browserCore.map((glob) => `./${glob}`),
              from: dir('core'),
              except: browserCoreInCore,
              message: 'Browser-safe core runs in the page: it may import only browser-safe core and shared.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/shared/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [{ regex: '^(?!zod$|\\.)', message: 'src/shared imports nothing but itself and zod.' }],
        },
      ],
    },
  },
  {
    files: ['src/core/**', 'src/services/**', 'src/cli/**', 'src/trainer/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [electron] }] },
  },
  {
    files: ['src/renderer/**', ...browserCore],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: nodeBuiltins, patterns: [noNodePrefixed, noNodePackages, electron] },
      ],
    },
  },
);
