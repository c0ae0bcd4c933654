import { describeValue } from '../../shared/describe-value.js';
import type { Server } from 'node:net';
import { SocketOption } from '../../shared/protocol/record-kind.js';
import { Framing } from '../../shared/protocol/transport-spec.js';
import { loadFdHelper } from '../../shared/fd-helper.js';
import type { ResetReason } from '../../shared/reset-reason.js';
import type { ConnectionKind } from '../core/managed-connection.js';
import type { ShardHandle } from '../shards/shard-handle.js';
import { NetAddress } from './net-address.js';
import { ErrorCode, RingwireError, RingwireRangeError, RingwireTypeError } from '../../shared/errors.js';

export type { ConnectionKind };

/**
 * The manager that opened a connection, as `getManager()` returns it:
 * queued-connection-manager.ts makes it the QueuedConnectionManager (declaration merging),
 * so that this module need not import the manager's, which imports this one.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled in by queued-connection-manager.ts
export interface ConnectionOwner {}

/** @internal What a connection needs of a group it is in (ConnectionGroup). */
export interface GroupMembership {
  _drop(conn: Connection): void;
}

/**
 * One socket, as Panda3D's Connection: a TCP rendezvous (listening) or a TCP stream. The
 * stream's socket lives in a shard; this object is its handle on the main thread.
 */
export class Connection {
  /** The peer's address for a stream; the bound address for a rendezvous. */
  private readonly address = new NetAddress();
  /** True until the connection is closed locally or reported closed (read it; ringwire sets it). */
  open = true;
  /** @internal Why it ended (getResetReason). */
  resetReason: ResetReason | null = null;
  /** @internal The reader reading it, if any (the reader compares itself with it). */
  reader: object | null = null;
  /** @internal The shard that owns the stream's socket (null for a rendezvous). */
  shard: ShardHandle | null = null;
  /** @internal The admission table key of an accepted connection's peer, or null (address-admission.ts). */
  admissionKey: string | null = null;
  /** @internal Accepted by a rendezvous (it counts for maxConnections); false for client connections and UDP. */
  accepted = false;
  /** @internal The listening server of a rendezvous. */
  server: Server | null = null;
  /** @internal How the writer frames its datagrams: Panda's header, or a WebSocket message (transport-spec.ts). */
  framing: Framing = Framing.PANDA;
  /** @internal Its stream runs over TLS. */
  secure = false;
  /** @internal The stream's slot in its shard's send-backlog table, or -1. */
  backlogSlot = -1;
  /** @internal Bytes (headers included) framed for the stream so far. */
  sentBytes = 0;
  /** @internal sentBytes at which the writer next looks at the backlog (sendBacklogHardLimit). */
  backlogCheckAt = 0;
  /** The groups the connection is in (null until it joins one). */
  private groups: Set<GroupMembership> | null = null;

  constructor(
    /** ringwire's id for the connection, unique within its manager. */
    readonly id: number,
    readonly kind: ConnectionKind,
    private readonly manager: ConnectionOwner,
  ) {}

  /** The peer's address (a stream) or the bound address (a rendezvous, a UDP socket). */
  getAddress(): NetAddress {
    return this.address;
  }

  /** The manager that opened the connection. */
  getManager(): ConnectionOwner {
    return this.manager;
  }

  /** @internal The socket's address is `ip`:`port` (the core sets it when it opens or accepts). */
  setAddress(ip: string | undefined, port: number | undefined): void {
    this.address.setFromSocket(ip, port);
  }

  /** Disables (true) or enables Nagle's algorithm (TCP). Returns false when the connection is closed. */
  setNoDelay(noDelay: boolean): boolean {
    return this.setOption('setNoDelay', SocketOption.NO_DELAY, flag('setNoDelay', noDelay), 0, true);
  }

  /** Turns TCP keep-alive probes on or off. Returns false when the connection is closed. */
  setKeepAlive(keepAlive: boolean): boolean {
    return this.setOption('setKeepAlive', SocketOption.KEEP_ALIVE, flag('setKeepAlive', keepAlive), 0, true);
  }

  /**
   * SO_LINGER (TCP). On with 0 seconds: closeConnection resets the connection (RST),
   * dropping what is unsent. On with `seconds` (whole seconds, as Panda3D): a close waits
   * that long at most for the peer to take what is queued, then cuts it; it is this
   * connection's closeLingerMs, since a kernel linger would block the shard's thread in
   * close(). Off: the manager's closeLingerMs.
   */
  setLinger(flagOn: boolean, seconds: number): boolean {
    const on = flag('setLinger', flagOn);
    return this.setOption('setLinger', SocketOption.LINGER, on, on ? Math.trunc(count('setLinger', 'seconds', seconds)) : 0, true);
  }

  /** SO_REUSEADDR. Of use before a socket binds, so mostly a no-op on an open connection, as in Panda3D. */
  setReuseAddr(reuse: boolean): boolean {
    return this.setOption('setReuseAddr', SocketOption.REUSE_ADDR, flag('setReuseAddr', reuse), 0, false);
  }

  /** SO_RCVBUF: the kernel's receive buffer for this socket (it may round, and Linux doubles it). */
  setRecvBufferSize(bytes: number): boolean {
    return this.setOption('setRecvBufferSize', SocketOption.RECV_BUFFER, size('setRecvBufferSize', bytes), 0, false);
  }

