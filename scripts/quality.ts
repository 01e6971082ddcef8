/**
 * The quality harness: trains one preset/recipe for a fixed budget on a fixed split of the shared faces,
 * then measures SWD against faces the model never trained on, for the weight average (when the recipe
 * keeps one) and the raw generator, saves the sample grid and appends a row to a results file.
 *
 *   npm run quality -- --preset anime-48 --g-width 0.25 --d-width 0.25 --seed 1 --cpu-minutes 20
 *   npm run quality -- --preset kao-48 --train 400 --minutes 30 --label "default, small data"
 *
 * Split: the 1,600 shared faces (../shared/data/faces) in a seeded order; the last 400 are held out
 * (never trained on, the SWD reference), the first 1,200 train; `--train 400` uses the first 400 of
 * those (the small-data column). Budget: `--minutes` of wall-clock (fair only on an otherwise idle
 * machine) or `--cpu-minutes` of this process's CPU time, its worker threads included (fair under other
 * load). Setup (decoding the faces) counts; the final evaluation does not. Beside SWD, the memorisation
 * check (src/core/gan/memorisation.ts): nearest training vs nearest held-out face of each sample.
 *
 * The run computes SWD against its training faces every --swd-every steps (500, as the app does) and
 * keeps its best checkpoint (src/core/gan/best-checkpoint.ts); the held-out measurement, the memorisation
 * check and the grid are of that checkpoint, as the app's Explorer opens it (--swd-every 0: the last step).
 *
 * Rows go to docs/quality/results.jsonl (or --out); grids to .tmp/quality/<row id>/ unless --keep-dir.
 * --keep-dir of an earlier run's folder continues that run (same split and recipe) for another budget.
 */
import { availableParallelism, cpus } from 'node:os';
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { selectBackend } from '../src/core/gan/backend.ts';
import { isPresetName, resolveGanConfig, type GanConfigOverrides } from '../src/core/gan/config.ts';
import { recipeFlags, recipeOverrides } from '../src/cli/recipe-options.ts';
import { evaluateMemorisation, evaluateRun, type EvaluationResult } from '../src/core/gan/evaluate.ts';
import { runTraining } from '../src/core/gan/run.ts';
import { appendJsonl } from '../src/core/util/jsonl.ts';
import { RunControl } from '../src/core/util/run-control.ts';
import { HELD_OUT, qualitySplit } from './quality-split.ts';

const root = resolve(import.meta.dirname, '..');

const usage =
  'npm run quality -- [--preset NAME] [--seed N] [--train 1200|400] (--minutes N | --cpu-minutes N) ' +
  '[--workers N] [--swd-every N] [--label TEXT] [--out FILE] [--faces DIR] [--keep-dir DIR] [recipe flags, as kao train]';

const flagOptions = {
  preset: { type: 'string', default: 'anime-48' },
  label: { type: 'string' },
  seed: { type: 'string', default: '1' },
  train: { type: 'string', default: '1200' },
  minutes: { type: 'string' },
  'cpu-minutes': { type: 'string' },
  workers: { type: 'string' },
  'swd-every': { type: 'string', default: '500' },
  ...recipeFlags,
  faces: { type: 'string', default: join(root, '..', 'shared', 'data', 'faces') },
  out: { type: 'string', default: join(root, 'docs', 'quality', 'results.jsonl') },
  'keep-dir': { type: 'string' },
  help: { type: 'boolean' },
} as const;

function parseFlags() {
  try {
    return parseArgs({ options: flagOptions });
  } catch (error) {
    console.error(`quality: ${error instanceof Error ? error.message : String(error)}\nusage: ${usage}`);
    process.exit(2);
  }
}

const { values } = parseFlags();
if (values.help) {
  console.log(`usage: ${usage}`);
  process.exit(0);
}

function fail(message: string): never {
  console.error(`quality: ${message}`);
  process.exit(2);
}

function number(
  name: 'seed' | 'train' | 'minutes' | 'cpu-minutes' | 'workers' | 'swd-every',
): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  const least = name === 'swd-every' ? 0 : Number.MIN_VALUE;
  if (!Number.isFinite(n) || n < least)
    fail(`--${name} must be ${least === 0 ? '0 or more' : 'a positive number'}, got ${raw}`);
  return n;
}

const preset = values.preset!;
if (!isPresetName(preset)) fail(`unknown preset ${preset}`);
let overrides: GanConfigOverrides;
try {
  overrides = recipeOverrides(values);
} catch (error) {
  fail((error as Error).message);
}
const config = resolveGanConfig(preset, overrides);
const seed = number('seed')!;
const trainCount = number('train')!;
const wallBudget = number('minutes');
const cpuBudget = number('cpu-minutes');
if ((wallBudget === undefined) === (cpuBudget === undefined)) fail('give --minutes or --cpu-minutes');
const workers = number('workers') ?? availableParallelism();
const swdEvery = Math.round(number('swd-every')!);

