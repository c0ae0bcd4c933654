import { describeValue } from '../shared/describe-value.js';
import type { Server } from 'node:net';
import { SocketOption } from '../shared/protocol/record-kind.js';
import type { ResetReason } from '../shared/reset-reason.js';
import type { ConnectionGroup } from './connection-group.js';
import { NetAddress } from './net-address.js';
import type { QueuedConnectionManager } from './queued-connection-manager.js';
import type { QueuedConnectionReader } from './queued-connection-reader.js';
import type { ShardHandle } from './shard-handle.js';

/** What a Connection is: a listening rendezvous, a TCP stream, or a UDP socket. */
export type ConnectionKind = 'rendezvous' | 'tcp' | 'udp';

/**
 * One socket, as Panda3D's Connection: a TCP rendezvous (listening) or a TCP stream. The
 * stream's socket lives in a shard; this object is its handle on the main thread.
 */
export class Connection {
  /** The peer's address for a stream; the bound address for a rendezvous. */
  private readonly address = new NetAddress();
  /** True until the connection is closed locally or reported closed. */
  open = true;
  resetReason: ResetReason | null = null;
  /** The reader reading it, if any. */
  reader: QueuedConnectionReader | null = null;
  /** The shard that owns the stream's socket (null for a rendezvous). */
  shard: ShardHandle | null = null;
  /** The listening server of a rendezvous. */
  server: Server | null = null;
  /** The stream's slot in its shard's send-backlog table, or -1. */
  backlogSlot = -1;
  /** Bytes (headers included) framed for the stream so far. */
  sentBytes = 0;
  /** sentBytes at which the writer next looks at the backlog (sendBacklogHardLimit). */
  backlogCheckAt = 0;
  /** The groups the connection is in (null until it joins one). */
  private groups: Set<ConnectionGroup> | null = null;

  constructor(
    /** ringwire's id for the connection, unique within its manager. */
    readonly id: number,
    readonly kind: ConnectionKind,
    private readonly manager: QueuedConnectionManager,
  ) {}

  /** The peer's address (a stream) or the bound address (a rendezvous, a UDP socket). */
  getAddress(): NetAddress {
    return this.address;
  }

  /** The manager that opened the connection. */
  getManager(): QueuedConnectionManager {
    return this.manager;
  }

  /** Disables (true) or enables Nagle's algorithm. Returns false when the connection is closed. */
  setNoDelay(noDelay: boolean): boolean {
    return this.setOption(SocketOption.NO_DELAY, noDelay);
  }

  /** Turns TCP keep-alive probes on or off. Returns false when the connection is closed. */
  setKeepAlive(keepAlive: boolean): boolean {
    return this.setOption(SocketOption.KEEP_ALIVE, keepAlive);
  }

  /**
   * Why the connection ended: 'closed-by-peer', 'closed-locally', 'oversized-datagram',
   * 'slow-consumer', 'idle-timeout' or 'error'; null while it is open.
   */
  getResetReason(): ResetReason | null {
    return this.resetReason;
  }

  /** @internal The connection joined `group`. */
  joined(group: ConnectionGroup): void {
    (this.groups ??= new Set()).add(group);
  }

  /** @internal The connection left `group`. */
  left(group: ConnectionGroup): void {
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

  private setOption(option: number, on: boolean): boolean {
    if (typeof on !== 'boolean') {
      throw new TypeError(`Connection option must be a boolean, got ${describeValue(on)}`);
    }
    if (!this.open || this.shard === null) return false;
    return this.shard.setOption(this, option, on);
  }
}