  /** SO_SNDBUF: the kernel's send buffer for this socket (TCP in Panda3D; UDP too here). */
  setSendBufferSize(bytes: number): boolean {
    return this.setOption('setSendBufferSize', SocketOption.SEND_BUFFER, size('setSendBufferSize', bytes), 0, false);
  }

  /** The unicast TTL (IPv6: hop limit), 1 to 255. Panda3D's is a stub; ringwire sets it. */
  setIpTimeToLive(ttl: number): boolean {
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255) {
      throw new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `setIpTimeToLive: ttl must be an integer from 1 to 255, got ${describeValue(ttl)}`);
    }
    return this.setOption('setIpTimeToLive', SocketOption.TTL, ttl, 0, false);
  }

  /** TCP_MAXSEG: the largest TCP segment to send. Panda3D's is a stub; ringwire sets it. */
  setMaxSegment(bytes: number): boolean {
    return this.setOption('setMaxSegment', SocketOption.MAX_SEGMENT, size('setMaxSegment', bytes), 0, true);
  }

  /**
   * Writes what was sent on this connection now, rather than at the end of this turn of
   * the event loop, where ringwire coalesces each connection's datagrams into one write
   * (Panda3D's collect-tcp, always on, with a one-turn interval). Returns false when the
   * connection is closed.
   */
  flush(): boolean {
    if (!this.open || this.shard === null) return false;
    this.shard.flush();
    return true;
  }

  /**
   * Panda3D's consider_flush(): flushes when the collect interval has passed. ringwire's
   * interval is the turn, so it is flush().
   */
  considerFlush(): boolean {
    return this.flush();
  }

  /**
   * What the stream speaks above TCP: 'websocket' (a WebSocket rendezvous accepted it, or it
   * was opened with `websocket`) or 'tcp' (Panda3D's framing). ringwire's extension.
   */
  getTransport(): 'tcp' | 'websocket' {
    return this.framing === Framing.PANDA ? 'tcp' : 'websocket';
  }

  /** True when the stream runs over TLS (its rendezvous, or its open, had `tls`). ringwire's extension. */
  isSecure(): boolean {
    return this.secure;
  }

  /**
   * Why the connection ended: 'closed-by-peer', 'closed-locally', 'oversized-datagram',
   * 'slow-consumer', 'idle-timeout', 'handshake-failed' (TLS or a WebSocket upgrade),
   * 'protocol-error' (WebSocket) or 'error'; null while it is open.
   */
  getResetReason(): ResetReason | null {
    return this.resetReason;
  }

  /** @internal The connection joined `group`. */
  joined(group: GroupMembership): void {
    (this.groups ??= new Set()).add(group);
  }

  /** @internal The connection left `group`. */
  left(group: GroupMembership): void {
    this.groups?.delete(group);
  }

  /**
   * @internal The connection closed or was reset: it stops being read, leaves every group
   * it is in and, when it was still open, closes with `reason`. Returns whether it was open
   * (the caller queues a reset for it then, where one is due).
   */
  end(reason: ResetReason): boolean {
    this.reader = null;
    const groups = this.groups;
    if (groups !== null) {
      this.groups = null;
      for (const group of groups) group._drop(this);
    }
    if (!this.open) return false;
    this.open = false;
    this.resetReason = reason;
    return true;
  }

  /** 'tcp 127.0.0.1:5000 #3' — for logs. */
  toString(): string {
    return `${this.kind} ${this.address.toString()} #${this.id}`;
  }

  /**
   * Queues an OPTION record for the shard that owns the socket. False when the connection
   * is closed or a rendezvous (its socket stays on the main thread, and Node offers these
   * options on no server), and for an option that needs the native helper when it is not
   * built (single-thread mode without a compiler). Throws for a TCP option on UDP, which
   * is an assertion failure in Panda3D.
   */
  private setOption(what: string, option: number, value: number, seconds: number, tcpOnly: boolean): boolean {
    if (tcpOnly && this.kind === 'udp')
      throw new RingwireError(ErrorCode.WRONG_CONNECTION_KIND, `Connection.${what}: ${this.toString()} is UDP; ${what} is for TCP connections`);
    if (!this.open || this.shard === null || this.kind === 'rendezvous') return false;
    const native = option !== SocketOption.NO_DELAY && option !== SocketOption.KEEP_ALIVE;
    const nodeHasIt =
      this.kind === 'udp' && (option === SocketOption.RECV_BUFFER || option === SocketOption.SEND_BUFFER || option === SocketOption.TTL);
    if (native && !nodeHasIt && loadFdHelper() === null) return false;
    this.shard.setOption(this, option, value, seconds);
    return true;
  }
}

function flag(what: string, value: unknown): number {
  if (typeof value !== 'boolean')
    throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `Connection.${what}: expected a boolean, got ${describeValue(value)}`);
  return value ? 1 : 0;
}

function count(what: string, name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 0x7fffffff) {
    throw new RingwireRangeError(
      ErrorCode.INVALID_ARG_VALUE,
      `Connection.${what}: ${name} must be a non-negative number, got ${describeValue(value)}`,
    );
  }
  return value;
}

function size(what: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 0x7fffffff) {
    throw new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `Connection.${what}: bytes must be a positive integer, got ${describeValue(value)}`);
  }
  return value;
}
