import type { MessagePort } from 'node:worker_threads';
import { SpscRing } from '../shared/protocol/spsc-ring.js';
import { ConnectionLifecycle, type LocalSockets } from './connection-lifecycle.js';
import { InboundWriter } from './inbound-writer.js';
import { RecordDispatcher } from './record-dispatcher.js';
import { SocketWriter, type WriterLimits } from './socket-writer.js';
import { UdpEndpoints } from './udp-endpoints.js';

export type { LocalSockets } from './connection-lifecycle.js';

/** What a shard needs: its two rings, its stats block and its limits. */
export interface ShardInit extends WriterLimits {
  /** Inbound ring buffer: this shard produces DATA / OPENED / CLOSED records. */
  inbound: SharedArrayBuffer;
  /** Outbound ring buffer: this shard consumes ADOPT / SEND / READ / CLOSE / RELEASE / OPTION / SHUTDOWN. */
  outbound: SharedArrayBuffer;
  /** Stats block (shard-stats.ts). */
  stats: Float64Array;
  /** Send-backlog table (send-backlog.ts). */
  backlog: Float64Array;
  /**
   * A read connection that completes no datagram for this long is reset as `idle-timeout`
   * (ms; 0: never). Counting datagrams, not bytes, also ends a peer that trickles a
   * datagram a byte at a time, or announces one and never sends it.
   */
  idleTimeoutMs: number;
  /** After SHUTDOWN, connections still lingering this long after close() began are cut (ms). */
  shutdownTimeoutMs: number;
  /**
   * The doorbell between the threads: the main thread rings it when it publishes outbound
   * records while the shard is parked; the shard rings it when it publishes inbound
   * records while the main thread is parked in waitForReaders.
   */
  doorbell: MessagePort;
}

/**
 * How long a worker shard handles outbound records before it yields to its event loop, so
 * it reads its sockets and runs its timers while the main thread sends flat out (ms). The
 * main-thread shard (single-thread mode) writes everything at once instead: it shares its
 * thread with the program that sent, and a slice per turn of the loop would let the
 * program's reads outrun its writes.
 */
const SLICE_MS = 1;

/** How long a worker shard must have held nothing before its run ends (ms). */
const PARK_AFTER_MS = 100;

function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A shard: owns sockets, cuts their bytes into datagrams straight into the inbound ring,
 * and drains the outbound ring into the sockets. Runs in a worker thread (shard-worker.ts)
 * or, in single-thread mode, on the main thread with the very same rings. It composes the
 * four parts that do the work: the inbound writer (runs and back-pressure), the socket
 * writer (coalescing, backlog judgement), the connection lifecycle and the record
 * dispatcher.
 */
export class Shard {
  private readonly inbound: InboundWriter;
  private readonly lifecycle: ConnectionLifecycle;
  private readonly writer: SocketWriter;
  private readonly dispatcher: RecordDispatcher;
  private readonly outbound: SpscRing;
  private readonly udp: UdpEndpoints;
  private finished: (() => void) | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private deadlineTimer: NodeJS.Timeout | null = null;
  private readonly idleSweepMs: number;
  private readonly sliceMs: number;
  /** The main-thread shard (single-thread mode). */
  private readonly local: boolean;
  /** The shard sleeps towards its park: it held nothing when it began. */
  private idleSleep = false;
  /** Resolves the shard's park when the doorbell rings. */
  private wake: (() => void) | null = null;
  private readonly parked = (resolve: () => void): void => {
    this.wake = resolve;
  };

  constructor(
    private readonly init: ShardInit,
    localSockets: LocalSockets | null = null,
    /** Single-thread mode: wakes the main thread's waitForReaders (it is this thread). */
    wakeMain: (() => void) | null = null,
  ) {
    this.local = localSockets !== null;
    this.sliceMs = this.local ? Infinity : SLICE_MS;
    const inboundRing = new SpscRing(init.inbound);
    const doorbell = init.doorbell;
    // The ring to a parked main thread waits for the end of this turn of the event loop:
    // every socket read in it then wakes the main thread once, not once per socket (each
    // wake costs both threads tens of µs of CPU on a VM).
    // Both modes: a worker posts on the port, the main-thread shard calls the waiter.
    const wake = wakeMain ?? (() => doorbell.postMessage(0));
    let ringing = false;
    const ring = (): void => {
      ringing = false;
      wake();
    };
    inboundRing.doorbell = () => {
      if (ringing) return;
      ringing = true;
      setImmediate(ring);
    };
    this.outbound = new SpscRing(init.outbound);
    this.lifecycle = new ConnectionLifecycle(init.stats, localSockets, this.maybeFinish.bind(this));
    this.inbound = new InboundWriter(inboundRing, init.stats, this.lifecycle);
    this.writer = new SocketWriter(init, init.backlog, this.lifecycle);
    this.lifecycle.attach(this.inbound, this.writer);
    this.udp = new UdpEndpoints(inboundRing, init.stats, this.inbound.reportId.bind(this.inbound));
    this.dispatcher = new RecordDispatcher(this.outbound, init.stats, this.lifecycle, this.writer, this.udp, localSockets);
    this.inbound.clock = Date.now();
    // Sweeping four times per timeout: activity is stamped with the coarse clock, at most
    // one sweep stale, so a reset comes between 1x and 1.5x the timeout, never early.
    this.idleSweepMs = Math.max(10, init.idleTimeoutMs >>> 2);
    if (init.idleTimeoutMs > 0) {
      this.idleTimer = setInterval(this.sweepIdle.bind(this), this.idleSweepMs);
      this.idleTimer.unref();
    }
  }

