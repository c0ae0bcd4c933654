import { describeValue } from '../../shared/describe-value.js';
import os from 'node:os';
import type { ConnectionSink } from '../core/acceptor.js';
import type { InboundReader } from '../core/manager-core.js';
import { ManagerCore } from '../core/manager-core.js';
import type { ManagerStats, ShardStats } from '../core/manager-stats.js';
import { resolveOptions, type ManagerSettings, type QueuedConnectionManagerOptions } from '../core/options.js';
import { ADOPT_PAYLOAD_SIZE } from '../../shared/protocol/read-record.js';
import { maxRecordPayload } from '../../shared/protocol/ring-layout.js';
import {
  checkTransportSize,
  clientTransport,
  rendezvousTransport,
  type ClientConnectionOptions,
  type RendezvousOptions,
  type TlsServerOptions,
} from '../core/transport-options.js';
import type { WaitOptions } from '../core/reader-wait.js';
import type { ShardHandle } from '../shards/shard-handle.js';
import type { ShardSet } from '../shards/shard-set.js';
import { Connection } from './connection.js';
import { NetAddress, checkPort } from './net-address.js';
import { Interface, scanInterfaces } from './network-interface.js';
import type { PointerToConnection } from './pointer-to-connection.js';
import { ErrorCode, RingwireError, RingwireRangeError, RingwireTypeError } from '../../shared/errors.js';

export type { QueuedConnectionManagerOptions };

declare module './connection.js' {
  /** A connection's getManager() is the QueuedConnectionManager that opened it. */
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- it adds the manager's members to Connection's owner
  interface ConnectionOwner extends QueuedConnectionManager {}
}

/**
 * Opens and closes connections and queues the ones that were reset (Panda3D's
 * QueuedConnectionManager). Sockets are handed to shards as soon as they connect. The
 * class checks Panda3D's arguments and delegates to its core (core/manager-core.ts).
 */
export class QueuedConnectionManager {
  /** @internal The machinery: connection table, shards, acceptor, reader wait. */
  readonly core: ManagerCore<Connection>;
  /** @internal The options with their defaults filled in. */
  readonly settings: ManagerSettings;
  private interfaces: Interface[] = [];

  /** Options are ringwire's; Panda3D's constructor takes none. Throws a RangeError naming a bad option. */
  constructor(options: QueuedConnectionManagerOptions = {}) {
    this.settings = resolveOptions(options);
    this.core = new ManagerCore<Connection>(this.settings, (id, kind) => new Connection(id, kind, this));
  }

  // ── opening ───────────────────────────────────────────────────────────────

