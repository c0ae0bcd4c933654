/**
 * What a TCP connection has been sent but not yet delivered to the kernel, shared by a shard
 * and the main thread. The main thread counts the bytes it framed for each connection; the
 * shard publishes, per connection slot, the bytes it has taken from the ring and the bytes
 * its socket still queues (once per drain and on 'drain', never per datagram), for as long
 * as the main thread may read the slot: until the main thread has taken the connection's
 * CLOSED record (its RELEASE says so) or the connection has left the shard. Then the shard
 * retires the slot, and only then may the main thread hand it to another connection.
 * ```
 * f64 slot * 2               TAKEN   bytes the shard has taken from the ring for the connection
 * f64 slot * 2 + 1           QUEUED  bytes its socket holds beyond what the kernel accepted
 * i32 at STATES_OFFSET + slot * 4    LIVE (0) while the shard may publish to the slot,
 *                                    RETIRED (1) once it never will again (Atomics)
 * ```
 * backlog = sent − TAKEN + QUEUED. Plain stores and loads: a stale TAKEN only overstates it.
 * The state word orders a slot's reuse: the shard's last stores come before its RETIRED, and
 * the main thread zeroes the slot for its next connection only after it has seen RETIRED.
 */
export const BACKLOG_SLOTS = 65536;
export const TAKEN = 0;
export const QUEUED = 1;

/** A slot's state word (the i32 array after the f64 table). */
export const SlotState = {
  LIVE: 0,
  RETIRED: 1,
} as const;

/** Byte offset of the state words in the table's SharedArrayBuffer. */
export const STATES_OFFSET = BACKLOG_SLOTS * 2 * Float64Array.BYTES_PER_ELEMENT;

/** A zeroed table for one shard (every state LIVE). */
export function createSendBacklog(): Float64Array {
  const buffer = new SharedArrayBuffer(STATES_OFFSET + BACKLOG_SLOTS * Int32Array.BYTES_PER_ELEMENT);
  return new Float64Array(buffer, 0, BACKLOG_SLOTS * 2);
}

/** The state words of `table` (made by createSendBacklog), one per slot. */
export function slotStates(table: Float64Array): Int32Array {
  return new Int32Array(table.buffer, STATES_OFFSET, BACKLOG_SLOTS);
}

/**
 * Hands out and takes back slots of one shard's table (main thread only). A slot given back
 * waits until its shard has retired it before another connection gets it.
 */
export class BacklogSlots {
  private readonly free: number[] = [];
  /** Given back, but perhaps not retired by the shard yet. */
  private retiring: number[] = [];
  private next = 0;
  private readonly states: Int32Array;

  constructor(private readonly table: Float64Array) {
    this.states = slotStates(table);
  }

  /** True when take() would find a slot (slots given back count once their shard retired them). */
  available(): boolean {
    if (this.free.length > 0 || this.next < BACKLOG_SLOTS) return true;
    if (this.retiring.length > 0) this.collect();
    return this.free.length > 0;
  }

  /**
   * A zeroed free slot, or -1 when all are taken. Fresh slots go first; slots given back are
   * looked at (once per call, and only then) when the fresh ones have run out.
   */
  take(): number {
    if (this.free.length === 0) {
      if (this.next < BACKLOG_SLOTS) return this.next++;
      if (this.retiring.length > 0) this.collect();
    }
    const slot = this.free.pop();
    if (slot === undefined) return -1;
    Atomics.store(this.states, slot, SlotState.LIVE);
    return slot;
  }

  /** Returns `slot` (ignores -1): the main thread reads it no more. */
  give(slot: number): void {
    if (slot >= 0) this.retiring.push(slot);
  }

  /** Moves every slot its shard has retired to the free list, zeroed for its next connection. */
  private collect(): void {
    const table = this.table;
    const waiting: number[] = [];
    for (const slot of this.retiring) {
      if (Atomics.load(this.states, slot) !== SlotState.RETIRED) {
        waiting.push(slot);
        continue;
      }
      table[slot * 2 + TAKEN] = 0;
      table[slot * 2 + QUEUED] = 0;
      this.free.push(slot);
    }
    this.retiring = waiting;
  }
}
