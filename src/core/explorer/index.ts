/** The latent explorer's public API (browser-safe): pure z-vector math, GANSpace directions, undo/redo, rendering. */
export * from './latent.ts';
export * from './history.ts';
export * from './directions.ts';
export * from './state.ts';
export * from './generator.ts';
