import { DecodeStatus, type FrameSink } from '../shared/frame-decoder.js';
import { LargePart, RecordKind } from '../shared/protocol/record-kind.js';
import { ResetReasonCode } from '../shared/reset-reason.js';
import { StatSlot } from '../shared/protocol/shard-stats.js';
import type { SpscRing } from '../shared/protocol/spsc-ring.js';
import { copyBytes } from '../shared/copy-bytes.js';
import { ConnectionState, type ShardConnection } from './shard-connection.js';

/** Largest DATA_FRAMES record: bounds how long one connection holds the reader. */
const MAX_RUN_BYTES = 64 * 1024;

/** Largest DATA_LARGE part: a large datagram takes the ring a piece at a time. */
const LARGE_PART_BYTES = 64 * 1024;

const EMPTY = new Uint8Array(0);

/** What the inbound writer asks of the rest of the shard. */
export interface InboundHost {
  /** A header announced more than the reader allows: cut the connection. */
  cut(conn: ShardConnection, reason: number): void;
  /** `conn`'s CLOSED record is written. */
  reported(conn: ShardConnection): void;
  /** Something the shard may be waiting for at shutdown has been written. */
  progressed(): void;
  /** A WebSocket stream's decoder saw a close frame or a violation (session.event): act on it now that the chunk is done. */
  sessionEvent(conn: ShardConnection): void;
}

/**
 * The shard's producer side of the inbound ring: cuts socket chunks into datagrams
 * straight into the ring (a run of whole frames in one chunk as one DATA_FRAMES record),
 * stops reading a socket whose data the ring refuses and resumes it in order once the main
 * thread drains, and writes each connection's CLOSED record after its last datagram.
 */
export class InboundWriter implements FrameSink {
  /** Connections whose decoder holds refused data, or whose CLOSED record did not fit. */
  private readonly blocked: ShardConnection[] = [];
  private waitingForSpace = false;
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
  /** CLOSED records for ids without a connection object (UDP, failed adopts) that did not fit. */
  private readonly unreported: { id: number; reason: number }[] = [];
  /** The shard's coarse clock, stamped on connections that complete a datagram. */
  clock = 0;

  constructor(
    private readonly ring: SpscRing,
    private readonly stats: Float64Array,
    private readonly host: InboundHost,
  ) {
    this.runLimit = Math.min(MAX_RUN_BYTES, ring.maxPayload);
    this.onSpace = this.resumeBlocked.bind(this);
  }

  /** Nothing is held back: no blocked connection and no unwritten CLOSED record. */
  get idle(): boolean {
    return this.blocked.length === 0 && this.unreported.length === 0;
  }

  /** Writes an OPENED record (dropped when the ring is full: nothing depends on it). */
  opened(id: number): void {
    if (this.ring.tryWrite(RecordKind.OPENED, id, EMPTY)) this.ring.commit();
  }

  /** A socket chunk for `conn` (its 'data' listener). */
  onData(conn: ShardConnection, chunk: Uint8Array): void {
    if (conn.state !== ConnectionState.OPEN) return; // closing: read and discarded
    this.current = conn;
    this.currentChunk = chunk;
    this.currentHeader = conn.decoder.headerSize;
    const before = this.datagramsIn;
    const status = conn.decoder.write(chunk, this);
    this.flushRun();
    this.currentChunk = null;
    if (this.datagramsIn !== before) conn.lastActivity = this.clock;
    this.publish();
    if (status === DecodeStatus.PAUSED) this.block(conn);
    else if (status === DecodeStatus.OVERSIZED) this.host.cut(conn, ResetReasonCode.OVERSIZED_DATAGRAM);
    else if (conn.session !== null && conn.session.event !== 0) this.host.sessionEvent(conn);
  }

  /** FrameSink: one decoded datagram of the current connection. False when the ring is full. */
  onDatagram(bytes: Uint8Array, start: number, length: number): boolean {
    const ring = this.ring;
    // The decoder switches framing at a stream position (a framing change): a run holds
    // frames of one header size, so it ends where the size changes.
    const header = this.current!.decoder.headerSize;
    if (header !== this.currentHeader) {
      this.flushRun();
      this.currentHeader = header;
    }
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
    if (length > ring.maxPayload) return this.writeLarge(bytes, start, length);
    const at = ring.reserve(RecordKind.DATA, this.current!.id, length);
    if (at < 0) return false;
    copyBytes(ring.bytes, at, bytes, start, length);
    this.datagramsIn++;
    this.bytesIn += length;
    return true;
  }

