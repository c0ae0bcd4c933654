/**
 * Incoming TCP framing: cuts a stream of socket chunks into Panda3D datagrams.
 *
 * Modelled on ws's receiver: an explicit state machine that keeps references to chunks
 * instead of concatenating them.
 *
 * - A datagram whose body lies wholly inside one chunk is handed to the sink as a view of
 *   that chunk (zero copy). This also holds when only its header was split across chunks.
 * - A body split across chunks is copied piecewise into one scratch array owned by the
 *   decoder, grown by doubling (never past maxDatagramSize) as bytes arrive and never
 *   shrunk; a split header is gathered byte by byte into two numbers. The scratch holds at
 *   most one datagram, and a peer that announces a large datagram but sends little of it
 *   only costs what it sent.
 * - Header size 0 (raw mode): every chunk is one datagram, cut into pieces of at most
 *   maxDatagramSize; boundaries are not preserved (that is what raw mode means).
 *
 * States (header sizes 2 and 4):
 * ```
 *   HEADER ──header complete, length ≤ max──▶ BODY ──body delivered──▶ HEADER
 *     │  (headerGot bytes gathered)             (bodyGot of bodyLength in scratch)
 *     └──length > max──▶ DEAD (every call returns OVERSIZED until reset())
 * ```
 *
 * Framing changes (setFraming) are positions in the byte stream, not events at delivery:
 * every byte is framed by the settings in force when it was written to the decoder (when
 * the shard received it). A change made after N bytes were written takes effect at the
 * first datagram boundary at or after stream position N, so a datagram that straddles the
 * change keeps the framing it began with, and bytes held for back-pressure keep theirs.
 * In raw mode every byte is a boundary: pieces are cut at the change's position.
 *
 * Back-pressure: the sink returns false to refuse a datagram. The decoder then stops where
 * it is (the chunk and offset, or the assembled scratch datagram), returns PAUSED, and
 * offers the same datagram first on resume(). Chunks written while paused are queued by
 * reference; the queue is bounded only by the caller, who must stop reading the socket as
 * soon as it sees PAUSED and start again once resume() returns NEED_MORE.
 */
import { assertHeaderSize, type HeaderSize } from './frame-encoder.js';
import { ErrorCode, RingwireRangeError } from './errors.js';

/** What write() and resume() report. */
export const DecodeStatus = {
  /** Every complete datagram was delivered; feed more bytes. */
  NEED_MORE: 0,
  /** The sink refused a datagram; the rest is held until resume(). */
  PAUSED: 1,
  /** A header announced more than maxDatagramSize; the decoder is dead until reset(). */
  OVERSIZED: 2,
  /**
   * The peer broke its protocol: only a decoder of a protocol with rules beyond a length
   * reports it (WebSocketFrameDecoder; FrameDecoder never does). The violation went out
   * through that decoder's own channel, and it is dead until reset().
   */
  FAILED: 3,
} as const;
export type DecodeStatus = (typeof DecodeStatus)[keyof typeof DecodeStatus];

/** Receives decoded datagrams. An object with a method keeps the call site monomorphic. */
export interface FrameSink {
  /**
   * One complete datagram: bytes[start, start + length). The view is only valid during the
   * call (it may be the decoder's scratch array): copy what you keep. Return false to pause
   * delivery: this datagram is NOT consumed and is offered again on resume().
   */
  onDatagram(bytes: Uint8Array, start: number, length: number): boolean;
}

export interface FrameDecoderOptions {
  /** Length header size: 2 (u16, Panda3D's default), 4 (u32) or 0 (raw mode). Default 2. */
  headerSize?: HeaderSize;
  /**
   * Largest payload accepted, in bytes (an integer ≥ 1). A header announcing more makes the
   * decoder report OVERSIZED. In raw mode, the largest piece a chunk is delivered in.
   * Default 65535 for header size 2, 1 MiB for 4 and for raw mode.
   */
  maxDatagramSize?: number;
}

const DEFAULT_MAX_U16 = 0xffff;
const DEFAULT_MAX_LARGE = 1024 * 1024;

