import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

/**
 * What the network benches share: a plain-text table (left-aligned text columns,
 * right-aligned figures), flag parsing, the command around a bench, and small waits.
 */

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

/** Everything a bench measured and every setting, as --json writes it. */
export function netBenchReport(bench: string, settings: object, results: object[]): object {
  return { bench, node: process.version, date: new Date().toISOString(), settings, results };
}

/** Writes `report` to `path` as JSON and says so. */
export function writeJsonReport(path: string, report: object): void {
  writeFileSync(path, JSON.stringify(report, null, 2));
  console.log(`\nwrote ${path}`);
}

/** True when the module at `url` (its import.meta.url) is the script node was started with. */
export function isMainModule(url: string): boolean {
  return process.argv[1] !== undefined && url === pathToFileURL(process.argv[1]).href;
}

/** The measured window every network bench has: `seconds` after `warmupSeconds` of traffic. */
export interface NetBenchWindow {
  seconds: number;
  warmupSeconds: number;
}

/**
 * One network bench as a command: `--<countsFlag> a,b,… --<kindsFlag> x,y,… --seconds S
 * --warmup S --json FILE`, each flag optional over `defaults`.
 */
export interface NetBenchCommand<O extends NetBenchWindow, R extends object> {
  /** Names the bench in the watchdog's message. */
  name: string;
  defaults: O;
  /** The flag listing positive integers (sizes, connection counts); `setCounts` stores them (and may refuse them). */
  countsFlag: string;
  setCounts(options: O, counts: number[], text: string): void;
  /** The flag listing what is measured (modes, servers); `setKinds` stores them. */
  kindsFlag: string;
  setKinds(options: O, kinds: string[]): void;
  /** A generous bound on how long `run` may take (s), for a watchdog. */
  budgetSeconds(options: O): number;
  /** Runs the bench; prints one line per run as it goes. */
  run(options: O): Promise<R[]>;
  /** Prints the results as one table. */
  print(results: R[], options: O): void;
  /** Everything measured and every setting, for --json. */
  report(options: O, results: R[]): object;
}

/** Parses the command line, runs `command` under a watchdog, prints its table and writes --json. */
export async function runNetBenchCommand<O extends NetBenchWindow, R extends object>(command: NetBenchCommand<O, R>): Promise<void> {
  const { values } = parseArgs({
    options: {
      [command.countsFlag]: { type: 'string' },
      [command.kindsFlag]: { type: 'string' },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      json: { type: 'string' },
    },
  });
  const flag = (name: string): string | undefined => values[name] as string | undefined;
  const options: O = { ...command.defaults };
  const counts = flag(command.countsFlag);
  if (counts) command.setCounts(options, parseIntegerList(command.countsFlag, counts), counts);
  const kinds = flag(command.kindsFlag);
  if (kinds) command.setKinds(options, kinds.split(',').map((s) => s.trim()));
  const seconds = flag('seconds');
  if (seconds) options.seconds = parsePositive('seconds', seconds);
  const warmup = flag('warmup');
  if (warmup) options.warmupSeconds = parsePositive('warmup', warmup);
  startWatchdog(command.budgetSeconds(options), command.name);
  const results = await command.run(options);
  command.print(results, options);
  const json = flag('json');
  if (json) writeJsonReport(json, command.report(options, results));
}