const { trainFaces, heldOut } = await qualitySplit(resolve(values.faces!), trainCount).catch(
  (error: unknown) => fail((error as Error).message),
);

const id = `${new Date().toISOString().replace(/[:.]/g, '-')}-${preset}-s${seed}-n${trainCount}`;
const runDir = resolve(values['keep-dir'] ?? join(root, '.tmp', 'quality', id));
await mkdir(runDir, { recursive: true });

const backend = await selectBackend('wasm');
const control = new RunControl();
const startWall = performance.now();
const startCpu = process.cpuUsage();
const cpuSeconds = () => {
  const used = process.cpuUsage(startCpu);
  return (used.user + used.system) / 1e6;
};
const wallSeconds = () => (performance.now() - startWall) / 1000;
const spent = () =>
  wallBudget !== undefined ? wallSeconds() / 60 / wallBudget : cpuSeconds() / 60 / cpuBudget!;
let lastReport = 0;
const result = await runTraining(
  {
    runDir,
    faces: trainFaces,
    preset,
    overrides,
    seed,
    steps: 1_000_000,
    checkpointEvery: 0,
    sampleEvery: 1_000_000, // a grid at step 0 and at the stop only
    swdEvery,
    logEvery: 50,
    workers,
    backend: backend.name,
    owner: 'quality harness',
  },
  {
    control,
    onProgress: (p) => {
      if (spent() >= 1 && !control.cancelled) control.cancel('budget spent');
      if (performance.now() - lastReport > 30_000) {
        lastReport = performance.now();
        console.error(
          `step ${p.step}  ${(spent() * 100).toFixed(0)} % of the budget  ${p.imagesPerSec.toFixed(1)} images/s  D ${p.lossD.toFixed(3)} G ${p.lossG.toFixed(3)}`,
        );
      }
    },
    onWarning: (m) => console.error(`warning: ${m}`),
  },
);
const trainedWall = wallSeconds();
const trainedCpu = cpuSeconds();

async function evaluate(raw: boolean): Promise<EvaluationResult> {
  return evaluateRun(runDir, heldOut, { n: HELD_OUT, seed: 1, raw });
}
const primary = await evaluate(false);
const raw = config.emaDecay > 0 ? await evaluate(true) : undefined;
// Beside SWD, which cannot see copying: are samples nearer to training faces than to unseen ones?
const copying = await evaluateMemorisation(runDir, trainFaces, heldOut, { n: HELD_OUT, seed: 1 });
const grids = (await readdir(join(runDir, 'samples'))).filter((n) => /^step-\d+\.png$/.test(n));
const grid = join(runDir, 'samples', `step-${primary.step}.png`);
if (!grids.includes(`step-${primary.step}.png`)) fail(`no sample grid for step ${primary.step}`);
await copyFile(grid, join(runDir, 'final-grid.png'));

const levels = (e: EvaluationResult) =>
  Object.fromEntries(e.swd.levels.map((l) => [l.resolution, round(l.swd)]));
function round(x: number): number {
  return Math.round(x * 100) / 100;
}
function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).toString().trim();
} catch {
  /* not a checkout */
}
const row = {
  id,
  label: values.label ?? '',
  preset,
  overrides,
  seed,
  train: trainCount,
  heldOut: HELD_OUT,
  budget: wallBudget !== undefined ? { wallMinutes: wallBudget } : { cpuMinutes: cpuBudget },
  steps: result.step,
  // The checkpoint measured: the best by in-training SWD (on training faces) when the run kept one.
  evaluatedStep: primary.step,
  swdEvery,
  // A continued run (--keep-dir of an earlier run) trained from this step; its budget is this call's alone.
  ...(result.resumedFrom !== undefined ? { resumedFrom: result.resumedFrom } : {}),
  wallSeconds: round(trainedWall),
  cpuSeconds: round(trainedCpu),
  imagesPerSec: round(((result.step - (result.resumedFrom ?? 0)) * config.batchSize) / trainedWall),
  swd: round(primary.swd.average),
  swdLevels: levels(primary),
  ...(raw ? { swdRaw: round(raw.swd.average), swdRawLevels: levels(raw) } : {}),
  memorisation: {
    ratio: round3(copying.ratio),
    nearCopies: round3(copying.nearCopies),
  },
  sampled: config.emaDecay > 0 ? 'ema' : 'raw',
  grid: join(runDir, 'final-grid.png'),
  backend: backend.name,
  workers,
  cpu: `${cpus()[0]?.model ?? 'unknown'} ×${availableParallelism()}`,
  commit,
  time: new Date().toISOString(),
};
await mkdir(resolve(values.out!, '..'), { recursive: true });
await appendJsonl(resolve(values.out!), row);
console.log(JSON.stringify(row));
