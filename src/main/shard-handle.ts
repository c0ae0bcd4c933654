import type dgram from 'node:dgram';
import type net from 'node:net';
import { writeFrameHeader, type HeaderSize } from '../shared/frame-encoder.js';
import { ADOPT_PAYLOAD_SIZE, READ_PAYLOAD_SIZE, writeAdoptFd, writeReadSettings, type ReadSettings } from '../shared/read-record.js';
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
  /** Connections adopted and not yet reported closed. */
  connections = 0;
  /** SEND records written; minus the shard's DATAGRAMS_OUT, the writer's queue. */
  sends = 0;
  /** Set when the shard's thread died: it takes no new connections. */
  failed = false;
  private commitScheduled = false;
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
    this.commitNow = this.commit.bind(this);
    this.commitThreshold = ringCapacity >>> 3;
  }

  /** The shard's start-up data (sent to its worker, or used in-process). */
  init(limits: Pick<ShardInit, 'sendBacklogLimit' | 'closeLingerMs' | 'idleTimeoutMs'>): ShardInit {
    return {
      inbound: this.inbound.buffer,
      outbound: this.outbound.buffer,
      stats: this.stats,
      sendBacklogLimit: limits.sendBacklogLimit,
      closeLingerMs: limits.closeLingerMs,
      idleTimeoutMs: limits.idleTimeoutMs,
    };
  }

  /**
   * Hands `socket` to the shard as `conn`. For a worker shard the fd is duplicated and the
   * main thread's socket destroyed: afterwards only the shard holds the socket. Returns
   * false (and destroys the socket) when the hand-over fails.
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
    const at = this.outbound.reserve(RecordKind.ADOPT, conn.id, ADOPT_PAYLOAD_SIZE, kind);
    if (at < 0) {
      if (fd >= 0) this.fdHelper!.closeFd(fd);
      else discard();
      return false;
    }
    if (this.localSockets !== null) this.localSockets.set(conn.id, socket);
    writeAdoptFd(this.outbound.bytes, at, fd);
    this.connections++;
    this.scheduleCommit();
    return true;
  }

  /** Asks the shard to read `conn` with `settings`. False when the outbound ring is full. */
  startReading(conn: Connection, settings: ReadSettings): boolean {
    const at = this.outbound.reserve(RecordKind.READ, conn.id, READ_PAYLOAD_SIZE, 1);
    if (at < 0) return false;
    writeReadSettings(this.outbound.bytes, at, settings);
    this.scheduleCommit();
    return true;
  }

  /** Asks the shard to stop reading `conn` (the connection stays open). */
  stopReading(conn: Connection): boolean {
    return this.control(RecordKind.READ, conn.id, 0);
  }

  /** Asks the shard to flush and close `conn`. */
  close(conn: Connection): boolean {
    return this.control(RecordKind.CLOSE, conn.id, 0);
  }

  /** Sets a socket option on `conn` (record-kind.ts SocketOption). */
  setOption(conn: Connection, option: number, on: boolean): boolean {
    const at = this.outbound.reserve(RecordKind.OPTION, conn.id, 1, option);
    if (at < 0) return false;
    this.outbound.bytes[at] = on ? 1 : 0;
    this.scheduleCommit();
    return true;
  }

  /** Asks the shard to flush and close everything, then end. */
  shutdown(): boolean {
    const ok = this.control(RecordKind.SHUTDOWN, 0, 0);
    this.commit();
    return ok;
  }

  /**
   * Frames `payload[0, length)` with `headerSize` straight into the outbound ring.
   * Returns false when the ring is full now (nothing is written).
   */
  send(conn: Connection, payload: Uint8Array, length: number, headerSize: HeaderSize): boolean {
    const ring = this.outbound;
    const at = ring.reserve(RecordKind.SEND, conn.id, headerSize + length);
    if (at < 0) {
      this.commit();
      return false;
    }
    const header = writeFrameHeader(ring.bytes, at, length, headerSize);
    copyBytes(ring.bytes, at + header, payload, 0, length);
    this.sends++;
    if (ring.stagedBytes() > this.commitThreshold) this.commit();
    else this.scheduleCommit();
    return true;
  }

  /**
   * Frames `payload[0, length)` as one UDP packet to `to` (with Panda3D's checksum header
   * unless `raw`) straight into the outbound ring. False when the ring is full now.
   */
  sendTo(conn: Connection, payload: Uint8Array, length: number, to: NetAddress, raw: boolean): boolean {
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

  /** SEND records the shard has not taken from the ring yet. */
  queuedSends(): number {
    return this.sends - this.stats[StatSlot.DATAGRAMS_OUT];
  }

  private control(kind: number, id: number, aux: number): boolean {
    if (this.outbound.reserve(kind, id, 0, aux) < 0) return false;
    this.scheduleCommit();
    return true;
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
