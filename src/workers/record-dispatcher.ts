import type dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { ADOPT_PAYLOAD_SIZE, takeAdoptFd, readAdoptSlot, readReadSettings } from '../shared/protocol/read-record.js';
import { decodeTransport } from '../shared/protocol/transport-spec.js';
import {
  COUNT_SIZE,
  broadcastFrameOffset,
  readBroadcastCount,
  readBroadcastId,
  readOptionSeconds,
  readOptionValue,
  readSendToManyCount,
  readShutdownDeadline,
} from '../shared/protocol/outbound-records.js';
import { AdoptKind, RecordKind, SocketOption } from '../shared/protocol/record-kind.js';
import { applySocketOption } from './socket-options.js';
import { ResetReasonCode } from '../shared/reset-reason.js';
import { StatSlot } from '../shared/protocol/shard-stats.js';
import type { SpscRing } from '../shared/protocol/spsc-ring.js';
import type { ConnectionLifecycle, LocalSockets } from './connection-lifecycle.js';
import { ConnectionState, type ShardConnection } from './shard-connection.js';
import type { SocketWriter } from './socket-writer.js';
import type { UdpEndpoints } from './udp-endpoints.js';

/** Records between two looks at the clock (a power of two). */
const CLOCK_EVERY = 64;
/** Bytes between two looks at the clock (large SENDs take long to copy). */
const CLOCK_EVERY_BYTES = 256 * 1024;

/**
 * Reads the outbound ring and hands each record to the part of the shard it is for: SENDs
 * to the socket writer, connection records to the lifecycle, UDP to the endpoints. Works in
 * time slices, so a main thread sending flat out cannot keep the shard from its sockets and
 * timers.
 */
export class RecordDispatcher {
  /** A SHUTDOWN record has been handled. */
  shuttingDown = false;
  /** When the shutdown must be over (Date.now() time, from the SHUTDOWN record). */
  shutdownDeadline = Infinity;

  constructor(
    private readonly ring: SpscRing,
    private readonly stats: Float64Array,
    private readonly lifecycle: ConnectionLifecycle,
    private readonly writer: SocketWriter,
    private readonly udp: UdpEndpoints,
    private readonly localSockets: LocalSockets | null,
  ) {}

  /**
   * Handles records until the ring is empty or `sliceMs` has passed, then writes what they
   * queued. Returns true when records remain (the caller yields, then calls again).
   */
  drain(sliceMs: number): boolean {
    const ring = this.ring;
    const connections = this.lifecycle.connections;
    const deadline = sliceMs === Infinity ? Infinity : performance.now() + sliceMs;
    let sends = 0;
    let bytesOut = 0;
    let count = 0;
    let checkAt = CLOCK_EVERY_BYTES;
    let more = false;
    while (ring.next()) {
      const kind = ring.kind;
      if (kind === RecordKind.SEND) {
        const conn = connections.get(ring.connectionId);
        if (ring.aux === 0) sends++; // aux 1: a later part of a datagram sent in parts
        if (conn !== undefined) {
          conn.takenBytes += ring.length;
          const state = conn.state;
          if (state === ConnectionState.OPEN || state === ConnectionState.HALF_CLOSED) {
            this.writer.append(conn, ring.bytes, ring.offset, ring.length);
            if (conn.session !== null) this.frameOut(conn, ring.bytes, ring.offset, ring.length, ring.aux);
            bytesOut += ring.length;
          }
        }
      } else if (kind === RecordKind.BROADCAST) {
        const count = readBroadcastCount(ring.view, ring.offset);
        sends += count;
        bytesOut += this.broadcast(ring, count);
      } else {
        this.control(kind, ring);
        if (this.shuttingDown) break;
      }
      if ((++count & (CLOCK_EVERY - 1)) === 0 || bytesOut > checkAt) {
        checkAt = bytesOut + CLOCK_EVERY_BYTES;
        if (performance.now() > deadline) {
          more = true;
          break;
        }
      }
    }
    ring.release();
    this.stats[StatSlot.DATAGRAMS_OUT] += sends;
    this.stats[StatSlot.BYTES_OUT] += bytesOut;
    // The socket writes count in the slice too; what is left goes out in the next one.
    return this.writer.flushDirty(deadline) || more;
  }

  /**
   * Appends a BROADCAST record's one frame to each of its `count` recipients' writes, in
   * order with their SENDs. Returns the bytes queued (recipients gone or closing get none).
   */
  private broadcast(ring: SpscRing, count: number): number {
    const connections = this.lifecycle.connections;
    const view = ring.view;
    const at = ring.offset;
    const frame = broadcastFrameOffset(at, count);
    const length = at + ring.length - frame;
    let queued = 0;
    for (let i = 0; i < count; i++) {
      const conn = connections.get(readBroadcastId(view, at, i));
      if (conn === undefined) continue;
      conn.takenBytes += length;
      const state = conn.state;
      if (state === ConnectionState.OPEN || state === ConnectionState.HALF_CLOSED) {
        this.writer.append(conn, ring.bytes, frame, length);
        if (conn.session !== null) this.frameOut(conn, ring.bytes, frame, length, 0);
        queued += length;
      }
    }
    return queued;
  }

