import { Datagram } from '../shared/datagram.js';
import { assertHeaderSize, maxPayloadForHeader, type HeaderSize } from '../shared/frame-encoder.js';
import type { ReadSettings } from '../shared/read-record.js';
import type { SpscRing } from '../shared/spsc-ring.js';
import { RecordKind } from '../shared/record-kind.js';
import { UDP_ADDRESS_SIZE, UdpAddressText, readUdpPort } from '../shared/udp-framing.js';
import { Connection } from './connection.js';
import { NetAddress } from './net-address.js';
import { NetDatagram } from './net-datagram.js';
import type { QueuedConnectionManager } from './queued-connection-manager.js';
import { checkManager, checkThreads } from './reader-arguments.js';

/**
 * Called once per datagram by {@link QueuedConnectionReader.drain}: `bytes[offset,
 * offset + length)` is the payload, valid only during the call. `from` is the sender of a
 * UDP datagram (one reused object: copy what you keep), null for TCP.
 */
export type DatagramVisitor = (
  bytes: Uint8Array,
  offset: number,
  length: number,
  connection: Connection,
  from: NetAddress | null,
) => void;

/**
 * Reads datagrams from its connections (Panda3D's QueuedConnectionReader). Shards cut the
 * bytes into datagrams; the reader polls their rings and never blocks.
 */
