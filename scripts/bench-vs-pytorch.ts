/**
 * Kao's training step against PyTorch's CPU build, side by side: the same step (a preset at batch 64, one D
 * and `--g-steps` G updates) timed by `kao bench` and by scripts/bench-pytorch.py, alternating in rounds so
 * that both see the same machine. Prints one row per contestant (median images/s over the rounds, each
 * round the median of its steps) and the ratio. PyTorch is not a dependency: install it first
 * (Debian: `apt-get install python3-torch libopenblas0-pthread`).
 *
 *   node --import tsx scripts/bench-vs-pytorch.ts [--rounds 3] [--preset anime-48] [--g-steps 1] [--steps 7]
 *     [--blas-threads 1|torch] [--json]
 *
 * `--blas-threads torch` gives OpenBLAS as many threads as torch has (its default is 1).
 *
 * Run it on an otherwise idle machine: the figures are wall-clock.
 */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const root = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    preset: { type: 'string', default: 'anime-48' },
    'g-steps': { type: 'string', default: '1' },
    steps: { type: 'string', default: '7' },
    python: { type: 'string', default: '/usr/bin/python3' },
    'blas-threads': { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
  },
});

function positive(name: 'rounds' | 'g-steps' | 'steps'): number {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n <= 0) {
    console.error(`bench-vs-pytorch: --${name} must be a positive whole number, got ${values[name]}`);
    process.exit(2);
  }
  return n;
}
const rounds = positive('rounds');
const gSteps = positive('g-steps');
const steps = positive('steps');
const preset = values.preset;

type Contestant = { name: string; run: () => number };

/** Runs a benchmark command and parses the JSON it prints (its progress goes to our stderr). */
function jsonOf(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): unknown {
  const out = execFileSync(command, args, {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env,
  });
  return JSON.parse(out);
}

/** The flags both benchmarks share: the step to time and how many times. */
const stepFlags = ['--preset', preset, '--g-steps', String(gSteps), '--steps', String(steps), '--json'];

function kaoRow(): number {
  const kao = join(root, 'bin', 'kao.js');
  const [row] = jsonOf(process.execPath, [kao, 'bench', '--backend', 'wasm', ...stepFlags]) as Array<{
    imagesPerSec: number;
  }>;
  if (!row) throw new Error('kao bench printed no row');
  return row.imagesPerSec;
}

function pytorchRow(threads: number): number {
  const script = join(root, 'scripts', 'bench-pytorch.py');
  // One OpenBLAS thread by default: its own pool under torch's threads oversubscribes a 2-core machine.
  const blas = values['blas-threads'] === 'torch' ? String(threads) : values['blas-threads'];
  const env = { ...process.env, OPENBLAS_NUM_THREADS: blas };
  const row = jsonOf(values.python, [script, ...stepFlags, '--threads', String(threads)], env);
  return (row as { imagesPerSec: number }).imagesPerSec;
}

const contestants: Contestant[] = [
  { name: 'Kao, WebAssembly, 2 workers', run: kaoRow },
  { name: 'PyTorch CPU, 1 thread', run: () => pytorchRow(1) },
  { name: 'PyTorch CPU, 2 threads', run: () => pytorchRow(2) },
];

const results = new Map<string, number[]>(contestants.map((c) => [c.name, []]));
for (let round = 1; round <= rounds; round++) {
  // Alternate the order too, so that neither side always runs right after the other.
  const order = round % 2 === 1 ? contestants : [...contestants].reverse();
  for (const c of order) {
    const imagesPerSec = c.run();
    results.get(c.name)!.push(imagesPerSec);
    console.error(`round ${round}: ${c.name} ${imagesPerSec.toFixed(1)} images/s`);
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const rows = contestants.map((c) => ({
  name: c.name,
  rounds: results.get(c.name)!,
  median: median(results.get(c.name)!),
}));
const kao = rows[0]!.median;
const bestTorch = Math.max(...rows.slice(1).map((r) => r.median));
const summary = {
  preset,
  batch: 64,
  gSteps,
  stepsPerRound: steps,
  cpu: `${cpus()[0]?.model ?? 'unknown'} ×${cpus().length}`,
  rows,
  kaoOverBestPytorch: kao / bestTorch,
  time: new Date().toISOString(),
};
if (values.json) {
  console.log(JSON.stringify(summary));
} else {
  for (const r of rows)
    console.log(
      `${r.name.padEnd(30)} ${r.median.toFixed(1).padStart(7)} images/s  (rounds: ${r.rounds.map((x) => x.toFixed(1)).join(', ')})`,
    );
  console.log(`Kao / best PyTorch: ${(kao / bestTorch).toFixed(2)}×`);
}
