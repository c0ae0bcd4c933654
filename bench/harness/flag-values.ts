/**
 * The values the harness's commands and scenario options take, parsed once: integers,
 * decimals and durations (`10`, `10s`, `1.5m`, `500ms`, `1h`; a bare number is seconds).
 * A bad flag is a UsageError naming the flag and the value.
 */
import { formatCount } from './output/console.js';
import { UsageError } from './workloads/workload-settings.js';

const DURATION_UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };

/** Seconds in a duration's text, or NaN when it is not one. */
export function secondsIn(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)?\s*$/.exec(text);
  return match === null ? Number.NaN : Number(match[1]) * DURATION_UNITS[match[2] ?? 's'];
}

export function integer(text: string, flag: string, min: number, max: number): number {
  const value = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${flag} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  }
  return value;
}

export function duration(text: string, flag: string, min: number, max: number, minExclusive = false): number {
  const value = secondsIn(text);
  if (!Number.isFinite(value) || value < min || (minExclusive && value === min) || value > max) {
    const range = minExclusive ? `greater than ${min} s and at most ${formatCount(max)} s` : `from ${min} to ${formatCount(max)} s`;
    throw new UsageError(`--${flag} must be a duration ${range} (10, 10s, 1.5m, 500ms), got ${JSON.stringify(text)}`);
  }
  return value;
}

export function decimal(text: string, flag: string, min: number, max: number, minExclusive = false): number {
  const value = /^\d+(\.\d+)?$|^\.\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isFinite(value) || value < min || (minExclusive && value === min) || value > max) {
    const range = minExclusive ? `greater than ${min} and at most ${formatCount(max)}` : `from ${min} to ${formatCount(max)}`;
    throw new UsageError(`--${flag} must be a number ${range}, got ${JSON.stringify(text)}`);
  }
  return value;
}
