import type dgram from 'node:dgram';
import net from 'node:net';
import { DecodeStatus, FrameDecoder, type FrameSink } from '../shared/frame-decoder.js';
import { readAdoptFd, readAdoptSlot, readReadSettings } from '../shared/read-record.js';
import { QUEUED, TAKEN } from '../shared/send-backlog.js';
import { AdoptKind, RecordKind, SocketOption } from '../shared/record-kind.js';
import { ResetReasonCode } from '../shared/reset-reason.js';
import { StatSlot } from '../shared/shard-stats.js';
import { SpscRing } from '../shared/spsc-ring.js';
import { copyBytes } from '../shared/copy-bytes.js';
import { UdpEndpoints } from './udp-endpoints.js';

/** What a shard needs: its two rings, its stats block and its limits. */
export interface ShardInit {
  /** Inbound ring buffer: this shard produces DATA / OPENED / CLOSED records. */
  inbound: SharedArrayBuffer;
  /** Outbound ring buffer: this shard consumes ADOPT / SEND / READ / CLOSE / OPTION / SHUTDOWN. */
  outbound: SharedArrayBuffer;
  /** Stats block (shard-stats.ts). */
  stats: Float64Array;
  /** Send-backlog table (send-backlog.ts). */
  backlog: Float64Array;
  /** Bytes a connection may have queued for its socket before it is reset as `slow-consumer`. */
  sendBacklogLimit: number;
  /** How long a locally closed connection may wait for its peer's FIN before it is destroyed (ms). */
  closeLingerMs: number;
  /**
   * A read connection that completes no datagram for this long is reset as `idle-timeout`
   * (ms; 0: never). Counting datagrams, not bytes, also ends a peer that trickles a
   * datagram a byte at a time, or announces one and never sends it.
   */
  idleTimeoutMs: number;
}

/** Socket objects handed over in-process (single-thread mode), by connection id. */
export type LocalSockets = Map<number, net.Socket | dgram.Socket>;

/** Smallest coalescing buffer: small enough to come from Node's Buffer pool. */
const MIN_OUT_BUFFER = 256;

/** Largest DATA_FRAMES record: bounds how long one connection holds the reader. */
const MAX_RUN_BYTES = 64 * 1024;

/** One adopted socket and its framing state. Created once per connection. */
class ShardConnection {
  decoder: FrameDecoder;
  readonly onData: (chunk: Buffer) => void;
  /** Reading was asked for by a READ record. */
  reading = false;
  /** Held in the shard's blocked list: its decoder holds data the inbound ring refused. */
  blocked = false;
  /** A local CLOSE or a SHUTDOWN was received: incoming bytes are discarded. */
  closing = false;
  /** The socket is gone; a CLOSED record with `reason` is owed. */
  ended = false;
  reason = 0;
  reported = false;
  out: Buffer | null = null;
  outLength = 0;
  dirty = false;
  lingerTimer: NodeJS.Timeout | null = null;
  /** The shard's clock when a datagram last completed (or reading began). */
  lastActivity = 0;
  /** Slot in the send-backlog table, or -1; cleared when the connection is reported closed. */
  backlogSlot = -1;
  /** Bytes taken from the ring for this connection so far. */
  takenBytes = 0;

  constructor(
    readonly id: number,
    readonly socket: net.Socket,
    readonly shard: Shard,
  ) {
    this.decoder = new FrameDecoder({ headerSize: 2 });
    this.onData = shard.onData.bind(shard, this);
  }
}

/**
 * A shard: owns sockets, cuts their bytes into datagrams straight into the inbound ring,
 * and drains the outbound ring into the sockets. Runs in a worker thread (shard-worker.ts)
 * or, in single-thread mode, on the main thread with the very same rings.
 */
