/**
 * The harness's TCP client: ringwire's own client side, so the load generator is not the
 * bottleneck. One QueuedConnectionManager opens every connection; a QueuedConnectionReader
 * with `clientShards` worker shards reads them, and one ConnectionWriter sends. Echoes
 * are consumed with `reader.drain(visitor)`: no copy and no allocation per datagram.
 *
 * Header size 0 puts the reader and the writer in raw mode: a datagram is then whatever
 * one socket read returned, and only bytes can be counted.
 */
import {
  type Connection,
  ConnectionWriter,
  Datagram,
  PointerToConnection,
  QueuedConnectionManager,
  QueuedConnectionReader,
} from 'ringwire';
import type { ClientSink, ClientTransport } from './client-transport.js';

/** Datagrams per drain call; poll() keeps draining while batches come back full. */
const DRAIN_BATCH = 4096;
/** Most datagrams one poll() hands over, so sending gets its turn. */
const POLL_LIMIT = 64 * 1024;

export interface TcpClientOptions {
  host: string;
  port: number;
  headerSize: 0 | 2 | 4;
  /** Worker shards of the client's reader (0: the main thread reads the sockets). */
  clientShards: number;
  /** Connections the run will open (sizes the index table). */
  connections: number;
}

export class TcpClient implements ClientTransport {
  readonly transport = 'tcp' as const;
  readonly polled = true;
  private readonly manager = new QueuedConnectionManager();
  private readonly reader: QueuedConnectionReader;
  private readonly writer: ConnectionWriter;
  /** The connection of each index, or null before it opens and after it closes. */
  private readonly connections: (Connection | null)[];
  /** Connection id → index (ids are small integers, handed out in order by the manager). */
  private readonly indexById: number[] = [];
  /** Reused for every send: the payload is copied in, then framed into a shard's ring. */
  private readonly outgoing = new Datagram();
  private readonly resetPointer = new PointerToConnection();
  private readonly visit: (bytes: Uint8Array, offset: number, length: number, conn: Connection) => void;
  private receivedAt = 0;
  private error: Error | null = null;
  private closing: Promise<void> | null = null;

  constructor(
    private readonly options: TcpClientOptions,
    private readonly sink: ClientSink,
  ) {
    this.reader = new QueuedConnectionReader(this.manager, options.clientShards);
    this.writer = new ConnectionWriter(this.manager, options.clientShards);
    if (options.headerSize === 0) {
      this.reader.setRawMode(true);
      this.writer.setRawMode(true);
    } else {
      this.reader.setTcpHeaderSize(options.headerSize);
      this.writer.setTcpHeaderSize(options.headerSize);
    }
    this.connections = new Array<Connection | null>(options.connections).fill(null);
    // One closure for the whole run, not one per datagram.
    this.visit = (bytes, offset, length, conn) => {
      this.sink.onEcho(this.indexById[conn.id], bytes, offset, length, this.receivedAt);
    };
  }

  async connect(index: number, timeoutMs: number): Promise<boolean> {
    if (this.closing !== null) return false;
    let conn: Connection | null;
    try {
      conn = await this.manager.openTCPClientConnection(this.options.host, this.options.port, timeoutMs);
    } catch (error) {
      // Only a manager closed meanwhile throws here.
      this.error = error as Error;
      return false;
    }
    if (conn === null) {
      this.error = this.manager.getLastError();
      return false;
    }
    if (this.closing !== null) return false;
    this.indexById[conn.id] = index;
    if (!this.reader.addConnection(conn)) {
      this.error = new Error(`could not start reading connection ${index}: it closed, or its shard's ring is full`);
      this.manager.closeConnection(conn);
      return false;
    }
    conn.setNoDelay(true);
    this.connections[index] = conn;
    return true;
  }

  send(index: number, bytes: Uint8Array, length: number): boolean {
    const conn = this.connections[index];
    if (conn === null) return false;
    this.outgoing.assign(bytes, 0, length);
    return this.writer.send(this.outgoing, conn);
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

  lastError(): Error | null {
    return this.error;
  }

  close(): Promise<void> {
    this.closing ??= this.manager.close();
    return this.closing;
  }
}
