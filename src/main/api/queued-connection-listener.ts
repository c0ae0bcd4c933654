import { describeValue } from '../../shared/describe-value.js';
import { Connection } from './connection.js';
import { NetAddress } from './net-address.js';
import { PointerToConnection } from './pointer-to-connection.js';
import { checkManager, type QueuedConnectionManager } from './queued-connection-manager.js';
import { checkThreads } from '../core/thread-count.js';
import { ErrorCode, RingwireError, RingwireTypeError } from '../../shared/errors.js';

/**
 * Queues the clients that connect to its rendezvous (Panda3D's QueuedConnectionListener).
 * Accepting happens on the main thread; each accepted socket is already in a shard.
 */
export class QueuedConnectionListener {
  private readonly rendezvous = new Set<Connection>();
  private readonly queue: { rendezvous: Connection; connection: Connection }[] = [];

  /** `numThreads` is accepted for Panda3D compatibility; accepting needs no threads. */
  constructor(
    private readonly manager: QueuedConnectionManager,
    private readonly numThreads = 0,
  ) {
    checkManager('QueuedConnectionListener', manager);
    checkThreads('QueuedConnectionListener', numThreads);
  }

  /** Starts listening to `rendezvous`. Returns false when it is not an open rendezvous of this manager. */
  addConnection(rendezvous: Connection): boolean {
    if (!(rendezvous instanceof Connection)) {
      throw new RingwireTypeError(
        ErrorCode.INVALID_ARG_TYPE,
        `QueuedConnectionListener.addConnection: expected a Connection, got ${describeValue(rendezvous)}`,
      );
    }
    if (rendezvous.getManager() !== this.manager) {
      throw new RingwireError(
        ErrorCode.FOREIGN_CONNECTION,
        `QueuedConnectionListener.addConnection: ${rendezvous.toString()} belongs to another QueuedConnectionManager; a listener listens to its own manager's rendezvous`,
      );
    }
    if (rendezvous.kind !== 'rendezvous') return false;
    const backlog = this.manager.attachListener(rendezvous, this);
    if (backlog === null) return false;
    this.rendezvous.add(rendezvous);
    for (const connection of backlog) this.queue.push({ rendezvous, connection });
    return true;
  }

  /** Stops listening to `rendezvous` (it stays open). Returns false when it was not listened to. */
  removeConnection(rendezvous: Connection): boolean {
    if (!this.rendezvous.delete(rendezvous)) return false;
    this.manager.attachListener(rendezvous, null);
    return true;
  }

  /** True when a new client is waiting to be taken. */
  newConnectionAvailable(): boolean {
    return this.queue.length > 0;
  }

  /**
   * Takes the next new client: `(rendezvousPtr, address, newConnectionPtr)` also fills the
   * rendezvous it came to and its address; `(newConnectionPtr)` only the connection.
   * Returns false when no client is waiting.
   */
  getNewConnection(rendezvous: PointerToConnection, address: NetAddress, newConnection: PointerToConnection): boolean;
  getNewConnection(newConnection: PointerToConnection): boolean;
  getNewConnection(a: PointerToConnection, address?: NetAddress, c?: PointerToConnection): boolean {
    const short = address === undefined && c === undefined;
    const target = short ? a : c;
    if (!(target instanceof PointerToConnection) || (!short && !(a instanceof PointerToConnection))) {
      throw new RingwireTypeError(
        ErrorCode.INVALID_ARG_TYPE,
        'getNewConnection: expected (PointerToConnection, NetAddress, PointerToConnection) or (PointerToConnection)',
      );
    }
    if (!short && !(address instanceof NetAddress)) {
      throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `getNewConnection: address must be a NetAddress, got ${describeValue(address)}`);
    }
    const next = this.queue.shift();
    if (next === undefined) return false;
    target.set(next.connection);
    if (!short) {
      a.set(next.rendezvous);
      address!.assign(next.connection.getAddress());
    }
    return true;
  }

  /** How many threads were asked for (accepting runs on the main thread regardless). */
  getNumThreads(): number {
    return this.numThreads;
  }

  /** @internal Called by the manager for each client accepted on a rendezvous of this listener. */
  enqueue(rendezvous: Connection, connection: Connection): void {
    this.queue.push({ rendezvous, connection });
  }
}