  /**
   * Listens for TCP clients: `(port, backlog)`, `(host, port, backlog)` or
   * `(address, backlog)`. Resolves the rendezvous Connection, or null when the port cannot
   * be opened (getLastError() says why, e.g. EADDRINUSE). `options` (ringwire's): the
   * streams it accepts speak WebSocket (`websocket`) and/or TLS (`tls`), both handled in
   * the shards; rejects with a TypeError (RINGWIRE_INVALID_OPTION) for options it cannot
   * use, a key and certificate that do not load among them.
   */
  async openTCPServerRendezvous(port: number, backlog?: number, options?: RendezvousOptions): Promise<Connection | null>;
  async openTCPServerRendezvous(host: string, port: number, backlog?: number, options?: RendezvousOptions): Promise<Connection | null>;
  async openTCPServerRendezvous(address: NetAddress, backlog?: number, options?: RendezvousOptions): Promise<Connection | null>;
  async openTCPServerRendezvous(
    a: number | string | NetAddress,
    b?: number | RendezvousOptions,
    c?: number | RendezvousOptions,
    d?: RendezvousOptions,
  ): Promise<Connection | null> {
    let host: string | undefined;
    let port: number;
    let backlog: unknown;
    let options: unknown;
    if (typeof a === 'number') {
      port = a;
      backlog = b;
      options = c;
    } else if (typeof a === 'string' && typeof b === 'number') {
      host = a;
      port = b;
      backlog = c;
      options = d;
    } else if (a instanceof NetAddress) {
      host = a.getIpString();
      port = a.getPort();
      backlog = b;
      options = c;
    } else {
      throw new RingwireTypeError(
        ErrorCode.INVALID_ARG_TYPE,
        `openTCPServerRendezvous: expected (port, backlog?, options?), (host, port, backlog?, options?) or (address: NetAddress, backlog?, options?), got (${describeArguments(a, b, c)})`,
      );
    }
    checkPort('openTCPServerRendezvous', port);
    if (backlog !== undefined && (typeof backlog !== 'number' || !Number.isInteger(backlog) || backlog < 0)) {
      throw new RingwireRangeError(
        ErrorCode.INVALID_ARG_VALUE,
        `openTCPServerRendezvous: backlog must be a non-negative integer, got ${describeValue(backlog)}`,
      );
    }
    const transport = rendezvousTransport('openTCPServerRendezvous', options as RendezvousOptions | undefined);
    checkTransportSize('openTCPServerRendezvous', transport?.bytes ?? null, maxRecordPayload(this.settings.ringCapacity), ADOPT_PAYLOAD_SIZE);
    this.assertOpen('openTCPServerRendezvous');
    return this.core.openRendezvous(host, port, backlog as number | undefined, transport);
  }

  /**
   * Replaces the TLS key and certificate (any of `options.tls`'s settings) of a rendezvous
   * opened with `tls`, without a restart: streams it accepts from now on use them; those
   * already open keep theirs (as node:tls's server.setSecureContext). Throws a TypeError
   * for a connection that is not such a rendezvous of this manager, or options that do not load.
   */
  setSecureContext(rendezvous: Connection, tls: TlsServerOptions): void {
    if (!(rendezvous instanceof Connection) || rendezvous.getManager() !== this || rendezvous.kind !== 'rendezvous') {
      throw new RingwireTypeError(
        ErrorCode.INVALID_ARG_TYPE,
        `setSecureContext: expected a rendezvous of this manager, got ${describeValue(rendezvous)}`,
      );
    }
    this.assertOpen('setSecureContext');
    this.core.acceptor.setSecureContext(rendezvous, tls);
  }

  /**
   * Connects to a TCP server: `(host, port, timeoutMs)` or `(address, timeoutMs)`.
   * Resolves the Connection, or null when the connection is refused, fails, or takes
   * longer than `timeoutMs` (0: no limit); getLastError() says why. Of several opens at
   * once getLastError() holds the last failure only: `connectTCP` rejects with each one's own.
   */
  async openTCPClientConnection(host: string, port: number, timeoutMs?: number, options?: ClientConnectionOptions): Promise<Connection | null>;
  async openTCPClientConnection(address: NetAddress, timeoutMs?: number, options?: ClientConnectionOptions): Promise<Connection | null>;
  async openTCPClientConnection(
    a: string | NetAddress,
    b?: number,
    c?: number | ClientConnectionOptions,
    d?: ClientConnectionOptions,
  ): Promise<Connection | null> {
    const result = await this.connectClient('openTCPClientConnection', a, b, c, d);
    return result instanceof Error ? null : result;
  }

  /**
   * openTCPClientConnection that rejects instead of resolving null: with this open's own
   * failure, whatever other opens run beside it. Node's error for a socket that failed
   * (`code` 'ECONNREFUSED', 'EHOSTUNREACH', …, with `address` and `port`), or a
   * RingwireError: CONNECT_TIMEOUT past `timeoutMs`, MANAGER_CLOSED, NO_SHARD or
   * SHARDS_FULL when no shard could take it. getLastError() is set as well.
   */
  async connectTCP(host: string, port: number, timeoutMs?: number, options?: ClientConnectionOptions): Promise<Connection>;
  async connectTCP(address: NetAddress, timeoutMs?: number, options?: ClientConnectionOptions): Promise<Connection>;
  async connectTCP(a: string | NetAddress, b?: number, c?: number | ClientConnectionOptions, d?: ClientConnectionOptions): Promise<Connection> {
    const result = await this.connectClient('connectTCP', a, b, c, d);
    if (result instanceof Error) throw result;
    return result;
  }

