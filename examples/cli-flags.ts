/**
 * Command-line flags for the example programs, on top of node:util parseArgs.
 *
 * Each program declares its flags once (name, help, default, how to convert the text);
 * `parseFlags` parses `--name value` / `--name=value` (a switch is `--name` alone), answers
 * `--help`, and turns any mistake (unknown flag, missing value, stray argument, bad value,
 * flags that do not go together) into one clear line on stderr, the usage text, and exit
 * code 2.
 */
import { basename, dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** A bad command line: the message names the flag and the value. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** One flag: its help line, its default, and how its text becomes a value. */
export interface Flag<T> {
  /** What the flag does (one line). */
  readonly help: string;
  /** The value when the flag is absent. */
  readonly fallback: T;
  /** How the default reads in the usage text ('' leaves it out). */
  readonly shown: string;
  /** Placeholder in the usage text, e.g. `<port>`. */
  readonly placeholder: string;
  /** Converts the flag's text; throws a UsageError naming `flag` for a bad value. */
  parse(text: string, flag: string): T;
  /** A switch: `--name` alone, no value (true when given). */
  readonly isSwitch?: boolean;
}

/** The values of a set of flags, by flag name. */
export type FlagValues<S extends Record<string, Flag<unknown>>> = { [K in keyof S]: S[K] extends Flag<infer T> ? T : never };

/** A string flag; `check` may reject a value by returning the reason. */
export function stringFlag(help: string, fallback: string, check?: (value: string) => string | null, placeholder = '<text>'): Flag<string> {
  return {
    help,
    fallback,
    shown: fallback,
    placeholder,
    parse(text, flag) {
      const reason = text === '' ? 'must not be empty' : (check?.(text) ?? null);
      if (reason !== null) throw new UsageError(`--${flag} ${reason}, got ${JSON.stringify(text)}`);
      return text;
    },
  };
}

/** An integer flag from `min` to `max`. */
export function integerFlag(help: string, fallback: number, min: number, max: number, placeholder = '<n>'): Flag<number> {
  return {
    help,
    fallback,
    shown: String(fallback),
    placeholder,
    parse(text, flag) {
      const value = /^-?\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
      if (!Number.isSafeInteger(value) || value < min || value > max) {
        throw new UsageError(`--${flag} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
      }
      return value;
    },
  };
}

/** A flag that takes one of a few integers. */
export function integerChoiceFlag<const C extends number>(help: string, fallback: C, choices: readonly C[]): Flag<C> {
  return {
    help,
    fallback,
    shown: String(fallback),
    placeholder: `<${choices.join('|')}>`,
    parse(text, flag) {
      const value = choices.find((choice) => String(choice) === text.trim());
      if (value === undefined) throw new UsageError(`--${flag} must be one of ${choices.join(', ')}, got ${JSON.stringify(text)}`);
      return value;
    },
  };
}

/** A flag that takes one of a few words. */
export function choiceFlag<const C extends string>(help: string, fallback: C, choices: readonly C[]): Flag<C> {
  return {
    help,
    fallback,
    shown: fallback,
    placeholder: `<${choices.join('|')}>`,
    parse(text, flag) {
      const value = choices.find((choice) => choice === text);
      if (value === undefined) throw new UsageError(`--${flag} must be one of ${choices.join(', ')}, got ${JSON.stringify(text)}`);
      return value;
    },
  };
}

/** A switch: `--name` alone turns it on (true); absent, it is false. It takes no value. */
export function switchFlag(help: string): Flag<boolean> {
  return {
    help,
    fallback: false,
    shown: '',
    placeholder: '',
    isSwitch: true,
    parse: () => true,
  };
}

/** An optional number of seconds greater than 0 (undefined when absent). */
export function secondsFlag(help: string): Flag<number | undefined> {
  return {
    help,
    fallback: undefined,
    shown: '',
    placeholder: '<seconds>',
    parse(text, flag) {
      const value = /^\s*\d+(\.\d+)?\s*$/.test(text) ? Number(text) : Number.NaN;
      if (!Number.isFinite(value) || value <= 0) {
        throw new UsageError(`--${flag} must be a number of seconds greater than 0, got ${JSON.stringify(text)}`);
      }
      return value;
    },
  };
}

/** A TCP port, 0 to 65535 (0: let the system pick one). */
export function portFlag(fallback: number): Flag<number> {
  return integerFlag('TCP port (0: any free port, printed at start)', fallback, 0, 65535, '<port>');
}

/** The usage text for `program` with these flags. */
export function usage(program: string, summary: string, spec: Record<string, Flag<unknown>>): string {
  const rows = Object.entries(spec).map(([name, flag]) => {
    const left = flag.placeholder === '' ? `  --${name}` : `  --${name} ${flag.placeholder}`;
    const def = flag.shown === '' ? '' : ` (default ${flag.shown})`;
    return `${left.padEnd(30)} ${flag.help}${def}`;
  });
  rows.push(`${'  --help'.padEnd(30)} print this text`);
  return `${summary}\n\nusage: npx tsx examples/${program}.ts [flags]\n\n${rows.join('\n')}\n`;
}

/**
 * Parses `argv` against `spec`. `--help` prints the usage and exits 0; a bad command line
 * prints the problem and the usage to stderr and exits 2. `check` looks at the values
 * together (flags that need each other) and returns what is wrong, or null.
 */
export function parseFlags<S extends Record<string, Flag<unknown>>>(
  summary: string,
  spec: S,
  argv: string[] = process.argv.slice(2),
  check?: (values: FlagValues<S>) => string | null,
): FlagValues<S> {
  // The script's path under examples/ (arena/arena-ringwire-server for the arena), so the usage line runs as printed.
  const script = process.argv[1] ?? 'program';
  const under = relative(dirname(fileURLToPath(import.meta.url)), script);
  const program = (under.startsWith('..') ? basename(script) : under).replace(/\.[cm]?[jt]s$/, '');
  const text = usage(program, summary, spec);
  try {
    const options: Record<string, { type: 'string' } | { type: 'boolean' }> = { help: { type: 'boolean' } };
    for (const [name, flag] of Object.entries(spec)) options[name] = { type: flag.isSwitch === true ? 'boolean' : 'string' };
    const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
    if (values.help === true) {
      process.stdout.write(text);
      process.exit(0);
    }
    const result: Record<string, unknown> = {};
    for (const [name, flag] of Object.entries(spec)) {
      const raw = values[name];
      if (flag.isSwitch === true) result[name] = raw === true;
      else result[name] = typeof raw === 'string' ? flag.parse(raw, name) : flag.fallback;
    }
    const problem = check?.(result as FlagValues<S>) ?? null;
    if (problem !== null) throw new UsageError(problem);
    return result as FlagValues<S>;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (!(error instanceof UsageError) && !(typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) throw error;
    const message = (error as Error).message;
    process.stderr.write(`${basename(program)}: ${message}\n\n${text}`);
    process.exit(2);
  }
}