/** First scratch allocation; small enough that a few split datagrams cost nothing. */
const MIN_SCRATCH = 256;

/**
 * Largest scratch kept after its datagram was delivered: a bigger one (grown for one large
 * datagram) is let go, so a connection holds at most this much between datagrams.
 */
const SCRATCH_KEEP = 1024 * 1024;

/** Split bodies shorter than this are copied with a loop rather than subarray() + set(). */
const SMALL_COPY = 64;

const S_HEADER = 0;
const S_BODY = 1;
const S_DEAD = 2;

const EMPTY = new Uint8Array(0);

/** A framing change waiting for its place in the stream. */
interface PendingFraming {
  /** Stream position from which it applies (at the first datagram boundary at or after it). */
  at: number;
  headerSize: HeaderSize;
  maxDatagramSize: number;
}

/** The settings an options object asks for, validated; throws a RangeError naming the bad one. */
function framingOf(options: FrameDecoderOptions): { headerSize: HeaderSize; maxDatagramSize: number } {
  const headerSize = options.headerSize ?? 2;
  assertHeaderSize(headerSize, 'options.headerSize');
  const max = options.maxDatagramSize ?? (headerSize === 2 ? DEFAULT_MAX_U16 : DEFAULT_MAX_LARGE);
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) {
    const shown = typeof max === 'string' ? JSON.stringify(max) : String(max);
    throw new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `options.maxDatagramSize must be an integer >= 1, got ${shown}`);
  }
  return { headerSize, maxDatagramSize: max };
}

export class FrameDecoder {
  private header: HeaderSize;
  private max: number;
  /** Bytes written so far (the stream position just past the last byte received). */
  private received: number;
  /** Stream position of the next byte to parse (everything before it was parsed). */
  private position: number;
  /** Framing changes not yet reached, in the order they were made. */
  private readonly pending: PendingFraming[];

  private state: number;
  /** Header bytes gathered so far (HEADER state) and their little-endian value. */
  private headerGot: number;
  private headerValue: number;
  /** Payload length of the datagram being read (BODY state) and bytes already in scratch. */
  private bodyLength: number;
  private bodyGot: number;
  private scratch: Uint8Array;

  private isPaused: boolean;
  /**
   * The chunk delivery stopped in, and where in it to continue. A refused scratch datagram
   * needs no flag: BODY with bodyGot === bodyLength is offered again by continueSplit.
   */
  private heldChunk: Uint8Array | null;
  private heldOffset: number;
  /** Chunks written while paused, consumed from queueHead. */
  private queue: Uint8Array[];
  private queueHead: number;
  private queuedBytes: number;
  private announcedTooLarge: number;

  /** Throws a RangeError naming the option and the value when an option is invalid. */
  constructor(options: FrameDecoderOptions = {}) {
    const framing = framingOf(options);
    this.header = framing.headerSize;
    this.max = framing.maxDatagramSize;
    this.received = 0;
    this.position = 0;
    this.pending = [];
    this.state = S_HEADER;
    this.headerGot = 0;
    this.headerValue = 0;
    this.bodyLength = 0;
    this.bodyGot = 0;
    this.scratch = EMPTY;
    this.isPaused = false;
    this.heldChunk = null;
    this.heldOffset = 0;
    this.queue = [];
    this.queueHead = 0;
    this.queuedBytes = 0;
    this.announcedTooLarge = -1;
  }

  /** Length header size in bytes of the framing parsing now; 0 is raw mode. */
  get headerSize(): HeaderSize {
    return this.header;
  }

  /** Largest payload accepted by the framing parsing now (raw mode: largest piece delivered). */
  get maxDatagramSize(): number {
    return this.max;
  }

  /** Framing changes made but not reached yet in the stream. */
  get pendingFramingChanges(): number {
    return this.pending.length;
  }

