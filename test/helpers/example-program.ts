import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// Programs run from their TypeScript sources; any with --shards > 0 loads
// dist/workers/shard-worker.js, which `npm test` builds first.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const START_DEADLINE_MS = 20_000;
export const DEADLINE_MS = 15_000;

/** A spawned example program and the lines it printed so far. */
export interface Program {
  child: ChildProcess;
  stdout: string[];
  stderr: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first stdout line matching `pattern`; rejects at the deadline or when the program exits first. */
  waitForLine(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>;
}

const running: Program[] = [];

/** Kills every program started and not yet exited (for afterEach). */
export async function killPrograms(): Promise<void> {
  for (const program of running.splice(0)) {
    if (program.child.exitCode === null && program.child.signalCode === null) {
      program.child.kill('SIGKILL');
      await program.exited;
    }
  }
}

/** Runs `node --import tsx examples/<file> args…` (node directly, so signals reach the program itself). */
export function startProgram(file: string, args: string[], options: { ownProcessGroup?: boolean; env?: Record<string, string> } = {}): Program {
  const child = spawn(process.execPath, ['--import', 'tsx', `examples/${file}`, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so a test can send Ctrl-C's signal to the group as a terminal does.
    detached: options.ownProcessGroup === true,
  });
  const stdout: string[] = [];
  let partial = '';
  const listeners = new Set<() => void>();
  const program: Program = {
    child,
    stdout,
    stderr: '',
    exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
    waitForLine(pattern, ms = DEADLINE_MS) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          for (const line of stdout) {
            const match = line.match(pattern);
            if (match) {
              finish();
              resolve(match);
              return true;
            }
          }
          if (child.exitCode !== null || child.signalCode !== null) {
            finish();
            reject(new Error(`${file} exited before printing ${pattern}:\n${stdout.join('\n')}\n${program.stderr}`));
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`${file} did not print ${pattern} within ${ms} ms:\n${stdout.join('\n')}\n${program.stderr}`));
        }, ms);
        const finish = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        if (!check()) listeners.add(check);
      });
    },
  };
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    stdout.push(...parts);
    for (const listener of [...listeners]) listener();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (program.stderr += chunk));
  child.once('exit', () => {
    if (partial !== '') stdout.push(partial);
    for (const listener of [...listeners]) listener();
  });
  running.push(program);
  return program;
}

/** Waits for `program` to exit, at most `ms`. */
export async function exitOf(program: Program, ms = DEADLINE_MS): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not exit within ${ms} ms:\n${program.stdout.join('\n')}\n${program.stderr}`)), ms);
  });
  try {
    return await Promise.race([program.exited, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

