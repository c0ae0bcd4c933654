import type { Socket as UdpSocket } from 'node:dgram';
import type { AddressInfo, Socket } from 'node:net';
import { debuglog } from 'node:util';
import { AdoptKind } from '../../shared/protocol/record-kind.js';
import type { ShardHandle } from '../shards/shard-handle.js';
import { Acceptor, type ConnectionSink } from './acceptor.js';
import { ConnectionTable } from './connection-table.js';
import type { ConnectionFactory, ManagedConnection } from './managed-connection.js';
import { Framing, type TransportSpec } from '../../shared/protocol/transport-spec.js';
import { collectShardStats, collectStats, type ManagerStats, type ShardStats } from './manager-stats.js';
import type { ManagerSettings } from './options.js';
import { ReaderWait, type WaitOptions } from './reader-wait.js';
import { connectTcp, listenTcp, udpHost } from './socket-openers.js';
import { bindUdp } from './udp-bind.js';
import { ErrorCode, RingwireError } from '../../shared/errors.js';

const log = debuglog('ringwire');

/** What the core needs of the manager's reader: the public QueuedConnectionReader is one. */
export interface InboundReader {
  /** True when a datagram can be taken; handles connection events on the way. */
  dataAvailable(): boolean;
  /** Hands up to `max` datagrams to `visitor`; returns how many. */
  drain(visitor: () => void, max: number): number;
  /** Shard `index` died: a record held from its ring is void. */
  shardFailed(index: number): void;
}

/**
 * The machinery behind a QueuedConnectionManager: the connection table and its shards, the
 * acceptor, the socket openers, the reader wait, stats and shutdown. The manager's public
 * class checks arguments and delegates here; nothing here knows the public classes: it
 * deals in {@link ManagedConnection}s the manager's factory makes.
 */
export class ManagerCore<C extends ManagedConnection> {
  readonly table: ConnectionTable<C>;
  readonly acceptor: Acceptor<C>;
  readonly waits: ReaderWait;
  private reader: InboundReader | null = null;
  private readonly connecting = new Set<Socket>();
  /** The last failure of an open call, a hand-over or a shard, or null (getLastError()). */
  lastError: Error | null = null;
  private closing: Promise<void> | null = null;

  constructor(
    readonly settings: ManagerSettings,
    make: ConnectionFactory<C>,
  ) {
    this.waits = new ReaderWait({ ready: () => this.somethingReady(), shards: () => this.table.shards.handles });
    this.table = new ConnectionTable<C>(settings, make, {
      forgotten: (conn) => this.acceptor.forgotten(conn),
      dropUnclaimed: (shard) => this.acceptor.dropUnclaimed(shard),
      shardLost: (shard, error) => {
        this.lastError = new RingwireError(ErrorCode.SHARD_FAILED, `shard ${shard.index} failed: ${error.message}`, { cause: error });
        this.reader?.shardFailed(shard.index);
      },
      notify: () => this.waits.notify(),
      inbound: () => this.waits.wake(),
    });
    this.acceptor = new Acceptor<C>(settings, this.table, {
      closing: () => this.closing !== null,
      notify: () => this.waits.notify(),
      failed: (error) => (this.lastError = error),
    });
  }

  /** True once close() was called. */
  isClosing(): boolean {
    return this.closing !== null;
  }

  /** The shards of this manager (main-thread or worker). */
  shards(): readonly ShardHandle[] {
    return this.table.shards.handles;
  }

  // ── opening ───────────────────────────────────────────────────────────────

  /** Listens for TCP clients; the rendezvous, or null (lastError says why). */
  async openRendezvous(
    host: string | undefined,
    port: number,
    backlog: number | undefined,
    transport: { spec: TransportSpec; bytes: Uint8Array } | null,
  ): Promise<C | null> {
    const server = await listenTcp(host, port, backlog, this.settings.reusePort);
    if (server instanceof Error) return this.failed(server);
    if (this.closing) {
      server.close();
      return null;
    }
    const conn = this.table.create('rendezvous');
    const bound = server.address() as AddressInfo;
    conn.setAddress(bound.address, bound.port);
    this.acceptor.open(conn, server, backlog, (error) => (this.lastError = error), transport);
    log('rendezvous %s open', conn.toString());
    this.lastError = null;
    return conn;
  }

  /** Connects to a TCP server; the connection, or this open's own failure (lastError too). */
  async openClient(
    host: string,
    port: number,
    timeoutMs: number,
    transport: Uint8Array | null = null,
    websocket = false,
    secure = false,
  ): Promise<C | Error> {
    const socket = await connectTcp(host, port, timeoutMs, this.connecting);
    if (socket instanceof Error) return this.failure(socket);
    if (this.closing) {
      socket.destroy();
      return this.failure(new RingwireError(ErrorCode.MANAGER_CLOSED, 'the manager closed'));
    }
    const conn = this.table.create('tcp');
    conn.setAddress(socket.remoteAddress, socket.remotePort);
    conn.framing = websocket ? Framing.WEBSOCKET_CLIENT : Framing.PANDA;
    conn.secure = secure;
    const failure = this.table.handOver(conn, socket, AdoptKind.TCP, transport);
    if (failure !== null) return this.failure(failure);
    this.lastError = null;
    return conn;
  }

