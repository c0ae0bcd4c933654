/**
 * A real nats-server for the channel bus tests: started on loopback with ports it picks
 * (or given ones, to restart it in place), stopped by stopNatsServers. Without nats-server
 * installed, starting one fails and says how to install it (.ci/run does).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { pollUntil } from './net-harness.js';

/** nats-server's path, or a failure that says how to get it. */
export function natsServerPath(): string {
  for (const candidate of ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server']) {
    if (existsSync(candidate)) return candidate;
  }
  try {
    return execFileSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('nats-server is not installed: these tests need a real one (apt-get install nats-server; .ci/run installs it)');
  }
}

export interface Nats {
  child: ChildProcess;
  port: number;
  monitor: number;
  stop(): Promise<void>;
}

const natsServers = new Set<Nats>();

/** Starts nats-server on loopback: on `port` (0: one it picks), with its monitoring port. */
export async function startNats(port = 0, monitor = 0): Promise<Nats> {
  const child = spawn(natsServerPath(), ['-a', '127.0.0.1', '-p', String(port || -1), '-m', String(monitor || -1)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (log += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const nats: Nats = {
    child,
    port: 0,
    monitor: 0,
    async stop() {
      natsServers.delete(nats);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
  natsServers.add(nats);
  await pollUntil(() => /Server is ready/.test(log) || child.exitCode !== null, { timeoutMs: 10_000, label: 'nats-server ready' });
  if (child.exitCode !== null) throw new Error(`nats-server exited at start:\n${log}`);
  nats.port = Number(/Listening for client connections on [\d.]+:(\d+)/.exec(log)![1]);
  nats.monitor = Number(/Starting http monitor on [\d.]+:(\d+)/.exec(log)![1]);
  return nats;
}

/** Stops every nats-server started and not stopped yet (for afterEach). */
export async function stopNatsServers(): Promise<void> {
  for (const nats of [...natsServers]) await nats.stop();
}
