import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

// The server with --shards > 0 loads dist/workers/shard-worker.js: `npm test` builds it first.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const START_DEADLINE_MS = 20_000;
const DEADLINE_MS = 15_000;

/** A spawned example program and the lines it printed so far. */
interface Program {
  child: ChildProcess;
  stdout: string[];
  stderr: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first stdout line matching `pattern`; rejects at the deadline or when the program exits first. */
  waitForLine(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>;
}

const running: Program[] = [];

afterEach(async () => {
  for (const program of running.splice(0)) {
    if (program.child.exitCode === null && program.child.signalCode === null) {
      program.child.kill('SIGKILL');
      await program.exited;
    }
  }
});

/** Runs `node --import tsx examples/<file> args…` (node directly, so signals reach the program itself). */
function start(file: string, args: string[]): Program {
  const child = spawn(process.execPath, ['--import', 'tsx', `examples/${file}`, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
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
async function exitOf(program: Program, ms = DEADLINE_MS): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
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

async function startServer(args: string[]): Promise<{ server: Program; port: number }> {
  const server = start('panda-server.ts', ['--host', '127.0.0.1', '--port', '0', ...args]);
  const match = await server.waitForLine(/^panda-server listening on 127\.0\.0\.1:(\d+) — /, START_DEADLINE_MS);
  return { server, port: Number(match[1]) };
}

describe('examples/panda-server.ts and panda-client.ts', () => {
  it.each([
    ['reading on the main thread', []],
    ['with 2 worker shards', ['--shards', '2']],
  ])('the client gets its 3 messages back, then both exit 0 (server %s)', async (_, serverArgs) => {
    const { server, port } = await startServer(serverArgs);

    const client = start('panda-client.ts', ['--host', '127.0.0.1', '--port', String(port), '--count', '3', '--interval', '20']);
    const { code: clientCode } = await exitOf(client, START_DEADLINE_MS);
    expect(client.stderr).not.toMatch(/panda-client:/);
    expect(clientCode).toBe(0);
    expect(client.stdout[0]).toBe(`connected to 127.0.0.1:${port}`);
    const received = client.stdout.filter((line) => line.startsWith('received from 127.0.0.1:'));
    expect(received.map((line) => line.replace(/^received from [\d.:]+: /, ''))).toEqual([
      `hello 1/3 from client ${client.child.pid}`,
      `hello 2/3 from client ${client.child.pid}`,
      `hello 3/3 from client ${client.child.pid}`,
    ]);
    expect(client.stdout.at(-1)).toBe('done: 3 messages sent and received back');

    // The server saw the client come, talk and go.
    await server.waitForLine(/^client 127\.0\.0\.1:\d+ left: closed-by-peer \(0 online\)$/);
    expect(server.stdout.filter((line) => /^127\.0\.0\.1:\d+: hello \d\/3/.test(line))).toHaveLength(3);

    server.child.kill('SIGINT');
    const { code } = await exitOf(server);
    expect(code).toBe(0);
    expect(server.stdout.slice(-2)).toEqual(['SIGINT: closing', 'panda-server closed']);
  });

  it('the client exits 1 with a clear message when no server listens', async () => {
    // Find a port nobody listens on: open one, note it, close it.
    const { server, port } = await startServer([]);
    server.child.kill('SIGTERM');
    expect((await exitOf(server)).code).toBe(0);

    const client = start('panda-client.ts', ['--port', String(port), '--count', '1']);
    const { code } = await exitOf(client, START_DEADLINE_MS);
    expect(code).toBe(1);
    expect(client.stderr).toMatch(new RegExp(`panda-client: cannot connect to 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
  });

  it('rejects a bad flag with exit code 2', async () => {
    const client = start('panda-client.ts', ['--count', 'many']);
    const { code } = await exitOf(client);
    expect(code).toBe(2);
    expect(client.stderr).toMatch(/--count must be an integer from 0 to 1000000, got "many"/);
  });
});
