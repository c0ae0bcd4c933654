import type { Connection } from './connection.js';

/** A holder that out-parameter calls fill (Panda3D's PointerToConnection). */
export class PointerToConnection {
  private connection: Connection | null = null;

  /** The connection held, or null when nothing was stored. */
  p(): Connection | null {
    return this.connection;
  }

  /** Stores `connection` (used by getNewConnection and getResetConnection). */
  set(connection: Connection | null): void {
    this.connection = connection;
  }

  /** True when no connection is held. */
  isNull(): boolean {
    return this.connection === null;
  }
}