  /**
   * Runs until a SHUTDOWN record has been handled and every socket has closed, or until a
   * worker shard has held nothing for a while (a later run on the same rings goes on from
   * there).
   */
  async run(): Promise<void> {
    const done = new Promise<void>((resolve) => (this.finished = resolve));
    const dispatcher = this.dispatcher;
    const doorbell = this.init.doorbell;
    // The open port keeps a worker's thread alive while the shard is parked on it. On the
    // main thread the sockets hold the loop themselves, and an idle manager must not.
    doorbell.on('message', this.rung);
    if (this.local) doorbell.unref();
    try {
      while (!dispatcher.shuttingDown) {
        this.inbound.clock = Date.now();
        if (dispatcher.drain(this.sliceMs)) {
          await yieldToLoop();
          continue;
        }
        if (dispatcher.shuttingDown) break;
        if (this.outbound.parkConsumer()) {
          if (await this.sleep()) {
            // The run ends with the consumer flag set: the next record published rings the
            // main thread's side of the doorbell, which starts a new run on these rings.
            this.stopTimers();
            return;
          }
        }
      }
      // The deadline counts from close(), not from when this shard got to the SHUTDOWN record.
      const left = Math.min(this.init.shutdownTimeoutMs, Math.max(0, dispatcher.shutdownDeadline - Date.now()));
      this.deadlineTimer = setTimeout(() => this.lifecycle.cutAll(), left);
      this.maybeFinish();
      await done;
    } catch (error) {
      // A fault in the shard's own code: its sockets must not live on with no one to read
      // their rings (a worker's thread is reused by the next run, and the main-thread
      // shard is the main thread). The main thread resets their connections.
      this.abandon();
      throw error;
    } finally {
      doorbell.close();
    }
  }

  /** Resets every socket and stops every timer, without reporting: the shard is failing. */
  private abandon(): void {
    this.stopTimers();
    try {
      this.lifecycle.cutAll();
      this.udp.closeAll();
    } catch {
      // Already failing: what could not be closed goes with the thread or the process.
    }
  }

  /**
   * Waits for the doorbell. A worker shard that holds nothing (no socket, nothing owed to
   * the main thread) for {@link PARK_AFTER_MS} ends its run instead: its thread then stops
   * holding the process, so a program that has closed its connections exits without
   * close(). Returns true for that.
   */
  private async sleep(): Promise<boolean> {
    const rang = new Promise<void>(this.parked);
    if (this.local || !this.holdsNothing()) {
      await rang;
      return false;
    }
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), PARK_AFTER_MS);
    });
    this.idleSleep = true;
    const parked = await Promise.race([rang.then(() => false), idle]);
    this.idleSleep = false;
    clearTimeout(timer);
    // Records that came as the timer fired wait in the ring: the main thread sees them when
    // the run has ended and starts the next one at once.
    if (!parked) return false;
    this.wake = null;
    return this.holdsNothing();
  }

  /**
   * The main thread published outbound records while the shard was parked: the doorbell
   * port's message, or in single-thread mode a direct call (the main thread is this one).
   */
  readonly rung = (): void => {
    this.outbound.unparkConsumer();
    const wake = this.wake;
    this.wake = null;
    if (wake !== null) wake();
  };

  /**
   * Handles every outbound record published so far, now (single-thread mode: the writer
   * calls it when the ring is full, as Panda3D's immediate writer writes in the call).
   */
  drainNow(): void {
    if (!this.dispatcher.shuttingDown) this.dispatcher.drain(Infinity);
  }

  private sweepIdle(): void {
    const now = (this.inbound.clock = Date.now());
    this.lifecycle.sweepIdle(now, this.init.idleTimeoutMs + this.idleSweepMs);
  }

  /** No socket is open and nothing is held back for the main thread. */
  private holdsNothing(): boolean {
    return this.lifecycle.connections.size === 0 && this.udp.size === 0 && this.inbound.idle;
  }

  private stopTimers(): void {
    if (this.idleTimer) clearInterval(this.idleTimer);
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.writer.stop();
  }

  /**
   * The last socket closed or its report went out. Ends run() once shutting down; else
   * wakes a worker shard asleep on the doorbell, so it sleeps again towards its park.
   */
  private maybeFinish(): void {
    if (!this.holdsNothing()) return;
    if (this.dispatcher.shuttingDown) {
      if (this.finished === null) return;
      this.stopTimers();
      const finished = this.finished;
      this.finished = null;
      finished();
    } else if (!this.local && this.wake !== null && !this.idleSleep) {
      this.rung();
    }
  }
}