  /**
   * Changes the framing for the bytes written from now on: it takes effect at the first
   * datagram boundary at or after the current end of the stream, at once when nothing is
   * part-way or held. Throws a RangeError naming the option when one is invalid.
   */
  setFraming(options: FrameDecoderOptions): void {
    const framing = framingOf(options);
    if (this.pending.length === 0 && this.position === this.received && this.state === S_HEADER && this.headerGot === 0) {
      this.header = framing.headerSize;
      this.max = framing.maxDatagramSize;
      return;
    }
    this.pending.push({ at: this.received, headerSize: framing.headerSize, maxDatagramSize: framing.maxDatagramSize });
  }

  /** Bytes held: a partial datagram (header included) plus whatever is not yet delivered. */
  get bufferedBytes(): number {
    let n = this.queuedBytes;
    if (this.heldChunk !== null) n += this.heldChunk.length - this.heldOffset;
    if (this.state === S_HEADER) n += this.headerGot;
    else if (this.state === S_BODY) n += this.headerSize + this.bodyGot;
    return n;
  }

  /** Bytes of buffer the decoder keeps for datagrams that straddle chunks (memory held between datagrams). */
  get scratchCapacity(): number {
    return this.scratch.length;
  }

  /** True after write() or resume() returned PAUSED, until resume() gets through. */
  get paused(): boolean {
    return this.isPaused;
  }

  /** The announced length that breached maxDatagramSize, or -1 when none did. */
  get oversizedLength(): number {
    return this.announcedTooLarge;
  }

  /**
   * Feeds one socket chunk and delivers every complete datagram in it, in order. The chunk
   * is referenced, not copied, when delivery pauses in it or after it. Returns NEED_MORE
   * when all complete datagrams were delivered, PAUSED when the sink refused one (or the
   * decoder was already paused: the chunk is queued), OVERSIZED when a header announced
   * more than maxDatagramSize (datagrams before it were delivered; the decoder is dead).
   */
  write(chunk: Uint8Array, sink: FrameSink): DecodeStatus {
    if (this.state === S_DEAD) return DecodeStatus.OVERSIZED;
    this.received += chunk.length;
    if (this.isPaused) {
      if (chunk.length !== 0) {
        this.queue.push(chunk);
        this.queuedBytes += chunk.length;
      }
      return DecodeStatus.PAUSED;
    }
    return this.feed(chunk, 0, sink);
  }

  /**
   * Continues after PAUSED: offers the refused datagram again, then the rest of the held
   * chunk and the queued chunks. Returns NEED_MORE when everything complete was delivered
   * (also when not paused), PAUSED when the sink refused again, OVERSIZED when a held
   * header announced too much or the decoder was already dead.
   */
  resume(sink: FrameSink): DecodeStatus {
    if (this.state === S_DEAD) return DecodeStatus.OVERSIZED;
    if (!this.isPaused) return DecodeStatus.NEED_MORE;
    this.isPaused = false;
    let chunk = this.heldChunk;
    let offset = this.heldOffset;
    this.heldChunk = null;
    this.heldOffset = 0;
    for (;;) {
      if (chunk !== null) {
        const status = this.feed(chunk, offset, sink);
        if (status !== DecodeStatus.NEED_MORE) return status;
      }
      if (this.queueHead === this.queue.length) {
        this.queue.length = 0;
        this.queueHead = 0;
        return DecodeStatus.NEED_MORE;
      }
      chunk = this.queue[this.queueHead];
      // Drop the reference now so a delivered chunk can be collected while others wait.
      this.queue[this.queueHead] = EMPTY;
      this.queueHead++;
      this.queuedBytes -= chunk.length;
      offset = 0;
    }
  }

  /**
   * Drops everything held (partial datagram, pause, queue, OVERSIZED); the decoder is usable
   * again, with the latest framing set, from the next byte written.
   */
  reset(): void {
    for (const change of this.pending) {
      this.header = change.headerSize;
      this.max = change.maxDatagramSize;
    }
    this.pending.length = 0;
    this.position = this.received;
    this.state = S_HEADER;
    this.headerGot = 0;
    this.headerValue = 0;
    this.bodyLength = 0;
    this.bodyGot = 0;
    this.announcedTooLarge = -1;
    this.releaseHeld();
  }

