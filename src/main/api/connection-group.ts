import { describeValue } from '../../shared/describe-value.js';
import { Connection } from './connection.js';
import { ErrorCode, RingwireTypeError } from '../../shared/errors.js';

/**
 * A set of connections to broadcast to (`writer.broadcast(dg, group)`): a room, a team,
 * the players near a point. A connection leaves every group it is in when it closes or is
 * reset, so a group holds only open connections. (ringwire's extension; Panda3D has none.)
 */
export class ConnectionGroup implements Iterable<Connection> {
  private readonly members = new Set<Connection>();
  /** @internal Called when the last member leaves (ChannelBus drops its NATS subscription). */
  _onEmpty: (() => void) | null = null;

  /** A group holding `connections` (the open ones). */
  constructor(connections: Iterable<Connection> = []) {
    for (const conn of connections) this.add(conn);
  }

  /**
   * Adds `conn`. Returns false when it is already in the group or is not open (a closed
   * connection could never leave again). Throws a TypeError for anything but a TCP Connection.
   */
  add(conn: Connection): boolean {
    checkConnection('ConnectionGroup.add', conn);
    if (!conn.open || this.members.has(conn)) return false;
    this.members.add(conn);
    conn.joined(this);
    return true;
  }

  /** Removes `conn`. Returns false when it was not in the group. */
  remove(conn: Connection): boolean {
    if (!this.members.delete(conn)) return false;
    conn.left(this);
    if (this.members.size === 0) this._onEmpty?.();
    return true;
  }

  /** True when `conn` is in the group. */
  has(conn: Connection): boolean {
    return this.members.has(conn);
  }

  /** How many connections are in the group. */
  get size(): number {
    return this.members.size;
  }

  /** Removes every connection. */
  clear(): void {
    for (const conn of this.members) conn.left(this);
    this.members.clear();
  }

  /** The connections, in the order they were added. */
  [Symbol.iterator](): IterableIterator<Connection> {
    return this.members.values();
  }

  /** @internal Called by Connection when it closes: it leaves without calling back. */
  _drop(conn: Connection): void {
    if (this.members.delete(conn) && this.members.size === 0) this._onEmpty?.();
  }
}

function checkConnection(what: string, conn: unknown): asserts conn is Connection {
  if (!(conn instanceof Connection)) {
    throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `${what}: expected a Connection, got ${describeValue(conn)}`);
  }
  if (conn.kind !== 'tcp') {
    throw new RingwireTypeError(
      ErrorCode.INVALID_ARG_TYPE,
      `${what}: only TCP streams can be in a group, got a ${conn.kind} connection (${conn.toString()})`,
    );
  }
}
