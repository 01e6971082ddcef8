/**
 * The memorisation check of finished quality-harness runs (src/core/gan/memorisation.ts), with the
 * harness's split: prints one JSON line per run folder.
 *
 *   node --import tsx scripts/memorisation.ts --train 400 .tmp/quality/<run id> [more run folders]
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { selectBackend } from '../src/core/gan/backend.ts';
import { evaluateMemorisation } from '../src/core/gan/evaluate.ts';
import { HELD_OUT, qualitySplit } from './quality-split.ts';

const root = resolve(import.meta.dirname, '..');
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    train: { type: 'string', default: '1200' },
    raw: { type: 'boolean', default: false },
    faces: { type: 'string', default: join(root, '..', 'shared', 'data', 'faces') },
  },
});
const trainCount = Number(values.train);
if (!Number.isInteger(trainCount) || trainCount <= 0 || positionals.length === 0) {
  console.error('usage: memorisation.ts [--train N] [--raw] RUN_DIR…');
  process.exit(2);
}
await selectBackend('wasm');
const { trainFaces, heldOut } = await qualitySplit(resolve(values.faces), trainCount);
for (const runDir of positionals) {
  const result = await evaluateMemorisation(resolve(runDir), trainFaces, heldOut, {
    n: HELD_OUT,
    raw: values.raw,
  });
  console.log(JSON.stringify({ runDir, ...result }));
}
