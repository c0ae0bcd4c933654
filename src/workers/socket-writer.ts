import { performance } from 'node:perf_hooks';
import { QUEUED, SlotState, TAKEN, slotStates } from '../shared/protocol/send-backlog.js';
import { ResetReasonCode } from '../shared/reset-reason.js';
import { copyBytes } from '../shared/copy-bytes.js';
import { ConnectionState, type ShardConnection } from './shard-connection.js';

/** Smallest coalescing buffer: small enough to come from Node's Buffer pool. */
const MIN_OUT_BUFFER = 256;

/** The write-side limits of a shard (manager options, documented there). */
export interface WriterLimits {
  /** Above this many queued bytes a connection is judged by its progress. */
  sendBacklogLimit: number;
  /** Past this many queued bytes a connection is cut at once. */
  sendBacklogHardLimit: number;
  /** A connection over sendBacklogLimit whose peer takes nothing for this long is cut (ms). */
  sendStallTimeoutMs: number;
  /** A closing connection whose peer takes nothing (or sends no FIN) for this long is cut (ms). */
  closeLingerMs: number;
  /** Most bytes all of a shard's sockets may queue together; past it the largest backlogs are cut. */
  shardSendBudget: number;
}

/** What the writer asks of the connection lifecycle. */
export interface WriterHost {
  /** Cut `conn` with RST and report `reason`. */
  cut(conn: ShardConnection, reason: number): void;
  /** A closing connection wrote everything and its peer had closeLingerMs to answer our FIN. */
  lingerOver(conn: ShardConnection): void;
}

/**
 * The shard's write side: SEND payloads are coalesced per connection into one socket write
 * per batch, and each connection's backlog (bytes its socket queues beyond what the kernel
 * took) is judged by progress, not by size: a connection is cut as `slow-consumer` only
 * when its backlog is over sendBacklogLimit and its peer has taken nothing for
 * sendStallTimeoutMs, or its backlog passes sendBacklogHardLimit, or the shard's sockets
 * together pass shardSendBudget (largest backlogs first). A peer that keeps reading is
 * never cut. Closing connections linger by the same measure.
 */
export class SocketWriter {
  private readonly dirty: ShardConnection[] = [];
  /** Connections with a backlog or closing: looked at by the sweep. */
  private watched: ShardConnection[] = [];
  /** Sum of watched connections' queuedSeen: an estimate, recounted before acting on it. */
  private queuedTotal = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly sweepMs: number;
  private readonly onSweep: () => void;
  /** The send-backlog table's state words (send-backlog.ts). */
  private readonly slotStates: Int32Array;

  constructor(
    private readonly limits: WriterLimits,
    /** The send-backlog table (send-backlog.ts). */
    private readonly backlog: Float64Array,
    private readonly host: WriterHost,
  ) {
    // Progress is stamped when a sweep sees it, so a stall is never judged early; a quarter
    // of the shorter bound keeps it from being judged much late.
    this.sweepMs = Math.min(250, Math.max(10, Math.min(limits.sendStallTimeoutMs, limits.closeLingerMs) >>> 2));
    this.onSweep = this.sweep.bind(this);
    this.slotStates = slotStates(backlog);
  }

  /** Queues bytes for `conn`, coalescing every SEND of this batch into one socket write. */
  append(conn: ShardConnection, bytes: Uint8Array, offset: number, length: number): void {
    let out = conn.out;
    const needed = conn.outLength + length;
    if (out === null || out.length < needed) {
      // The first buffer of a batch is exact (small ones come from Node's pool); a second
      // SEND in the same batch doubles it.
      const grown = Buffer.allocUnsafe(out === null ? Math.max(needed, MIN_OUT_BUFFER) : needed * 2);
      if (out !== null) out.copy(grown, 0, 0, conn.outLength);
      out = conn.out = grown;
    }
    copyBytes(out, conn.outLength, bytes, offset, length);
    conn.outLength = needed;
    if (!conn.dirty) {
      conn.dirty = true;
      this.dirty.push(conn);
    }
  }

  /**
   * Hands each connection's coalesced bytes of this batch to its socket, until `deadline`
   * (performance.now(); looked at every 32 writes). Returns true when some are left for
   * the next slice: their later SENDs join the same buffer, so order holds.
   */
  flushDirty(deadline = Infinity): boolean {
    const dirty = this.dirty;
    let i = 0;
    for (; i < dirty.length; i++) {
      if ((i & 31) === 31 && performance.now() > deadline) break;
      this.flush(dirty[i]);
    }
    if (i === dirty.length) dirty.length = 0;
    else dirty.splice(0, i);
    if (this.queuedTotal > this.limits.shardSendBudget) this.enforceBudget();
    return dirty.length > 0;
  }

