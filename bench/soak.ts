/**
 * The soak check from the command line: starts a ringwire server (ringwire-2), runs the
 * harness's soak workload against it for --seconds, samples the server's RSS every
 * second, prints a summary table, and fails on any lost, duplicated, reordered or
 * corrupted datagram or on RSS growth past the bound after warm-up (see
 * bench/harness/soak-check.ts for the exact rules).
 *
 *   npm run build && tsx bench/soak.ts [--seconds 600] [--json FILE] [--quiet]
 *
 * Exit status: 0 passed; 1 failed (or the run could not be made); 2 a bad command line;
 * 130 interrupted (the server and every connection are closed first).
 */
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { formatProgress } from './harness/output/console.js';
import {
  DEFAULT_SOAK_SECONDS,
  RSS_GROWTH_BOUND_BYTES,
  SOAK_TARGET,
  WARMUP_FRACTION,
  WARMUP_MAX_SECONDS,
  formatSoakCheck,
  runSoakCheck,
} from './harness/soak-check.js';
import type { Progress } from './harness/workloads/load-run.js';
import { InterruptedError } from './harness/workloads/run-workload.js';

/** Without a TTY, a progress line every this many seconds. */
const PLAIN_PROGRESS_EVERY = 10;

const USAGE = `usage: tsx bench/soak.ts [--seconds N] [--json FILE] [--quiet]

Soaks a ringwire server (${SOAK_TARGET}) with the harness's soak workload and fails on any
lost, duplicated, reordered or corrupted datagram, or when the server's RSS grows more
than ${RSS_GROWTH_BOUND_BYTES / (1024 * 1024)} MiB after warm-up (the first ${WARMUP_FRACTION * 100}% of the run or ${WARMUP_MAX_SECONDS} s, whichever is less).

  --seconds N   how long to soak (default ${DEFAULT_SOAK_SECONDS})
  --json FILE   write the verdict, the run's report and the RSS samples as JSON
  --quiet       no progress line
  --help        this text

exit status: 0 passed · 1 failed · 2 bad usage · 130 interrupted
`;

class UsageError extends Error {}

interface CommandLine {
  help: boolean;
  seconds: number;
  json: string | null;
  quiet: boolean;
}

function parseCommandLine(argv: string[]): CommandLine {
  let values: { seconds?: string; json?: string; quiet?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        seconds: { type: 'string' },
        json: { type: 'string' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  let seconds = DEFAULT_SOAK_SECONDS;
  if (values.seconds !== undefined) {
    const text = values.seconds.trim();
    seconds = /^\d+(\.\d+)?$/.test(text) ? Number(text) : Number.NaN;
    if (!(seconds > 0 && seconds <= 7 * 86_400)) {
      throw new UsageError(`--seconds must be a number greater than 0 and at most 604800, got ${JSON.stringify(values.seconds)}`);
    }
  }
  let json: string | null = null;
  if (values.json !== undefined) {
    if (values.json.trim() === '') throw new UsageError('--json needs a file name');
    json = resolve(values.json);
    const dir = dirname(json);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`--json ${values.json}: the directory ${dir} does not exist`);
  }
  return { help: values.help === true, seconds, json, quiet: values.quiet === true };
}

/** On a TTY one line rewritten in place; elsewhere a line every PLAIN_PROGRESS_EVERY seconds. */
function progressPrinter(quiet: boolean): { update: (progress: Progress, rss: number | null) => void; end: () => void } {
  const stream = process.stderr;
  const tty = stream.isTTY === true;
  let shown = false;
  let ticks = 0;
  return {
    update(progress, rss) {
      if (quiet) return;
      const line = `${formatProgress(progress)} · server RSS ${rss === null ? '–' : `${(rss / (1024 * 1024)).toFixed(1)} MiB`}`;
      if (tty) {
        stream.write(`\r\x1b[2K${line}`);
        shown = true;
      } else if (ticks++ % PLAIN_PROGRESS_EVERY === 0) {
        stream.write(`${line}\n`);
      }
    },
    end() {
      if (tty && shown) stream.write('\r\x1b[2K');
      shown = false;
    },
  };
}

async function main(argv: string[]): Promise<number> {
  let cli: CommandLine;
  try {
    cli = parseCommandLine(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`soak: ${error.message}\nrun with --help for the flags\n`);
    return 2;
  }
  if (cli.help) {
    process.stdout.write(USAGE);
    return 0;
  }

  const controller = new AbortController();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      process.stderr.write(`\nsoak: ${signal} again: exiting now\n`);
      process.exit(130);
    }
    process.stderr.write(`\nsoak: ${signal}: closing connections and stopping the server (again to exit at once)\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const progress = progressPrinter(cli.quiet);
  try {
    const report = await runSoakCheck({ seconds: cli.seconds, signal: controller.signal, onProgress: progress.update });
    progress.end();
    process.stdout.write(`${formatSoakCheck(report)}\n`);
    if (cli.json !== null) {
      writeFileSync(cli.json, `${JSON.stringify(report, null, 2)}\n`);
      if (!cli.quiet) process.stderr.write(`report written to ${cli.json}\n`);
    }
    return report.passed ? 0 : 1;
  } catch (error) {
    progress.end();
    if (error instanceof InterruptedError) {
      process.stderr.write('soak: interrupted\n');
      return 130;
    }
    process.stderr.write(`soak: FAIL: ${(error as Error).message}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Everything opened has been closed; should a stray handle still hold the process, it exits anyway.
    setTimeout(() => process.exit(code), 5000).unref();
  },
  (error: unknown) => {
    process.stderr.write(`soak: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(1);
  },
);
