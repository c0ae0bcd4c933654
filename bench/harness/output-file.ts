import { existsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UsageError } from './workloads/workload-settings.js';

/**
 * The absolute path of an output file named by `--<flag> <text>`, checked before the run
 * starts so that a long run is not lost to a typo. Throws a UsageError when the name is
 * empty or its directory does not exist.
 */
export function outputFile(text: string, flag: string): string {
  if (text.trim() === '') throw new UsageError(`--${flag} needs a file name`);
  const path = resolve(text);
  const dir = dirname(path);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new UsageError(`--${flag} ${text}: the directory ${dir} does not exist`);
  }
  return path;
}

/** Writes `text` to `path` (checked by {@link outputFile}) and, unless `quiet`, says so on stderr. */
export function writeOutput(path: string, text: string, what: string, quiet: boolean): void {
  writeFileSync(path, text);
  if (!quiet) process.stderr.write(`${what} written to ${path}\n`);
}
