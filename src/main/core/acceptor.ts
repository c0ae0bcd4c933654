import type { Server, Socket } from 'node:net';
import { AddressAdmission, Refusal, type AdmissionLimits } from './address-admission.js';
import type { ShardHandle } from '../shards/shard-handle.js';
import type { ConnectionTable } from './connection-table.js';
import type { ManagedConnection } from './managed-connection.js';
import { AdoptKind } from '../../shared/protocol/record-kind.js';
import { Framing, type TransportSpec } from '../../shared/protocol/transport-spec.js';
import { ErrorCode, RingwireTypeError } from '../../shared/errors.js';
import { checkTransportSize, withTls, type TlsServerOptions } from './transport-options.js';
import { ADOPT_PAYLOAD_SIZE } from '../../shared/protocol/read-record.js';
import { maxRecordPayload } from '../../shared/protocol/ring-layout.js';

/** What the acceptor needs of a listener: the public QueuedConnectionListener is one. */
export interface ConnectionSink<C extends ManagedConnection> {
  /** A client accepted on `rendezvous`, for the program to take. */
  enqueue(rendezvous: C, connection: C): void;
  /** True when a client is waiting to be taken. */
  newConnectionAvailable(): boolean;
}

/** What the acceptor needs of the rest of the manager's core. */
export interface AcceptorHost {
  /** True once the manager is closing: clients are turned away. */
  closing(): boolean;
  /** A client was queued for a listener: waitForReaders may have something. */
  notify(): void;
  /** An accepted socket could not be handed to a shard (getLastError() reports it). */
  failed(error: Error): void;
}

/** The limits the acceptor enforces (core/options.ts). */
export interface AcceptLimits extends AdmissionLimits {
  maxConnections: number;
  /** Each shard's ring size: a transport carried by ADOPT records must fit one of its records. */
  ringCapacity: number;
}

/** Extra state of a rendezvous: who listens to it, and what it accepted before anyone did. */
interface Rendezvous<C extends ManagedConnection> {
  listener: ConnectionSink<C> | null;
  /** Clients accepted while no listener listened, for the next one: nobody has taken them. */
  backlog: C[];
  /** Most clients `backlog` holds (the rendezvous's backlog argument); more are reset at accept. */
  limit: number;
  /** What its streams speak above TCP (WebSocket, TLS), encoded for their ADOPT records; null: Panda's framing. */
  transport: { spec: TransportSpec; bytes: Uint8Array } | null;
}

/** listen()'s backlog when none is given (Node's default): also the most unclaimed clients a rendezvous holds then. */
const DEFAULT_BACKLOG = 511;

/** The acceptor's refusals, for getStats(). */
export interface AcceptCounters {
  rejectedConnections: number;
  rejectedPerAddress: number;
  rejectedAcceptRate: number;
  rejectedAddressTable: number;
  rejectedBacklog: number;
  rejectedShardFull: number;
  rejectedNoShard: number;
  trackedAddresses: number;
}

/**
 * A manager's rendezvous and what they accept: the clients no listener has taken yet (up
 * to each rendezvous's backlog), maxConnections, the per-address admission, and the hand
 * of each accepted socket to the connection table.
 */
export class Acceptor<C extends ManagedConnection> {
  private readonly rendezvous = new Map<C, Rendezvous<C>>();
  /** Every listener that has listened to one of our rendezvous (their queues wake waitForReaders). */
  readonly listeners = new Set<ConnectionSink<C>>();
  private readonly admission: AddressAdmission;
  /** Accepted TCP streams open now: what maxConnections counts. */
  private acceptedOpen = 0;
  /** Clients closed at accept because maxConnections were open. */
  rejected = 0;
  /** Clients reset at accept because their rendezvous held `backlog` clients nobody took. */
  private rejectedBacklog = 0;
  /** Clients reset at accept because every shard's send-backlog table was full. */
  private rejectedShardFull = 0;
  /** Clients reset at accept because every shard had failed and waited out its restart delay. */
  private rejectedNoShard = 0;
  /** Clients reset at accept by the per-address limits, by Refusal. */
  private readonly refusals = [0, 0, 0, 0];

  constructor(
    private readonly limits: AcceptLimits,
    private readonly table: ConnectionTable<C>,
    private readonly host: AcceptorHost,
  ) {
    this.admission = new AddressAdmission(limits);
  }

  /** Makes `server` (listening) the rendezvous `conn`; clients it accepts beyond `backlog` unclaimed ones are reset. */
  open(
    conn: C,
    server: Server,
    backlog: number | undefined,
    onError: (error: Error) => void,
    transport: { spec: TransportSpec; bytes: Uint8Array } | null = null,
  ): void {
    conn.server = server;
    if (transport !== null) {
      conn.framing = transport.spec.websocket !== null ? Framing.WEBSOCKET_SERVER : Framing.PANDA;
      conn.secure = transport.spec.tls !== null;
    }
    this.rendezvous.set(conn, { listener: null, backlog: [], limit: backlog || DEFAULT_BACKLOG, transport });
    server.on('connection', (socket: Socket) => this.accepted(conn, socket));
    server.on('error', onError);
  }