  /** Hands `conn`'s coalesced bytes to its socket and looks at its backlog. */
  flush(conn: ShardConnection): void {
    conn.dirty = false;
    // A TLS handshake or WebSocket upgrade under way: the bytes wait (ready() flushes them).
    if (!conn.ready) return;
    const out = conn.out;
    if (out !== null && conn.outLength > 0) {
      // The socket keeps this buffer until written; the next batch starts a new one.
      const chunk = out.subarray(0, conn.outLength);
      conn.out = null;
      conn.outLength = 0;
      if (conn.state === ConnectionState.GONE) return;
      conn.socket.write(chunk);
      conn.written += chunk.length;
    }
    if (conn.state === ConnectionState.GONE) return;
    const queued = conn.socket.writableLength;
    this.queuedTotal += queued - conn.queuedSeen;
    conn.queuedSeen = queued;
    if (queued > this.limits.sendBacklogHardLimit) {
      this.host.cut(conn, ResetReasonCode.SLOW_CONSUMER);
      return;
    }
    if (queued > 0 && !conn.watched) this.watch(conn, Date.now());
    this.publishBacklog(conn);
  }

  /** Publishes what `conn` has taken and what its socket queues (ConnectionWriter.getSendBacklog). */
  publishBacklog(conn: ShardConnection): void {
    const slot = conn.backlogSlot;
    if (slot < 0) return;
    const table = this.backlog;
    table[slot * 2 + TAKEN] = conn.takenBytes;
    table[slot * 2 + QUEUED] = conn.socket.writableLength;
  }

  /**
   * The main thread reads `slot` no more (or never will): this shard publishes nothing
   * more to it, and the main thread may give it to another connection (send-backlog.ts).
   * Ignores -1.
   */
  retireSlot(slot: number): void {
    if (slot >= 0) Atomics.store(this.slotStates, slot, SlotState.RETIRED);
  }

  /** `conn` has begun to close: it lingers while its peer takes bytes, from now. */
  closing(conn: ShardConnection): void {
    if (conn.watched) conn.lastProgress = Date.now();
    else this.watch(conn, Date.now());
  }

  /** `conn` is gone: forget what it queued. */
  drop(conn: ShardConnection): void {
    this.queuedTotal -= conn.queuedSeen;
    conn.queuedSeen = 0;
    conn.out = null;
    conn.outLength = 0;
  }

  /** Stops the sweep (the shard is finished). */
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private watch(conn: ShardConnection, now: number): void {
    conn.watched = true;
    conn.kernelSeen = conn.written - conn.socket.writableLength;
    conn.lastProgress = now;
    this.watched.push(conn);
    if (this.timer === null) {
      this.timer = setInterval(this.onSweep, this.sweepMs);
      this.timer.unref();
    }
  }

  /** Looks at every watched connection: progress, stalls, linger, the exact budget sum. */
  private sweep(): void {
    const now = Date.now();
    const limits = this.limits;
    const kept: ShardConnection[] = [];
    let total = 0;
    for (const conn of this.watched) {
      if (conn.state === ConnectionState.GONE) {
        conn.watched = false;
        continue;
      }
      const queued = conn.socket.writableLength;
      const kernel = conn.written - queued;
      if (kernel !== conn.kernelSeen) {
        conn.kernelSeen = kernel;
        conn.lastProgress = now;
      }
      conn.queuedSeen = queued;
      this.publishBacklog(conn);
      const stalled = now - conn.lastProgress;
      if (conn.state === ConnectionState.CLOSING) {
        if (stalled > (conn.lingerMs > 0 ? conn.lingerMs : limits.closeLingerMs)) {
          conn.watched = false;
          // Bytes still queued: the stream is cut short. None: the peer never answered our FIN.
          if (queued > 0 || !conn.socket.writableFinished) this.host.cut(conn, ResetReasonCode.CLOSED_LOCALLY);
          else this.host.lingerOver(conn);
          continue;
        }
      } else if (queued === 0) {
        conn.watched = false;
        continue;
      } else if (queued > limits.sendBacklogLimit && stalled > limits.sendStallTimeoutMs) {
        conn.watched = false;
        this.host.cut(conn, ResetReasonCode.SLOW_CONSUMER);
        continue;
      }
      total += queued;
      kept.push(conn);
    }
    this.watched = kept;
    this.queuedTotal = total;
    if (kept.length === 0) this.stop();
    else if (total > limits.shardSendBudget) this.enforceBudget();
  }

  /** Over the shard's budget: recount, then cut the largest backlogs until it holds again. */
  private enforceBudget(): void {
    let total = 0;
    const live: ShardConnection[] = [];
    for (const conn of this.watched) {
      if (conn.state === ConnectionState.GONE) continue;
      conn.queuedSeen = conn.socket.writableLength;
      total += conn.queuedSeen;
      live.push(conn);
    }
    this.queuedTotal = total;
    if (total <= this.limits.shardSendBudget) return;
    live.sort((a, b) => b.queuedSeen - a.queuedSeen);
    for (const conn of live) {
      if (this.queuedTotal <= this.limits.shardSendBudget) break;
      this.host.cut(conn, ResetReasonCode.SLOW_CONSUMER);
    }
  }
}
