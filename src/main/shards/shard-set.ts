import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { debuglog } from 'node:util';
import { Piscina } from 'piscina';
import { Shard } from '../../workers/shard.js';
import { fdHelperError, loadFdHelper, type FdHelper } from '../../shared/fd-helper.js';
import { BACKLOG_SLOTS } from '../../shared/protocol/send-backlog.js';
import { ShardHandle, type ShardHandleHost } from './shard-handle.js';
import { ShardEvent, ShardState } from './shard-state.js';
import { ErrorCode, RingwireError } from '../../shared/errors.js';

const log = debuglog('ringwire');

/** Set once the single-thread fallback has been warned about: once per process. */
let warnedFallback = false;

/** Warns, once per process, that `numThreads` worker shards cannot run, why, and the fix. */
function warnFallback(numThreads: number, cause: string): void {
  if (warnedFallback) return;
  warnedFallback = true;
  process.emitWarning(
    `ringwire: ${numThreads} worker shard${numThreads === 1 ? ' was' : 's were'} asked for, but the native fd helper is not built, ` +
      'so every socket is read and written on the main thread (single-thread mode).',
    {
      code: ErrorCode.SINGLE_THREAD,
      detail:
        `Cause: ${cause || 'the helper could not be loaded'}.\n` +
        'Fix: install a C compiler, make and python3, then run `npm rebuild ringwire`. npm 11.16 and later list ' +
        "install scripts not yet allowed, and npm 12 skips them: allow ringwire's with `npm install-scripts approve ringwire`. " +
        'reader.getNumWorkerShards() says which mode is in force.',
    },
  );
}

/** How long past shutdownTimeoutMs close() waits for a shard that has not ended (ms). */
const SHUTDOWN_GRACE_MS = 1000;

/**
 * Replacing a worker shard that died: at once the first time; while replacements keep
 * failing, after 100 ms, doubling up to 10 s, so that a shard that cannot start (a
 * broken build, no memory for its rings) costs a few attempts a minute, not a loop. A
 * shard that ran for {@link HEALTHY_RUN_MS} before it died starts the count again.
 */
const RESTART_DELAY_MS = 100;
const MAX_RESTART_DELAY_MS = 10_000;
const HEALTHY_RUN_MS = 10_000;

/**
 * The compiled worker entry. From dist/main/shards/ it is dist/workers/shard-worker.js; when
 * ringwire runs from its TypeScript sources (vitest, tsx) it is the same file in dist/,
 * because Node 20 workers cannot load TypeScript: `npm run build` makes it.
 */
function shardWorkerFile(): string {
  const fromSources = import.meta.url.endsWith('.ts');
  const file = fileURLToPath(new URL(fromSources ? '../../../dist/workers/shard-worker.js' : '../../workers/shard-worker.js', import.meta.url));
  if (!existsSync(file)) {
    throw new RingwireError(ErrorCode.WORKER_MISSING, `ringwire: the shard worker ${file} is missing; run \`npm run build\` first`);
  }
  return file;
}

const LOADER_FLAGS = new Set(['--import', '--require', '-r', '--loader', '--experimental-loader']);

/** `argv` without module loader flags and their values. */
function withoutLoaders(argv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const name = arg.includes('=') ? arg.slice(0, arg.indexOf('=')) : arg;
    if (LOADER_FLAGS.has(name)) {
      if (!arg.includes('=')) i++;
      continue;
    }
    kept.push(arg);
  }
  return kept;
}

/** The manager's options a shard set reads (core/options.ts declares and checks them). */
export interface ShardSetSettings {
  ringCapacity: number;
  sendBacklogLimit: number;
  sendBacklogHardLimit: number;
  sendStallTimeoutMs: number;
  closeLingerMs: number;
  shardSendBudget: number;
  idleTimeoutMs: number;
  shutdownTimeoutMs: number;
}

/** What a shard set tells its owner (the manager's connection table), given at construction. */
export interface ShardSetHost {
  /** A worker shard died (it is replaced): its connections are gone. */
  shardFailed(shard: ShardHandle, error: Error): void;
  /** A shard rang the main thread's doorbell: it published inbound records during a wait. */
  inbound(): void;
}

/** One shard slot's replacements: failures in a row (each within HEALTHY_RUN_MS of its start), when the last was made, a pending one. */
interface SlotRestart {
  failuresInARow: number;
  replacedAt: number;
  timer: NodeJS.Timeout | null;
}

/**
 * A manager's shards: n worker shards in a piscina pool (one long-running task per
 * thread), or one shard on the main thread (single-thread mode: numThreads 0, or no fd
 * helper). Picks the least-loaded shard for each new connection.
 */
export class ShardSet {
  readonly handles: ShardHandle[] = [];
  private pool: Piscina | null = null;
  /** Worker shards whose task is running; close() waits until none is. */
  private active = 0;
  private allEnded: (() => void) | null = null;
  private helper: FdHelper | null = null;
  /** Worker mode: the compiled shard worker; null in single-thread mode. */
  private workerFile: string | null = null;
  private stopping = false;
  /** Per shard slot, once its shard has failed: how its replacements go (RESTART_DELAY_MS). */
  private readonly restarts: SlotRestart[] = [];

