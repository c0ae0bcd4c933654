import { maxRecordPayload } from '../shared/protocol/ring-layout.js';
import { describeValue } from '../shared/describe-value.js';
import { Interface, scanInterfaces } from './network-interface.js';
import { AddressAdmission, Refusal } from './address-admission.js';
import { checkReusePortPlatform, listenReusingPort } from './reuse-port.js';
import { bindUdp } from './udp-bind.js';
import type dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import os from 'node:os';
import { debuglog } from 'node:util';
import { AdoptKind, RecordKind } from '../shared/protocol/record-kind.js';
import { ResetReasonCode, resetReasonName } from '../shared/reset-reason.js';
import { Connection } from './connection.js';
import { collectStats, type ManagerStats } from './manager-stats.js';
import { NetAddress, checkPort } from './net-address.js';
import type { PointerToConnection } from './pointer-to-connection.js';
import type { QueuedConnectionListener } from './queued-connection-listener.js';
import type { QueuedConnectionReader } from './queued-connection-reader.js';
import { ReaderWait, type WaitOptions } from './reader-wait.js';
import type { ShardHandle } from './shard-handle.js';
import { ShardSet } from './shard-set.js';

const log = debuglog('ringwire');

/** ringwire's options for a manager; every one has a default. */
export interface QueuedConnectionManagerOptions {
  /** Bytes in each shard ring (inbound and outbound), a power of two. Default 4 MiB. */
  ringCapacity?: number;
  /**
   * Bytes a connection may have queued (sent, not yet taken by the kernel) and still never
   * be cut, however slowly its peer reads. Above it, a peer that takes nothing for
   * `sendStallTimeoutMs` is reset `slow-consumer`. Default 8 MiB.
   */
  sendBacklogLimit?: number;
  /** How long a connection over `sendBacklogLimit` may go with its peer taking nothing (ms). Default 10000. */
  sendStallTimeoutMs?: number;
  /** Bytes queued for one connection past which it is reset `slow-consumer` at once, reading or not. Default 64 MiB. */
  sendBacklogHardLimit?: number;
  /**
   * Bytes one shard's connections may have queued together (and, separately, bytes the
   * main thread may hold for one shard whose ring is full); past it the largest backlogs
   * are reset `slow-consumer` first. Default 256 MiB.
   */
  shardSendBudget?: number;
  /**
   * A closing connection (closeConnection, the peer's FIN, close()) writes everything queued,
   * then FIN; it is cut (RST) only when its peer takes nothing, or does not answer our FIN,
   * for this long (ms). Default 5000.
   */
  closeLingerMs?: number;
  /** close() cuts connections still lingering this long after it began, and ends the shards (ms). Default 5000. */
  shutdownTimeoutMs?: number;
  /** A read connection that completes no datagram for this long is reset as `idle-timeout` (ms). Default 0: never. */
  idleTimeoutMs?: number;
  /**
   * Most accepted TCP streams open at once (clients of this manager's rendezvous; its own
   * client connections and UDP sockets do not count); clients beyond it are closed at once
   * and counted. Default 0: no limit.
   */
  maxConnections?: number;
  /**
   * Most open TCP streams from one client address (IPv6: one prefix of `ipv6PrefixLength`
   * bits); further clients from it are reset at accept and counted. Default 0: no limit.
   */
  maxConnectionsPerAddress?: number;
  /**
   * New connections per second one client address may open (fractions allowed: 0.5 is one
   * every two seconds), a token bucket of `acceptBurstPerAddress`; faster ones are reset at
   * accept and counted. Default 0: no limit.
   */
  acceptRatePerAddress?: number;
  /** Connections an address may open at once under `acceptRatePerAddress`. Default 0: one second's worth (at least 1). */
  acceptBurstPerAddress?: number;
  /** Most client addresses the per-address limits count at a time (idle ones are forgotten). Default 65536. */
  addressTableSize?: number;
  /** IPv6 clients count for the per-address limits by this many leading bits (1 to 128). Default 64. */
  ipv6PrefixLength?: number;
  /**
   * Every TCP rendezvous and UDP socket this manager opens binds with SO_REUSEPORT, so
   * several processes can open the same port and the kernel spreads new connections over
   * them. Linux only (the constructor throws elsewhere). Default false.
   */
  reusePort?: boolean;
}

