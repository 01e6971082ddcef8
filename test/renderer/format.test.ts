import { describe, expect, it } from 'vitest';
import {
  errorMessage,
  formatBytes,
  formatDuration,
  formatNumber,
  formatSteps,
  formatStepsShort,
} from '../../src/renderer/src/lib/format.ts';
import { KaoError } from '../../src/shared/errors.ts';

describe('formatDuration', () => {
  it('writes seconds, minutes, hours and days compactly, with zero-padded minor units', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(44.6)).toBe('45s');
    expect(formatDuration(59.4)).toBe('59s');
    expect(formatDuration(60)).toBe('1m 00s');
    expect(formatDuration(200)).toBe('3m 20s');
    expect(formatDuration(3599)).toBe('59m 59s');
    expect(formatDuration(3720)).toBe('1h 02m');
    expect(formatDuration(2 * 86400 + 3 * 3600 + 5)).toBe('2d 3h');
  });

  it('prints a dash for what is not known', () => {
    expect(formatDuration(undefined)).toBe('—');
    expect(formatDuration(Number.NaN)).toBe('—');
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe('—');
    expect(formatDuration(-1)).toBe('—');
  });
});

describe('formatBytes', () => {
  it('uses binary units with one decimal below ten of a unit', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KB');
    expect(formatBytes(12.4 * 1024)).toBe('12 KB');
    expect(formatBytes(50 * 1024 * 1024)).toBe('50 MB');
    expect(formatBytes(3.25 * 1024 ** 3)).toBe('3.3 GB');
    expect(formatBytes(2 * 1024 ** 5)).toBe('2048 TB');
  });

  it('prints a dash for what is not known', () => {
    expect(formatBytes(undefined)).toBe('—');
    expect(formatBytes(-5)).toBe('—');
  });
});

describe('numbers and steps', () => {
  it('keeps three significant digits and groups large values', () => {
    expect(formatNumber(0.123456)).toBe('0.123');
    expect(formatNumber(12345.6)).toBe('12,346');
    expect(formatNumber(0.00001234)).toBe('1.2e-5');
    expect(formatNumber(0)).toBe('0');
    expect(formatNumber(Number.NaN)).toBe('—');
  });

  it('writes steps in full, or compactly for the run list', () => {
    expect(formatSteps(1200, 20000)).toBe('1,200 / 20,000');
    expect(formatStepsShort(1200, 100_000)).toBe('1,200 / 100K');
    expect(formatStepsShort(40, 5000)).toBe('40 / 5,000');
  });
});

describe('errorMessage', () => {
  it('shows an error by its message, anything else as text', () => {
    expect(errorMessage(new Error('disk full'))).toBe('disk full');
    expect(errorMessage(new KaoError('not-found', 'No such run'))).toBe('No such run');
    expect(errorMessage('plain')).toBe('plain');
    expect(errorMessage(42)).toBe('42');
  });
});