  /** What each handle tells the set: a record for a shard that does not run starts it; the rest goes to the owner. */
  private readonly handleHost: ShardHandleHost;

  constructor(
    private readonly settings: ShardSetSettings,
    private readonly host: ShardSetHost,
  ) {
    this.handleHost = {
      idleRing: (shard) => this.start(shard),
      inbound: () => host.inbound(),
    };
  }

  private createHandle(index: number, localSockets: ShardHandle['localSockets'], helper: FdHelper | null): ShardHandle {
    return new ShardHandle(index, this.settings.ringCapacity, localSockets, helper, this.settings.shardSendBudget, this.handleHost);
  }

  /** Starts the shards once: `numThreads` workers, or the main-thread shard for 0. */
  configure(numThreads: number): void {
    if (this.handles.length > 0) {
      log('shards already running (%d); numThreads %d ignored', this.handles.length, numThreads);
      return;
    }
    const helper = numThreads > 0 ? loadFdHelper() : null;
    if (numThreads > 0 && helper === null) {
      log('single-thread mode: the native fd helper is not available (%s)', fdHelperError());
      warnFallback(numThreads, fdHelperError());
      numThreads = 0;
    }
    if (numThreads === 0) {
      log('single-thread mode: the main thread reads and writes every socket');
      const handle = this.createHandle(0, new Map(), null);
      this.handles.push(handle);
      const shard = new Shard(handle.init(this.settings), handle.localSockets, handle.localWake);
      handle.attachLocal(shard);
      handle.transition(ShardEvent.START);
      this.active++;
      shard.run().then(
        () => this.ended(handle, null),
        (error: Error) => this.ended(handle, error),
      );
      return;
    }
    log('worker mode: %d shard threads', numThreads);
    this.helper = helper;
    this.workerFile = shardWorkerFile(); // fails now, not at the first connection, when dist/ is missing
    for (let i = 0; i < numThreads; i++) this.handles.push(this.createHandle(i, null, helper));
  }

  /**
   * Starts the worker threads, once, when the first socket is handed over. Until then a
   * manager holds nothing that keeps the process alive: a program that makes a reader and
   * opens nothing exits. Records sent to a shard before its thread runs wait in its ring.
   */
  private startWorkers(): void {
    if (this.pool !== null || this.workerFile === null || this.stopping) return;
    const count = this.handles.length;
    this.pool = new Piscina({
      filename: this.workerFile,
      // The shard is plain compiled JavaScript: a loader the process runs under (tsx, for
      // one) would only slow it down, by 2x when it rewrites the ESM imports as getters.
      execArgv: withoutLoaders(process.execArgv),
      minThreads: count,
      maxThreads: count,
      idleTimeout: Infinity,
      concurrentTasksPerWorker: 1,
      atomics: 'disabled',
    });
    for (const handle of this.handles) this.start(handle);
  }

  /** Worker shards in force (0 in single-thread mode, and before any reader chose the mode). */
  workerCount(): number {
    return this.workerFile === null ? 0 : this.handles.length;
  }

  /**
   * The live shard with the fewest connections (starting single-thread mode if none runs);
   * for a TCP stream (`stream`), one with a free send-backlog slot. Throws when there is none.
   */
  pick(stream: boolean): ShardHandle {
    if (this.handles.length === 0) this.configure(0);
    this.startWorkers();
    let best: ShardHandle | null = null;
    let live = false;
    for (const handle of this.handles) {
      if (handle.state === ShardState.FAILED) continue;
      live = true;
      if (stream && !handle.backlogSlots.available()) continue;
      if (best === null || handle.connections < best.connections) best = handle;
    }
    if (best !== null) return best;
    if (!live) throw new RingwireError(ErrorCode.NO_SHARD, 'ringwire: every shard has failed (they are being replaced)');
    throw new RingwireError(
      ErrorCode.SHARDS_FULL,
      `ringwire: no shard can take another TCP stream: each holds ${BACKLOG_SLOTS} already, as many as its send-backlog table has slots for (more worker shards hold more)`,
    );
  }

  /**
   * Whether a new TCP stream has a shard to go to: 'ok' (or no shard made yet), 'full' when
   * every live shard holds as many streams as its send-backlog table has slots, 'none' when
   * every shard has failed and waits to be replaced.
   */
  streamRoom(): 'ok' | 'full' | 'none' {
    if (this.handles.length === 0) return 'ok';
    let live = false;
    for (const handle of this.handles) {
      if (handle.state === ShardState.FAILED) continue;
      if (handle.backlogSlots.available()) return 'ok';
      live = true;
    }
    return live ? 'full' : 'none';
  }