  /**
   * A datagram too large for one record, as DATA_LARGE parts of at most LARGE_PART_BYTES,
   * each published as it is written so the main thread takes them as they come. When the
   * ring fills part-way, the connection's progress is kept and it pauses (false); the
   * decoder offers the same datagram again once there is room, and writing goes on.
   */
  private writeLarge(bytes: Uint8Array, start: number, length: number): boolean {
    const ring = this.ring;
    const conn = this.current!;
    const part = Math.min(LARGE_PART_BYTES, ring.maxPayload);
    let done = conn.largeWritten;
    while (done < length) {
      const first = done === 0;
      const n = Math.min(part - (first ? 4 : 0), length - done);
      const last = done + n === length;
      const aux = (first ? LargePart.FIRST : 0) | (last ? LargePart.LAST : 0);
      const at = ring.reserve(RecordKind.DATA_LARGE, conn.id, (first ? 4 : 0) + n, aux);
      if (at < 0) {
        conn.largeWritten = done;
        return false;
      }
      if (first) ring.view.setUint32(at, length, true);
      copyBytes(ring.bytes, first ? at + 4 : at, bytes, start + done, n);
      ring.commit();
      done += n;
    }
    conn.largeWritten = 0;
    this.datagramsIn++;
    this.bytesIn += length;
    return true;
  }

  /** Copies the pending run of frames into the ring as one DATA_FRAMES record. */
  private flushRun(): void {
    const chunk = this.runChunk;
    if (chunk === null) return;
    this.runChunk = null;
    const ring = this.ring;
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

  private publish(): void {
    this.ring.commit();
    const stats = this.stats;
    stats[StatSlot.DATAGRAMS_IN] += this.datagramsIn;
    stats[StatSlot.BYTES_IN] += this.bytesIn;
    this.datagramsIn = 0;
    this.bytesIn = 0;
  }

  /** The ring refused `conn`'s data: stop reading it until the main thread drains. */
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
    const wait = this.ring.waitForSpace();
    if (wait) wait.then(this.onSpace);
    else queueMicrotask(this.onSpace);
  }

  /** The main thread freed space: deliver held data in order, write owed reports, resume reading. */
  private resumeBlocked(): void {
    this.waitingForSpace = false;
    const blocked = this.blocked;
    let i = 0;
    for (; i < blocked.length; i++) {
      const conn = blocked[i];
      // A local close or a cut reset the decoder: only data the main thread still wants is held.
      if (conn.decoder.bufferedBytes > 0) {
        this.current = conn;
        this.currentHeader = conn.decoder.headerSize;
        const status = conn.decoder.resume(this);
        if (status === DecodeStatus.PAUSED) break;
        if (status === DecodeStatus.OVERSIZED) this.host.cut(conn, ResetReasonCode.OVERSIZED_DATAGRAM);
        else if (conn.session !== null && conn.session.event !== 0) this.host.sessionEvent(conn);
      }
      if (conn.state !== ConnectionState.OPEN && !this.writeClosed(conn)) break;
      conn.blocked = false;
      conn.lastActivity = this.clock;
      if (conn.reading && conn.state === ConnectionState.OPEN) conn.socket.resume();
    }
    this.publish();
    blocked.splice(0, i);
    for (const { id, reason } of this.unreported.splice(0)) this.reportId(id, reason);
    if (!this.idle) this.awaitSpace();
    this.host.progressed();
  }

  /**
   * Writes `conn`'s CLOSED record after whatever of its data is still held, now or once the
   * ring has room. Call once the connection has left OPEN.
   */
  report(conn: ShardConnection): void {
    if (conn.reported || conn.blocked) return; // a blocked one reports when it resumes
    if (!this.writeClosed(conn)) {
      conn.blocked = true;
      this.blocked.push(conn);
      this.awaitSpace();
    }
  }

  /** Writes a CLOSED record for an id with no connection object (UDP, a failed adopt). */
  reportId(id: number, reason: number): void {
    if (this.ring.tryWrite(RecordKind.CLOSED, id, EMPTY, 0, 0, reason)) {
      this.ring.commit();
      this.host.progressed();
    } else {
      this.unreported.push({ id, reason });
      this.awaitSpace();
    }
  }

  private writeClosed(conn: ShardConnection): boolean {
    if (conn.reported) return true;
    if (!this.ring.tryWrite(RecordKind.CLOSED, conn.id, EMPTY, 0, 0, conn.reason)) return false;
    this.ring.commit();
    conn.reported = true;
    this.host.reported(conn);
    return true;
  }
}