export class QueuedConnectionReader {
  private readonly settings: ReadSettings = { headerSize: 2, raw: false, maxDatagramSize: 0xffff };
  private maxDatagramSizeSet = false;
  /** The shard whose ring is positioned on the next DATA record, or -1. */
  private pendingShard = -1;
  private pendingConnection: Connection | null = null;
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
    // A datagram must fit one ring record: a small ring lowers the default limit.
    this.settings.maxDatagramSize = Math.min(this.settings.maxDatagramSize, this.ringLimit());
  }

  /** Starts reading `conn`. Returns false when it is closed, not a stream of this manager, or already read. */
  addConnection(conn: Connection): boolean {
    if (!(conn instanceof Connection)) {
      throw new TypeError(`QueuedConnectionReader.addConnection: expected a Connection, got ${String(conn)}`);
    }
    if (!conn.open || conn.kind === 'rendezvous' || conn.getManager() !== this.manager || conn.reader !== null) return false;
    if (conn.shard === null || !conn.shard.startReading(conn, this.settings)) return false;
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
    if (this.pendingShard >= 0) return true;
    const shards = this.manager.getShards();
    const count = shards.length;
    let index = this.nextShard < count ? this.nextShard : 0;
    for (let visited = 0; visited < count; visited++) {
      const shard = shards[index];
      const ring = shard.inbound;
      while (ring.next()) {
        if (ring.kind === RecordKind.DATA || ring.kind === RecordKind.UDP_DATA) {
          const conn = this.connectionOf(ring.connectionId);
          // Data of a connection closed locally meanwhile is dropped with it.
          if (conn === undefined || !conn.open) continue;
          this.pendingShard = index;
          this.pendingConnection = conn;
          return true;
        }
        this.cachedId = -1; // the event may remove a connection
        this.manager.handleEvent(shard, ring.kind, ring.connectionId, ring.aux);
      }
      index = index + 1 < count ? index + 1 : 0;
    }
    return false;
  }

  /**
   * Copies the next datagram into `dg` (a NetDatagram also gets its connection and
   * address). Returns false when none is waiting. Allocates nothing once `dg` has grown.
   */
  getData(dg: Datagram): boolean {
    if (!this.dataAvailable()) return false;
    const shards = this.manager.getShards();
    const index = this.pendingShard;
    const ring = shards[index].inbound;
    if (ring.kind === RecordKind.UDP_DATA) {
      const at = ring.offset;
      dg._assignFrom(ring.bytes, ring.view, at + UDP_ADDRESS_SIZE, ring.length - UDP_ADDRESS_SIZE);
      if (dg instanceof NetDatagram) {
        dg.setUdpSource(this.pendingConnection!, this.addressText.ip(ring.bytes, at), readUdpPort(ring.bytes, at));
      }
    } else {
      dg._assignFrom(ring.bytes, ring.view, ring.offset, ring.length);
      if (dg instanceof NetDatagram) dg.setConnection(this.pendingConnection);
    }
    this.pendingShard = -1;
    this.pendingConnection = null;
    this.nextShard = index + 1 < shards.length ? index + 1 : 0;
    return true;
  }

  /**
   * The fastest path: hands up to `max` datagrams to `visitor` without copying them, and
   * returns how many it handed. The bytes are valid only during each call.
   */
  drain(visitor: DatagramVisitor, max = Infinity): number {
    let delivered = 0;
    const shards = this.manager.getShards();
    const count = shards.length;
    if (this.pendingShard >= 0 && max > 0) {
      this.visit(shards[this.pendingShard].inbound, visitor, this.pendingConnection!);
      delivered++;
      this.pendingShard = -1;
      this.pendingConnection = null;
    }
    for (let index = 0; index < count; index++) {
      const shard = shards[index];
      const ring = shard.inbound;
      // An even share of what is left for each remaining shard, so one cannot starve another.
      const share = max === Infinity ? Infinity : Math.ceil((max - delivered) / (count - index));
      let taken = 0;
      while (taken < share && ring.next()) {
        if (ring.kind === RecordKind.DATA || ring.kind === RecordKind.UDP_DATA) {
          const conn = this.connectionOf(ring.connectionId);
          if (conn === undefined || !conn.open) continue;
          this.visit(ring, visitor, conn);
          taken++;
        } else {
          this.cachedId = -1; // the event may remove a connection
        this.manager.handleEvent(shard, ring.kind, ring.connectionId, ring.aux);
        }
      }
      ring.release();
      delivered += taken;
    }
    return delivered;
  }

  /** The open-or-not connection with `id`, or undefined once it is gone. */
  private connectionOf(id: number): Connection | undefined {
    if (id !== this.cachedId) {
      this.cachedConnection = this.manager.connections.get(id);
      this.cachedId = id;
    }
    return this.cachedConnection;
  }

  /** Hands the ring's current DATA or UDP_DATA record to `visitor`. */
  private visit(ring: SpscRing, visitor: DatagramVisitor, conn: Connection): void {
    if (ring.kind === RecordKind.UDP_DATA) {
      const at = ring.offset;
      this.udpFrom.setFromSocket(this.addressText.ip(ring.bytes, at), readUdpPort(ring.bytes, at));
      visitor(ring.bytes, at + UDP_ADDRESS_SIZE, ring.length - UDP_ADDRESS_SIZE, conn, this.udpFrom);
    } else {
      visitor(ring.bytes, ring.offset, ring.length, conn, null);
    }
  }

  /**
   * Raw mode: no length header (TCP: each socket read is delivered as one datagram) and no
   * checksum (UDP). Applies to connections added afterwards.
   */
  setRawMode(raw: boolean): void {
    if (typeof raw !== 'boolean') throw new TypeError(`setRawMode: expected a boolean, got ${String(raw)}`);
    this.settings.raw = raw;
  }

  /** True in raw mode. */
  getRawMode(): boolean {
    return this.settings.raw;
  }

  /** The length header size, 0, 2 (Panda3D's default) or 4. Applies to connections added afterwards. */
  setTcpHeaderSize(size: HeaderSize): void {
    assertHeaderSize(size, 'setTcpHeaderSize: size');
    this.settings.headerSize = size;
    if (!this.maxDatagramSizeSet) this.settings.maxDatagramSize = Math.min(maxPayloadForHeader(size), this.ringLimit());
  }

  /** The length header size. */
  getTcpHeaderSize(): HeaderSize {
    return this.settings.headerSize;
  }

  /**
   * Largest datagram accepted; a header announcing more resets the connection with
   * 'oversized-datagram'. Default: 65535 (header size 2), the ring's limit otherwise.
   * Throws a RangeError beyond what the header or the ring can carry.
   */
  setMaxDatagramSize(bytes: number): void {
    const limit = Math.min(maxPayloadForHeader(this.settings.headerSize), this.ringLimit());
    if (!Number.isInteger(bytes) || bytes < 1 || bytes > limit) {
      throw new RangeError(`setMaxDatagramSize: bytes must be an integer from 1 to ${limit}, got ${String(bytes)}`);
    }
    this.settings.maxDatagramSize = bytes;
    this.maxDatagramSizeSet = true;
  }

  /** The largest datagram accepted. */
  getMaxDatagramSize(): number {
    return this.settings.maxDatagramSize;
  }

  /** The number of worker shards asked for (0: single-thread mode). */
  getNumThreads(): number {
    return this.numThreads;
  }

  /** Panda3D's poll(): a no-op here, since shards read continuously. */
  poll(): void {}

  /** Called by the manager when shard `index` died: a record held from its ring is void. */
  shardFailed(index: number): void {
    this.cachedId = -1;
    if (this.pendingShard === index) {
      this.pendingShard = -1;
      this.pendingConnection = null;
    }
  }

  /** Called by the manager when `conn` closed: forgets it. */
  forget(conn: Connection): void {
    if (conn.reader === this) conn.reader = null;
  }

  private ringLimit(): number {
    return (this.manager.settings.ringCapacity >>> 1) - 16;
  }
}