  private releaseHeld(): void {
    this.isPaused = false;
    this.heldChunk = null;
    this.heldOffset = 0;
    this.queue.length = 0;
    this.queueHead = 0;
    this.queuedBytes = 0;
  }

  /**
   * Delivers from chunk[offset], the stream's next byte to parse; the caller has checked the
   * decoder is neither dead nor paused. Framing changes are applied here, at boundaries.
   */
  private feed(chunk: Uint8Array, offset: number, sink: FrameSink): DecodeStatus {
    const base = this.position - offset;
    const end = chunk.length;
    let i = offset;
    let status: DecodeStatus;
    for (;;) {
      if (this.state !== S_HEADER || this.headerGot !== 0) {
        i = this.continueSplit(chunk, i, sink);
        if (i < 0) {
          status = ~i as DecodeStatus;
          break;
        }
      }
      // A datagram boundary, at stream position base + i.
      let limit = end;
      if (this.pending.length !== 0) {
        if (base + i >= this.pending[0].at) this.applyPending(base + i);
        if (this.pending.length !== 0) limit = Math.min(end, this.pending[0].at - base);
      }
      const next =
        this.header === 0
          ? this.feedRaw(chunk, i, limit, sink)
          : this.header === 2
            ? this.scan2(chunk, i, limit, sink)
            : this.scan4(chunk, i, limit, sink);
      if (next < 0) {
        status = ~next as DecodeStatus;
        break;
      }
      i = next; // stopped at a boundary at or past a pending change: apply it and go on
    }
    if (status === DecodeStatus.NEED_MORE) this.position = base + end;
    else if (status === DecodeStatus.PAUSED) this.position = base + this.heldOffset;
    return status;
  }

  /** Applies every pending change whose position `at` the boundary at `position` has reached. */
  private applyPending(position: number): void {
    const pending = this.pending;
    while (pending.length !== 0 && pending[0].at <= position) {
      const change = pending.shift()!;
      this.header = change.headerSize;
      this.max = change.maxDatagramSize;
    }
  }

  /**
   * The hot loop for u16 headers: every datagram wholly inside the chunk goes out as a view.
   * Kept apart from scan4 so each loop reads its header with no branch on the size. Stops at
   * the first boundary at or past `limit` (a pending framing change) and returns its index;
   * otherwise returns `~status` once the chunk is used up or delivery stops.
   */
  private scan2(bytes: Uint8Array, offset: number, limit: number, sink: FrameSink): number {
    const end = bytes.length;
    const max = this.max;
    let i = offset;
    while (end - i >= 2) {
      if (i >= limit) return i;
      const length = bytes[i] | (bytes[i + 1] << 8);
      if (length > max) return ~this.fail(length);
      const start = i + 2;
      if (end - start < length) break;
      if (!sink.onDatagram(bytes, start, length)) return ~this.pauseAt(bytes, i);
      i = start + length;
    }
    if (i === end) return ~DecodeStatus.NEED_MORE;
    if (i >= limit) return i;
    // The chunk ends inside a datagram: gather its header and the start of its body.
    const rest = this.continueSplit(bytes, i, sink);
    return rest < 0 ? rest : ~DecodeStatus.NEED_MORE;
  }

