import { describeValue } from '../../shared/describe-value.js';
import { DATAGRAM_MAX_SIZE, Datagram } from '../../shared/datagram.js';
import { assertHeaderSize, maxPayloadForHeader, type HeaderSize } from '../../shared/frame-encoder.js';
import type { ReadSettings } from '../../shared/protocol/read-record.js';
import type { SpscRing } from '../../shared/protocol/spsc-ring.js';
import { LargePart, RecordKind } from '../../shared/protocol/record-kind.js';
import { UdpAddressText, readUdpPort, udpAddressSpan } from '../../shared/protocol/udp-framing.js';
import { Connection } from './connection.js';
import { NetAddress } from './net-address.js';
import { NetDatagram } from './net-datagram.js';
import { checkManager, type QueuedConnectionManager } from './queued-connection-manager.js';
import type { ConnectionTable } from '../core/connection-table.js';
import type { ShardHandle } from '../shards/shard-handle.js';
import { checkThreads } from '../core/thread-count.js';
import { ErrorCode, RingwireError, RingwireRangeError, RingwireTypeError } from '../../shared/errors.js';

/**
 * Called once per datagram by {@link QueuedConnectionReader.drain}: `bytes[offset,
 * offset + length)` is the payload, valid only during the call. `from` is the sender of a
 * UDP datagram (one reused object: copy what you keep), null for TCP.
 */
export type DatagramVisitor = (bytes: Uint8Array, offset: number, length: number, connection: Connection, from: NetAddress | null) => void;

/**
 * The default largest datagram with header size 4: what the default ring carries in one
 * record, rounded to 2 MiB. It does not follow ringCapacity (larger datagrams travel in
 * parts); it bounds what one hostile header can make a shard buffer.
 */
export const DEFAULT_MAX_LARGE_DATAGRAM = 2 * 1024 * 1024;

/** The default largest datagram for a header size: 65535 with 2 (all a u16 can say), 2 MiB with 4. */
function defaultMaxDatagramSize(headerSize: HeaderSize): number {
  return headerSize === 2 ? 0xffff : DEFAULT_MAX_LARGE_DATAGRAM;
}

const EMPTY = new Uint8Array(0);
const EMPTY_VIEW = new DataView(EMPTY.buffer);

/** A datagram too large for one ring record, being put together from its parts. */
interface LargeDatagram {
  bytes: Uint8Array;
  got: number;
}

/**
 * Reads datagrams from its connections (Panda3D's QueuedConnectionReader). Shards cut the
 * bytes into datagrams; the reader polls their rings and never blocks.
 */
export class QueuedConnectionReader {
  private readonly settings: ReadSettings = { headerSize: 2, raw: false, maxDatagramSize: 0xffff };
  private maxDatagramSizeSet = false;
  /**
   * The pending datagram, positioned by dataAvailable: its ring (null when none), shard
   * index, connection, and where its payload lies in the ring's bytes.
   */
  private pendingRing: SpscRing | null = null;
  private pendingShard = -1;
  private pendingConnection: Connection | null = null;
  private pendingOffset = 0;
  private pendingLength = 0;
  private pendingUdp = false;
  /** Where a pending UDP datagram's sender address lies in its ring's bytes. */
  private pendingAddress = 0;
  /** The bytes the pending datagram lies in: its ring's, or a large datagram's own buffer. */
  private pendingBytes: Uint8Array = EMPTY;
  private pendingView: DataView = EMPTY_VIEW;
  /** Datagrams too large for one record, being put together from their parts, by connection id. */
  private readonly large = new Map<number, LargeDatagram>();
  /**
   * A DATA_FRAMES record being walked: its ring stays positioned on it (and unreleased)
   * until every frame has been handed out.
   */
  private batchRing: SpscRing | null = null;
  private batchShard = -1;
  private batchConnection: Connection | null = null;
  private frameCursor = 0;
  private frameEnd = 0;
  private frameHeader = 2;
  /** The shard to look at first: moves on after each datagram so no shard starves another. */
  private nextShard = 0;
  private readonly addressText = new UdpAddressText();
  /** The sender handed to drain visitors for UDP datagrams. */
  private readonly udpFrom = new NetAddress();
  /** The last connection looked up by id: consecutive records mostly share one. */
  private cachedId = -1;
  private cachedConnection: Connection | undefined = undefined;

