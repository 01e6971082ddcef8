import type { CliCommand } from '../command.ts';

/** Subcommands load lazily so `kao --help` stays instant and one command's deps never slow another. */
export const commandTable: Array<{ name: string; summary: string; load: () => Promise<CliCommand> }> = [
  {
    name: 'crawl',
    summary: 'Download illustrations from a Moebooru board (safe rating by default)',
    load: async () => (await import('./crawl.ts')).crawlCommand,
  },
  {
    name: 'import',
    summary: 'Import a folder of images into the dataset',
    load: async () => (await import('./import.ts')).importCommand,
  },
  {
    name: 'faces',
    summary: 'Detect, crop and index anime faces from illustrations',
    load: async () => (await import('./faces.ts')).facesCommand,
  },
  {
    name: 'train',
    summary: 'Train a DCGAN run on a face set, or continue one from its checkpoint',
    load: async () => (await import('./train.ts')).trainCommand,
  },
  {
    name: 'sample',
    summary: 'Generate faces from a run: a grid, single images, or a saved z',
    load: async () => (await import('./sample.ts')).sampleCommand,
  },
  {
    name: 'attributes',
    summary: 'Named sliders of a run, learned from its faces’ tags (counts, accuracy, effect)',
    load: async () => (await import('./attributes.ts')).attributesCommand,
  },
  {
    name: 'eval',
    summary: 'Sliced Wasserstein distance between a run and real faces',
    load: async () => (await import('./eval.ts')).evalCommand,
  },
  {
    name: 'favorites',
    summary: 'List or export saved favorite avatars',
    load: async () => (await import('./favorites.ts')).favoritesCommand,
  },
  {
    name: 'bench',
    summary: 'Measure training speed (images/s, GFLOP/s) per backend and preset',
    load: async () => (await import('./bench.ts')).benchCommand,
  },
  {
    name: 'serve',
    summary: 'Serve the app to a browser on 127.0.0.1 (web bridge)',
    load: async () => (await import('./serve.ts')).serveCommand,
  },
];
