/**
 * How the UI writes numbers, sizes, durations and errors: one place, so every screen says "3m 20s" and
 * "1.5 KB" the same way. Unknown values print as an em dash.
 */

/** "45s", "3m 20s", "1h 02m", "2d 3h": an ETA, a run's length, an estimate. */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** "512 B", "1.5 KB", "50 MB": one decimal below 10 of a unit, none above. */
export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes) || bytes < 0) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** Three significant digits at most, without exponent notation for everyday magnitudes. */
export function formatNumber(value: number | undefined, digits = 3): string {
  if (value === undefined || !Number.isFinite(value)) return '—';
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US');
  if (abs === 0) return '0';
  if (abs < 1e-3) return value.toExponential(1);
  return Number(value.toPrecision(digits)).toString();
}

/** "1,200 / 5,000". */
export function formatSteps(step: number, total: number): string {
  return `${step.toLocaleString('en-US')} / ${total.toLocaleString('en-US')}`;
}

const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });
/** "1,200 / 100K": the run list's short form. */
export function formatStepsShort(step: number, total: number): string {
  return `${step.toLocaleString('en-US')} / ${total >= 10_000 ? compact.format(total) : total.toLocaleString('en-US')}`;
}

/** What to show of a caught error: its message (services send messages written for the user). */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
