import {
  CAPACITY,
  CONSUMER_WAITING,
  DATA_OFFSET,
  HEAD,
  MAX_RING_CAPACITY,
  MIN_RING_CAPACITY,
  OFF_AUX,
  OFF_CONNECTION,
  OFF_KIND,
  OFF_LENGTH,
  PRODUCER_WAITING,
  RECORD_HEADER_SIZE,
  TAIL,
  WRAP_MARKER,
  maxRecordPayload,
  recordSpan,
} from './ring-layout.js';
import { copyBytes } from '../copy-bytes.js';
import { ErrorCode, RingwireRangeError, RingwireTypeError } from '../errors.js';

/**
 * Called once per record by {@link SpscRing.drain}. `bytes[offset, offset + length)` is the
 * payload; it is valid only during the call (the slot is freed when the drain ends).
 */
export type RecordVisitor = (kind: number, connectionId: number, aux: number, bytes: Uint8Array, offset: number, length: number) => void;

/**
 * A single-producer single-consumer ring of variable-length records in a
 * SharedArrayBuffer (layout in ring-layout.ts).
 *
 * Each thread builds its own `SpscRing` over the same buffer and uses one side of it.
 * The producer stages records with {@link reserve} / {@link tryWrite} and makes them
 * visible with one {@link commit} per batch; the consumer reads them with {@link next}
 * or {@link drain} and frees their space with one {@link release} per batch. Positions
 * are published with `Atomics.store`; the cached copy of the other side's position is
 * refreshed only when it is exhausted, so a batch costs two atomic operations.
 */
export class SpscRing {
  /** The shared memory: send this to the other thread and wrap it there. */
  readonly buffer: SharedArrayBuffer;
  /** Data bytes (a power of two). */
  readonly capacity: number;
  /** The largest payload one record can ever hold: `capacity / 2 - 12`. */
  readonly maxPayload: number;
  /** The data area. Payload offsets returned by this class index into it. */
  readonly bytes: Uint8Array;

  // The current record after next(): valid until the next call to next() or release().
  kind = 0;
  connectionId = 0;
  aux = 0;
  offset = 0;
  length = 0;

  /** A DataView over {@link bytes}, for word-wide reads of payloads. */
  readonly view: DataView;
  private readonly words: Int32Array;
  private readonly mask: number;
  // Producer side: unpublished head and the last tail seen.
  private writeHead: number;
  private headPublished: number;
  private tailSeen: number;
  // Consumer side: unpublished tail, the last head seen, and the tail last published.
  private readTail: number;
  private headSeen: number;
  private tailPublished: number;

  /** Allocates a ring with `capacity` data bytes (a power of two, 256 B to 1 GiB). */
  static create(capacity: number): SpscRing {
    if (!Number.isInteger(capacity) || capacity < MIN_RING_CAPACITY || capacity > MAX_RING_CAPACITY || (capacity & (capacity - 1)) !== 0) {
      throw new RingwireRangeError(
        ErrorCode.INVALID_ARG_VALUE,
        `SpscRing capacity must be a power of two from ${MIN_RING_CAPACITY} to ${MAX_RING_CAPACITY}, got ${capacity}`,
      );
    }
    const buffer = new SharedArrayBuffer(DATA_OFFSET + capacity);
    new Int32Array(buffer, 0, DATA_OFFSET >> 2)[CAPACITY] = capacity;
    return new SpscRing(buffer);
  }