  /**
   * `numThreads` worker shards read the connections; 0 reads them on the main thread.
   * Throws when the manager already has a reader.
   */
  constructor(
    private readonly manager: QueuedConnectionManager,
    private readonly numThreads = 0,
  ) {
    checkManager('QueuedConnectionReader', manager);
    checkThreads('QueuedConnectionReader', numThreads);
    manager.attachReader(this, numThreads);
    // Looked up once: the hot path reads them per datagram (the set's array keeps its
    // identity when a shard is replaced in its slot).
    this.shards = manager.getShards();
    this.connections = manager.connections;
    this.table = manager.core.table;
  }

  /** The manager's shards, its connections by id, and the table that handles connection events. */
  private readonly shards: readonly ShardHandle[];
  private readonly connections: ReadonlyMap<number, Connection>;
  private readonly table: ConnectionTable<Connection>;

  /** Starts reading `conn`. Returns false when it is closed, not a stream of this manager, or already read. */
  addConnection(conn: Connection): boolean {
    if (!(conn instanceof Connection)) {
      throw new RingwireTypeError(
        ErrorCode.INVALID_ARG_TYPE,
        `QueuedConnectionReader.addConnection: expected a Connection, got ${describeValue(conn)}`,
      );
    }
    if (conn.getManager() !== this.manager) {
      throw new RingwireError(
        ErrorCode.FOREIGN_CONNECTION,
        `QueuedConnectionReader.addConnection: ${conn.toString()} belongs to another QueuedConnectionManager; a reader reads its own manager's connections`,
      );
    }
    if (!conn.open || conn.kind === 'rendezvous' || conn.reader !== null) return false;
    if (conn.shard === null) return false;
    conn.shard.startReading(conn, this.settings);
    conn.reader = this;
    return true;
  }

  /** Stops reading `conn`; it stays open. Returns false when this reader was not reading it. */
  removeConnection(conn: Connection): boolean {
    if (!(conn instanceof Connection) || conn.reader !== this) return false;
    conn.reader = null;
    if (conn.open) conn.shard?.stopReading(conn);
    return true;
  }

  /** True when `conn` is open and read by this reader. */
  isConnectionOk(conn: Connection): boolean {
    return conn instanceof Connection && conn.open && conn.reader === this;
  }

  /** True when getData() has a datagram to give. Handles connection events on the way. Never blocks. */
  dataAvailable(): boolean {
    if (this.pendingHeld() || this.nextFrame()) return true;
    const shards = this.shards;
    const count = shards.length;
    let index = this.nextShard < count ? this.nextShard : 0;
    for (let visited = 0; visited < count; visited++) {
      if (this.seek(shards[index], index)) return true;
      index = index + 1 < count ? index + 1 : 0;
    }
    return false;
  }

  /**
   * Copies the next datagram into `dg` (a NetDatagram also gets its connection and
   * address). Returns false when none is waiting. Allocates nothing once `dg` has grown.
   */
  getData(dg: Datagram): boolean {
    if (!(dg instanceof Datagram)) {
      throw new RingwireTypeError(
        ErrorCode.INVALID_ARG_TYPE,
        `QueuedConnectionReader.getData: expected a Datagram to fill (a NetDatagram also gets the connection and address), got ${describeValue(dg)}`,
      );
    }
    if (!this.dataAvailable()) return false;
    const ring = this.pendingRing!;
    const offset = this.pendingOffset;
    dg._assignFrom(this.pendingBytes, this.pendingView, offset, this.pendingLength);
    if (dg instanceof NetDatagram) {
      if (this.pendingUdp) {
        const at = this.pendingAddress;
        dg.setUdpSource(this.pendingConnection!, this.addressText.ip(ring.bytes, at), readUdpPort(ring.bytes, at));
      } else {
        dg.setConnection(this.pendingConnection);
      }
    }
    // A run of frames is finished before the next shard's turn; otherwise move on.
    if (this.batchShard < 0) this.nextShard = this.pendingShard + 1;
    this.pendingRing = null;
    this.pendingConnection = null;
    return true;
  }

