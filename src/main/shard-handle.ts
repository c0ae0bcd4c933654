import type dgram from 'node:dgram';
import type net from 'node:net';
import { writeFrameHeader, type HeaderSize } from '../shared/frame-encoder.js';
import { ADOPT_PAYLOAD_SIZE, READ_PAYLOAD_SIZE, writeAdopt, writeReadSettings, type ReadSettings } from '../shared/read-record.js';
import { BacklogSlots, QUEUED, TAKEN, createSendBacklog } from '../shared/send-backlog.js';
import { AdoptKind, RecordKind } from '../shared/record-kind.js';
import { UDP_ADDRESS_SIZE, udpChecksum, writeUdpAddress } from '../shared/udp-framing.js';
import { StatSlot, createShardStats } from '../shared/shard-stats.js';
import { SpscRing } from '../shared/spsc-ring.js';
import { copyBytes } from '../shared/copy-bytes.js';
import type { LocalSockets, ShardInit } from '../workers/shard.js';
import type { Connection } from './connection.js';
import { socketFd, type FdHelper } from './fd-helper.js';
import type { NetAddress } from './net-address.js';

/**
 * The main thread's side of one shard: the consumer end of its inbound ring, the producer
 * end of its outbound ring, its stats, and how sockets reach it (a duplicated fd for a
 * worker shard, the socket object itself for the main-thread shard).
 */
export class ShardHandle {
  readonly inbound: SpscRing;
  readonly outbound: SpscRing;
  readonly stats: Float64Array;
  /** Per-connection bytes taken and queued by the shard (send-backlog.ts). */
  readonly backlog: Float64Array;
  readonly backlogSlots: BacklogSlots;
  /** Connections adopted and not yet reported closed. */
  connections = 0;
  /** SEND records written; minus the shard's DATAGRAMS_OUT, the writer's queue. */
  sends = 0;
  /** Set when the shard's thread died: it takes no new connections. */
  failed = false;
  private commitScheduled = false;
  /** Control records waiting for room in the outbound ring, in order. */
  private readonly deferred: { kind: number; id: number; aux: number; payload: Uint8Array | null }[] = [];
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly commitNow: () => void;
  private readonly commitThreshold: number;

  constructor(
    readonly index: number,
    ringCapacity: number,
    /** Null for a worker shard; the in-process hand-over map for the main-thread shard. */
    readonly localSockets: LocalSockets | null,
    private readonly fdHelper: FdHelper | null,
  ) {
    this.inbound = SpscRing.create(ringCapacity);
    this.outbound = SpscRing.create(ringCapacity);
    this.stats = createShardStats();
    this.backlog = createSendBacklog();
    this.backlogSlots = new BacklogSlots(this.backlog);
    this.commitNow = this.commit.bind(this);
    this.commitThreshold = ringCapacity >>> 3;
  }

  /** The shard's start-up data (sent to its worker, or used in-process). */
  init(limits: Pick<ShardInit, 'sendBacklogLimit' | 'closeLingerMs' | 'idleTimeoutMs'>): ShardInit {
    return {
      inbound: this.inbound.buffer,
      outbound: this.outbound.buffer,
      stats: this.stats,
      backlog: this.backlog,
      sendBacklogLimit: limits.sendBacklogLimit,
      closeLingerMs: limits.closeLingerMs,
      idleTimeoutMs: limits.idleTimeoutMs,
    };
  }

  /**
   * Hands `socket` to the shard as `conn`. For a worker shard the fd is duplicated and the
   * main thread's socket destroyed: afterwards only the shard holds the socket. Returns
   * false (and destroys the socket) when it has no descriptor to hand over.
   */
  adopt(conn: Connection, socket: net.Socket | dgram.Socket, kind: number = AdoptKind.TCP): boolean {
    const discard = (): void => {
      if ('destroy' in socket) socket.destroy();
      else socket.close();
    };
    let fd = -1;
    if (this.localSockets === null) {
      const handleFd = socketFd(socket);
      if (this.fdHelper === null || handleFd < 0) {
        discard();
        return false;
      }
      fd = this.fdHelper.dupFd(handleFd);
      discard();
    }
    if (this.localSockets !== null) this.localSockets.set(conn.id, socket);
    if (kind === AdoptKind.TCP) conn.backlogSlot = this.backlogSlots.take();
    const payload = new Uint8Array(ADOPT_PAYLOAD_SIZE);
    writeAdopt(payload, 0, fd, conn.backlogSlot);
    this.enqueue(RecordKind.ADOPT, conn.id, kind, payload);
    this.connections++;
    return true;
  }

  /** Asks the shard to read `conn` with `settings`. */
  startReading(conn: Connection, settings: ReadSettings): void {
    const payload = new Uint8Array(READ_PAYLOAD_SIZE);
    writeReadSettings(payload, 0, settings);
    this.enqueue(RecordKind.READ, conn.id, 1, payload);
  }

