import type { SpscRing } from '../../shared/protocol/spsc-ring.js';
import { SendOverflow } from './send-overflow.js';

/**
 * Where {@link OutboundQueue.reserve} put a record: its payload is `bytes[offset, offset +
 * length)`, with `view` over `bytes`. `bytes` is the outbound ring's own memory when
 * nothing waits before the record, else an overflow block on the main thread. One object
 * per queue, filled in by each reserve(): valid until the next one.
 */
export interface OutboundSlot {
  bytes: Uint8Array;
  view: DataView;
  offset: number;
  /** True when the record went to the overflow (the ring was full, or records wait there). */
  overflowed: boolean;
}

/** The main-thread shard, which writes its ring out on this thread when it must (single-thread mode). */
export interface LocalDrain {
  drainNow(): void;
}

const EMPTY = new Uint8Array(0);

/**
 * One shard's outbound side on the main thread: the producer end of its ring and the
 * overflow behind it (records that found the ring full wait there, in order, until the
 * shard frees room: nothing is refused and nothing overtakes). Records are staged and
 * published once per turn of the event loop, or at once when a batch is large.
 */
export class OutboundQueue {
  /** The slot reserve() fills in. */
  readonly slot: OutboundSlot = { bytes: EMPTY, view: new DataView(EMPTY.buffer), offset: 0, overflowed: false };
  private readonly overflow = new SendOverflow();
  /** The main-thread shard in single-thread mode, else null. */
  local: LocalDrain | null = null;
  /** Records staged since the last commit. */
  private staged = 0;
  private commitScheduled = false;
  private waitingForSpace = false;
  private readonly commitNow: () => void;
  private readonly onSpace: () => void;
  /** Staged bytes past which a batch is published at once. */
  private readonly commitThreshold: number;

  constructor(
    readonly ring: SpscRing,
    /** Most bytes the overflow may hold before the owner should cut the largest backlogs (shardSendBudget). */
    private readonly budget: number,
    /** True once the shard has ended: room it frees is no longer waited for. */
    private readonly ended: () => boolean,
  ) {
    this.commitNow = this.commit.bind(this);
    this.onSpace = this.spaceFreed.bind(this);
    this.commitThreshold = ring.capacity >>> 3;
  }

  /**
   * Room for one record of `length` payload bytes: in the ring when nothing waits before
   * it, else at the end of the overflow (and the queue waits for the shard to free room).
   * Returns {@link slot}, filled in; the caller writes the payload there, then calls
   * {@link sent} (a datagram) or {@link queued} (any other record).
   */
  reserve(kind: number, id: number, length: number, aux: number): OutboundSlot {
    const overflow = this.overflow;
    const ring = this.ring;
    const slot = this.slot;
    if (overflow.records === 0 || overflow.moveTo(ring)) {
      let at = ring.reserve(kind, id, length, aux);
      if (at < 0 && this.local !== null) {
        // Single-thread mode: the shard is this thread, so it writes the ring out now, as
        // Panda3D's immediate writer writes in the call.
        this.commit();
        this.local.drainNow();
        at = ring.reserve(kind, id, length, aux);
      }
      if (at >= 0) {
        slot.bytes = ring.bytes;
        slot.view = ring.view;
        slot.offset = at;
        slot.overflowed = false;
        return slot;
      }
      this.commit();
    }
    slot.offset = overflow.reserve(kind, id, length, aux);
    slot.bytes = overflow.target;
    slot.view = overflow.targetView;
    slot.overflowed = true;
    this.awaitSpace();
    return slot;
  }

  /**
   * A datagram's record is filled in: the batch is handed over when it holds `maxQueue`
   * records or is large, else at the end of the turn. Returns true when the overflow is now
   * past the budget: the caller cuts the largest backlogs, once its call is done.
   */
  sent(maxQueue: number): boolean {
    if (++this.staged >= maxQueue || this.ring.stagedBytes() > this.commitThreshold) this.handOver();
    else this.scheduleCommit();
    return this.overflow.bytes > this.budget;
  }

  /** A record other than a datagram is filled in: it is published at the end of the turn. */
  queued(): void {
    this.scheduleCommit();
  }

  /** Publishes what is staged; in single-thread mode the shard writes it out at once. */
  handOver(): void {
    this.commit();
    if (this.local !== null && this.overflow.records === 0) this.local.drainNow();
  }

  /** Publishes what is staged, moving what fits of the overflow into the ring first. */
  commit(): void {
    this.commitScheduled = false;
    this.staged = 0;
    if (this.overflow.records > 0) this.overflow.moveTo(this.ring);
    this.ring.commit();
  }

  /** True when records wait for the shard: in its ring, staged, or in the overflow. */
  hasWork(): boolean {
    return this.ring.usedBytes() > 0 || this.ring.stagedBytes() > 0 || this.overflow.records > 0;
  }

  /** Payload bytes waiting in the overflow (a full ring's backlog on the main thread). */
  overflowBytes(): number {
    return this.overflow.bytes;
  }

  /** The connection with the most bytes waiting in the overflow, or -1. */
  largestOverflow(): number {
    return this.overflow.largest();
  }

  /** Drops connection `id`'s datagrams still in the overflow (it was cut). */
  discardSends(id: number): void {
    this.overflow.discardSends(id);
  }

  /** Datagrams passed over in the overflow because their connection was cut. */
  skippedSends(): number {
    return this.overflow.skipped;
  }

  /** Hands each record still in the overflow to `visit` (kind, its block, payload offset), then forgets them all (the shard died). */
  clearOverflow(visit: (kind: number, block: Uint8Array, offset: number) => void): void {
    this.overflow.forEach(visit);
    this.overflow.clear();
  }

  /** Publishes staged records once per turn of the event loop (the doorbell rings once per batch). */
  private scheduleCommit(): void {
    if (this.commitScheduled) return;
    this.commitScheduled = true;
    queueMicrotask(this.commitNow);
  }

  /** Waits (without blocking) for the shard to free ring room, then moves the overflow in. */
  private awaitSpace(): void {
    if (this.waitingForSpace) return;
    this.waitingForSpace = true;
    const wait = this.ring.waitForSpace();
    if (wait) wait.then(this.onSpace, this.onSpace);
    else setImmediate(this.onSpace);
  }

  private spaceFreed(): void {
    this.waitingForSpace = false;
    if (this.ended()) return;
    this.commit();
    if (this.overflow.records > 0) this.awaitSpace();
  }
}
