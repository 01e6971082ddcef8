/**
 * Markdown table of quality-harness rows: one line per recipe label and training-set size, mean and
 * spread (min–max) over its seeds.
 *
 *   node --import tsx scripts/quality-table.ts docs/quality/screen.jsonl
 */
import { readJsonl } from '../src/core/util/jsonl.ts';

interface Row {
  label: string;
  seed: number;
  train: number;
  steps: number;
  swd: number;
  swdLevels: Record<string, number>;
  swdRaw?: number;
  budget: { cpuMinutes?: number; wallMinutes?: number };
}

const file = process.argv[2];
if (!file) {
  console.error('usage: quality-table.ts RESULTS.jsonl');
  process.exit(2);
}
const rows = (await readJsonl(file)) as Row[];
const groups = new Map<string, Row[]>();
for (const row of rows) {
  const budget =
    row.budget.cpuMinutes !== undefined
      ? `${row.budget.cpuMinutes} CPU-min`
      : `${row.budget.wallMinutes} min`;
  const key = `${row.label}\u0000${row.train}\u0000${budget}`;
  groups.set(key, [...(groups.get(key) ?? []), row]);
}

function stat(values: number[], digits = 1): string {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  if (values.length === 1) return mean.toFixed(digits);
  return `${mean.toFixed(digits)} (${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)})`;
}

console.log('| recipe | faces | budget | seeds | steps | SWD avg | 48 px | 24 px | raw G avg |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const [key, group] of groups) {
  const [label, train, budget] = key.split('\u0000');
  const raw = group.filter((r) => r.swdRaw !== undefined).map((r) => r.swdRaw!);
  console.log(
    `| ${label} | ${train} | ${budget} | ${group.map((r) => r.seed).join(', ')} | ${stat(
      group.map((r) => r.steps),
      0,
    )} | ` +
      `${stat(group.map((r) => r.swd))} | ${stat(group.map((r) => r.swdLevels['48']!))} | ` +
      `${stat(group.map((r) => r.swdLevels['24']!))} | ${raw.length ? stat(raw) : '—'} |`,
  );
}
