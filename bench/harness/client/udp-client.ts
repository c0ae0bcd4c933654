/**
 * The harness's UDP client (`--udp`): ringwire's own UDP side. Each harness connection is
 * one UDP socket on an ephemeral port (`openUDPConnection(anyAddress, 0)`, as in Panda3D),
 * and every send names the server (`send(dg, conn, server)`); ringwire frames each datagram as one Panda3D UDP packet (a u16 LE
 * checksum header, then the payload) and checks the header of every echo. A
 * QueuedConnectionReader with `clientShards` worker shards reads the sockets, and echoes
 * are consumed with `reader.drain(visitor)`: no copy and no allocation per datagram.
 *
 * UDP has no connection to open or lose: `connect` only binds the socket (it never waits
 * for the server), and a reset means the socket itself failed. An echo that never comes
 * is lost; one whose checksum fails is dropped by the reader and counted in `udpDrops()`.
 */
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import {
  type Connection,
  ConnectionWriter,
  Datagram,
  NetAddress,
  PointerToConnection,
  QueuedConnectionManager,
  QueuedConnectionReader,
} from 'ringwire';
import type { UdpDrops } from '../report.js';
import type { ClientSink, ClientTransport } from './client-transport.js';

/** Datagrams per drain call; poll() keeps draining while batches come back full. */
const DRAIN_BATCH = 4096;
/** Most datagrams one poll() hands over, so sending gets its turn. */
const POLL_LIMIT = 64 * 1024;

export interface UdpClientOptions {
  host: string;
  port: number;
  /** Worker shards of the client's reader (0: the main thread reads the sockets). */
  clientShards: number;
  /** Connections the run will open (sizes the index table). */
  connections: number;
}

export class UdpClient implements ClientTransport {
  readonly transport = 'udp' as const;
  readonly polled = true;
  private readonly manager = new QueuedConnectionManager();
  private readonly reader: QueuedConnectionReader;
  private readonly writer: ConnectionWriter;
  /** The socket of each index, or null before it opens and after it fails. */
  private readonly connections: (Connection | null)[];
  /** Connection id → index (ids are small integers, handed out in order by the manager). */
  private readonly indexById: number[] = [];
  /** Reused for every send: the payload is copied in, then framed into a shard's ring. */
  private readonly outgoing = new Datagram();
  private readonly resetPointer = new PointerToConnection();
  /** The server's address, resolved once. */
  private readonly server = new NetAddress();
  private resolved = false;
  private readonly visit: (bytes: Uint8Array, offset: number, length: number, conn: Connection) => void;
  private receivedAt = 0;
  private error: Error | null = null;
  private closing: Promise<void> | null = null;

  constructor(
    private readonly options: UdpClientOptions,
    private readonly sink: ClientSink,
  ) {
    this.reader = new QueuedConnectionReader(this.manager, options.clientShards);
    this.writer = new ConnectionWriter(this.manager, options.clientShards);
    this.connections = new Array<Connection | null>(options.connections).fill(null);
    // One closure for the whole run, not one per datagram.
    this.visit = (bytes, offset, length, conn) => {
      this.sink.onEcho(this.indexById[conn.id], bytes, offset, length, this.receivedAt);
    };
  }

  async connect(index: number): Promise<boolean> {
    if (this.closing !== null) return false;
    let conn: Connection | null;
    try {
      if (!this.resolved) {
        const ip = net.isIP(this.options.host) ? this.options.host : (await lookup(this.options.host)).address;
        this.server.setHost(ip, this.options.port);
        this.resolved = true;
      }
      // Panda3D's way: an ephemeral port on the server's side of the stack, and the server's
      // address given to every send.
      conn = await this.manager.openUDPConnection(this.server.getIpString().includes(':') ? '::' : '0.0.0.0', 0);
    } catch (error) {
      // A manager closed meanwhile, or a port ringwire refuses.
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
      this.error = new Error(`could not start reading UDP socket ${index}: it closed, or its shard's ring is full`);
      this.manager.closeConnection(conn);
      return false;
    }
    this.connections[index] = conn;
    return true;
  }

  send(index: number, bytes: Uint8Array, length: number): boolean {
    const conn = this.connections[index];
    if (conn === null) return false;
    this.outgoing.assign(bytes, 0, length);
    return this.writer.send(this.outgoing, conn, this.server);
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

  udpDrops(): UdpDrops {
    const stats = this.manager.getStats();
    return { rejected: stats.udpRejected, overflow: stats.udpOverflow };
  }

  lastError(): Error | null {
    return this.error;
  }

  close(): Promise<void> {
    this.closing ??= this.manager.close();
    return this.closing;
  }
}
