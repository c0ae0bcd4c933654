/**
 * The arena's main loop, the same for both servers: a TaskManager in fixed-step mode
 * (60 steps a second, each with dt = 1/60, at most 4 run back to back after a stall), one
 * task that polls the transport and one that steps the rooms; a stats line a second; and
 * the shutdown, in this order:
 *
 *   1. SIGTERM or SIGINT (or --duration) asks the TaskManager to stop: the step in
 *      progress finishes, then run() resolves. A second signal is only logged: the drain
 *      is never cut short by a double Ctrl-C or by `timeout` signalling the process and
 *      then its group.
 *   2. The server stops accepting, takes what came in since the last step, and the game
 *      drains: a last step, SHUTDOWN to every client, each room's final snapshot.
 *   3. The transport flushes everything sent and closes every connection (ringwire's
 *      `manager.close()`), then the process exits 0.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Task, TaskManager } from 'ringwire';
import type { ArenaGame, JournalEntry } from './arena-game.js';
import { TICK_RATE } from './arena-simulation.js';

/** At most this many steps run back to back after a stall; older ones are skipped (counted). */
const MAX_CATCH_UP_STEPS = 4;
/** The drain's bound: a process still closing after this long exits 1. */
const DRAIN_DEADLINE_MS = 15_000;

/** What the loop needs from a server besides the game. */
export interface ArenaServer {
  /** One line for the start message, e.g. "ringwire, 2 worker shards". */
  readonly description: string;
  /** Takes new clients, their messages and the connections that ended, and hands them to the game. */
  poll(): void;
  /** Stops taking new clients: the listening socket closes. */
  stopAccepting(): void;
  /** Flushes everything sent, closes every connection, and resolves when that is done. */
  close(): Promise<void>;
}

export interface LoopOptions {
  /** Stop by itself after this many seconds. */
  duration: number | undefined;
  /** Also print each second's figures as one JSON line (`stats-json {…}`) with every tick's duration. */
  statsJson: boolean;
  /** Under the supervisor (--processes): SIGINT is the supervisor's to answer. */
  supervised: boolean;
  /** Called with the loop's TaskManager before it runs (the ringwire server registers its metrics). */
  onTaskManager?: (taskMgr: TaskManager) => void;
}

/** The journal: one JSON array per line, written once a second and at the end. */
export class JournalFile {
  private lines: string[] = [];
  constructor(private readonly path: string) {
    writeFileSync(path, '');
  }
  readonly write = (entry: JournalEntry): void => {
    this.lines.push(JSON.stringify(entry));
  };
  flush(): void {
    if (this.lines.length === 0) return;
    appendFileSync(this.path, `${this.lines.join('\n')}\n`);
    this.lines = [];
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Runs the game until a signal or --duration, then drains and exits. Never returns. */
export async function runArena<C, G>(server: ArenaServer, game: ArenaGame<C, G>, options: LoopOptions, journal: JournalFile | null): Promise<never> {
  const taskMgr = new TaskManager();
  options.onTaskManager?.(taskMgr);
  const startedAt = performance.now();
  let frameStart = 0;
  let tickDurations: number[] = [];

  taskMgr.add(() => {
    frameStart = performance.now();
    server.poll();
    return Task.cont;
  }, 'poll', -10);
  taskMgr.add((task) => {
    game.tick(task.dt);
    tickDurations.push(performance.now() - frameStart);
    return Task.cont;
  }, 'simulate', 0);

  let lastSteps = 0;
  let lastSkipped = 0;
  let lastInputs = 0;
  let lastSnapshots = 0;
  let lastAt = startedAt;
  const printStats = (): void => {
    const now = performance.now();
    const seconds = (now - lastAt) / 1000 || 1;
    const ticks = taskMgr.stepCount - lastSteps;
    const skipped = taskMgr.skippedStepCount - lastSkipped;
    const inputs = game.counts.inputs - lastInputs;
    const snapshots = game.counts.snapshots - lastSnapshots;
    const durations = tickDurations.sort((a, b) => a - b);
    tickDurations = [];
    const elapsed = Math.round((now - startedAt) / 1000);
    console.log(
      `stats ${String(elapsed).padStart(4)}s  players ${game.players}  rooms ${game.activeRooms}  ticks/s ${(ticks / seconds).toFixed(1)}` +
        `  skipped ${skipped}  tick p50 ${percentile(durations, 50).toFixed(2)} ms p99 ${percentile(durations, 99).toFixed(2)} ms` +
        `  inputs ${(inputs / seconds).toFixed(0)}/s  snapshots ${(snapshots / seconds).toFixed(0)}/s`,
    );
    if (options.statsJson) {
      const tickUs = durations.map((d) => Math.round(d * 1000));
      console.log(`stats-json ${JSON.stringify({ t: elapsed, seconds, players: game.players, rooms: game.activeRooms, ticks, skipped, inputs, snapshots, tickUs })}`);
    }
    journal?.flush();
    lastSteps = taskMgr.stepCount;
    lastSkipped = taskMgr.skippedStepCount;
    lastInputs = game.counts.inputs;
    lastSnapshots = game.counts.snapshots;
    lastAt = now;
  };
  const statsTimer = setInterval(printStats, 1000);

  let stopping: string | null = null;
  const stop = (why: string): void => {
    if (stopping !== null) {
      console.log(`${why} while draining (${stopping}): ignored, the drain goes on`);
      return;
    }
    stopping = why;
    taskMgr.stop();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  if (options.supervised) {
    // Ctrl-C reaches the whole process group; the supervisor answers it with SIGTERM.
    process.on('SIGINT', () => {});
    process.on('disconnect', () => stop('the supervisor is gone'));
  } else {
    process.on('SIGINT', () => stop('SIGINT'));
  }
  const durationTimer = options.duration === undefined ? null : setTimeout(() => stop(`--duration ${options.duration}`), options.duration * 1000);

  console.log(`arena server (${server.description}) pid ${process.pid}`);
  let failed: unknown = null;
  try {
    await taskMgr.run({ fixedRate: TICK_RATE, maxCatchUpSteps: MAX_CATCH_UP_STEPS });
  } catch (error) {
    failed = error;
    console.error('arena: a task failed; draining', error);
  }
  if (stopping === null) stopping = 'a task failed';
  clearInterval(statsTimer);
  if (durationTimer !== null) clearTimeout(durationTimer);
  setTimeout(() => {
    console.error(`arena: the drain did not finish within ${DRAIN_DEADLINE_MS / 1000} s`);
    process.exit(1);
  }, DRAIN_DEADLINE_MS).unref();

  const players = game.players;
  server.stopAccepting();
  server.poll();
  game.drain(1 / TICK_RATE, `server stopping (${stopping})`);
  await server.close();
  journal?.flush();
  const c = game.counts;
  console.log(
    `arena stopped (${stopping}) after ${((performance.now() - startedAt) / 1000).toFixed(1)} s: ${players} players drained; ` +
      `${c.joins} joins, ${c.leaves} leaves, ${c.resets} resets, ${c.rejected} rejected, ${c.inputs} inputs, ${c.snapshots} snapshots, ` +
      `${taskMgr.stepCount} steps, ${taskMgr.skippedStepCount} skipped`,
  );
  process.exit(failed === null ? 0 : 1);
}
