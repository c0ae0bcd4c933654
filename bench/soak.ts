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
import { parseArgs } from 'node:util';
import { outputFile, writeOutput } from './harness/output-file.js';
import { formatProgress } from './harness/output/console.js';
import { runCommand } from './harness/run-command.js';
import {
  DEFAULT_SOAK_SECONDS,
  RSS_GROWTH_BOUND_BYTES,
  SOAK_TARGET,
  WARMUP_FRACTION,
  WARMUP_MAX_SECONDS,
  formatSoakCheck,
  runSoakCheck,
} from './harness/soak-check.js';
import type { Progress } from './harness/workloads/run-workload.js';
import { UsageError } from './harness/workloads/workload-settings.js';

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
  const json = values.json === undefined ? null : outputFile(values.json, 'json');
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

/** Soaks the server; 1 when the check failed. */
async function soak(cli: CommandLine, signal: AbortSignal): Promise<number> {
  const progress = progressPrinter(cli.quiet);
  try {
    const report = await runSoakCheck({ seconds: cli.seconds, signal, onProgress: progress.update });
    progress.end();
    process.stdout.write(`${formatSoakCheck(report)}\n`);
    if (cli.json !== null) writeOutput(cli.json, `${JSON.stringify(report, null, 2)}\n`, 'report', cli.quiet);
    return report.passed ? 0 : 1;
  } catch (error) {
    progress.end();
    throw error;
  }
}

runCommand(
  {
    name: 'soak',
    usage: USAGE,
    helpHint: 'run with --help for the flags',
    closing: 'closing connections and stopping the server',
    failurePrefix: 'FAIL: ',
    parse: parseCommandLine,
    run: soak,
  },
  process.argv.slice(2),
);
