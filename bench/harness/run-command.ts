/**
 * The frame of the harness's commands (ringwire-bench, bench/soak.ts): the command line
 * checked before anything starts, `--help`, the first SIGINT/SIGTERM turned into an abort
 * (a second one exits at once), and one exit status for every way a run ends:
 * 0 or 1 from the run, 1 when it threw, 2 a bad command line, 130 interrupted.
 */
import { InterruptedError } from './workloads/run-workload.js';
import { UsageError } from './workloads/workload-settings.js';

/** How long leftover handles may keep the process alive after the run before it exits anyway (ms). */
const EXIT_GRACE_MS = 5000;

/** One command: how it reads its command line and what it runs. */
export interface Command<C extends { help: boolean }> {
  /** Starts every message the command writes to stderr. */
  name: string;
  /** The `--help` text. */
  usage: string;
  /** The line after a usage error, saying how to get the flags. */
  helpHint: string;
  /** What the first signal says is being closed ("closing connections and …"). */
  closing: string;
  /** Put before the message of an error that ended the run ('FAIL: ', or ''). */
  failurePrefix: string;
  /** Written when a stray handle still holds the process after the grace period; nothing when absent. */
  strayHandleNote?: string;
  /** Parses and checks `argv`; throws a UsageError naming the flag and the value. */
  parse(argv: string[]): C;
  /**
   * Runs the command; resolves the exit status (0 or 1). `signal` aborts on the first
   * SIGINT/SIGTERM, and the run then throws an InterruptedError.
   */
  run(cli: C, signal: AbortSignal): Promise<number>;
}

/** Runs `command` on `argv` and exits with its status once everything it opened has closed. */
export function runCommand<C extends { help: boolean }>(command: Command<C>, argv: string[]): void {
  exitCommand(command, interruptibleMain(command, argv));
}

async function interruptibleMain<C extends { help: boolean }>(command: Command<C>, argv: string[]): Promise<number> {
  const name = command.name;
  let cli: C;
  try {
    cli = command.parse(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${name}: ${error.message}\n${command.helpHint}\n`);
    return 2;
  }
  if (cli.help) {
    process.stdout.write(command.usage);
    return 0;
  }

  const controller = new AbortController();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      process.stderr.write(`\n${name}: ${signal} again: exiting now\n`);
      process.exit(130);
    }
    process.stderr.write(`\n${name}: ${signal}: ${command.closing} (again to exit at once)\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await command.run(cli, controller.signal);
  } catch (error) {
    if (error instanceof InterruptedError) {
      process.stderr.write(`${name}: interrupted\n`);
      return 130;
    }
    process.stderr.write(`${name}: ${command.failurePrefix}${(error as Error).message}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function exitCommand(command: Command<{ help: boolean }>, main: Promise<number>): void {
  main.then(
    (code) => {
      process.exitCode = code;
      // Everything opened has been closed; should a stray handle still hold the process,
      // it exits anyway rather than hang (the harness stops by itself).
      setTimeout(() => {
        if (command.strayHandleNote !== undefined) process.stderr.write(`${command.name}: ${command.strayHandleNote}\n`);
        process.exit(code);
      }, EXIT_GRACE_MS).unref();
    },
    (error: unknown) => {
      process.stderr.write(`${command.name}: ${(error as Error)?.stack ?? String(error)}\n`);
      process.exit(1);
    },
  );
}
