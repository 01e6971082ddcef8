import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import svelte from 'eslint-plugin-svelte';
import globals from 'globals';

// Who may import whom: the renderer runs sandboxed in a browser, shared is pure, core knows no Electron.
const nodeBuiltins = [
  'node:*',
  'fs',
  'path',
  'os',
  'child_process',
  'worker_threads',
  'crypto',
  'http',
  'net',
];

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
  {
    files: ['src/renderer/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: nodeBuiltins, message: 'The renderer is sandboxed: talk to main through window.kao.' },
            {
              group: ['electron', 'electron/*', 'sharp', 'ws'],
              message: 'No Electron or Node modules in the renderer.',
            },
            {
              group: ['**/main/**', '**/services/**', '**/cli/**', '**/trainer/**'],
              message: 'The renderer only imports shared code.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/shared/**', 'src/core/**', 'src/services/**', 'src/cli/**', 'src/trainer/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['electron', 'electron/*', 'electron-store'],
              message: 'Only src/main and src/preload may import Electron.',
            },
          ],
        },
      ],
    },
  },
);