  private connectClient(
    what: string,
    a: string | NetAddress,
    b?: number,
    c?: number | ClientConnectionOptions,
    d?: ClientConnectionOptions,
  ): Promise<Connection | Error> {
    let host: string;
    let port: number;
    let timeoutMs: unknown;
    let options: unknown;
    if (typeof a === 'string' && typeof b === 'number') {
      host = a;
      port = b;
      timeoutMs = c ?? 0;
      options = d;
    } else if (a instanceof NetAddress) {
      host = a.getIpString();
      port = a.getPort();
      timeoutMs = b ?? 0;
      options = c;
    } else {
      throw new RingwireTypeError(
        ErrorCode.INVALID_ARG_TYPE,
        `${what}: expected (host, port, timeoutMs?) or (address: NetAddress, timeoutMs?), got (${describeArguments(a, b, c)})`,
      );
    }
    checkPort(what, port);
    if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 0) {
      throw new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `${what}: timeoutMs must be a non-negative integer, got ${describeValue(timeoutMs)}`);
    }
    const given = options as ClientConnectionOptions | undefined;
    const transport = clientTransport(what, given, host, port);
    checkTransportSize(what, transport, maxRecordPayload(this.settings.ringCapacity), ADOPT_PAYLOAD_SIZE);
    this.assertOpen(what);
    return this.core.openClient(
      host,
      port,
      timeoutMs,
      transport,
      given?.websocket !== undefined && given.websocket !== false,
      given?.tls !== undefined,
    );
  }

  /**
   * Opens a UDP socket, as Panda3D does: `(port = 0)` binds `port` on every interface,
   * `::` dual-stack (IPv6 and IPv4; `0.0.0.0` on a machine without IPv6, and with
   * `forBroadcast`); 0 is an ephemeral port, for sending. `(host, port, forBroadcast =
   * false)` binds `port` on the interface `host` names (IPv4 or IPv6; '' is every
   * interface). `forBroadcast` lets it send to and hear broadcast addresses. Add it to a
   * reader to receive (packets that come before are held for it, up to a bound); send with
   * `writer.send(dg, conn, address)`. Resolves null when the socket cannot be bound
   * (getLastError() says why, e.g. EADDRINUSE).
   */
  async openUDPConnection(port?: number): Promise<Connection | null>;
  async openUDPConnection(host: string, port: number, forBroadcast?: boolean): Promise<Connection | null>;
  async openUDPConnection(a: number | string = 0, b?: number, broadcastArgument?: boolean): Promise<Connection | null> {
    let host: string | undefined;
    let port: number;
    const forBroadcast = broadcastArgument ?? false;
    if (typeof a === 'number') {
      port = checkPort('openUDPConnection', a);
    } else if (typeof a === 'string') {
      port = checkPort('openUDPConnection', b);
      if (typeof forBroadcast !== 'boolean') {
        throw new RingwireTypeError(
          ErrorCode.INVALID_ARG_TYPE,
          `openUDPConnection: forBroadcast must be a boolean, got ${describeValue(forBroadcast)}`,
        );
      }
      host = a;
    } else {
      throw new RingwireTypeError(
        ErrorCode.INVALID_ARG_TYPE,
        `openUDPConnection: expected (port?) or (host, port, forBroadcast?), got (${describeArguments(a, b, broadcastArgument)})`,
      );
    }
    this.assertOpen('openUDPConnection');
    return this.core.openUdp(host, port, forBroadcast);
  }

  /** The last failure of an open call (EADDRINUSE, ECONNREFUSED, a timeout), or null; an open call that succeeds clears it. */
  getLastError(): Error | null {
    return this.core.lastError;
  }

  /** Counters summed over the shards: connections, datagrams and bytes in and out, ring fill. */
  getStats(): ManagerStats {
    return this.core.stats();
  }

  /**
   * Each worker shard (or the main-thread shard): its state, its rings' fill, its send
   * overflow, and its connections' send backlog (total and largest). Unlike getStats() it
   * looks at every connection, so its cost grows with them: call it for a scrape or a
   * stats line, not every frame.
   */
  getShardStats(): ShardStats[] {
    return this.core.shardStats();
  }

  /** Clients closed at accept because `maxConnections` were already open. */
  getRejectedConnectionCount(): number {
    return this.core.acceptor.rejected;
  }

  /** This machine's host name (Panda3D's static get_host_name; also QueuedConnectionManager.getHostName()). */
  getHostName(): string {
    return QueuedConnectionManager.getHostName();
  }

  /** This machine's host name, or '' when it has none. */
  static getHostName(): string {
    try {
      return os.hostname();
    } catch {
      return '';
    }
  }

  /** Panda3D's ConnectionManager.Interface: one address of one network interface. */
  static readonly Interface = Interface;

  /**
   * Looks up this machine's network interfaces again (Panda3D's scan_interfaces): one
   * {@link Interface} per address of each interface that is up. getNumInterfaces and
   * getInterface read what the last scan found (nothing before the first).
   */
  scanInterfaces(): void {
    this.interfaces = scanInterfaces();
  }

  /** How many interface addresses the last scanInterfaces() found. */
  getNumInterfaces(): number {
    return this.interfaces.length;
  }

  /** Interface address `n` of the last scan. Throws a RangeError outside 0 … getNumInterfaces() − 1. */
  getInterface(n: number): Interface {
    if (!Number.isInteger(n) || n < 0 || n >= this.interfaces.length) {
      throw new RingwireRangeError(
        ErrorCode.INVALID_ARG_VALUE,
        `getInterface: n must be an integer from 0 to ${this.interfaces.length - 1}, got ${describeValue(n)}` +
          (this.interfaces.length === 0 ? ' (call scanInterfaces() first)' : ''),
      );
    }
    return this.interfaces[n];
  }

  // ── closing and resets ────────────────────────────────────────────────────

  /**
   * Closes `conn`: a rendezvous stops listening and resets (RST) the clients it accepted
   * that no listener has taken (those a listener has queued stay its own); a stream
   * flushes what was sent, then closes, and stops being read (a WebSocket or TLS stream
   * whose handshake is under way finishes it first, within handshakeTimeoutMs, then does
   * the same; one whose handshake fails gets nothing). Returns false when it was
   * not open (or not this manager's). A connection closed here is not queued as a reset
   * (as in Panda3D); its getResetReason() says 'closed-locally'.
   */
  closeConnection(conn: Connection): boolean {
    if (!(conn instanceof Connection)) {
      throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `closeConnection: expected a Connection, got ${describeValue(conn)}`);
    }
    if (conn.getManager() !== this || !conn.open) return false;
    this.core.closeConnection(conn);
    return true;
  }

  /**
   * True when a reset connection is waiting in the queue. A connection's reset is queued
   * once the reader has delivered all of its data, so poll the reader too.
   */
  resetConnectionAvailable(): boolean {
    return this.core.resetAvailable();
  }

  /**
   * Waits, without blocking the thread, until the reader has a datagram, a listener a new
   * client, or the reset queue a connection (Panda3D's wait_for_readers, as a Promise).
   * Resolves true at once when one is already there, false when `timeoutSeconds` passes
   * first (negative or Infinity: no limit; 0: just look) and false once the manager
   * closes. A wait costs nothing while nothing comes: the shards ring the main thread
   * only while it waits, and a loop that polls instead pays nothing for it. While it
   * waits, the wait holds the process open, as a pending read does. `options.signal` ends
   * it early: the promise rejects with the signal's reason. Throws a TypeError for a
   * timeout that is not a number.
   */
  waitForReaders(timeoutSeconds: number, options: WaitOptions = {}): Promise<boolean> {
    if (typeof timeoutSeconds !== 'number' || Number.isNaN(timeoutSeconds)) {
      throw new RingwireTypeError(
        ErrorCode.INVALID_ARG_TYPE,
        `waitForReaders: timeoutSeconds must be a number (negative: no limit), got ${describeValue(timeoutSeconds)}`,
      );
    }
    if (typeof options !== 'object' || options === null) {
      throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `waitForReaders: options must be an object, got ${describeValue(options)}`);
    }
    const signal = options.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `waitForReaders: options.signal must be an AbortSignal, got ${describeValue(signal)}`);
    }
    return this.core.wait(timeoutSeconds < 0 ? Infinity : timeoutSeconds, options);
  }

  /** Takes the next reset connection into `ptr`. Returns false when there is none. */
  getResetConnection(ptr: PointerToConnection): boolean {
    const conn = this.core.takeReset();
    if (conn === undefined) return false;
    ptr.set(conn);
    return true;
  }

  /**
   * Shuts everything down: stops listening, flushes every connection's pending sends,
   * closes the sockets and stops the worker shards. Safe to call twice.
   */
  close(): Promise<void> {
    return this.core.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Worker shards in force: 0 in single-thread mode (asked for, or the native helper missing). */
  getNumWorkerShards(): number {
    return this.core.table.shards.workerCount();
  }

  // ── shared with the listener, reader and writer ───────────────────────────

  /** @internal Every open TCP stream and UDP socket by id. */
  get connections(): ReadonlyMap<number, Connection> {
    return this.core.table.connections;
  }

  /** @internal The shard set (tests reach into its pool). */
  get shards(): ShardSet {
    return this.core.table.shards;
  }

  /** @internal The shards of this manager (main-thread or worker). */
  getShards(): readonly ShardHandle[] {
    return this.core.shards();
  }

  /** @internal Called by a reader's constructor: fixes the threading mode. One reader per manager. */
  attachReader(reader: InboundReader, numThreads: number): void {
    this.assertOpen('QueuedConnectionReader');
    this.core.attachReader(reader, numThreads);
  }

  /** @internal Called by a listener's addConnection: hands over what the rendezvous accepted so far. */
  attachListener(rendezvous: Connection, listener: ConnectionSink<Connection> | null): Connection[] | null {
    return this.core.attachListener(rendezvous, listener);
  }

  /** @internal Handles an inbound record that is not DATA (OPENED, CLOSED). */
  handleEvent(shard: ShardHandle, kind: number, id: number, aux: number): void {
    this.core.table.handleEvent(shard, kind, id, aux);
  }

  /** @internal A send reported `shard`'s overflow past shardSendBudget: its largest backlogs are cut. */
  cutOverBudget(shard: ShardHandle): void {
    this.core.table.cutOverBudget(shard);
  }

  /** @internal Resets `conn` from the main thread (a writer limit broke) with `reason`. */
  cutConnection(conn: Connection, reason: number): void {
    this.core.table.cut(conn, reason);
  }

  private assertOpen(what: string): void {
    if (this.core.isClosing()) throw new RingwireError(ErrorCode.MANAGER_CLOSED, `${what}: the QueuedConnectionManager is closed`);
  }
}

/** Throws a TypeError naming `what` unless `manager` is a QueuedConnectionManager. */
export function checkManager(what: string, manager: unknown): void {
  if (!(manager instanceof QueuedConnectionManager)) {
    throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `${what}: expected a QueuedConnectionManager, got ${describeValue(manager)}`);
  }
}

/** The arguments of a call, for an error that names the overloads: `"21110" (string), "1000" (string)`. */
function describeArguments(...args: unknown[]): string {
  while (args.length > 0 && args[args.length - 1] === undefined) args.pop();
  return args.map(describeValue).join(', ');
}
