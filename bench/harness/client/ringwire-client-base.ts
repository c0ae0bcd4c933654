/**
 * What the harness's TCP and UDP clients share: both are ringwire's own client side. One
 * QueuedConnectionManager opens every connection; a QueuedConnectionReader with
 * `clientShards` worker shards reads them, and one ConnectionWriter sends. Echoes are
 * consumed with `reader.drain(visitor)`: no copy and no allocation per datagram. The
 * subclasses open the connections (a TCP dial, a UDP bind) and frame the sends.
 */
import {
  type Connection,
  ConnectionWriter,
  Datagram,
  PointerToConnection,
  QueuedConnectionManager,
  QueuedConnectionReader,
} from 'ringwire';
import type { Transport } from '../report.js';
import type { ClientSink, ClientTransport } from './client-transport.js';

/** Datagrams per drain call; poll() keeps draining while batches come back full. */
const DRAIN_BATCH = 4096;
/** Most datagrams one poll() hands over, so sending gets its turn. */
const POLL_LIMIT = 64 * 1024;

/** What the shared part of a ringwire client needs to know. */
export interface RingwireClientBaseOptions {
  /** Worker shards of the client's reader (0: the main thread reads the sockets). */
  clientShards: number;
  /** Connections the run will open (sizes the index table). */
  connections: number;
}

export abstract class RingwireClientBase implements ClientTransport {
  abstract readonly transport: Transport;
  readonly polled = true;
  protected readonly manager = new QueuedConnectionManager();
  protected readonly reader: QueuedConnectionReader;
  protected readonly writer: ConnectionWriter;
  /** The connection of each index, or null before it opens and after it closes or fails. */
  protected readonly connections: (Connection | null)[];
  /** Connection id → index (ids are small integers, handed out in order by the manager). */
  private readonly indexById: number[] = [];
  /** Reused for every send: the payload is copied in, then framed into a shard's ring. */
  protected readonly outgoing = new Datagram();
  private readonly resetPointer = new PointerToConnection();
  private readonly visit: (bytes: Uint8Array, offset: number, length: number, conn: Connection) => void;
  private receivedAt = 0;
  protected error: Error | null = null;
  protected closing: Promise<void> | null = null;

  constructor(
    options: RingwireClientBaseOptions,
    private readonly sink: ClientSink,
  ) {
    this.reader = new QueuedConnectionReader(this.manager, options.clientShards);
    this.writer = new ConnectionWriter(this.manager, options.clientShards);
    // The echo servers read UDP datagrams of any size, not only Panda3D's 1500 bytes.
    this.writer.setMaxUdpDatagramSize(65_505);
    this.connections = new Array<Connection | null>(options.connections).fill(null);
    // One closure for the whole run, not one per datagram.
    this.visit = (bytes, offset, length, conn) => {
      this.sink.onEcho(this.indexById[conn.id], bytes, offset, length, this.receivedAt);
    };
  }

  abstract connect(index: number, timeoutMs: number): Promise<boolean>;
  abstract send(index: number, bytes: Uint8Array, length: number): boolean;

  /**
   * Takes a connection the manager just opened as connection `index` and starts reading
   * it. Returns false (with {@link lastError} set, unless the client is closing) when it
   * did not open or could not be read; `what` names it in that error.
   */
  protected adopt(conn: Connection | null, index: number, what: string): conn is Connection {
    if (conn === null) {
      this.error = this.manager.getLastError();
      return false;
    }
    if (this.closing !== null) return false;
    this.indexById[conn.id] = index;
    if (!this.reader.addConnection(conn)) {
      this.error = new Error(`could not start reading ${what} ${index}: it closed, or its shard's ring is full`);
      this.manager.closeConnection(conn);
      return false;
    }
    this.connections[index] = conn;
    return true;
  }

  poll(now: number): number {
    this.receivedAt = now;
    let total = 0;
    let delivered: number;
    do {
      delivered = this.reader.drain(this.visit, DRAIN_BATCH);
      total += delivered;
    } while (delivered === DRAIN_BATCH && total < POLL_LIMIT);
    while (this.manager.getResetConnection(this.resetPointer)) {
      const conn = this.resetPointer.p();
      if (conn === null) continue;
      const index = this.indexById[conn.id];
      if (index === undefined || this.connections[index] !== conn) continue;
      this.connections[index] = null;
      this.sink.onReset(index);
    }
    return total;
  }

  waitForData(timeoutMs: number): Promise<boolean> {
    return this.manager.waitForReaders(timeoutMs / 1000);
  }

  lastError(): Error | null {
    return this.error;
  }

  close(): Promise<void> {
    this.closing ??= this.manager.close();
    return this.closing;
  }
}