  /** A WebSocket stream's data frame went to its writes: a pong that waited for a boundary follows it. */
  private frameOut(conn: ShardConnection, bytes: Uint8Array, offset: number, length: number, aux: number): void {
    const due = conn.session!.noteOut(bytes, offset, length, aux);
    if (due !== null) this.writer.append(conn, due, 0, due.length);
  }

  private control(kind: number, ring: SpscRing): void {
    const id = ring.connectionId;
    const conn = this.lifecycle.connections.get(id);
    switch (kind) {
      case RecordKind.ADOPT: {
        const fd = takeAdoptFd(ring.bytes, ring.offset);
        if (ring.aux === AdoptKind.TCP) {
          const transport =
            ring.length > ADOPT_PAYLOAD_SIZE ? decodeTransport(ring.bytes, ring.offset + ADOPT_PAYLOAD_SIZE, ring.length - ADOPT_PAYLOAD_SIZE) : null;
          this.lifecycle.adopt(id, fd, readAdoptSlot(ring.bytes, ring.offset), transport);
        } else {
          const local = this.localSockets?.get(id) as dgram.Socket | undefined;
          this.localSockets?.delete(id);
          this.udp.adopt(id, fd, local, (ring.aux & AdoptKind.BROADCAST) !== 0, (ring.aux & AdoptKind.IPV6) !== 0);
        }
        break;
      }
      case RecordKind.READ:
        if (conn) this.lifecycle.setReading(conn, ring.aux === 1, ring.bytes, ring.offset);
        else if (ring.aux === 1) this.udp.setReading(id, true, readReadSettings(ring.bytes, ring.offset).raw);
        else this.udp.setReading(id, false, false);
        break;
      case RecordKind.CLOSE:
        if (conn === undefined) this.udp.close(id, ResetReasonCode.CLOSED_LOCALLY);
        else if (ring.aux === 0 && conn.lingerMs !== 0) this.lifecycle.close(conn);
        else if (ring.aux === 0)
          this.lifecycle.cut(conn, ResetReasonCode.CLOSED_LOCALLY); // SO_LINGER 0: RST
        else this.lifecycle.cut(conn, ring.aux);
        break;
      case RecordKind.RELEASE:
        if (conn) this.lifecycle.release(conn);
        break;
      case RecordKind.SEND_TO:
        this.stats[StatSlot.DATAGRAMS_OUT]++;
        this.stats[StatSlot.BYTES_OUT] += this.udp.sendTo(id, ring.bytes, ring.offset, ring.length);
        break;
      case RecordKind.SEND_TO_MANY: {
        const count = readSendToManyCount(ring.view, ring.offset);
        this.stats[StatSlot.DATAGRAMS_OUT] += count;
        this.stats[StatSlot.BYTES_OUT] += this.udp.sendToMany(id, ring.bytes, ring.offset + COUNT_SIZE, count, ring.offset + ring.length);
        break;
      }
      case RecordKind.OPTION: {
        const value = readOptionValue(ring.view, ring.offset);
        const seconds = readOptionSeconds(ring.view, ring.offset);
        if (conn && ring.aux === SocketOption.LINGER) {
          // SO_LINGER with seconds would make close() block this thread for them: the kernel
          // gets only "off" or "0 seconds" (a close resets, RST), and a linger of some
          // seconds is this connection's own closeLingerMs (its close waits that long at
          // most for the peer to take what is queued, then cuts it).
          const abortive = value !== 0 && seconds === 0;
          if (conn.state !== ConnectionState.GONE) applySocketOption(conn.raw ?? conn.socket, false, ring.aux, abortive ? 1 : 0, 0);
          conn.lingerMs = value === 0 ? -1 : seconds * 1000;
        } else if (conn) {
          if (conn.state !== ConnectionState.GONE) applySocketOption(conn.raw ?? conn.socket, false, ring.aux, value, seconds);
        } else {
          const socket = this.udp.socketOf(id);
          if (socket !== null) applySocketOption(socket, true, ring.aux, value, seconds);
        }
        break;
      }
      case RecordKind.SHUTDOWN:
        this.shuttingDown = true;
        this.shutdownDeadline = readShutdownDeadline(ring.view, ring.offset, ring.length);
        this.writer.flushDirty(); // what came before SHUTDOWN goes out before the FINs
        this.lifecycle.shutdown();
        this.udp.closeAll();
        break;
    }
  }
}
