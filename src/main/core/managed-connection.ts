import type { Framing } from '../../shared/protocol/transport-spec.js';
import type { Server } from 'node:net';
import type { ResetReason } from '../../shared/reset-reason.js';
import type { ShardConnection, ShardHandle } from '../shards/shard-handle.js';

/** What a Connection is: a listening rendezvous, a TCP stream, or a UDP socket. */
export type ConnectionKind = 'rendezvous' | 'tcp' | 'udp';

/**
 * @internal What the core needs of a connection: the public Connection (api/connection.ts) is one.
 * The core makes them through a {@link ConnectionFactory} and never sees their class.
 */
export interface ManagedConnection extends ShardConnection {
  readonly kind: ConnectionKind;
  open: boolean;
  /** The shard that owns the socket (null for a rendezvous). */
  shard: ShardHandle | null;
  /** The admission table key of an accepted connection's peer, or null (address-admission.ts). */
  admissionKey: string | null;
  /** How the writer frames its datagrams (transport-spec.ts): Panda's header, or a WebSocket message. */
  framing: Framing;
  /** Its stream runs over TLS. */
  secure: boolean;
  /** Accepted by a rendezvous (it counts for maxConnections). */
  accepted: boolean;
  /** The listening server of a rendezvous. */
  server: Server | null;
  /** The peer's address (a stream) or the bound one (a rendezvous, a UDP socket) is now `ip`:`port`. */
  setAddress(ip: string | undefined, port: number | undefined): void;
  /**
   * The connection closed or was reset: it stops being read and leaves its groups; when it
   * was open it closes with `reason`. Returns whether it was open.
   */
  end(reason: ResetReason): boolean;
}

/** @internal Makes the connection object for a new socket (the manager makes its public Connection). */
export type ConnectionFactory<C extends ManagedConnection> = (id: number, kind: ConnectionKind) => C;
