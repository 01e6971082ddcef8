import type { CliCommand } from '../command.ts';

/** Each subcommand's one-line summary, in the order `kao --help` lists them. */
const summaries = {
  crawl: 'Download illustrations from a Moebooru board (safe rating by default)',
  import: 'Import a folder of images into the dataset',
  faces: 'Detect, crop and index anime faces from illustrations',
  train: 'Train a DCGAN run on a face set, or continue one from its checkpoint',
  sample: 'Generate faces from a run: a grid, single images, or a saved z',
  attributes: 'Named sliders of a run, learned from its faces’ tags (counts, accuracy, effect)',
  eval: 'Sliced Wasserstein distance between a run and real faces',
  favorites: 'List or export saved favorite avatars',
  bench: 'Measure training speed (images/s, GFLOP/s) per backend and preset',
  serve: 'Serve the app to a browser on 127.0.0.1 (web bridge)',
};

/** Subcommands load lazily so `kao --help` stays instant and one command's deps never slow another. */
const loaders: Record<keyof typeof summaries, () => Promise<CliCommand>> = {
  crawl: async () => (await import('./crawl.ts')).crawlCommand,
  import: async () => (await import('./import.ts')).importCommand,
  faces: async () => (await import('./faces.ts')).facesCommand,
  train: async () => (await import('./train.ts')).trainCommand,
  sample: async () => (await import('./sample.ts')).sampleCommand,
  attributes: async () => (await import('./attributes.ts')).attributesCommand,
  eval: async () => (await import('./eval.ts')).evalCommand,
  favorites: async () => (await import('./favorites.ts')).favoritesCommand,
  bench: async () => (await import('./bench.ts')).benchCommand,
  serve: async () => (await import('./serve.ts')).serveCommand,
};

export const commandTable: Array<{ name: string; summary: string; load: () => Promise<CliCommand> }> = (
  Object.keys(summaries) as Array<keyof typeof summaries>
).map((name) => ({ name, summary: summaries[name], load: loaders[name] }));