  /** New TLS options for the streams `conn` accepts from now on (QueuedConnectionManager.setSecureContext). */
  setSecureContext(conn: C, tls: TlsServerOptions): void {
    const state = this.rendezvous.get(conn);
    if (state === undefined || state.transport === null || state.transport.spec.tls === null) {
      throw new RingwireTypeError(ErrorCode.INVALID_ARG_VALUE, `setSecureContext: ${conn.toString()} is not an open rendezvous with tls`);
    }
    const next = withTls('setSecureContext', state.transport.spec, tls);
    checkTransportSize('setSecureContext', next.bytes, maxRecordPayload(this.limits.ringCapacity), ADOPT_PAYLOAD_SIZE);
    state.transport = next;
  }

  /**
   * Stops listening on `conn` and resets (RST) the clients it accepted that no listener
   * has taken (those a listener has queued stay its own).
   */
  close(conn: C): void {
    conn.server?.close();
    const state = this.rendezvous.get(conn);
    this.rendezvous.delete(conn);
    // The program cannot reach these any more: left open, they would hold a descriptor
    // each, and their peers would wait, until close().
    if (state !== undefined) for (const client of state.backlog.splice(0)) this.table.cutUnclaimed(client);
  }

  /** Stops every rendezvous (the manager closes); what they accepted is the table's to close. */
  closeAll(): void {
    for (const [conn] of this.rendezvous) {
      conn.open = false;
      conn.server?.close();
    }
    this.rendezvous.clear();
  }

  /** A listener listens to `rendezvous` (null: nobody does). Returns what it accepted so far, or null when it is no rendezvous of ours. */
  attach(rendezvous: C, listener: ConnectionSink<C> | null): C[] | null {
    const state = this.rendezvous.get(rendezvous);
    if (state === undefined) return null;
    state.listener = listener;
    if (listener !== null) {
      this.listeners.add(listener);
      if (state.backlog.length > 0) this.host.notify();
    }
    return state.backlog.splice(0);
  }

  /** True when a listener has a new client to take. */
  newConnectionAvailable(): boolean {
    for (const listener of this.listeners) if (listener.newConnectionAvailable()) return true;
    return false;
  }

  /** `conn`'s socket is gone: it stops counting for the limits. */
  forgotten(conn: C): void {
    if (conn.admissionKey !== null) this.admission.release(conn.admissionKey);
    if (conn.accepted) this.acceptedOpen--;
  }

  /** Shard `shard` died: the unclaimed clients it held leave their rendezvous; returns them. */
  dropUnclaimed(shard: ShardHandle): Set<C> {
    const unclaimed = new Set<C>();
    for (const state of this.rendezvous.values()) {
      for (const conn of state.backlog) if (conn.shard === shard) unclaimed.add(conn);
      if (unclaimed.size > 0) state.backlog = state.backlog.filter((conn) => !unclaimed.has(conn));
    }
    return unclaimed;
  }

  /** The counters for getStats(). */
  counters(): AcceptCounters {
    return {
      rejectedConnections: this.rejected,
      rejectedPerAddress: this.refusals[Refusal.PER_ADDRESS],
      rejectedAcceptRate: this.refusals[Refusal.ACCEPT_RATE],
      rejectedAddressTable: this.refusals[Refusal.TABLE_FULL],
      rejectedBacklog: this.rejectedBacklog,
      rejectedShardFull: this.rejectedShardFull,
      rejectedNoShard: this.rejectedNoShard,
      trackedAddresses: this.admission.size,
    };
  }

  /** The manager closed: nothing is counted any more. */
  shutdown(): void {
    this.acceptedOpen = 0;
    this.admission.close();
  }

  private accepted(rendezvous: C, socket: Socket): void {
    const state = this.rendezvous.get(rendezvous);
    if (state === undefined || this.host.closing()) {
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
    const max = this.limits.maxConnections;
    if (max > 0 && this.acceptedOpen >= max) {
      this.rejected++;
      socket.destroy();
      return;
    }
    const room = this.table.shards.streamRoom();
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
    const conn = this.table.create('tcp');
    conn.setAddress(socket.remoteAddress, socket.remotePort);
    conn.admissionKey = key;
    conn.framing = rendezvous.framing;
    conn.secure = rendezvous.secure;
    const failure = this.table.handOver(conn, socket, AdoptKind.TCP, state.transport?.bytes ?? null);
    if (failure !== null) {
      this.host.failed(failure);
      if (key !== null) this.admission.release(key);
      return;
    }
    conn.accepted = true;
    this.acceptedOpen++;
    if (state.listener !== null) {
      state.listener.enqueue(rendezvous, conn);
      this.host.notify();
    } else {
      state.backlog.push(conn);
    }
  }

  /** True when `state`'s unclaimed clients are fewer than its limit (ended ones are dropped first). */
  private roomInBacklog(state: Rendezvous<C>): boolean {
    if (state.backlog.length < state.limit) return true;
    // A client's shard may have died since: it holds nothing any more.
    state.backlog = state.backlog.filter((conn) => conn.open);
    return state.backlog.length < state.limit;
  }
}