  /**
   * The fastest path: hands up to `max` datagrams to `visitor` without copying them, and
   * returns how many it handed. The bytes are valid only during each call.
   */
  drain(visitor: DatagramVisitor, max = Infinity): number {
    let delivered = 0;
    // First what dataAvailable positioned, and the rest of a run of frames under way.
    while (delivered < max && (this.pendingHeld() || this.nextFrame())) {
      this.visitPending(visitor);
      delivered++;
    }
    const shards = this.shards;
    const count = shards.length;
    for (let index = 0; index < count && delivered < max; index++) {
      // An even share of what is left for each remaining shard, so one cannot starve another.
      const share = max === Infinity ? Infinity : Math.ceil((max - delivered) / (count - index));
      let taken = 0;
      while (taken < share && this.seek(shards[index], index)) {
        do {
          this.visitPending(visitor);
          taken++;
        } while (taken < share && this.nextFrame());
        if (this.batchShard >= 0) break; // the share ran out inside a run
      }
      delivered += taken;
      // A run left open holds its record (unreleased) and the one cursor there is: it goes
      // on first in the next call, and no other shard may open a run before then.
      if (this.batchShard >= 0) return delivered;
      shards[index].inbound.release();
    }
    return delivered;
  }

  /**
   * Reads `shard`'s records until one holds a datagram for an open connection, and makes it
   * the pending one (for a run of frames, its first frame). Events met on the way are
   * handled. Returns false when the ring has nothing more.
   */
  private seek(shard: ShardHandle, index: number): boolean {
    const ring = shard.inbound;
    while (ring.next()) {
      const kind = ring.kind;
      if (kind === RecordKind.DATA_LARGE) {
        const whole = this.assemble(ring);
        if (whole === null) continue;
        this.pendingShard = index;
        this.pendingRing = ring;
        this.pendingConnection = whole.connection;
        this.pendingUdp = false;
        this.pendingBytes = whole.bytes;
        this.pendingView = new DataView(whole.bytes.buffer);
        this.pendingOffset = 0;
        this.pendingLength = whole.bytes.length;
        return true;
      }
      if (kind === RecordKind.DATA || kind === RecordKind.DATA_FRAMES || kind === RecordKind.UDP_DATA) {
        const conn = this.connectionOf(ring.connectionId);
        // Data of a connection closed locally meanwhile is dropped with it.
        if (conn === undefined || !conn.open) continue;
        this.pendingShard = index;
        if (kind === RecordKind.DATA_FRAMES) {
          this.batchShard = index;
          this.batchRing = ring;
          this.batchConnection = conn;
          this.frameCursor = ring.offset;
          this.frameEnd = ring.offset + ring.length;
          this.frameHeader = ring.aux;
          return this.nextFrame();
        }
        this.pendingRing = ring;
        this.pendingBytes = ring.bytes;
        this.pendingView = ring.view;
        this.pendingConnection = conn;
        this.pendingUdp = kind === RecordKind.UDP_DATA;
        const address = this.pendingUdp ? udpAddressSpan(ring.bytes, ring.offset) : 0;
        this.pendingAddress = ring.offset;
        this.pendingOffset = ring.offset + address;
        this.pendingLength = ring.length - address;
        return true;
      }
      this.cachedId = -1; // the event may remove a connection
      if (this.large.size > 0 && kind === RecordKind.CLOSED) this.large.delete(ring.connectionId);
      this.table.handleEvent(shard, kind, ring.connectionId, ring.aux);
    }
    return false;
  }