  /** The hot loop for u32 headers; see scan2. */
  private scan4(bytes: Uint8Array, offset: number, limit: number, sink: FrameSink): number {
    const end = bytes.length;
    const max = this.max;
    let i = offset;
    while (end - i >= 4) {
      if (i >= limit) return i;
      const length = (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24)) >>> 0;
      if (length > max) return ~this.fail(length);
      const start = i + 4;
      if (end - start < length) break;
      if (!sink.onDatagram(bytes, start, length)) return ~this.pauseAt(bytes, i);
      i = start + length;
    }
    if (i === end) return ~DecodeStatus.NEED_MORE;
    if (i >= limit) return i;
    const rest = this.continueSplit(bytes, i, sink);
    return rest < 0 ? rest : ~DecodeStatus.NEED_MORE;
  }

  /**
   * Advances the datagram that straddles chunks, starting at bytes[offset]. Returns the
   * offset just past it once it was delivered, or `~status` (a negative number) when the
   * chunk ran out (NEED_MORE), the sink refused (PAUSED) or the header was too large
   * (OVERSIZED). Encoding the status this way keeps the caller free of allocations.
   */
  private continueSplit(bytes: Uint8Array, offset: number, sink: FrameSink): number {
    const end = bytes.length;
    let i = offset;
    if (this.state === S_HEADER) {
      const headerSize = this.header;
      let got = this.headerGot;
      let value = this.headerValue;
      while (got < headerSize && i < end) {
        // Multiply rather than shift: a u32 header's top byte would turn a shift negative.
        value += bytes[i++] * 2 ** (8 * got);
        got++;
      }
      if (got < headerSize) {
        this.headerGot = got;
        this.headerValue = value;
        return ~DecodeStatus.NEED_MORE;
      }
      this.headerGot = 0;
      this.headerValue = 0;
      if (value > this.max) return ~this.fail(value);
      this.state = S_BODY;
      this.bodyLength = value;
      this.bodyGot = 0;
    }
    const length = this.bodyLength;
    if (this.bodyGot === 0 && end - i >= length) {
      // Only the header was split: the body is whole here, so it still goes out as a view.
      if (!sink.onDatagram(bytes, i, length)) return ~this.pauseAt(bytes, i);
      this.state = S_HEADER;
      return i + length;
    }
    const got = this.bodyGot;
    const n = Math.min(length - got, end - i);
    this.reserve(got + n);
    const scratch = this.scratch;
    if (n < SMALL_COPY) {
      for (let k = 0; k < n; k++) scratch[got + k] = bytes[i + k];
    } else {
      scratch.set(bytes.subarray(i, i + n), got);
    }
    i += n;
    this.bodyGot = got + n;
    if (this.bodyGot < length) return ~DecodeStatus.NEED_MORE;
    if (!sink.onDatagram(scratch, 0, length)) return ~this.pauseAt(bytes, i);
    this.state = S_HEADER;
    this.bodyGot = 0;
    // One large datagram must not pin its buffer for the connection's life.
    if (scratch.length > SCRATCH_KEEP) this.scratch = EMPTY;
    return i;
  }

  /**
   * Raw mode: the chunk from offset is the datagram, in pieces of at most maxDatagramSize,
   * cut at `limit` (a pending framing change, whose index it returns); else `~status`.
   */
  private feedRaw(bytes: Uint8Array, offset: number, limit: number, sink: FrameSink): number {
    const end = bytes.length;
    const max = this.max;
    let i = offset;
    while (i < end) {
      if (i >= limit) return i;
      let n = end - i < max ? end - i : max;
      if (i + n > limit) n = limit - i;
      if (!sink.onDatagram(bytes, i, n)) return ~this.pauseAt(bytes, i);
      i += n;
    }
    return ~DecodeStatus.NEED_MORE;
  }

  /** Grows the scratch to hold at least `needed` bytes, keeping the bodyGot bytes it holds. */
  private reserve(needed: number): void {
    const old = this.scratch;
    if (old.length >= needed) return;
    let size = old.length === 0 ? MIN_SCRATCH : old.length * 2;
    while (size < needed) size *= 2;
    if (size > this.max) size = Math.max(this.max, needed);
    const grown = new Uint8Array(size);
    if (this.bodyGot !== 0) grown.set(old.subarray(0, this.bodyGot));
    this.scratch = grown;
  }

  private pauseAt(chunk: Uint8Array, offset: number): DecodeStatus {
    this.isPaused = true;
    this.heldChunk = chunk;
    this.heldOffset = offset;
    return DecodeStatus.PAUSED;
  }

  private fail(announced: number): DecodeStatus {
    this.state = S_DEAD;
    this.announcedTooLarge = announced;
    this.headerGot = 0;
    this.headerValue = 0;
    this.bodyGot = 0;
    // Nothing will be delivered again: let go of the chunks at once.
    this.releaseHeld();
    return DecodeStatus.OVERSIZED;
  }
}
