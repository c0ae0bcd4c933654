/**
 * `npm start -- --processes N`: N relay processes behind one port. Each is the relay of
 * relay-server.ts with its own shards, opening the port with `reusePort` (SO_REUSEPORT), so
 * the kernel spreads new clients over them; one game loop per process, one per core.
 *
 * The supervisor forks them, prefixes their output with `[pN]`, and restarts one that dies
 * (a clean exit, such as after --duration, is not restarted), waiting longer after each
 * quick death. With --port 0 the first process picks the port and the others join it.
 * Ctrl-C (SIGINT) or SIGTERM stops them all, then the supervisor exits 0.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Quickest restart, and the longest wait after repeated quick deaths (ms). */
const RESTART_MIN_MS = 200;
const RESTART_MAX_MS = 5000;
/** A process that ran this long before dying is restarted at once, the backoff forgotten. */
const HEALTHY_MS = 10_000;
/** Quick deaths in a row after which a process is given up (bad flags, a port taken). */
const MAX_QUICK_DEATHS = 10;
/** How long the supervisor waits for the processes at shutdown before it kills them (ms). */
const STOP_GRACE_MS = 10_000;

const READY = /^ringwire relay on (.+):(\d+) /;

interface Slot {
  index: number;
  child: ChildProcess | null;
  startedAt: number;
  /** Deaths in a row, each within HEALTHY_MS of its start. */
  quickDeaths: number;
  restartTimer: NodeJS.Timeout | null;
  /** Exited by itself with code 0 (its --duration ran out): not restarted. */
  done: boolean;
}

/**
 * Runs `processes` copies of `script` with `args` (which must not hold --processes or
 * --port). Never resolves: it exits the process when they are all stopped.
 */
export interface SupervisorOptions {
  /** Serve the processes' metrics together, labelled by process, on metricsHost:metricsPort (0: off). */
  metricsHost: string;
  metricsPort: number;
}

export async function superviseRelays(script: string, args: string[], processes: number, port: number, options: SupervisorOptions): Promise<never> {
  let chosenPort = port;
  let stopping = false;
  const slots: Slot[] = Array.from({ length: processes }, (_, index) => ({
    index,
    child: null,
    startedAt: 0,
    quickDeaths: 0,
    restartTimer: null,
    done: false,
  }));
  let firstReady: (() => void) | null = null;

  const start = (slot: Slot): void => {
    slot.restartTimer = null;
    if (stopping) return;
    // RINGWIRE_SUPERVISED: the child leaves Ctrl-C (sent to the whole process group) to us,
    // and stops when we are gone (its IPC channel closes).
    const metrics = options.metricsPort === 0 ? [] : ['--metrics-process', String(slot.index + 1)];
    const child = fork(script, [...args, '--port', String(chosenPort), '--reuse-port', 'yes', ...metrics], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, RINGWIRE_SUPERVISED: '1' },
    });
    slot.child = child;
    slot.startedAt = Date.now();
    const tag = `[p${slot.index + 1}]`;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const ready = READY.exec(line);
      if (ready !== null && chosenPort === 0) {
        chosenPort = Number(ready[2]);
        firstReady?.();
      }
      console.log(`${tag} ${line}`);
    });
    createInterface({ input: child.stderr! }).on('line', (line) => console.error(`${tag} ${line}`));
    // 'close', not 'exit': its last lines are read before we act on its end.
    child.once('close', (code, signal) => {
      slot.child = null;
      if (stopping) return;
      // Slots never started (waiting on the first process's port) count as done with it.
      const allDone = (): boolean => slots.every((s) => s.done || (s.child === null && s.startedAt === 0));
      if (code === 0) {
        slot.done = true;
        console.log(`${tag} exited`);
        if (allDone()) process.exit(0);
        return;
      }
      const ranMs = Date.now() - slot.startedAt;
      slot.quickDeaths = ranMs < HEALTHY_MS ? slot.quickDeaths + 1 : 0;
      if (slot.quickDeaths > MAX_QUICK_DEATHS) {
        slot.done = true;
        console.error(`${tag} died ${slot.quickDeaths} times in a row within ${HEALTHY_MS / 1000} s of starting: not restarted`);
        if (allDone()) process.exit(1);
        return;
      }
      const delay = slot.quickDeaths === 0 ? 0 : Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** (slot.quickDeaths - 1));
      console.log(`${tag} died (${signal ?? `exit code ${code}`}) after ${(ranMs / 1000).toFixed(1)} s: restarting in ${delay} ms`);
      slot.restartTimer = setTimeout(() => start(slot), delay);
    });
  };

  const stop = async (why: string): Promise<never> => {
    if (stopping) {
      console.log(`${why} again: killing the relay processes`);
      for (const slot of slots) slot.child?.kill('SIGKILL');
      process.exit(1);
    }
    stopping = true;
    console.log(`ringwire relay supervisor: ${why}, stopping ${processes} processes`);
    const exits: Promise<void>[] = [];
    for (const slot of slots) {
      if (slot.restartTimer !== null) clearTimeout(slot.restartTimer);
      const child = slot.child;
      if (child === null) continue;
      exits.push(new Promise((resolve) => child.once('close', () => resolve())));
      child.kill('SIGTERM');
    }
    const grace = setTimeout(() => {
      for (const slot of slots) slot.child?.kill('SIGKILL');
    }, STOP_GRACE_MS);
    await Promise.all(exits);
    clearTimeout(grace);
    console.log('ringwire relay supervisor: every process stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  if (options.metricsPort !== 0) {
    const { gatherMetrics, serveMetrics } = await import('./metrics-endpoint.js');
    const { Registry } = await import('prom-client');
    try {
      await serveMetrics(
        options.metricsHost,
        options.metricsPort,
        () => gatherMetrics(slots.flatMap((slot) => (slot.child?.connected ? [slot.child] : []))),
        Registry.PROMETHEUS_CONTENT_TYPE,
      );
    } catch (error) {
      console.error(`ringwire relay supervisor: cannot serve metrics on ${options.metricsHost}:${options.metricsPort}: ${(error as Error).message}`);
      process.exit(1);
    }
  }
  console.log(
    `ringwire relay supervisor: ${processes} processes on one port (SO_REUSEPORT), pid ${process.pid}` +
      `${options.metricsPort === 0 ? '' : `, metrics of every process on http://${options.metricsHost}:${options.metricsPort}/metrics`}`,
  );
  if (chosenPort === 0) {
    // The first process picks the port; the rest bind the same one.
    const ready = new Promise<void>((resolve) => (firstReady = resolve));
    start(slots[0]);
    await ready;
    for (const slot of slots.slice(1)) start(slot);
  } else {
    for (const slot of slots) start(slot);
  }
  return new Promise<never>(() => {});
}
