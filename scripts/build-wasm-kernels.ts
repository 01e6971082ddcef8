/**
 * Assembles the project's hand-written WebAssembly kernels (src/core/gan/kernels/igemm/wat.ts) into
 * base64 constants in igemm-binary.generated.ts, so the app, its workers and the renderer load them
 * without a toolchain or a file path. `npm run build:wasm`; a unit test fails if the file is stale.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { assembleIgemmVariants, generatedSource } from '../src/core/gan/kernels/igemm/assemble.ts';

const target = fileURLToPath(
  new URL('../src/core/gan/kernels/igemm/igemm-binary.generated.ts', import.meta.url),
);
writeFileSync(target, generatedSource(await assembleIgemmVariants()));
console.log(`wrote ${target}`);
