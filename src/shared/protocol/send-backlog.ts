/**
 * What a TCP connection has been sent but not yet delivered to the kernel, shared by a shard
 * and the main thread. The main thread counts the bytes it framed for each connection; the
 * shard publishes, per connection slot, the bytes it has taken from the ring and the bytes
 * its socket still queues (once per drain and on 'drain', never per datagram):
 * ```
 * f64 slot * 2      TAKEN   bytes the shard has taken from the ring for the connection
 * f64 slot * 2 + 1  QUEUED  bytes its socket holds beyond what the kernel accepted
 * ```
 * backlog = sent − TAKEN + QUEUED. Plain stores and loads: a stale TAKEN only overstates it.
 */
export const BACKLOG_SLOTS = 65536;
export const TAKEN = 0;
export const QUEUED = 1;

/** A zeroed table for one shard. */
export function createSendBacklog(): Float64Array {
  return new Float64Array(new SharedArrayBuffer(BACKLOG_SLOTS * 2 * Float64Array.BYTES_PER_ELEMENT));
}

/** Hands out and takes back slots of one shard's table (main thread only). */
export class BacklogSlots {
  private readonly free: number[] = [];
  private next = 0;

  constructor(private readonly table: Float64Array) {}

  /** True when take() would find a slot. */
  available(): boolean {
    return this.free.length > 0 || this.next < BACKLOG_SLOTS;
  }

  /** A zeroed free slot, or -1 when all are taken. */
  take(): number {
    const slot = this.free.pop();
    if (slot !== undefined) return slot;
    return this.next < BACKLOG_SLOTS ? this.next++ : -1;
  }

  /** Returns `slot` (ignores -1), zeroing it for its next connection. */
  give(slot: number): void {
    if (slot < 0) return;
    this.table[slot * 2 + TAKEN] = 0;
    this.table[slot * 2 + QUEUED] = 0;
    this.free.push(slot);
  }
}
