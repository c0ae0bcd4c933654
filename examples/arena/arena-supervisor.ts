/**
 * `npm run arena -- --processes N`: N arena processes on one port. Each is
 * arena-ringwire-server.ts with its own shards and its own rooms, binding the port with
 * SO_REUSEPORT, so the kernel spreads new clients over them. The supervisor prefixes their
 * lines with `[pN]`, restarts one that dies (after a second), and on SIGTERM or Ctrl-C
 * passes SIGTERM to each (each drains its rooms) and exits 0 when all have stopped.
 * With --port 0 the first process picks the port and the others join it.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createInterface } from 'node:readline';

const READY = /^arena server \(.* on (.+):(\d+)\) pid \d+$/;
const RESTART_MS = 1000;

/** `argv` without the named flags and their values (`--name value` or `--name=value`). */
function withoutFlags(argv: string[], names: string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '').split('=')[0];
    if (argv[i].startsWith('--') && names.includes(name)) {
      if (!argv[i].includes('=')) i++;
      continue;
    }
    kept.push(argv[i]);
  }
  return kept;
}

/** Runs `processes` copies of `script`; never resolves (it exits when they have all stopped). */
export async function superviseArena(script: string, argv: string[], processes: number, port: number): Promise<never> {
  const args = withoutFlags(argv, ['processes', 'port', 'reuse-port']);
  let chosenPort = port;
  let stopping = false;
  const children: (ChildProcess | null)[] = Array.from({ length: processes }, () => null);
  let firstReady: (() => void) | null = null;

  const start = (index: number): void => {
    if (stopping) return;
    const child = fork(script, [...args, '--port', String(chosenPort), '--reuse-port', 'yes'], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, RINGWIRE_SUPERVISED: '1' },
    });
    children[index] = child;
    const tag = `[p${index + 1}]`;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const ready = READY.exec(line);
      if (ready !== null && chosenPort === 0) {
        chosenPort = Number(ready[2]);
        firstReady?.();
      }
      console.log(`${tag} ${line}`);
    });
    createInterface({ input: child.stderr! }).on('line', (line) => console.error(`${tag} ${line}`));
    child.once('close', (code, signal) => {
      children[index] = null;
      if (stopping) {
        if (children.every((c) => c === null)) {
          console.log('arena supervisor: every process stopped');
          process.exit(0);
        }
        return;
      }
      if (code === 0) {
        console.log(`${tag} exited`);
        if (children.every((c) => c === null)) process.exit(0);
        return;
      }
      console.log(`${tag} died (${signal ?? `exit code ${code}`}): restarting in ${RESTART_MS} ms`);
      setTimeout(() => start(index), RESTART_MS);
    });
  };

  const stop = (why: string): void => {
    if (stopping) {
      console.log(`arena supervisor: ${why} while stopping: ignored, the processes are draining`);
      return;
    }
    stopping = true;
    console.log(`arena supervisor: ${why}, draining ${processes} processes`);
    for (const child of children) child?.kill('SIGTERM');
    if (children.every((c) => c === null)) process.exit(0);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  console.log(`arena supervisor: ${processes} processes on one port (SO_REUSEPORT), pid ${process.pid}`);
  if (chosenPort === 0) {
    const ready = new Promise<void>((resolve) => (firstReady = resolve));
    start(0);
    await ready;
    for (let i = 1; i < processes; i++) start(i);
  } else {
    for (let i = 0; i < processes; i++) start(i);
  }
  return new Promise<never>(() => {});
}