export class Shard implements FrameSink {
  private readonly inbound: SpscRing;
  private readonly outbound: SpscRing;
  private readonly stats: Float64Array;
  private readonly connections = new Map<number, ShardConnection>();
  /** Connections whose decoder holds refused data, or whose CLOSED record did not fit. */
  private readonly blocked: ShardConnection[] = [];
  private readonly dirty: ShardConnection[] = [];
  private waitingForSpace = false;
  private shuttingDown = false;
  private finished: (() => void) | null = null;
  /** The connection whose bytes the decoder is delivering (the sink's target). */
  private current: ShardConnection | null = null;
  /** The socket chunk being decoded (null while resuming held data). */
  private currentChunk: Uint8Array | null = null;
  private currentHeader = 0;
  /**
   * A run of whole frames in currentChunk not yet copied: chunk[runStart, runEnd), headers
   * included. The ring is known to have room for it (canReserve), so flushing cannot fail.
   */
  private runChunk: Uint8Array | null = null;
  private runStart = 0;
  private runEnd = 0;
  private runFrames = 0;
  private readonly runLimit: number;
  private datagramsIn = 0;
  private bytesIn = 0;
  private readonly onSpace: () => void;
  /** A coarse clock (ms), advanced by the idle sweep, so no datagram pays for Date.now(). */
  private clock = Date.now();
  private idleTimer: NodeJS.Timeout | null = null;
  private readonly idleSweepMs: number;
  private readonly udp: UdpEndpoints;
  /** CLOSED records of reportClosedId that did not fit the ring yet. */
  private readonly unreported: { id: number; reason: number }[] = [];

  constructor(
    private readonly init: ShardInit,
    private readonly localSockets: LocalSockets | null = null,
  ) {
    this.inbound = new SpscRing(init.inbound);
    this.outbound = new SpscRing(init.outbound);
    this.runLimit = Math.min(MAX_RUN_BYTES, this.inbound.maxPayload);
    this.stats = init.stats;
    this.onSpace = this.resumeBlocked.bind(this);
    this.udp = new UdpEndpoints(this.inbound, this.stats, this.reportClosedId.bind(this));
    // Sweeping four times per timeout: activity is stamped with the coarse clock, at most
    // one sweep stale, so a reset comes between 1x and 1.5x the timeout, never early.
    this.idleSweepMs = Math.max(10, init.idleTimeoutMs >>> 2);
    if (init.idleTimeoutMs > 0) {
      this.idleTimer = setInterval(this.sweepIdle.bind(this), this.idleSweepMs);
      this.idleTimer.unref();
    }
  }

  /** Runs until a SHUTDOWN record has been handled and every socket has closed. */
  async run(): Promise<void> {
    const done = new Promise<void>((resolve) => (this.finished = resolve));
    while (!this.shuttingDown) {
      this.drainOutbound();
      if (this.shuttingDown) break;
      const wait = this.outbound.waitForData();
      if (wait) await wait;
    }
    this.maybeFinish();
    await done;
  }

  // ── inbound: socket bytes → DATA records ──────────────────────────────────

  /** A socket chunk for `conn` (bound once per connection as its 'data' listener). */
  onData(conn: ShardConnection, chunk: Buffer): void {
    if (conn.closing || conn.ended) return;
    this.current = conn;
    this.currentChunk = chunk;
    this.currentHeader = conn.decoder.headerSize;
    const before = this.datagramsIn;
    const status = conn.decoder.write(chunk, this);
    this.flushRun();
    this.currentChunk = null;
    if (this.datagramsIn !== before) conn.lastActivity = this.clock;
    this.publishInbound();
    if (status === DecodeStatus.PAUSED) this.block(conn);
    else if (status === DecodeStatus.OVERSIZED) this.reset(conn, ResetReasonCode.OVERSIZED_DATAGRAM);
  }