/** The options with their defaults filled in. */
export interface ManagerSettings {
  ringCapacity: number;
  sendBacklogLimit: number;
  sendStallTimeoutMs: number;
  sendBacklogHardLimit: number;
  shardSendBudget: number;
  closeLingerMs: number;
  shutdownTimeoutMs: number;
  idleTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  acceptRatePerAddress: number;
  acceptBurstPerAddress: number;
  addressTableSize: number;
  ipv6PrefixLength: number;
  reusePort: boolean;
}

const DEFAULTS: ManagerSettings = {
  ringCapacity: 4 * 1024 * 1024,
  sendBacklogLimit: 8 * 1024 * 1024,
  sendStallTimeoutMs: 10_000,
  sendBacklogHardLimit: 64 * 1024 * 1024,
  shardSendBudget: 256 * 1024 * 1024,
  closeLingerMs: 5000,
  shutdownTimeoutMs: 5000,
  idleTimeoutMs: 0,
  maxConnections: 0,
  maxConnectionsPerAddress: 0,
  acceptRatePerAddress: 0,
  acceptBurstPerAddress: 0,
  addressTableSize: 65_536,
  ipv6PrefixLength: 64,
  reusePort: false,
};

/** Options that may be fractional (a rate of one connection every two seconds is 0.5). */
const FRACTIONAL_OPTIONS = new Set<string>(['acceptRatePerAddress']);

/** Extra state of a rendezvous: who listens to it, and what it accepted before anyone did. */
interface Rendezvous {
  listener: QueuedConnectionListener | null;
  /** Clients accepted while no listener listened, for the next one: nobody has taken them. */
  backlog: Connection[];
  /** Most clients `backlog` holds (the rendezvous's backlog argument); more are reset at accept. */
  limit: number;
}

/** listen()'s backlog when none is given (Node's default): also the most unclaimed clients a rendezvous holds then. */
const DEFAULT_BACKLOG = 511;

/**
 * Opens and closes connections and queues the ones that were reset (Panda3D's
 * QueuedConnectionManager). Sockets are handed to shards as soon as they connect.
 */
export class QueuedConnectionManager {
  /** Every open TCP stream by id (rendezvous are kept apart). */
  readonly connections = new Map<number, Connection>();
  readonly settings: ManagerSettings;
  private readonly shards: ShardSet;
  private readonly rendezvous = new Map<Connection, Rendezvous>();
  private readonly resets: Connection[] = [];
  private readonly connecting = new Set<net.Socket>();
  private reader: QueuedConnectionReader | null = null;
  /** Every listener that has listened to one of our rendezvous (their queues wake waitForReaders). */
  private readonly listeners = new Set<QueuedConnectionListener>();
  private readonly waits: ReaderWait;
  private nextId = 1;
  private rejected = 0;
  /** Accepted TCP streams open now: what maxConnections counts. */
  private acceptedOpen = 0;
  /** Clients reset at accept because their rendezvous held `backlog` clients nobody took. */
  private rejectedBacklog = 0;
  /** Clients reset at accept because every shard's send-backlog table was full. */
  private rejectedShardFull = 0;
  /** Clients reset at accept because every shard had failed and waited out its restart delay. */
  private rejectedNoShard = 0;
  /** Worker shards that died (each is replaced). */
  private shardFailures = 0;
  /** Clients reset at accept by the per-address limits, by Refusal. */
  private readonly refusals = [0, 0, 0, 0];
  private readonly admission: AddressAdmission;
  private lastError: Error | null = null;
  private closing: Promise<void> | null = null;
  private interfaces: Interface[] = [];