  /**
   * Asks every shard to flush and end; waits for them, then stops the pool. A shard cuts
   * what still lingers at shutdownTimeoutMs; the wait gives up a second after that.
   */
  async shutdown(): Promise<void> {
    this.stopping = true;
    for (const restart of this.restarts) {
      if (restart?.timer) {
        clearTimeout(restart.timer);
        restart.timer = null;
      }
    }
    const deadline = Date.now() + this.settings.shutdownTimeoutMs;
    // A running shard gets its SHUTDOWN; an idle or parked one holds nothing and is
    // stopped at once (shard-state.ts), never started again for a SHUTDOWN.
    for (const handle of this.handles) handle.stop(deadline);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.settings.shutdownTimeoutMs + SHUTDOWN_GRACE_MS);
    });
    const ended = new Promise<void>((resolve) => {
      this.allEnded = resolve;
      if (this.active === 0) resolve();
    });
    await Promise.race([ended, timeout]);
    clearTimeout(timer);
    for (const handle of this.handles) handle.dispose();
    const pool = this.pool;
    this.pool = null;
    if (pool !== null) await pool.destroy();
  }

  /**
   * Starts a run of `handle`'s shard on a pool thread (its doorbell port moves there), unless
   * it runs. A run ends at SHUTDOWN; when the shard has held nothing for a while (parked: its
   * thread stops holding the process, as a net.Server with no connection does not, and the
   * next record published starts a new run on the same rings, on a thread that is there);
   * or when the thread dies: a shard that dies is reported (its connections are reset) and replaced by a fresh
   * shard with new rings in the same slot.
   */
  private start(handle: ShardHandle): void {
    if (this.pool === null || this.handles[handle.index] !== handle) return;
    const state = handle.state;
    if (state !== ShardState.IDLE && state !== ShardState.PARKED) return;
    handle.transition(ShardEvent.START);
    this.launch(handle);
  }

  /** Runs `handle`'s shard on a pool thread, its doorbell port moving there with it. */
  private launch(handle: ShardHandle): void {
    this.active++;
    this.pool!.run(handle.init(this.settings), { transferList: [handle.shardBell] }).then(
      () => this.ended(handle, null),
      (error: Error) => this.ended(handle, error),
    );
  }

  /** A shard's run ended: worker shards park (or stop), or failed and are replaced. */
  private ended(handle: ShardHandle, error: Error | null): void {
    this.active--;
    if (error !== null) {
      handle.fail();
      log('shard %d failed: %s', handle.index, error.message);
      this.host.shardFailed(handle, error);
      if (!this.stopping && handle.local === null) this.scheduleReplacement(handle);
    } else if (handle.local === null) {
      // A worker shard parked, or took its SHUTDOWN. Records published while the run was
      // ending wait in the ring: it runs again for them (a stopping one too: its SHUTDOWN
      // may be among them).
      const work = handle.hasWork();
      const state = handle.transition(work ? ShardEvent.RUN_ENDED_WITH_WORK : ShardEvent.RUN_ENDED);
      handle.renewBell();
      // The run's last ring to a waiting main thread may have been on the port just
      // closed: look at the inbound ring as that ring would have had us do.
      if (handle.inbound.usedBytes() > 0) this.host.inbound();
      if (state === ShardState.PARKED && work) this.start(handle);
      else if (state === ShardState.STOPPING) {
        if (this.pool !== null && this.handles[handle.index] === handle) this.launch(handle);
        else handle.transition(ShardEvent.RUN_ENDED);
      }
    } else {
      // The main-thread shard ends only at its SHUTDOWN.
      handle.transition(ShardEvent.RUN_ENDED);
    }
    if (this.active === 0) this.allEnded?.();
  }

  /**
   * Replaces the failed worker shard `handle` with a fresh one with new rings in the same
   * slot: at once, or after a delay while its replacements keep failing (RESTART_DELAY_MS).
   * Until then the slot takes no connections; the other shards do.
   */
  private scheduleReplacement(handle: ShardHandle): void {
    const index = handle.index;
    const restart = (this.restarts[index] ??= { failuresInARow: 0, replacedAt: -Infinity, timer: null });
    const now = performance.now();
    restart.failuresInARow = now - restart.replacedAt < HEALTHY_RUN_MS ? restart.failuresInARow + 1 : 0;
    const inARow = restart.failuresInARow;
    const delay = inARow === 0 ? 0 : Math.min(MAX_RESTART_DELAY_MS, RESTART_DELAY_MS * 2 ** (inARow - 1));
    const replace = (): void => {
      restart.timer = null;
      if (this.stopping || this.handles[index] !== handle) return;
      const fresh = this.createHandle(index, null, this.helper);
      this.handles[index] = fresh;
      restart.replacedAt = performance.now();
      log('shard %d replaced', index);
      this.start(fresh);
    };
    if (delay === 0) {
      replace();
      return;
    }
    log('shard %d failed %d times in a row: replaced in %d ms', index, inARow + 1, delay);
    // The failed shard holds nothing: waiting to replace it must not keep the process alive.
    restart.timer = setTimeout(replace, delay);
    restart.timer.unref();
  }
}