  /** FrameSink: one decoded datagram of the current connection. False when the ring is full. */
  onDatagram(bytes: Uint8Array, start: number, length: number): boolean {
    const ring = this.inbound;
    const header = this.currentHeader;
    // A frame wholly inside the chunk being decoded (header included) joins a run, copied
    // later as one DATA_FRAMES record. Anything else (the decoder's scratch, raw mode,
    // held data) is copied now as a DATA record.
    if (bytes === this.currentChunk && header !== 0 && start >= header) {
      const frameStart = start - header;
      const end = start + length;
      if (this.runChunk !== null && frameStart === this.runEnd && end - this.runStart <= this.runLimit) {
        if (ring.canReserve(end - this.runStart)) {
          this.runEnd = end;
          this.runFrames++;
          this.datagramsIn++;
          this.bytesIn += length;
          return true;
        }
      }
      this.flushRun();
      if (end - frameStart <= this.runLimit) {
        if (!ring.canReserve(end - frameStart)) return false;
        this.runChunk = bytes;
        this.runStart = frameStart;
        this.runEnd = end;
        this.runFrames = 1;
        this.datagramsIn++;
        this.bytesIn += length;
        return true;
      }
    }
    this.flushRun();
    const at = ring.reserve(RecordKind.DATA, this.current!.id, length);
    if (at < 0) return false;
    copyBytes(ring.bytes, at, bytes, start, length);
    this.datagramsIn++;
    this.bytesIn += length;
    return true;
  }

  /** Copies the pending run of frames into the ring as one DATA_FRAMES record. */
  private flushRun(): void {
    const chunk = this.runChunk;
    if (chunk === null) return;
    this.runChunk = null;
    const ring = this.inbound;
    const header = this.currentHeader;
    // canReserve said yes for the whole run and nothing was reserved since: `at` is never -1.
    if (this.runFrames === 1) {
      // One frame (a game client's usual read): a plain DATA record, nothing to walk.
      const length = this.runEnd - this.runStart - header;
      const at = ring.reserve(RecordKind.DATA, this.current!.id, length);
      copyBytes(ring.bytes, at, chunk, this.runStart + header, length);
      return;
    }
    const length = this.runEnd - this.runStart;
    const at = ring.reserve(RecordKind.DATA_FRAMES, this.current!.id, length, header);
    copyBytes(ring.bytes, at, chunk, this.runStart, length);
  }

  private publishInbound(): void {
    this.inbound.commit();
    const stats = this.stats;
    stats[StatSlot.DATAGRAMS_IN] += this.datagramsIn;
    stats[StatSlot.BYTES_IN] += this.bytesIn;
    this.datagramsIn = 0;
    this.bytesIn = 0;
  }

  /** The inbound ring refused `conn`'s data: stop reading it until the main thread drains. */
  private block(conn: ShardConnection): void {
    if (!conn.blocked) {
      conn.blocked = true;
      this.blocked.push(conn);
      conn.socket.pause();
      this.stats[StatSlot.PAUSES]++;
    }
    this.awaitSpace();
  }

  private awaitSpace(): void {
    if (this.waitingForSpace) return;
    this.waitingForSpace = true;
    const wait = this.inbound.waitForSpace();
    if (wait) wait.then(this.onSpace);
    else queueMicrotask(this.onSpace);
  }

  /** The main thread freed inbound space: deliver held data in order, then resume reading. */
  private resumeBlocked(): void {
    this.waitingForSpace = false;
    const blocked = this.blocked;
    let i = 0;
    for (; i < blocked.length; i++) {
      const conn = blocked[i];
      if (!conn.ended || conn.decoder.bufferedBytes > 0) {
        this.current = conn;
        const status = conn.decoder.resume(this);
        if (status === DecodeStatus.PAUSED) break;
        if (status === DecodeStatus.OVERSIZED) {
          this.reset(conn, ResetReasonCode.OVERSIZED_DATAGRAM);
        }
      }
      if (conn.ended && !this.reportClosed(conn)) break;
      conn.blocked = false;
      conn.lastActivity = this.clock;
      if (conn.reading && !conn.closing && !conn.ended) conn.socket.resume();
    }
    this.publishInbound();
    this.retryReports();
    blocked.splice(0, i);
    if (blocked.length > 0) this.awaitSpace();
    else this.maybeFinish();
  }