  /** Options are ringwire's; Panda3D's constructor takes none. Throws a RangeError naming a bad option. */
  constructor(options: QueuedConnectionManagerOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`QueuedConnectionManager: options must be an object, got ${describeValue(options)}`);
    }
    const unknown = Object.keys(options).filter((key) => !(key in DEFAULTS));
    if (unknown.length > 0) {
      throw new TypeError(
        `QueuedConnectionManager: unknown option${unknown.length === 1 ? '' : 's'} ${unknown.map((key) => JSON.stringify(key)).join(', ')} (known: ${Object.keys(DEFAULTS).join(', ')})`,
      );
    }
    const settings: Record<string, number | boolean> = { ...DEFAULTS };
    for (const key of Object.keys(DEFAULTS) as (keyof ManagerSettings)[]) {
      const value = options[key];
      if (value === undefined) continue;
      if (typeof DEFAULTS[key] === 'boolean') {
        if (typeof value !== 'boolean') throw new TypeError(`QueuedConnectionManager option ${key} must be a boolean, got ${describeValue(value)}`);
      } else if (FRACTIONAL_OPTIONS.has(key)) {
        if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
          throw new RangeError(`QueuedConnectionManager option ${key} must be a non-negative number, got ${describeValue(value)}`);
        }
      } else if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
        throw new RangeError(`QueuedConnectionManager option ${key} must be a non-negative integer, got ${describeValue(value)}`);
      }
      settings[key] = value;
    }
    this.settings = settings as unknown as ManagerSettings;
    if (this.settings.reusePort) checkReusePortPlatform();
    const { ipv6PrefixLength, addressTableSize } = this.settings;
    if (ipv6PrefixLength < 1 || ipv6PrefixLength > 128) {
      throw new RangeError(`QueuedConnectionManager option ipv6PrefixLength must be an integer from 1 to 128, got ${ipv6PrefixLength}`);
    }
    if (addressTableSize < 1) throw new RangeError(`QueuedConnectionManager option addressTableSize must be at least 1, got ${addressTableSize}`);
    this.admission = new AddressAdmission(this.settings);
    const ring = this.settings.ringCapacity;
    if (ring < 4096 || ring > 1 << 30 || (ring & (ring - 1)) !== 0) {
      throw new RangeError(`QueuedConnectionManager option ringCapacity must be a power of two from 4096 to 2^30, got ${ring}`);
    }
    const { sendBacklogLimit, sendBacklogHardLimit } = this.settings;
    if (sendBacklogHardLimit < sendBacklogLimit) {
      throw new RangeError(
        `QueuedConnectionManager option sendBacklogHardLimit (${sendBacklogHardLimit}) must be at least sendBacklogLimit (${sendBacklogLimit})`,
      );
    }
    // One datagram as large as a ring record carries must not reset its connection by itself.
    if (sendBacklogHardLimit < maxRecordPayload(ring)) {
      throw new RangeError(
        `QueuedConnectionManager option sendBacklogHardLimit (${sendBacklogHardLimit}) must be at least the largest datagram a ${ring}-byte ring carries (${maxRecordPayload(ring)} bytes): lower ringCapacity or raise the limit`,
      );
    }
    this.waits = new ReaderWait({ ready: this.somethingReady.bind(this), shards: () => this.shards.handles });
    this.shards = new ShardSet(
      this.settings,
      this.onShardFailed.bind(this),
      this.onOverBudget.bind(this),
      this.waits.wake.bind(this.waits),
    );
  }

  // ── opening ───────────────────────────────────────────────────────────────

  /**
   * Listens for TCP clients: `(port, backlog)`, `(host, port, backlog)` or
   * `(address, backlog)`. Resolves the rendezvous Connection, or null when the port cannot
   * be opened (getLastError() says why, e.g. EADDRINUSE).
   */
  async openTCPServerRendezvous(port: number, backlog?: number): Promise<Connection | null>;
  async openTCPServerRendezvous(host: string, port: number, backlog?: number): Promise<Connection | null>;
  async openTCPServerRendezvous(address: NetAddress, backlog?: number): Promise<Connection | null>;
  async openTCPServerRendezvous(a: number | string | NetAddress, b?: number, c?: number): Promise<Connection | null> {
    let host: string | undefined;
    let port: number;
    let backlog: number | undefined;
    if (typeof a === 'number') {
      port = a;
      backlog = b;
    } else if (typeof a === 'string' && typeof b === 'number') {
      host = a;
      port = b;
      backlog = c;
    } else if (a instanceof NetAddress) {
      host = a.getIpString();
      port = a.getPort();
      backlog = b;
    } else {
      throw new TypeError(
        `openTCPServerRendezvous: expected (port, backlog?), (host, port, backlog?) or (address: NetAddress, backlog?), got (${describeArguments(a, b, c)})`,
      );
    }
    checkPort('openTCPServerRendezvous', port);
    if (backlog !== undefined && (!Number.isInteger(backlog) || backlog < 0)) {
      throw new RangeError(`openTCPServerRendezvous: backlog must be a non-negative integer, got ${describeValue(backlog)}`);
    }
    this.assertOpen('openTCPServerRendezvous');
    // allowHalfOpen: a peer's FIN must not end our side before the shard has written its replies.
    const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true });
    const error = this.settings.reusePort
      ? await listenReusingPort(server, host, port, backlog || undefined)
      : await new Promise<Error | null>((resolve) => {
          server.once('error', resolve);
          server.listen({ host, port, backlog: backlog || undefined }, () => {
            server.off('error', resolve);
            resolve(null);
          });
        });
    if (error !== null) {
      this.lastError = error;
      return null;
    }
    if (this.closing) {
      server.close();
      return null;
    }
    const conn = new Connection(this.nextId++, 'rendezvous', this);
    const bound = server.address() as net.AddressInfo;
    conn.getAddress().setFromSocket(bound.address, bound.port);
    conn.server = server;
    this.rendezvous.set(conn, { listener: null, backlog: [], limit: backlog || DEFAULT_BACKLOG });
    server.on('connection', (socket: net.Socket) => this.accepted(conn, socket));
    server.on('error', (err: Error) => (this.lastError = err));
    log('rendezvous %s open', conn.getAddress().toString());
    this.lastError = null;
    return conn;
  }

  /**
   * Connects to a TCP server: `(host, port, timeoutMs)` or `(address, timeoutMs)`.
   * Resolves the Connection, or null when the connection is refused, fails, or takes
   * longer than `timeoutMs` (0: no limit); getLastError() says why.
   */
  async openTCPClientConnection(host: string, port: number, timeoutMs?: number): Promise<Connection | null>;
  async openTCPClientConnection(address: NetAddress, timeoutMs?: number): Promise<Connection | null>;
  async openTCPClientConnection(a: string | NetAddress, b?: number, c?: number): Promise<Connection | null> {
    let host: string;
    let port: number;
    let timeoutMs: number;
    if (typeof a === 'string' && typeof b === 'number') {
      host = a;
      port = b;
      timeoutMs = c ?? 0;
    } else if (a instanceof NetAddress) {
      host = a.getIpString();
      port = a.getPort();
      timeoutMs = b ?? 0;
    } else {
      throw new TypeError(
        `openTCPClientConnection: expected (host, port, timeoutMs?) or (address: NetAddress, timeoutMs?), got (${describeArguments(a, b, c)})`,
      );
    }
    checkPort('openTCPClientConnection', port);
    if (!Number.isInteger(timeoutMs) || timeoutMs < 0) {
      throw new RangeError(`openTCPClientConnection: timeoutMs must be a non-negative integer, got ${describeValue(timeoutMs)}`);
    }
    this.assertOpen('openTCPClientConnection');
    const socket = net.connect({ host, port, allowHalfOpen: true });
    // Paused before it connects: nothing may be read on the main thread, or it would be
    // lost when the socket moves to a shard.
    socket.pause();
    this.connecting.add(socket);
    const outcome = await new Promise<Error | null>((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      const settle = (result: Error | null): void => {
        if (timer) clearTimeout(timer);
        resolve(result);
      };
      if (timeoutMs > 0) {
        timer = setTimeout(() => settle(new Error(`connect to ${host}:${port} timed out after ${timeoutMs} ms`)), timeoutMs);
      }
      socket.once('connect', () => settle(null));
      socket.once('error', settle);
      socket.once('close', () => settle(new Error(`connect to ${host}:${port} aborted: the manager closed`)));
    });
    this.connecting.delete(socket);
    if (outcome !== null || this.closing) {
      this.lastError = outcome ?? new Error('the manager closed');
      socket.destroy();
      return null;
    }
    socket.removeAllListeners();
    const conn = new Connection(this.nextId++, 'tcp', this);
    conn.getAddress().setFromSocket(socket.remoteAddress, socket.remotePort);
    if (!this.handOver(conn, socket)) return null;
    this.lastError = null;
    return conn;
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
        throw new TypeError(`openUDPConnection: forBroadcast must be a boolean, got ${describeValue(forBroadcast)}`);
      }
      host = a;
      if (a !== '' && net.isIP(a) === 0) {
        try {
          host = (await lookup(a)).address;
        } catch (error) {
          this.lastError = error as Error;
          return null;
        }
      }
      if (host === '') host = undefined;
    } else {
      throw new TypeError(`openUDPConnection: expected (port?) or (host, port, forBroadcast?), got (${describeArguments(a, b, broadcastArgument)})`);
    }
    this.assertOpen('openUDPConnection');
    const bound = await bindUdp(host, port, forBroadcast, this.settings.reusePort);
    if (bound instanceof Error || this.closing) {
      this.lastError = bound instanceof Error ? bound : new Error('the manager closed');
      if (!(bound instanceof Error)) bound.socket.close();
      return null;
    }
    const { socket, ipv6 } = bound;
    if (forBroadcast) socket.setBroadcast(true);
    const conn = new Connection(this.nextId++, 'udp', this);
    const local = socket.address();
    conn.getAddress().setFromSocket(local.address, local.port);
    const kind = AdoptKind.UDP | (forBroadcast ? AdoptKind.BROADCAST : 0) | (ipv6 ? AdoptKind.IPV6 : 0);
    if (!this.handOver(conn, socket, kind)) return null;
    this.lastError = null;
    return conn;
  }

  /** The last failure of an open call (EADDRINUSE, ECONNREFUSED, a timeout), or null; an open call that succeeds clears it. */
  getLastError(): Error | null {
    return this.lastError;
  }

  /** Counters summed over the shards: connections, datagrams and bytes in and out, ring fill. */
  getStats(): ManagerStats {
    return collectStats(this.shards.handles, {
      rejectedConnections: this.rejected,
      rejectedPerAddress: this.refusals[Refusal.PER_ADDRESS],
      rejectedAcceptRate: this.refusals[Refusal.ACCEPT_RATE],
      rejectedAddressTable: this.refusals[Refusal.TABLE_FULL],
      rejectedBacklog: this.rejectedBacklog,
      rejectedShardFull: this.rejectedShardFull,
      rejectedNoShard: this.rejectedNoShard,
      trackedAddresses: this.admission.size,
      shardFailures: this.shardFailures,
    });
  }

  /** Clients closed at accept because `maxConnections` were already open. */
  getRejectedConnectionCount(): number {
    return this.rejected;
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
      throw new RangeError(
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
   * flushes what was sent, then closes, and stops being read. Returns false when it was
   * not open (or not this manager's). A connection closed here is not queued as a reset
   * (as in Panda3D); its getResetReason() says 'closed-locally'.
   */
  closeConnection(conn: Connection): boolean {
    if (!(conn instanceof Connection)) {
      throw new TypeError(`closeConnection: expected a Connection, got ${describeValue(conn)}`);
    }
    if (conn.getManager() !== this || !conn.open) return false;
    conn.end('closed-locally');
    if (conn.kind === 'rendezvous') {
      conn.server?.close();
      const state = this.rendezvous.get(conn);
      this.rendezvous.delete(conn);
      // The program cannot reach these any more: left open, they would hold a descriptor
      // each, and their peers would wait, until close().
      if (state !== undefined) for (const client of state.backlog.splice(0)) this.cutUnclaimed(client);
      return true;
    }
    conn.shard?.close(conn);
    return true;
  }

  /**
   * True when a reset connection is waiting in the queue. A connection's reset is queued
   * once the reader has delivered all of its data, so poll the reader too.
   */
  resetConnectionAvailable(): boolean {
    if (this.reader === null) this.pollEvents();
    else this.reader.dataAvailable();
    return this.resets.length > 0;
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
      throw new TypeError(`waitForReaders: timeoutSeconds must be a number (negative: no limit), got ${describeValue(timeoutSeconds)}`);
    }
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`waitForReaders: options must be an object, got ${describeValue(options)}`);
    }
    const signal = options.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new TypeError(`waitForReaders: options.signal must be an AbortSignal, got ${describeValue(signal)}`);
    }
    return this.waits.wait(timeoutSeconds < 0 ? Infinity : timeoutSeconds, options);
  }

  /** Takes the next reset connection into `ptr`. Returns false when there is none. */
  getResetConnection(ptr: PointerToConnection): boolean {
    if (!this.resetConnectionAvailable()) return false;
    ptr.set(this.resets.shift()!);
    return true;
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

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ── shared with the listener, reader and writer ───────────────────────────

  /** The shards of this manager (main-thread or worker). */
  getShards(): readonly ShardHandle[] {
    return this.shards.handles;
  }

  /** Worker shards in force: 0 in single-thread mode (asked for, or the native helper missing). */
  getNumWorkerShards(): number {
    return this.shards.workerCount();
  }

  /** Called by a reader's constructor: fixes the threading mode. One reader per manager. */
  attachReader(reader: QueuedConnectionReader, numThreads: number): void {
    this.assertOpen('QueuedConnectionReader');
    if (this.reader !== null) {
      throw new Error(
        'ringwire supports one QueuedConnectionReader per manager: read every connection with it, or use a second QueuedConnectionManager',
      );
    }
    this.reader = reader;
    this.shards.configure(numThreads);
  }

  /** Called by a listener's addConnection: hands over what the rendezvous accepted so far. */
  attachListener(rendezvous: Connection, listener: QueuedConnectionListener | null): Connection[] | null {
    const state = this.rendezvous.get(rendezvous);
    if (state === undefined) return null;
    state.listener = listener;
    if (listener !== null) {
      this.listeners.add(listener);
      if (state.backlog.length > 0) this.waits.notify();
    }
    return state.backlog.splice(0);
  }

  /** Handles an inbound record that is not DATA (OPENED, CLOSED). */
  handleEvent(shard: ShardHandle, kind: number, id: number, aux: number): void {
    if (kind !== RecordKind.CLOSED) return;
    shard.connections--;
    const conn = this.connections.get(id);
    if (conn === undefined) return;
    this.forget(conn);
    // Every SEND for it is in the ring before this: the shard may end a half-closed peer,
    // and retire the backlog slot it published to until now (it is reused once retired).
    if (conn.kind === 'tcp') shard.release(conn);
    shard.backlogSlots.give(conn.backlogSlot);
    conn.backlogSlot = -1;
    if (conn.end(resetReasonName(aux))) this.resets.push(conn);
  }

  /**
   * Resets `conn` from the main thread (a writer limit broke): it is queued as a reset with
   * `reason`, its sends still waiting on this thread are dropped, and its shard cuts it (RST).
   */
  cutConnection(conn: Connection, reason: number): void {
    if (!conn.open || conn.shard === null) return;
    conn.end(resetReasonName(reason));
    this.resets.push(conn);
    conn.shard.cut(conn.id, reason);
    this.waits.notify();
  }

  // ── internals ─────────────────────────────────────────────────────────────

  /**
   * A shard's send overflow passed shardSendBudget: cut the connections with the most bytes
   * waiting in it first, until it is within the budget again.
   */
  private onOverBudget(shard: ShardHandle): void {
    const budget = this.settings.shardSendBudget;
    while (shard.overflowBytes() > budget) {
      const id = shard.largestOverflow();
      if (id < 0) return;
      const conn = this.connections.get(id);
      if (conn !== undefined && conn.open) this.cutConnection(conn, ResetReasonCode.SLOW_CONSUMER);
      else shard.cut(id, ResetReasonCode.SLOW_CONSUMER); // closed already: nothing to queue as a reset
    }
  }

  private accepted(rendezvous: Connection, socket: net.Socket): void {
    const state = this.rendezvous.get(rendezvous);
    if (state === undefined || this.closing) {
      socket.destroy();
      return;
    }
    // Nobody listens: hold at most `backlog` clients for the next listener, as the kernel's
    // accept queue would hold them for a Panda3D program that does not poll.
    if (state.listener === null && !this.roomInBacklog(state)) {
      this.rejectedBacklog++;
      socket.resetAndDestroy();
      return;
    }
    const max = this.settings.maxConnections;
    if (max > 0 && this.acceptedOpen >= max) {
      this.rejected++;
      socket.destroy();
      return;
    }
    const room = this.shards.streamRoom();
    if (room !== 'ok') {
      // Every shard full, or every shard dead and waiting out its restart delay.
      if (room === 'full') this.rejectedShardFull++;
      else this.rejectedNoShard++;
      socket.resetAndDestroy();
      return;
    }
    let key: string | null = null;
    if (this.admission.enabled) {
      // A client reset before it was accepted has no address left: nothing to count or serve.
      if (socket.remoteAddress === undefined) {
        socket.destroy();
        return;
      }
      // Per address, before anything is made for it: a flood costs an accept and a reset.
      key = this.admission.keyOf(socket.remoteAddress);
      const refusal = this.admission.admit(key, performance.now());
      if (refusal !== Refusal.NONE) {
        this.refusals[refusal]++;
        socket.resetAndDestroy();
        return;
      }
    }
    const conn = new Connection(this.nextId++, 'tcp', this);
    conn.getAddress().setFromSocket(socket.remoteAddress, socket.remotePort);
    conn.admissionKey = key;
    if (!this.handOver(conn, socket)) {
      if (key !== null) this.admission.release(key);
      return;
    }
    conn.accepted = true;
    this.acceptedOpen++;
    if (state.listener !== null) {
      state.listener.enqueue(rendezvous, conn);
      this.waits.notify();
    } else {
      state.backlog.push(conn);
    }
  }

  /** True when `state`'s unclaimed clients are fewer than its limit (ended ones are dropped first). */
  private roomInBacklog(state: Rendezvous): boolean {
    if (state.backlog.length < state.limit) return true;
    // A client's shard may have died since: it holds nothing any more.
    state.backlog = state.backlog.filter((conn) => conn.open);
    return state.backlog.length < state.limit;
  }

  /** Resets (RST) a client nobody took; no reset is queued: the program never had it. */
  private cutUnclaimed(conn: Connection): void {
    if (!conn.end('closed-locally') || conn.shard === null) return;
    conn.shard.cut(conn.id, ResetReasonCode.CLOSED_LOCALLY);
  }

  /** `conn`'s socket is gone: it stops counting for the limits. */
  private forget(conn: Connection): void {
    this.connections.delete(conn.id);
    if (conn.admissionKey !== null) this.admission.release(conn.admissionKey);
    if (conn.accepted) this.acceptedOpen--;
  }

  /** Gives `socket` to the least-loaded shard. False (socket destroyed) when that fails. */
  private handOver(conn: Connection, socket: net.Socket | dgram.Socket, kind: number = AdoptKind.TCP): boolean {
    let shard: ShardHandle;
    try {
      shard = this.shards.pick(kind === AdoptKind.TCP);
      if (!shard.adopt(conn, socket, kind)) {
        this.lastError = new Error(`could not hand ${conn.toString()} to shard ${shard.index}: no descriptor (fd helper missing?)`);
        return false;
      }
    } catch (error) {
      this.lastError = error as Error;
      if ('destroy' in socket) socket.destroy();
      else socket.close();
      return false;
    }
    conn.shard = shard;
    this.connections.set(conn.id, conn);
    return true;
  }

  /** Reads events from every shard when no reader does (there is no DATA without one). */
  private pollEvents(): void {
    for (const shard of this.shards.handles) {
      const ring = shard.inbound;
      while (ring.next()) {
        if (ring.kind !== RecordKind.DATA) this.handleEvent(shard, ring.kind, ring.connectionId, ring.aux);
      }
      ring.release();
    }
  }

  /** Reads and drops everything in the inbound rings, handling connection events. */
  private discardInbound(): void {
    if (this.reader === null) this.pollEvents();
    else while (this.reader.drain(discardDatagram, 4096) > 0);
  }

  /**
   * A worker shard died: its connections are reset with reason 'error'. Clients a
   * rendezvous held that nobody took are dropped without a reset queued: the program never
   * had them.
   */
  private onShardFailed(shard: ShardHandle, error: Error): void {
    this.lastError = error;
    this.shardFailures++;
    this.reader?.shardFailed(shard.index);
    const unclaimed = new Set<Connection>();
    for (const state of this.rendezvous.values()) {
      for (const conn of state.backlog) if (conn.shard === shard) unclaimed.add(conn);
      if (unclaimed.size > 0) state.backlog = state.backlog.filter((conn) => !unclaimed.has(conn));
    }
    for (const conn of [...this.connections.values()]) {
      if (conn.shard !== shard) continue;
      this.forget(conn);
      if (conn.end('error') && !unclaimed.has(conn)) this.resets.push(conn);
    }
    shard.connections = 0;
    this.waits.notify();
  }

  /** What waitForReaders waits for: a datagram, a new client or a reset, ready to take. */
  private somethingReady(): boolean {
    if (this.resets.length > 0) return true;
    for (const listener of this.listeners) if (listener.newConnectionAvailable()) return true;
    if (this.reader === null) this.pollEvents();
    else if (this.reader.dataAvailable()) return true;
    return this.resets.length > 0;
  }

  private async shutdown(): Promise<void> {
    for (const [conn] of this.rendezvous) {
      conn.open = false;
      conn.server?.close();
    }
    this.rendezvous.clear();
    for (const socket of this.connecting) socket.destroy();
    // Keep freeing the inbound rings while the shards flush, so none waits for space. The
    // reader drains them if there is one: it may hold a record open, which only it may free.
    const drainer = setInterval(() => this.discardInbound(), 5);
    try {
      await this.shards.shutdown();
    } finally {
      clearInterval(drainer);
      this.discardInbound();
      for (const conn of this.connections.values()) conn.end('closed-locally');
      this.connections.clear();
      this.acceptedOpen = 0;
      this.admission.close();
    }
  }

  private assertOpen(what: string): void {
    if (this.closing) throw new Error(`${what}: the QueuedConnectionManager is closed`);
  }
}

function discardDatagram(): void {}



/** The arguments of a call, for an error that names the overloads: `"21110" (string), "1000" (string)`. */
function describeArguments(...args: unknown[]): string {
  while (args.length > 0 && args[args.length - 1] === undefined) args.pop();
  return args.map(describeValue).join(', ');
}