  /** Asks the shard to stop reading `conn` (the connection stays open). */
  stopReading(conn: Connection): void {
    this.enqueue(RecordKind.READ, conn.id, 0, null);
  }

  /** Asks the shard to flush and close `conn`. */
  close(conn: Connection): void {
    this.enqueue(RecordKind.CLOSE, conn.id, 0, null);
  }

  /** Sets a socket option on `conn` (record-kind.ts SocketOption). */
  setOption(conn: Connection, option: number, on: boolean): boolean {
    this.enqueue(RecordKind.OPTION, conn.id, option, Uint8Array.of(on ? 1 : 0));
    return true;
  }

  /** Asks the shard to flush and close everything, then end. */
  shutdown(): void {
    this.enqueue(RecordKind.SHUTDOWN, 0, 0, null);
    this.commit();
  }

  /**
   * Frames `payload[0, length)` with `headerSize` straight into the outbound ring.
   * Returns false when the ring is full now (nothing is written).
   */
  send(conn: Connection, payload: Uint8Array, length: number, headerSize: HeaderSize): boolean {
    // Control records waiting for room go first: sends wait behind them.
    if (this.deferred.length > 0) return false;
    const ring = this.outbound;
    const at = ring.reserve(RecordKind.SEND, conn.id, headerSize + length);
    if (at < 0) {
      this.commit();
      return false;
    }
    const header = writeFrameHeader(ring.bytes, at, length, headerSize);
    copyBytes(ring.bytes, at + header, payload, 0, length);
    this.sends++;
    conn.sentBytes += header + length;
    if (ring.stagedBytes() > this.commitThreshold) this.commit();
    else this.scheduleCommit();
    return true;
  }

  /**
   * Frames `payload[0, length)` as one UDP packet to `to` (with Panda3D's checksum header
   * unless `raw`) straight into the outbound ring. False when the ring is full now.
   */
  sendTo(conn: Connection, payload: Uint8Array, length: number, to: NetAddress, raw: boolean): boolean {
    if (this.deferred.length > 0) return false;
    const ring = this.outbound;
    const header = raw ? 0 : 2;
    const at = ring.reserve(RecordKind.SEND_TO, conn.id, UDP_ADDRESS_SIZE + header + length);
    if (at < 0) {
      this.commit();
      return false;
    }
    writeUdpAddress(ring.bytes, at, to.getIpString(), to.getPort());
    if (!raw) {
      const sum = udpChecksum(payload, 0, length);
      ring.bytes[at + UDP_ADDRESS_SIZE] = sum & 0xff;
      ring.bytes[at + UDP_ADDRESS_SIZE + 1] = sum >>> 8;
    }
    copyBytes(ring.bytes, at + UDP_ADDRESS_SIZE + header, payload, 0, length);
    this.sends++;
    if (ring.stagedBytes() > this.commitThreshold) this.commit();
    else this.scheduleCommit();
    return true;
  }

  /** Bytes sent to `conn` that its socket has not handed to the kernel yet (send-backlog.ts). */
  sendBacklog(conn: Connection): number {
    const slot = conn.backlogSlot;
    if (slot < 0) return 0;
    const table = this.backlog;
    return Math.max(0, conn.sentBytes - table[slot * 2 + TAKEN]) + table[slot * 2 + QUEUED];
  }

  /** SEND records the shard has not taken from the ring yet. */
  queuedSends(): number {
    return this.sends - this.stats[StatSlot.DATAGRAMS_OUT];
  }

  /**
   * Writes a control record (everything but SEND), or, when the ring has no room now, keeps
   * it in order and retries until it fits: a close, a stop or a shutdown is never lost.
   */
  private enqueue(kind: number, id: number, aux: number, payload: Uint8Array | null): void {
    if (this.deferred.length === 0 && this.write(kind, id, aux, payload)) {
      this.scheduleCommit();
      return;
    }
    this.deferred.push({ kind, id, aux, payload });
    this.retryDeferred();
  }

  private write(kind: number, id: number, aux: number, payload: Uint8Array | null): boolean {
    const at = this.outbound.reserve(kind, id, payload === null ? 0 : payload.length, aux);
    if (at < 0) return false;
    if (payload !== null) this.outbound.bytes.set(payload, at);
    return true;
  }

  /** Writes what it can of the deferred records; tries again shortly while any remain. */
  private retryDeferred(): void {
    if (this.retryTimer !== null) return;
    let written = 0;
    while (this.deferred.length > written) {
      const next = this.deferred[written];
      if (!this.write(next.kind, next.id, next.aux, next.payload)) break;
      written++;
    }
    this.deferred.splice(0, written);
    this.commit();
    if (this.deferred.length > 0 && !this.failed) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.retryDeferred();
      }, 1);
    }
  }

  /** Publishes staged records once per turn of the event loop (the doorbell rings once per batch). */
  private scheduleCommit(): void {
    if (this.commitScheduled) return;
    this.commitScheduled = true;
    queueMicrotask(this.commitNow);
  }

  commit(): void {
    this.commitScheduled = false;
    this.outbound.commit();
  }
}
