import { resolve } from 'node:path';
import { defineConfig } from 'electron-vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

export default defineConfig({
  main: {
    build: {
      // cli: the `kao` CLI for plain Node, with the trainer and workers bundled beside it (src/cli/entry.ts).
      rollupOptions: { input: { index: resolve('src/main/index.ts'), cli: resolve('src/cli/entry.ts') } },
    },
  },
  preload: {
    // Sandboxed preloads cannot require packages: bundle everything into one CommonJS file.
    build: {
      externalizeDeps: false,
      rollupOptions: {
        input: { index: resolve('src/preload/index.ts') },
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: 'src/renderer',
    build: {
      rollupOptions: { input: { index: resolve('src/renderer/index.html') } },
    },
    plugins: [svelte()],
  },
});
