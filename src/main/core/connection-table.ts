import type { Socket as UdpSocket } from 'node:dgram';
import type { Socket } from 'node:net';
import { AdoptKind, RecordKind } from '../../shared/protocol/record-kind.js';
import { ResetReasonCode, resetReasonName, type ResetReason } from '../../shared/reset-reason.js';
import type { ShardHandle } from '../shards/shard-handle.js';
import { ShardSet, type ShardSetHost, type ShardSetSettings } from '../shards/shard-set.js';
import type { ConnectionFactory, ConnectionKind, ManagedConnection } from './managed-connection.js';
import { ErrorCode, RingwireError } from '../../shared/errors.js';

/** What the table tells the rest of the manager's core (manager-core.ts is its host). */
export interface ConnectionTableHost<C extends ManagedConnection> {
  /** `conn`'s socket is gone: it stops counting for the accept limits. */
  forgotten(conn: C): void;
  /** Shard `shard` died: the clients it held that no listener took leave the rendezvous; returns them. */
  dropUnclaimed(shard: ShardHandle): ReadonlySet<C>;
  /** Shard `shard` died of `error`: a record the reader holds from its ring is void. */
  shardLost(shard: ShardHandle, error: Error): void;
  /** A main-thread event may have made something ready for waitForReaders (a reset queued). */
  notify(): void;
  /** A shard rang: it published inbound records while the main thread was parked on them. */
  inbound(): void;
}

/**
 * A manager's open connections: their ids, the hand-over of each socket to a shard, the
 * connection events the shards report (CLOSED), the reset queue, and the policy when a
 * shard dies or its send overflow passes shardSendBudget. It is the shard set's host.
 */
export class ConnectionTable<C extends ManagedConnection> implements ShardSetHost {
  /** Every open TCP stream and UDP socket by id (rendezvous are kept apart). */
  readonly connections = new Map<number, C>();
  /** Connections reset and not yet taken by getResetConnection, oldest first. */
  readonly resets: C[] = [];
  /** Worker shards that died (each is replaced). */
  shardFailures = 0;
  /** Connections (TCP streams and UDP sockets) that ended, by reason. */
  readonly ended: Record<ResetReason, number> = {
    'closed-by-peer': 0,
    'closed-locally': 0,
    'oversized-datagram': 0,
    'slow-consumer': 0,
    'idle-timeout': 0,
    'handshake-failed': 0,
    'protocol-error': 0,
    error: 0,
  };
  private nextId = 1;
  /** The shards the connections live in; the table is their host. */
  readonly shards: ShardSet;
  /** shardSendBudget: most bytes the main thread may hold for one shard whose ring is full. */
  private readonly sendBudget: number;

  constructor(
    settings: ShardSetSettings,
    private readonly make: ConnectionFactory<C>,
    private readonly host: ConnectionTableHost<C>,
  ) {
    this.sendBudget = settings.shardSendBudget;
    this.shards = new ShardSet(settings, this);
  }

  /** A new connection object with the next id (not in the table until handed over). */
  create(kind: ConnectionKind): C {
    return this.make(this.nextId++, kind);
  }

  /**
   * Gives `socket` to the least-loaded shard as `conn`, which joins the table. Returns the
   * error (the socket destroyed) when no shard can take it, else null.
   */
  handOver(conn: C, socket: Socket | UdpSocket, kind: number = AdoptKind.TCP, transport: Uint8Array | null = null): Error | null {
    let shard: ShardHandle;
    try {
      shard = this.shards.pick(kind === AdoptKind.TCP);
      if (!shard.adopt(conn, socket, kind, transport)) {
        return new RingwireError(
          ErrorCode.FD_HELPER_MISSING,
          `could not hand ${conn.toString()} to shard ${shard.index}: no descriptor (fd helper missing?)`,
        );
      }
    } catch (error) {
      if ('destroy' in socket) socket.destroy();
      else socket.close();
      return error as Error;
    }
    conn.shard = shard;
    this.connections.set(conn.id, conn);
    return null;
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
    if (this.end(conn, resetReasonName(aux))) this.resets.push(conn);
  }

  /** Ends `conn` with `reason` (counted once, by the call that ended it); false when it had ended already. */
  end(conn: C, reason: ResetReason): boolean {
    if (!conn.end(reason)) return false;
    if (conn.kind !== 'rendezvous') this.ended[reason]++;
    return true;
  }

  /**
   * Resets `conn` from the main thread (a writer limit broke): it is queued as a reset with
   * `reason`, its sends still waiting on this thread are dropped, and its shard cuts it (RST).
   */
  cut(conn: C, reason: number): void {
    if (!conn.open || conn.shard === null) return;
    this.end(conn, resetReasonName(reason));
    this.resets.push(conn);
    conn.shard.cut(conn.id, reason);
    this.host.notify();
  }

  /** Resets (RST) a client nobody took; no reset is queued: the program never had it. */
  cutUnclaimed(conn: C): void {
    if (!this.end(conn, 'closed-locally') || conn.shard === null) return;
    conn.shard.cut(conn.id, ResetReasonCode.CLOSED_LOCALLY);
  }

  /** `conn`'s socket is gone: it leaves the table and stops counting for the limits. */
  forget(conn: C): void {
    this.connections.delete(conn.id);
    this.host.forgotten(conn);
  }

  /** Reads events from every shard when no reader does (there is no DATA without one). */
  pollEvents(): void {
    for (const shard of this.shards.handles) {
      const ring = shard.inbound;
      while (ring.next()) {
        if (ring.kind !== RecordKind.DATA) this.handleEvent(shard, ring.kind, ring.connectionId, ring.aux);
      }
      ring.release();
    }
  }

  /** Every connection still open ends 'closed-locally' (the manager closed). */
  clear(): void {
    for (const conn of this.connections.values()) this.end(conn, 'closed-locally');
    this.connections.clear();
  }

  // ── the shard set's host ─────────────────────────────────────────────────

  /**
   * A send told its caller that `shard`'s send overflow passed shardSendBudget: cut the
   * connections with the most bytes waiting in it first, until it is within the budget.
   */
  cutOverBudget(shard: ShardHandle): void {
    while (shard.overflowBytes() > this.sendBudget) {
      const id = shard.largestOverflow();
      if (id < 0) return;
      const conn = this.connections.get(id);
      if (conn !== undefined && conn.open) this.cut(conn, ResetReasonCode.SLOW_CONSUMER);
      else shard.cut(id, ResetReasonCode.SLOW_CONSUMER); // closed already: nothing to queue as a reset
    }
  }

  /**
   * A worker shard died: its connections are reset with reason 'error'. Clients a
   * rendezvous held that nobody took are dropped without a reset queued: the program never
   * had them.
   */
  shardFailed(shard: ShardHandle, error: Error): void {
    this.shardFailures++;
    this.host.shardLost(shard, error);
    const unclaimed = this.host.dropUnclaimed(shard);
    for (const conn of [...this.connections.values()]) {
      if (conn.shard !== shard) continue;
      this.forget(conn);
      if (this.end(conn, 'error') && !unclaimed.has(conn)) this.resets.push(conn);
    }
    shard.connections = 0;
    this.host.notify();
  }

  inbound(): void {
    this.host.inbound();
  }
}