  // ── connection lifecycle ──────────────────────────────────────────────────

  private adopt(id: number, fd: number, kind: number, slot: number): void {
    if (kind !== AdoptKind.TCP) {
      const local = this.localSockets?.get(id) as dgram.Socket | undefined;
      this.localSockets?.delete(id);
      this.udp.adopt(id, fd, local, (kind & AdoptKind.BROADCAST) !== 0, (kind & AdoptKind.IPV6) !== 0);
      return;
    }
    let socket: net.Socket | undefined;
    if (fd >= 0) {
      try {
        // pauseOnCreate: nothing is read before a READ record asks for it.
        socket = new net.Socket({ fd, readable: true, writable: true, pauseOnCreate: true } as net.SocketConstructorOpts);
      } catch {
        // A descriptor that cannot be opened fails that connection alone, never the shard.
        socket = undefined;
      }
    } else {
      socket = this.localSockets?.get(id) as net.Socket | undefined;
      this.localSockets?.delete(id);
    }
    if (!socket) {
      this.reportClosedId(id, ResetReasonCode.ERROR);
      return;
    }
    socket.pause();
    const conn = new ShardConnection(id, socket, this);
    conn.backlogSlot = slot;
    this.connections.set(id, conn);
    this.stats[StatSlot.CONNECTIONS] = this.connections.size;
    socket.on('data', conn.onData);
    socket.on('drain', () => this.publishBacklog(conn));
    socket.on('end', () => this.peerEnded(conn));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      const code = error.code;
      this.ended(
        conn,
        code === 'ECONNRESET' || code === 'EPIPE' ? ResetReasonCode.CLOSED_BY_PEER : ResetReasonCode.ERROR,
      );
    });
    socket.on('close', () => {
      if (conn.lingerTimer) clearTimeout(conn.lingerTimer);
      this.ended(conn, ResetReasonCode.CLOSED_BY_PEER);
    });
    if (this.inbound.tryWrite(RecordKind.OPENED, id, EMPTY)) this.inbound.commit();
  }

  private setReading(conn: ShardConnection, on: boolean, bytes: Uint8Array, offset: number): void {
    if (on) {
      const settings = readReadSettings(bytes, offset);
      // New settings apply to a connection that has not delivered a partial datagram.
      if (conn.decoder.bufferedBytes === 0) {
        conn.decoder = new FrameDecoder({
          headerSize: settings.raw ? 0 : settings.headerSize,
          maxDatagramSize: settings.maxDatagramSize,
        });
      }
      conn.reading = true;
      conn.lastActivity = this.clock;
      if (!conn.blocked && !conn.closing) conn.socket.resume();
    } else {
      conn.reading = false;
      conn.socket.pause();
    }
  }

  /** Resets `conn` at once (a limit broke): the socket is destroyed, CLOSED reports `reason`. */
  private reset(conn: ShardConnection, reason: number): void {
    if (conn.ended) return;
    conn.decoder.reset();
    conn.socket.destroy();
    this.ended(conn, reason);
  }

  /**
   * The peer sent FIN. Its connection is over (Panda3D reads that as a reset), but what we
   * already queued for it still goes out before our FIN: a half-closed peer may be reading.
   */
  private peerEnded(conn: ShardConnection): void {
    if (conn.ended || conn.closing) {
      if (conn.closing) conn.socket.destroy();
      return;
    }
    this.flush(conn);
    conn.socket.end();
    conn.lingerTimer = setTimeout(() => conn.socket.destroy(), this.init.closeLingerMs);
    conn.lingerTimer.unref();
    this.ended(conn, ResetReasonCode.CLOSED_BY_PEER, false);
  }

  /**
   * The connection is over: report CLOSED once its held data is delivered. `destroy`
   * false leaves a gracefully ending socket to finish writing.
   */
  private ended(conn: ShardConnection, reason: number, destroy = true): void {
    if (conn.ended) return;
    conn.ended = true;
    conn.reason = conn.closing ? ResetReasonCode.CLOSED_LOCALLY : reason;
    if (destroy) {
      if (conn.lingerTimer) clearTimeout(conn.lingerTimer);
      if (!conn.socket.destroyed) conn.socket.destroy();
    }
    if (conn.blocked) return;
    if (!this.reportClosed(conn)) {
      conn.blocked = true;
      this.blocked.push(conn);
      this.awaitSpace();
    }
  }

  /**
   * Writes a CLOSED record for a connection that has no held data (a UDP socket, a socket
   * that could not be adopted), now or, when the ring is full, once it has room.
   */
  private reportClosedId(id: number, reason: number): void {
    if (this.inbound.tryWrite(RecordKind.CLOSED, id, EMPTY, 0, 0, reason)) {
      this.inbound.commit();
      this.maybeFinish();
    } else {
      this.unreported.push({ id, reason });
      this.awaitSpace();
    }
  }

  private retryReports(): void {
    for (const { id, reason } of this.unreported.splice(0)) this.reportClosedId(id, reason);
  }

  /** Writes `conn`'s CLOSED record; false when the ring is full (try again on space). */
  private reportClosed(conn: ShardConnection): boolean {
    if (conn.reported) return true;
    if (!this.inbound.tryWrite(RecordKind.CLOSED, conn.id, EMPTY, 0, 0, conn.reason)) return false;
    this.inbound.commit();
    conn.reported = true;
    // The main thread takes the slot back on this record: the shard must not touch it again.
    conn.backlogSlot = -1;
    this.connections.delete(conn.id);
    this.stats[StatSlot.CONNECTIONS] = this.connections.size;
    this.maybeFinish();
    return true;
  }

  /** Closes gracefully: pending writes go out, then FIN; the peer gets closeLingerMs to answer. */
  private closeGracefully(conn: ShardConnection): void {
    if (conn.closing || conn.ended) return;
    conn.closing = true;
    this.flush(conn);
    conn.socket.resume(); // read and discard until the peer's FIN, so unread bytes cause no RST
    conn.socket.end();
    conn.lingerTimer = setTimeout(() => conn.socket.destroy(), this.init.closeLingerMs);
    conn.lingerTimer.unref();
  }

  // ── outbound: records → sockets ───────────────────────────────────────────

  /** Handles every outbound record published so far, then writes what they queued. */
  private drainOutbound(): void {
    const ring = this.outbound;
    let sends = 0;
    let bytesOut = 0;
    while (ring.next()) {
      const kind = ring.kind;
      if (kind === RecordKind.SEND) {
        const conn = this.connections.get(ring.connectionId);
        sends++;
        if (conn !== undefined) {
          conn.takenBytes += ring.length;
          if (!conn.closing && !conn.ended) {
            this.append(conn, ring.bytes, ring.offset, ring.length);
            bytesOut += ring.length;
          }
        }
        continue;
      }
      const conn = this.connections.get(ring.connectionId);
      switch (kind) {
        case RecordKind.ADOPT:
          this.adopt(ring.connectionId, readAdoptFd(ring.bytes, ring.offset), ring.aux, readAdoptSlot(ring.bytes, ring.offset));
          break;
        case RecordKind.READ:
          if (conn) this.setReading(conn, ring.aux === 1, ring.bytes, ring.offset);
          else if (ring.aux === 1) this.udp.setReading(ring.connectionId, true, readReadSettings(ring.bytes, ring.offset).raw);
          else this.udp.setReading(ring.connectionId, false, false);
          break;
        case RecordKind.CLOSE:
          if (conn) this.closeGracefully(conn);
          else this.udp.close(ring.connectionId, ResetReasonCode.CLOSED_LOCALLY);
          break;
        case RecordKind.SEND_TO:
          sends++;
          bytesOut += this.udp.sendTo(ring.connectionId, ring.bytes, ring.offset, ring.length);
          break;
        case RecordKind.OPTION:
          if (conn && !conn.ended) this.setOption(conn, ring.aux, ring.bytes[ring.offset] === 1);
          break;
        case RecordKind.SHUTDOWN:
          this.shuttingDown = true;
          break;
      }
    }
    ring.release();
    this.stats[StatSlot.DATAGRAMS_OUT] += sends;
    this.stats[StatSlot.BYTES_OUT] += bytesOut;
    this.flushDirty();
    if (this.shuttingDown) {
      for (const conn of this.connections.values()) this.closeGracefully(conn);
      this.udp.closeAll();
    }
  }

  /** Queues bytes for `conn`, coalescing every SEND of this drain into one socket write. */
  private append(conn: ShardConnection, bytes: Uint8Array, offset: number, length: number): void {
    let out = conn.out;
    const needed = conn.outLength + length;
    if (out === null || out.length < needed) {
      // The first buffer of a drain is exact (small ones come from Node's pool); a second
      // SEND in the same drain doubles it.
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

  private flushDirty(): void {
    const dirty = this.dirty;
    for (let i = 0; i < dirty.length; i++) this.flush(dirty[i]);
    dirty.length = 0;
  }

  /** Hands `conn`'s coalesced bytes to its socket; resets it if its backlog breaks the limit. */
  private flush(conn: ShardConnection): void {
    conn.dirty = false;
    if (conn.outLength === 0 || conn.out === null) {
      this.publishBacklog(conn);
      return;
    }
    // The socket keeps this buffer until written; the next batch starts a new one.
    const chunk = conn.out.subarray(0, conn.outLength);
    conn.out = null;
    conn.outLength = 0;
    if (conn.ended) return;
    conn.socket.write(chunk);
    if (conn.socket.writableLength > this.init.sendBacklogLimit) {
      this.reset(conn, ResetReasonCode.SLOW_CONSUMER);
    } else {
      this.publishBacklog(conn);
    }
  }

  /** Publishes what `conn` has taken and what its socket queues (ConnectionWriter.getSendBacklog). */
  private publishBacklog(conn: ShardConnection): void {
    const slot = conn.backlogSlot;
    if (slot < 0) return;
    const table = this.init.backlog;
    table[slot * 2 + TAKEN] = conn.takenBytes;
    table[slot * 2 + QUEUED] = conn.socket.writableLength;
  }

  private setOption(conn: ShardConnection, option: number, on: boolean): void {
    if (option === SocketOption.NO_DELAY) conn.socket.setNoDelay(on);
    else if (option === SocketOption.KEEP_ALIVE) conn.socket.setKeepAlive(on);
  }

  /** Resets every read connection that has received nothing for idleTimeoutMs. */
  private sweepIdle(): void {
    const now = (this.clock = Date.now());
    const limit = this.init.idleTimeoutMs + this.idleSweepMs;
    for (const conn of this.connections.values()) {
      // A blocked connection is silent because we stopped reading it, not because its peer is.
      if (conn.reading && !conn.blocked && !conn.closing && !conn.ended && now - conn.lastActivity > limit) {
        this.reset(conn, ResetReasonCode.IDLE_TIMEOUT);
      }
    }
  }

  /** Ends run() once shutting down and every connection has been reported closed. */
  private maybeFinish(): void {
    if (
      this.shuttingDown &&
      this.connections.size === 0 &&
      this.udp.size === 0 &&
      this.unreported.length === 0 &&
      this.blocked.length === 0 &&
      this.finished
    ) {
      if (this.idleTimer) clearInterval(this.idleTimer);
      const finished = this.finished;
      this.finished = null;
      finished();
    }
  }
}

const EMPTY = new Uint8Array(0);