  /**
   * True when a datagram is positioned (by dataAvailable, or a drain that stopped). One of a
   * connection closed locally since is dropped: after closeConnection(conn) returns, no read
   * path hands out another datagram of conn.
   */
  private pendingHeld(): boolean {
    if (this.pendingRing === null) return false;
    if (this.pendingConnection!.open) return true;
    this.pendingRing = null;
    this.pendingConnection = null;
    return false;
  }

  /**
   * Makes the next frame of the run under way the pending datagram; false when the run is
   * done, or its connection was closed locally (the rest of the run is dropped with it).
   */
  private nextFrame(): boolean {
    const ring = this.batchRing;
    if (ring === null) return false;
    const at = this.frameCursor;
    if (at >= this.frameEnd || !this.batchConnection!.open) {
      this.batchRing = null;
      this.batchConnection = null;
      this.batchShard = -1;
      return false;
    }
    const bytes = ring.bytes;
    const header = this.frameHeader;
    const length = header === 2 ? bytes[at] | (bytes[at + 1] << 8) : ring.view.getUint32(at, true);
    this.pendingRing = ring;
    this.pendingBytes = bytes;
    this.pendingView = ring.view;
    this.pendingShard = this.batchShard;
    this.pendingConnection = this.batchConnection;
    this.pendingUdp = false;
    this.pendingOffset = at + header;
    this.pendingLength = length;
    this.frameCursor = at + header + length;
    return true;
  }

  /** The open-or-not connection with `id`, or undefined once it is gone. */
  private connectionOf(id: number): Connection | undefined {
    if (id !== this.cachedId) {
      this.cachedConnection = this.connections.get(id);
      this.cachedId = id;
    }
    return this.cachedConnection;
  }

  /** Hands the pending datagram to `visitor` and clears it. */
  private visitPending(visitor: DatagramVisitor): void {
    const ring = this.pendingRing!;
    const conn = this.pendingConnection!;
    this.pendingRing = null;
    this.pendingConnection = null;
    if (this.pendingUdp) {
      const at = this.pendingAddress;
      this.udpFrom._setCanonical(this.addressText.ip(ring.bytes, at), readUdpPort(ring.bytes, at));
      visitor(ring.bytes, this.pendingOffset, this.pendingLength, conn, this.udpFrom);
    } else {
      visitor(this.pendingBytes, this.pendingOffset, this.pendingLength, conn, null);
    }
  }

  /**
   * Adds a DATA_LARGE part to its datagram. Returns the datagram once its last part is in,
   * else null. Parts of a connection closed meanwhile are dropped with it.
   */
  private assemble(ring: SpscRing): { bytes: Uint8Array; connection: Connection } | null {
    const id = ring.connectionId;
    const conn = this.connectionOf(id);
    if (conn === undefined || !conn.open) {
      this.large.delete(id);
      return null;
    }
    let offset = ring.offset;
    let length = ring.length;
    let partial = this.large.get(id);
    if ((ring.aux & LargePart.FIRST) !== 0) {
      partial = { bytes: new Uint8Array(ring.view.getUint32(offset, true)), got: 0 };
      this.large.set(id, partial);
      offset += 4;
      length -= 4;
    }
    if (partial === undefined) return null; // its first part went with a reader change
    partial.bytes.set(ring.bytes.subarray(offset, offset + length), partial.got);
    partial.got += length;
    if ((ring.aux & LargePart.LAST) === 0) return null;
    this.large.delete(id);
    return { bytes: partial.bytes, connection: conn };
  }

