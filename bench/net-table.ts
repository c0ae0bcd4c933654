import { readFileSync } from 'node:fs';

/** A plain-text table for the network benches: left-aligned text columns, right-aligned figures. */

/** Prints `rows` under `title`; the first `textColumns` columns are left-aligned, the rest right-aligned. */
export function printColumns(title: string, header: string[], rows: string[][], textColumns = 1, notes: string[] = []): void {
  const widths = header.map((h, col) => Math.max(h.length, ...rows.map((row) => (row[col] ?? '').length)));
  const format = (row: string[]): string =>
    header
      .map((_, col) => {
        const cell = row[col] ?? '';
        return col < textColumns ? cell.padEnd(widths[col]) : cell.padStart(widths[col]);
      })
      .join('  ')
      .trimEnd();
  console.log(`\n${title}`);
  console.log(format(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(format(row));
  for (const note of notes) console.log(note);
}

/** A count or rate with thousands separators and no decimals. */
export function formatCount(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '-';
}

/** A number with `digits` decimals, or '-' when it is not finite. */
export function formatFixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '-';
}

/** A list of positive integers from a flag such as `500,1000,2000`; throws a RangeError naming the flag. */
export function parseIntegerList(flag: string, text: string): number[] {
  const values = text.split(',').map((part) => Number(part.trim()));
  if (values.length === 0 || values.some((v) => !Number.isInteger(v) || v <= 0)) {
    throw new RangeError(`--${flag} must be a comma-separated list of positive integers, got ${text}`);
  }
  return values;
}

/** A positive number from a flag; throws a RangeError naming the flag. */
export function parsePositive(flag: string, text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`--${flag} must be a positive number, got ${text}`);
  return value;
}

/**
 * Ends the process with an error if it is still running after `seconds` (unref'd: it never
 * keeps the process alive). The benches' last line of defence against a hang.
 */
export function startWatchdog(seconds: number, what: string): void {
  setTimeout(() => {
    console.error(`${what}: still running after ${Math.round(seconds)} s; giving up`);
    process.exit(1);
  }, seconds * 1000).unref();
}

/** The soft limit on open files (Linux /proc/self/limits), or Infinity when unknown. */
export function openFileLimit(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? Infinity : Number(soft);
  } catch {
    return Infinity;
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every `everyMs` until it holds (true) or `timeoutMs` passes (false). */
export async function waitFor(condition: () => boolean, timeoutMs: number, everyMs = 10): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) return false;
    await sleep(everyMs);
  }
  return true;
}