  /** Binds a UDP socket (`host` '' or undefined: every interface); the connection, or null (lastError says why). */
  async openUdp(host: string | undefined, port: number, forBroadcast: boolean): Promise<C | null> {
    const ip = host === undefined ? undefined : await udpHost(host);
    if (ip instanceof Error) return this.failed(ip);
    const bound = await bindUdp(ip, port, forBroadcast, this.settings.reusePort);
    if (bound instanceof Error) return this.failed(bound);
    if (this.closing) {
      bound.socket.close();
      return this.failed(new RingwireError(ErrorCode.MANAGER_CLOSED, 'the manager closed'));
    }
    const { socket, ipv6 } = bound;
    if (forBroadcast) socket.setBroadcast(true);
    const conn = this.table.create('udp');
    const local = socket.address();
    conn.setAddress(local.address, local.port);
    const kind = AdoptKind.UDP | (forBroadcast ? AdoptKind.BROADCAST : 0) | (ipv6 ? AdoptKind.IPV6 : 0);
    return this.handOver(conn, socket, kind);
  }

  private handOver(conn: C, socket: Socket | UdpSocket, kind: number): C | null {
    const failure = this.table.handOver(conn, socket, kind);
    if (failure !== null) return this.failed(failure);
    this.lastError = null;
    return conn;
  }

  private failed(error: Error): null {
    this.lastError = error;
    return null;
  }

  private failure(error: Error): Error {
    this.lastError = error;
    return error;
  }

  // ── closing and resets ────────────────────────────────────────────────────

  /** Closes an open connection of this manager (see QueuedConnectionManager.closeConnection). */
  closeConnection(conn: C): void {
    this.table.end(conn, 'closed-locally');
    if (conn.kind === 'rendezvous') this.acceptor.close(conn);
    else conn.shard?.close(conn);
  }

  /** True when a reset connection is queued (connection events are read first). */
  resetAvailable(): boolean {
    if (this.reader === null) this.table.pollEvents();
    else this.reader.dataAvailable();
    return this.table.resets.length > 0;
  }

  /** The next reset connection, or undefined. */
  takeReset(): C | undefined {
    return this.resetAvailable() ? this.table.resets.shift() : undefined;
  }

  /** waitForReaders, its arguments checked: `timeoutSeconds` Infinity for no limit. */
  wait(timeoutSeconds: number, options: WaitOptions): Promise<boolean> {
    return this.waits.wait(timeoutSeconds, options);
  }

  /** Counters summed over the shards, and the acceptor's and table's own. */
  stats(): ManagerStats {
    return collectStats(this.table.shards.handles, {
      ...this.acceptor.counters(),
      shardFailures: this.table.shardFailures,
      resets: this.table.ended,
    });
  }

  /** Each shard's figures (one pass over the connections for their send backlogs). */
  shardStats(): ShardStats[] {
    return collectShardStats(this.table.shards.handles, this.table.connections.values());
  }

  /** A reader's constructor: fixes the threading mode. One reader per manager. */
  attachReader(reader: InboundReader, numThreads: number): void {
    if (this.reader !== null) {
      throw new RingwireError(
        ErrorCode.READER_EXISTS,
        'ringwire supports one QueuedConnectionReader per manager: read every connection with it, or use a second QueuedConnectionManager',
      );
    }
    this.reader = reader;
    this.table.shards.configure(numThreads);
  }

  /** A listener's addConnection (null: removeConnection): hands over what the rendezvous accepted so far. */
  attachListener(rendezvous: C, listener: ConnectionSink<C> | null): C[] | null {
    return this.acceptor.attach(rendezvous, listener);
  }

  /**
   * Shuts everything down: stops listening, flushes every connection's pending sends,
   * closes the sockets and stops the worker shards. Safe to call twice.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    this.waits.close();
    return this.closing;
  }

  /** What waitForReaders waits for: a datagram, a new client or a reset, ready to take. */
  private somethingReady(): boolean {
    if (this.table.resets.length > 0) return true;
    if (this.acceptor.newConnectionAvailable()) return true;
    if (this.reader === null) this.table.pollEvents();
    else if (this.reader.dataAvailable()) return true;
    return this.table.resets.length > 0;
  }

  /** Reads and drops everything in the inbound rings, handling connection events. */
  private discardInbound(): void {
    if (this.reader === null) this.table.pollEvents();
    else while (this.reader.drain(discardDatagram, 4096) > 0);
  }

  private async shutdown(): Promise<void> {
    this.acceptor.closeAll();
    for (const socket of this.connecting) socket.destroy();
    // Keep freeing the inbound rings while the shards flush, so none waits for space. The
    // reader drains them if there is one: it may hold a record open, which only it may free.
    const drainer = setInterval(() => this.discardInbound(), 5);
    try {
      await this.table.shards.shutdown();
    } finally {
      clearInterval(drainer);
      this.discardInbound();
      this.table.clear();
      this.acceptor.shutdown();
    }
  }
}

function discardDatagram(): void {}