  /**
   * Raw mode: no length header (TCP: each socket read is delivered as one datagram) and no
   * checksum (UDP). Applies, as in Panda3D, to the connections this reader reads already
   * (from their next datagram boundary) and to those added afterwards.
   */
  setRawMode(raw: boolean): void {
    if (typeof raw !== 'boolean')
      throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `setRawMode: expected a boolean, got ${describeValue(raw)}`);
    this.settings.raw = raw;
    this.settingsChanged();
  }

  /** True in raw mode. */
  getRawMode(): boolean {
    return this.settings.raw;
  }

  /**
   * The length header size, 0, 2 (Panda3D's default) or 4. Applies to the connections read
   * already (from their next datagram boundary) and to those added afterwards.
   */
  setTcpHeaderSize(size: HeaderSize): void {
    assertHeaderSize(size, 'setTcpHeaderSize: size');
    this.settings.headerSize = size;
    if (!this.maxDatagramSizeSet) this.settings.maxDatagramSize = defaultMaxDatagramSize(size);
    this.settingsChanged();
  }

  /** The length header size. */
  getTcpHeaderSize(): HeaderSize {
    return this.settings.headerSize;
  }

  /**
   * Largest datagram accepted; a header announcing more resets the connection with
   * 'oversized-datagram'. Default: 65535 with header size 2, 2 MiB with 4, whatever the
   * ring (a bound on what one hostile peer can make a shard hold). It may be raised to DATAGRAM_MAX_SIZE (256 MiB) with header size 4 or raw
   * mode: a datagram larger than a ring record travels in parts and is put together here.
   * Throws a RangeError beyond what the header or a Datagram can carry.
   */
  setMaxDatagramSize(bytes: number): void {
    const limit = Math.min(maxPayloadForHeader(this.settings.raw ? 0 : this.settings.headerSize), DATAGRAM_MAX_SIZE);
    if (!Number.isInteger(bytes) || bytes < 1 || bytes > limit) {
      throw new RingwireRangeError(
        ErrorCode.INVALID_ARG_VALUE,
        `setMaxDatagramSize: bytes must be an integer from 1 to ${limit}, got ${describeValue(bytes)}`,
      );
    }
    this.settings.maxDatagramSize = bytes;
    this.maxDatagramSizeSet = true;
    this.settingsChanged();
  }

  /** The framing changed: every connection this reader reads takes it. */
  private settingsChanged(): void {
    for (const conn of this.connections.values()) {
      if (conn.reader === this && conn.open && conn.shard !== null) conn.shard.startReading(conn, this.settings);
    }
  }

  /** The largest datagram accepted. */
  getMaxDatagramSize(): number {
    return this.settings.maxDatagramSize;
  }

  /** The number of worker shards asked for (0: single-thread mode); see getNumWorkerShards for the ones running. */
  getNumThreads(): number {
    return this.numThreads;
  }

  /**
   * The worker shards in force: getNumThreads() when they run, 0 in single-thread mode,
   * whether asked for or forced because the native fd helper is not built (ringwire then
   * warns once, with process.emitWarning, code RINGWIRE_SINGLE_THREAD). (ringwire's extension.)
   */
  getNumWorkerShards(): number {
    return this.manager.getNumWorkerShards();
  }

  /** Panda3D's poll(): a no-op here, since shards read continuously. */
  poll(): void {}

  /** The manager this reader reads for. */
  getManager(): QueuedConnectionManager {
    return this.manager;
  }

  /**
   * Panda3D's is_polling(): true when the reader was made with 0 threads. In ringwire the
   * program polls the queue either way (getData), and the sockets are read by the shards
   * (or, in single-thread mode, by the event loop), never inside a poll.
   */
  isPolling(): boolean {
    return this.numThreads <= 0;
  }

  /** @internal Called by the manager when shard `index` died: a record held from its ring is void. */
  shardFailed(index: number): void {
    this.cachedId = -1;
    for (const id of this.large.keys()) {
      if (this.connections.get(id)?.shard?.index === index) this.large.delete(id);
    }
    if (this.pendingShard === index) {
      this.pendingRing = null;
      this.pendingConnection = null;
    }
    if (this.batchShard === index) {
      this.batchRing = null;
      this.batchConnection = null;
      this.batchShard = -1;
    }
  }
}