  /** Wraps a buffer made by {@link SpscRing.create}; throws a TypeError for anything else. */
  constructor(buffer: SharedArrayBuffer) {
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < DATA_OFFSET + MIN_RING_CAPACITY) {
      throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, 'SpscRing needs a SharedArrayBuffer made by SpscRing.create()');
    }
    const words = new Int32Array(buffer, 0, DATA_OFFSET >> 2);
    const capacity = Atomics.load(words, CAPACITY);
    if (capacity < MIN_RING_CAPACITY || (capacity & (capacity - 1)) !== 0 || buffer.byteLength !== DATA_OFFSET + capacity) {
      throw new RingwireTypeError(
        ErrorCode.INVALID_ARG_TYPE,
        `SpscRing buffer has a bad header: capacity ${capacity}, byteLength ${buffer.byteLength}`,
      );
    }
    this.buffer = buffer;
    this.capacity = capacity;
    this.maxPayload = maxRecordPayload(capacity);
    this.bytes = new Uint8Array(buffer, DATA_OFFSET, capacity);
    this.words = words;
    this.view = new DataView(buffer, DATA_OFFSET, capacity);
    this.mask = capacity - 1;
    const head = Atomics.load(words, HEAD) >>> 0;
    const tail = Atomics.load(words, TAIL) >>> 0;
    this.writeHead = head;
    this.headPublished = head;
    this.tailSeen = tail;
    this.readTail = tail;
    this.headSeen = tail;
    this.tailPublished = tail;
  }

  // ── producer ──────────────────────────────────────────────────────────────

  /**
   * True when a record with a `length`-byte payload fits now: the next {@link reserve} of
   * that size will succeed (the producer is the only one who takes space). Throws like
   * reserve for a record that can never fit.
   */
  canReserve(length: number): boolean {
    if (length > this.maxPayload || length < 0) {
      throw new RingwireRangeError(
        ErrorCode.DATAGRAM_TOO_LARGE,
        `SpscRing record of ${length} bytes can never fit: the most a ${this.capacity}-byte ring holds is ${this.maxPayload}`,
      );
    }
    const span = recordSpan(length);
    const toEnd = this.capacity - (this.writeHead & this.mask);
    const needed = span <= toEnd ? span : toEnd + span;
    if (this.capacity - ((this.writeHead - this.tailSeen) >>> 0) >= needed) return true;
    this.tailSeen = Atomics.load(this.words, TAIL) >>> 0;
    return this.capacity - ((this.writeHead - this.tailSeen) >>> 0) >= needed;
  }

  /**
   * Stages a record header for a payload of `length` bytes and returns the payload's
   * offset in {@link bytes}, for the caller to fill before {@link commit}. Returns -1
   * when the ring is too full now. Throws a RangeError when `length` exceeds
   * {@link maxPayload}, since such a record could never fit.
   */
  reserve(kind: number, connectionId: number, length: number, aux = 0): number {
    if (length > this.maxPayload || length < 0) {
      throw new RingwireRangeError(
        ErrorCode.DATAGRAM_TOO_LARGE,
        `SpscRing record of ${length} bytes can never fit: the most a ${this.capacity}-byte ring holds is ${this.maxPayload}`,
      );
    }
    const span = recordSpan(length);
    let pos = this.writeHead & this.mask;
    const toEnd = this.capacity - pos;
    const needed = span <= toEnd ? span : toEnd + span;
    if (this.capacity - ((this.writeHead - this.tailSeen) >>> 0) < needed) {
      this.tailSeen = Atomics.load(this.words, TAIL) >>> 0;
      if (this.capacity - ((this.writeHead - this.tailSeen) >>> 0) < needed) return -1;
    }
    const view = this.view;
    if (span > toEnd) {
      view.setUint32(pos + OFF_LENGTH, WRAP_MARKER, true);
      this.writeHead = (this.writeHead + toEnd) >>> 0;
      pos = 0;
    }
    view.setUint32(pos + OFF_LENGTH, length, true);
    view.setUint32(pos + OFF_CONNECTION, connectionId, true);
    this.bytes[pos + OFF_KIND] = kind;
    this.bytes[pos + OFF_AUX] = aux;
    this.writeHead = (this.writeHead + span) >>> 0;
    return pos + RECORD_HEADER_SIZE;
  }

  /**
   * Stages a record holding `src[start, start + length)`. Returns false, staging
   * nothing, when the ring is too full now. Visible to the consumer after {@link commit}.
   */
  tryWrite(kind: number, connectionId: number, src: Uint8Array, start = 0, length = src.length - start, aux = 0): boolean {
    const at = this.reserve(kind, connectionId, length, aux);
    if (at < 0) return false;
    copyBytes(this.bytes, at, src, start, length);
    return true;
  }

  /**
   * Rings the parked consumer instead of `Atomics.notify` (see {@link parkConsumer}): V8
   * takes one process-wide lock for every notify and async wait (nodejs/performance#5),
   * which a busy thread holding it can make everyone else wait on.
   */
  doorbell: (() => void) | null = null;

  /** Publishes every staged record to the consumer and wakes it if it is parked. */
  commit(): void {
    if (this.headPublished === this.writeHead) return;
    const words = this.words;
    Atomics.store(words, HEAD, this.writeHead | 0);
    this.headPublished = this.writeHead;
    if (Atomics.load(words, CONSUMER_WAITING) !== 0) {
      // A doorbell rings once per park: whoever clears the flag rings it.
      if (this.doorbell === null) Atomics.notify(words, HEAD);
      else if (Atomics.exchange(words, CONSUMER_WAITING, 0) !== 0) this.doorbell();
    }
  }

  /**
   * Parks the producer until the consumer frees space. Commits first. Returns null
   * when space was freed since the last failed {@link reserve} (retry at once), else a
   * promise that settles when the consumer next releases.
   */
  waitForSpace(): Promise<unknown> | null {
    this.commit();
    const words = this.words;
    Atomics.store(words, PRODUCER_WAITING, 1);
    const tail = Atomics.load(words, TAIL);
    if (tail >>> 0 !== this.tailSeen) {
      Atomics.store(words, PRODUCER_WAITING, 0);
      this.tailSeen = tail >>> 0;
      return null;
    }
    const result = Atomics.waitAsync(words, TAIL, tail);
    if (!result.async) {
      Atomics.store(words, PRODUCER_WAITING, 0);
      return null;
    }
    return settleWait(result.value, words, PRODUCER_WAITING);
  }

  /** Bytes staged by the producer since its last {@link commit}. */
  stagedBytes(): number {
    return (this.writeHead - this.headPublished) >>> 0;
  }

  // ── consumer ──────────────────────────────────────────────────────────────

  /**
   * Moves to the next record and exposes it as {@link kind}, {@link connectionId},
   * {@link aux}, {@link offset} and {@link length}; the payload stays valid until the
   * next call to next() or release(). Returns false when the ring is empty.
   */
  next(): boolean {
    if ((this.readTail - this.tailPublished) >>> 0 > this.capacity >>> 2) this.release();
    for (;;) {
      if (this.readTail === this.headSeen) {
        this.release();
        this.headSeen = Atomics.load(this.words, HEAD) >>> 0;
        if (this.readTail === this.headSeen) return false;
      }
      const pos = this.readTail & this.mask;
      const length = this.view.getUint32(pos + OFF_LENGTH, true);
      if (length === WRAP_MARKER) {
        this.readTail = (this.readTail + this.capacity - pos) >>> 0;
        continue;
      }
      this.length = length;
      this.connectionId = this.view.getUint32(pos + OFF_CONNECTION, true);
      this.kind = this.bytes[pos + OFF_KIND];
      this.aux = this.bytes[pos + OFF_AUX];
      this.offset = pos + RECORD_HEADER_SIZE;
      this.readTail = (this.readTail + recordSpan(length)) >>> 0;
      return true;
    }
  }

  /** Frees the space of every record read so far and wakes the producer if it waits. */
  release(): void {
    if (this.readTail === this.tailPublished) return;
    const words = this.words;
    Atomics.store(words, TAIL, this.readTail | 0);
    this.tailPublished = this.readTail;
    if (Atomics.load(words, PRODUCER_WAITING) !== 0) Atomics.notify(words, TAIL);
  }

  /**
   * Hands up to `max` records to `visitor` in order, then frees their space once.
   * Returns how many records were visited (0 when the ring is empty).
   */
  drain(visitor: RecordVisitor, max = Infinity): number {
    let count = 0;
    while (count < max && this.next()) {
      visitor(this.kind, this.connectionId, this.aux, this.bytes, this.offset, this.length);
      count++;
    }
    this.release();
    return count;
  }

  /**
   * Parks the consumer until the producer commits. Releases first. Returns null when
   * records are already waiting (read them at once), else a promise that settles on the
   * producer's next commit.
   */
  waitForData(): Promise<unknown> | null {
    this.release();
    const words = this.words;
    Atomics.store(words, CONSUMER_WAITING, 1);
    const head = Atomics.load(words, HEAD);
    if (head >>> 0 !== this.readTail) {
      Atomics.store(words, CONSUMER_WAITING, 0);
      return null;
    }
    const result = Atomics.waitAsync(words, HEAD, head);
    if (!result.async) {
      Atomics.store(words, CONSUMER_WAITING, 0);
      return null;
    }
    return settleWait(result.value, words, CONSUMER_WAITING);
  }

  /**
   * Marks the consumer parked for a producer that rings a {@link doorbell}. Releases first.
   * Returns false (not parked) when records are already waiting: read them at once. After
   * true, wait for the doorbell, then call {@link unparkConsumer}.
   */
  parkConsumer(): boolean {
    this.release();
    const words = this.words;
    Atomics.store(words, CONSUMER_WAITING, 1);
    if (Atomics.load(words, HEAD) >>> 0 !== this.readTail) {
      Atomics.store(words, CONSUMER_WAITING, 0);
      return false;
    }
    return true;
  }

  /** The doorbell rang: the consumer is no longer parked. */
  unparkConsumer(): void {
    Atomics.store(this.words, CONSUMER_WAITING, 0);
  }

  /** Wakes a producer parked in {@link waitForSpace} without freeing anything (its consumer is gone). */
  wakeProducer(): void {
    Atomics.notify(this.words, TAIL);
  }

  // ── either side ───────────────────────────────────────────────────────────

  /** Published bytes not yet released by the consumer (a snapshot, for stats). */
  usedBytes(): number {
    return (Atomics.load(this.words, HEAD) - Atomics.load(this.words, TAIL)) >>> 0;
  }
}

function keepAlive(): void {}

/**
 * A pending Atomics.waitAsync does not keep Node's event loop alive: a worker parked on
 * one alone would exit and miss its wake-up. Hold a timer until the wait settles, then
 * clear the parked flag.
 */
async function settleWait(wait: Promise<unknown>, words: Int32Array, flag: number): Promise<void> {
  const timer = setInterval(keepAlive, 1 << 30);
  try {
    await wait;
  } finally {
    clearInterval(timer);
    Atomics.store(words, flag, 0);
  }
}
