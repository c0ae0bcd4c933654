/**
 * Incoming WebSocket framing (RFC 6455 §5): cuts a stream of socket chunks into messages,
 * one datagram each, with the same surface as FrameDecoder so the shard's inbound writer
 * can drive either per connection.
 *
 * - A message of one frame whose payload lies wholly inside one chunk is unmasked in place
 *   (the chunk is the decoder's to change) and handed to the sink as a view of that chunk:
 *   zero copy, also when only its header was split across chunks.
 * - Any other message (a payload split across chunks, or fragments sent as several frames)
 *   is assembled in one scratch array owned by the decoder, grown by doubling (never past
 *   maxDatagramSize) as bytes arrive and let go once it passes 1 MiB. A split header (at
 *   most 14 bytes) is gathered in a small fixed array.
 * - Control frames may come between the fragments of a message, as the RFC allows: ping,
 *   pong and close go to the WebSocketControl given to the constructor, in stream order
 *   with the messages around them. A close frame ends decoding: nothing after it is
 *   delivered (write() reads and drops further bytes) until reset().
 * - Text messages are delivered as datagrams too, once the whole message is checked to be
 *   UTF-8. Nothing tells text from binary downstream; a protocol that cares keeps to one.
 * - maxDatagramSize bounds a message, not a frame: a frame header announcing a payload that
 *   would take the message past it reports OVERSIZED before any of that payload is read
 *   (the caller sends close 1009 and resets the connection 'oversized-datagram').
 * - A protocol violation calls control.fail(closeCode, why, violation) once and makes the
 *   decoder dead: that call and every later one return DecodeStatus.FAILED until reset().
 *   `violation` (WebSocketViolation) says which rule was broken, for counting.
 *
 * headerSize is always 0: a message is delivered alone, never as a view that includes a
 * header, so the inbound writer copies each one as its own record.
 *
 * States:
 * ```
 *   HEADER ──header complete──▶ BODY ──data frame done, FIN──▶ message to the sink ──▶ HEADER
 *     ▲  (hdrGot bytes of a       │  ──data frame done, no FIN──────────────────────▶ HEADER
 *     │   split header)           │  ──ping/pong payload complete──▶ control ─────────▶ HEADER
 *     │                           └──close payload complete──▶ control.close ──▶ CLOSED
 *     └── a header breaking a rule ──▶ FAILED;  announcing too much ──▶ OVERSIZED
 * ```
 * CLOSED, FAILED and OVERSIZED last until reset().
 *
 * Back-pressure works as in FrameDecoder: the sink returns false to refuse a message; the
 * decoder keeps it (a view of its chunk, or the scratch) and where to go on from, returns
 * PAUSED, and offers the same message first on resume(). Chunks written while paused are
 * queued by reference. Control frames after a refused message wait with it, so a ping is
 * answered only once the messages before it are taken.
 *
 * A limit change (setFraming) is a position in the byte stream, as in FrameDecoder: it
 * applies from the first message that begins at or after the bytes written before it, so
 * a message that straddles the change, and bytes held for back-pressure, keep the old one.
 *
 * Neither the sink nor a control callback may write to or resume the decoder from inside
 * the call. A control callback may reset() it (the rest of the chunk is then dropped); the
 * sink may not.
 */
import { isUtf8 } from 'node:buffer';
import { copyBytes } from './copy-bytes.js';
import { describeValue } from './describe-value.js';
import { ErrorCode, RingwireRangeError, RingwireTypeError } from './errors.js';
import { DecodeStatus, type FrameDecoderOptions, type FrameSink } from './frame-decoder.js';
import { isValidCloseCode, maskBytes, MAX_CONTROL_PAYLOAD, Opcode } from './websocket-frame-encoder.js';

/** The rules a peer can break, as control.fail reports them (an index for counters). */
export const WebSocketViolation = {
  /** A server received a frame without a mask (close 1002). */
  UNMASKED_FRAME: 0,
  /** A client received a masked frame (close 1002). */
  MASKED_FRAME: 1,
  /** RSV1, RSV2 or RSV3 set: no extension was negotiated (close 1002). */
  RESERVED_BITS: 2,
  /** An opcode the RFC reserves: 0x3-0x7, 0xB-0xF (close 1002). */
  UNKNOWN_OPCODE: 3,
  /** A control frame announcing more than 125 bytes (close 1002). */
  CONTROL_TOO_LONG: 4,
  /** A control frame without FIN (close 1002). */
  FRAGMENTED_CONTROL: 5,
  /** A continuation frame with no message in progress (close 1002). */
  UNEXPECTED_CONTINUATION: 6,
  /** A text or binary frame while a fragmented message is in progress (close 1002). */
  INTERRUPTED_MESSAGE: 7,
  /** A close frame whose payload is 1 byte: half a code (close 1002). */
  CLOSE_PAYLOAD_ONE_BYTE: 8,
  /** A close code a frame may not carry (isValidCloseCode) (close 1002). */
  INVALID_CLOSE_CODE: 9,
  /** A close reason that is not UTF-8 (close 1007). */
  CLOSE_REASON_NOT_UTF8: 10,
  /** A text message that is not UTF-8 (close 1007). */
  TEXT_NOT_UTF8: 11,
  /** A 64-bit payload length with its most significant bit set (close 1002). */
  LENGTH_HIGH_BIT: 12,
} as const;
export type WebSocketViolation = (typeof WebSocketViolation)[keyof typeof WebSocketViolation];

/** How many kinds of violation there are: the size of an array counting them by kind. */
export const WEBSOCKET_VIOLATION_KINDS = 13;

/**
 * Where the decoder sends what is not a message. Payload views are only valid during the
 * call (they may be the socket chunk or the decoder's own array): copy what you keep.
 */
export interface WebSocketControl {
  /** A ping: answer with a pong carrying the same payload. */
  ping(payload: Uint8Array): void;
  /** A pong (an answer to a ping, or a heartbeat). */
  pong(payload: Uint8Array): void;
  /**
   * The peer's close frame: its code (1005 when it carried none) and UTF-8 reason (''
   * when none). Answer with a close frame and end the connection; the decoder delivers
   * nothing more.
   */
  close(code: number, reason: string): void;
  /**
   * A protocol violation: send a close frame with `closeCode` (1002 or 1007) and reset
   * the connection. `why` is short ASCII, fit for the close reason; `violation` says which
   * rule was broken. Called once; the decoder is dead until reset().
   */
  fail(closeCode: number, why: string, violation: WebSocketViolation): void;
}

export interface WebSocketFrameDecoderOptions {
  /** 'server' expects every frame masked (a client's), 'client' expects none masked. */
  role: 'server' | 'client';
  /** Largest message accepted, in bytes (an integer ≥ 1). Default 1 MiB. */
  maxDatagramSize?: number;
  /** Receives pings, pongs, the close frame and violations. */
  control: WebSocketControl;
}

const DEFAULT_MAX = 1024 * 1024;

/** First scratch allocation; small enough that a few split messages cost nothing. */
const MIN_SCRATCH = 256;

/** Largest scratch kept after its message was delivered (see FrameDecoder). */
const SCRATCH_KEEP = 1024 * 1024;

/** Longest frame header: 2 bytes, an 8-byte length and a 4-byte masking key. */
const MAX_HEADER = 14;

const S_HEADER = 0;
const S_BODY = 1;
const S_CLOSED = 2;
const S_OVERSIZED = 3;
const S_FAILED = 4;

/** Internal statuses past DecodeStatus: both are NEED_MORE to the caller. */
const ST_CLOSED = 4;
/** A control callback reset the decoder: stop, touching nothing. */
const ST_ABANDONED = 5;

const EMPTY = new Uint8Array(0);
const utf8 = new TextDecoder();

/** A maxDatagramSize change waiting for its place in the stream. */
interface PendingLimit {
  /** Stream position from which it applies (at the first message boundary at or after it). */
  at: number;
  maxDatagramSize: number;
}

function limitOf(max: unknown): number {
  if (max === undefined) return DEFAULT_MAX;
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) {
    throw new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `options.maxDatagramSize must be an integer >= 1, got ${describeValue(max)}`);
  }
  return max;
}

/** Size of the frame header whose second byte is `b1`. */
function headerLength(b1: number): number {
  const len7 = b1 & 0x7f;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
}

function isUtf8Range(bytes: Uint8Array, start: number, length: number): boolean {
  return isUtf8(start === 0 && length === bytes.length ? bytes : bytes.subarray(start, start + length));
}

export class WebSocketFrameDecoder {
  private readonly expectMasked: boolean;
  private readonly control: WebSocketControl;
  private max: number;
  /** Bytes written so far (the stream position just past the last byte received). */
  private received: number;
  /** Stream position of the next byte to parse. */
  private position: number;
  private readonly pending: PendingLimit[];
  private state: number;
  /** Bumped by reset(), so a control callback that resets is noticed. */
  private epoch: number;

  /** A header split across chunks, gathered here. */
  private readonly hdr: Uint8Array;
  private hdrGot: number;

  /** The frame being read (BODY state). */
  private opcode: number;
  private fin: boolean;
  private masked: boolean;
  private key: number;
  private frameLength: number;
  /** Payload bytes of the frame read so far (into scratch, or ctl for a control frame). */
  private frameGot: number;
  private frameHeader: number;

  /** A text or binary message has begun and its final frame has not been read. */
  private inMessage: boolean;
  private msgText: boolean;
  /** Payload bytes of the message in scratch. */
  private msgLength: number;
  /** Stream bytes (headers and payloads) of the message's frames read so far. */
  private msgStream: number;
  private scratch: Uint8Array;
  /** A control payload split across chunks. */
  private readonly ctl: Uint8Array;

  private isPaused: boolean;
  /** The refused message, offered again first on resume(); null when none waits. */
  private offer: Uint8Array | null;
  private offerStart: number;
  private offerLength: number;
  /** Stream bytes the refused message stands for (its frames, headers included). */
  private offerStream: number;
  /** The chunk delivery stopped in, and where in it to go on. */
  private heldChunk: Uint8Array | null;
  private heldOffset: number;
  private queue: Uint8Array[];
  private queueHead: number;
  private queuedBytes: number;

  private announcedTooLarge: number;
  private broken: number;

  /** Throws a TypeError or RangeError naming the option when an option is invalid. */
  constructor(options: WebSocketFrameDecoderOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `options must be an object, got ${describeValue(options)}`);
    }
    const { role, control } = options;
    if (role !== 'server' && role !== 'client') {
      throw new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `options.role must be 'server' or 'client', got ${describeValue(role)}`);
    }
    if (
      typeof control !== 'object' ||
      control === null ||
      typeof control.ping !== 'function' ||
      typeof control.pong !== 'function' ||
      typeof control.close !== 'function' ||
      typeof control.fail !== 'function'
    ) {
      throw new RingwireTypeError(
        ErrorCode.INVALID_ARG_TYPE,
        `options.control must have ping, pong, close and fail methods, got ${describeValue(control)}`,
      );
    }
    this.expectMasked = role === 'server';
    this.control = control;
    this.max = limitOf(options.maxDatagramSize);
    this.received = 0;
    this.position = 0;
    this.pending = [];
    this.state = S_HEADER;
    this.epoch = 0;
    this.hdr = new Uint8Array(MAX_HEADER);
    this.hdrGot = 0;
    this.opcode = 0;
    this.fin = false;
    this.masked = false;
    this.key = 0;
    this.frameLength = 0;
    this.frameGot = 0;
    this.frameHeader = 0;
    this.inMessage = false;
    this.msgText = false;
    this.msgLength = 0;
    this.msgStream = 0;
    this.scratch = EMPTY;
    this.ctl = new Uint8Array(MAX_CONTROL_PAYLOAD);
    this.isPaused = false;
    this.offer = null;
    this.offerStart = 0;
    this.offerLength = 0;
    this.offerStream = 0;
    this.heldChunk = null;
    this.heldOffset = 0;
    this.queue = [];
    this.queueHead = 0;
    this.queuedBytes = 0;
    this.announcedTooLarge = -1;
    this.broken = -1;
  }

  /** Always 0: every message is delivered on its own, never next to a header. */
  get headerSize(): 0 {
    return 0;
  }

  /** Largest message accepted by the limit in force now. */
  get maxDatagramSize(): number {
    return this.max;
  }

  /** maxDatagramSize changes made but not reached yet in the stream. */
  get pendingFramingChanges(): number {
    return this.pending.length;
  }

  /**
   * Changes maxDatagramSize (default 1 MiB) for the bytes written from now on: it takes
   * effect at the first message boundary at or after the current end of the stream, at
   * once when nothing is part-way or held. headerSize is ignored: a WebSocket message is
   * one datagram whatever the Panda framing says. Throws a RangeError when the size is
   * not an integer ≥ 1.
   */
  setFraming(options: FrameDecoderOptions): void {
    const max = limitOf(options.maxDatagramSize);
    if (this.pending.length === 0 && this.position === this.received && this.state === S_HEADER && this.hdrGot === 0 && !this.inMessage) {
      this.max = max;
      return;
    }
    this.pending.push({ at: this.received, maxDatagramSize: max });
  }

  /**
   * Stream bytes held and not yet delivered or acted on: a partial header, frame or
   * message (headers included), a refused message, and whatever waits behind it. 0 once
   * closed, failed or oversized.
   */
  get bufferedBytes(): number {
    let n = this.queuedBytes + this.hdrGot + this.msgStream + this.offerStream;
    if (this.heldChunk !== null) n += this.heldChunk.length - this.heldOffset;
    if (this.state === S_BODY && this.opcode >= 0x8) n += this.frameHeader + this.frameGot;
    return n;
  }

  /** Bytes of buffer kept for messages that straddle chunks or frames. */
  get scratchCapacity(): number {
    return this.scratch.length;
  }

  /** True after write() or resume() returned PAUSED, until resume() gets through. */
  get paused(): boolean {
    return this.isPaused;
  }

  /** The message length that breached maxDatagramSize, or -1 when none did. */
  get oversizedLength(): number {
    return this.announcedTooLarge;
  }

  /** The WebSocketViolation that made the decoder fail, or -1 when none did. */
  get violation(): WebSocketViolation | -1 {
    return this.broken as WebSocketViolation | -1;
  }

  /** True once the peer's close frame was read (until reset()). */
  get closeReceived(): boolean {
    return this.state === S_CLOSED;
  }

  /**
   * Feeds one socket chunk (which the decoder may unmask in place and keep a reference to)
   * and delivers every complete message in it, in order, calling the control for the
   * control frames among them. Returns NEED_MORE when all complete messages were delivered
   * (also after a close frame, and ever after until reset()), PAUSED when the sink refused
   * one (or the decoder was already paused: the chunk is queued), OVERSIZED when a frame
   * header took a message past maxDatagramSize, FAILED when the peer broke the protocol
   * (control.fail was called). After OVERSIZED or FAILED every call returns the same.
   */
  write(chunk: Uint8Array, sink: FrameSink): DecodeStatus {
    const state = this.state;
    if (state >= S_CLOSED) {
      if (state !== S_CLOSED) return state === S_OVERSIZED ? DecodeStatus.OVERSIZED : DecodeStatus.FAILED;
      this.received += chunk.length;
      return DecodeStatus.NEED_MORE;
    }
    this.received += chunk.length;
    if (this.isPaused) {
      if (chunk.length !== 0) {
        this.queue.push(chunk);
        this.queuedBytes += chunk.length;
      }
      return DecodeStatus.PAUSED;
    }
    const status = this.feed(chunk, 0, sink);
    return status > DecodeStatus.FAILED ? DecodeStatus.NEED_MORE : (status as DecodeStatus);
  }

  /**
   * Continues after PAUSED: offers the refused message again, then parses the rest of the
   * held chunk and the queued chunks. Returns what write() would (NEED_MORE also when not
   * paused or closed).
   */
  resume(sink: FrameSink): DecodeStatus {
    const state = this.state;
    if (state >= S_CLOSED) {
      if (state === S_CLOSED) return DecodeStatus.NEED_MORE;
      return state === S_OVERSIZED ? DecodeStatus.OVERSIZED : DecodeStatus.FAILED;
    }
    if (!this.isPaused) return DecodeStatus.NEED_MORE;
    this.isPaused = false;
    const offer = this.offer;
    if (offer !== null) {
      if (!sink.onDatagram(offer, this.offerStart, this.offerLength)) {
        this.isPaused = true;
        return DecodeStatus.PAUSED;
      }
      this.offer = null;
      this.offerStream = 0;
      if (offer === this.scratch) this.releaseLargeScratch();
    }
    let chunk = this.heldChunk;
    let offset = this.heldOffset;
    this.heldChunk = null;
    this.heldOffset = 0;
    for (;;) {
      if (chunk !== null) {
        const status = this.feed(chunk, offset, sink);
        if (status !== DecodeStatus.NEED_MORE) return status > DecodeStatus.FAILED ? DecodeStatus.NEED_MORE : (status as DecodeStatus);
      }
      if (this.queueHead === this.queue.length) {
        this.queue.length = 0;
        this.queueHead = 0;
        return DecodeStatus.NEED_MORE;
      }
      chunk = this.queue[this.queueHead];
      // Drop the reference now so a parsed chunk can be collected while others wait.
      this.queue[this.queueHead] = EMPTY;
      this.queueHead++;
      this.queuedBytes -= chunk.length;
      offset = 0;
    }
  }

  /**
   * Drops everything held (partial frame or message, pause, queue, a close, a failure or
   * OVERSIZED); the decoder is usable again, with the latest limit set, from the next byte
   * written, as for a new connection.
   */
  reset(): void {
    for (const change of this.pending) this.max = change.maxDatagramSize;
    this.pending.length = 0;
    this.position = this.received;
    this.state = S_HEADER;
    this.epoch++;
    this.announcedTooLarge = -1;
    this.broken = -1;
    this.clearMessage();
    this.releaseHeld();
  }

  private clearMessage(): void {
    this.hdrGot = 0;
    this.frameGot = 0;
    this.frameLength = 0;
    this.frameHeader = 0;
    this.opcode = 0;
    this.inMessage = false;
    this.msgLength = 0;
    this.msgStream = 0;
  }

  private releaseHeld(): void {
    this.isPaused = false;
    this.offer = null;
    this.offerStart = 0;
    this.offerLength = 0;
    this.offerStream = 0;
    this.heldChunk = null;
    this.heldOffset = 0;
    this.queue.length = 0;
    this.queueHead = 0;
    this.queuedBytes = 0;
  }

  /**
   * Parses from chunk[offset], the stream's next byte; the caller has checked the decoder
   * is neither paused nor past HEADER/BODY. Returns a DecodeStatus or an internal status.
   */
  private feed(chunk: Uint8Array, offset: number, sink: FrameSink): number {
    const base = this.position - offset;
    const end = chunk.length;
    let i = offset;
    let status: number;
    for (;;) {
      if (this.state === S_HEADER) {
        let next: number;
        if (this.hdrGot === 0) {
          // A frame boundary; between messages, a pending limit change may apply here.
          if (this.pending.length !== 0 && !this.inMessage && base + i >= this.pending[0].at) this.applyPending(base + i);
          const left = end - i;
          if (left === 0) {
            status = DecodeStatus.NEED_MORE;
            break;
          }
          if (left >= 2 && left >= headerLength(chunk[i + 1])) {
            const size = this.parseHeader(chunk, i);
            next = size < 0 ? size : i + size;
          } else {
            next = this.gatherHeader(chunk, i);
          }
        } else {
          next = this.gatherHeader(chunk, i);
        }
        if (next < 0) {
          status = ~next;
          break;
        }
        i = next;
      }
      const next = this.body(chunk, i, sink);
      if (next < 0) {
        status = ~next;
        break;
      }
      i = next;
    }
    if (status === DecodeStatus.NEED_MORE) this.position = base + end;
    else if (status === DecodeStatus.PAUSED) this.position = base + this.heldOffset;
    return status;
  }

  private applyPending(position: number): void {
    const pending = this.pending;
    while (pending.length !== 0 && pending[0].at <= position) this.max = pending.shift()!.maxDatagramSize;
  }

  /**
   * Gathers a header split across chunks into `hdr`, from bytes[offset]. Returns the offset
   * just past it once complete and parsed, or `~status` (NEED_MORE when the chunk ran out).
   */
  private gatherHeader(bytes: Uint8Array, offset: number): number {
    const end = bytes.length;
    const hdr = this.hdr;
    let got = this.hdrGot;
    let i = offset;
    while (got < 2 && i < end) hdr[got++] = bytes[i++];
    if (got >= 2) {
      const need = headerLength(hdr[1]);
      while (got < need && i < end) hdr[got++] = bytes[i++];
      if (got === need) {
        this.hdrGot = 0;
        const size = this.parseHeader(hdr, 0);
        return size < 0 ? size : i;
      }
    }
    this.hdrGot = got;
    return ~DecodeStatus.NEED_MORE;
  }

  /**
   * Checks and takes in the whole header at bytes[at] (present in full). Returns its size,
   * or `~status` when it breaks a rule (FAILED) or takes a message past the limit (OVERSIZED).
   */
  private parseHeader(bytes: Uint8Array, at: number): number {
    const b0 = bytes[at];
    const b1 = bytes[at + 1];
    if ((b0 & 0x70) !== 0) return ~this.fail(1002, 'reserved bits set', WebSocketViolation.RESERVED_BITS);
    const opcode = b0 & 0x0f;
    const fin = (b0 & 0x80) !== 0;
    let length = b1 & 0x7f;
    if (opcode >= 0x8) {
      if (opcode > Opcode.PONG) return ~this.fail(1002, `unknown opcode ${opcode}`, WebSocketViolation.UNKNOWN_OPCODE);
      if (!fin) return ~this.fail(1002, 'fragmented control frame', WebSocketViolation.FRAGMENTED_CONTROL);
      if (length > MAX_CONTROL_PAYLOAD) return ~this.fail(1002, 'control frame longer than 125 bytes', WebSocketViolation.CONTROL_TOO_LONG);
      if (opcode === Opcode.CLOSE && length === 1) return ~this.fail(1002, 'close frame of 1 byte', WebSocketViolation.CLOSE_PAYLOAD_ONE_BYTE);
    } else if (opcode === Opcode.CONTINUATION) {
      if (!this.inMessage) return ~this.fail(1002, 'continuation with no message', WebSocketViolation.UNEXPECTED_CONTINUATION);
    } else if (opcode === Opcode.TEXT || opcode === Opcode.BINARY) {
      if (this.inMessage) return ~this.fail(1002, 'new message inside a fragmented one', WebSocketViolation.INTERRUPTED_MESSAGE);
    } else {
      return ~this.fail(1002, `unknown opcode ${opcode}`, WebSocketViolation.UNKNOWN_OPCODE);
    }
    const masked = (b1 & 0x80) !== 0;
    if (masked !== this.expectMasked) {
      return masked
        ? ~this.fail(1002, 'masked frame from a server', WebSocketViolation.MASKED_FRAME)
        : ~this.fail(1002, 'unmasked frame from a client', WebSocketViolation.UNMASKED_FRAME);
    }
    let p = at + 2;
    if (length === 126) {
      length = (bytes[p] << 8) | bytes[p + 1];
      p += 2;
    } else if (length === 127) {
      const hi = ((bytes[p] << 24) | (bytes[p + 1] << 16) | (bytes[p + 2] << 8) | bytes[p + 3]) >>> 0;
      if (hi >= 0x8000_0000) return ~this.fail(1002, '64-bit length with its top bit set', WebSocketViolation.LENGTH_HIGH_BIT);
      const lo = ((bytes[p + 4] << 24) | (bytes[p + 5] << 16) | (bytes[p + 6] << 8) | bytes[p + 7]) >>> 0;
      // Past 2^53 this is approximate, and far past any limit.
      length = hi * 0x1_0000_0000 + lo;
      p += 8;
    }
    if (opcode < 0x8) {
      const total = this.msgLength + length;
      if (total > this.max) return ~this.oversized(total);
    }
    let key = 0;
    if (masked) {
      key = ((bytes[p] << 24) | (bytes[p + 1] << 16) | (bytes[p + 2] << 8) | bytes[p + 3]) >>> 0;
      p += 4;
    }
    const size = p - at;
    this.opcode = opcode;
    this.fin = fin;
    this.masked = masked;
    this.key = key;
    this.frameLength = length;
    this.frameGot = 0;
    this.frameHeader = size;
    if (opcode < 0x8) {
      if (opcode !== Opcode.CONTINUATION) {
        this.inMessage = true;
        this.msgText = opcode === Opcode.TEXT;
      }
      this.msgStream += size;
    }
    this.state = S_BODY;
    return size;
  }

  /**
   * Reads the current frame's payload from bytes[offset] and acts on it once complete.
   * Returns the offset just past the frame, or `~status` (NEED_MORE when the chunk ran out
   * first, PAUSED, FAILED, or an internal status).
   */
  private body(bytes: Uint8Array, offset: number, sink: FrameSink): number {
    const end = bytes.length;
    const length = this.frameLength;
    let i = offset;
    if (this.opcode >= 0x8) {
      let payload: Uint8Array;
      let start: number;
      if (this.frameGot === 0 && end - i >= length) {
        if (this.masked) maskBytes(bytes, i, i + length, this.key, 0);
        payload = bytes;
        start = i;
        i += length;
      } else {
        const got = this.frameGot;
        const n = Math.min(length - got, end - i);
        const ctl = this.ctl;
        for (let k = 0; k < n; k++) ctl[got + k] = bytes[i + k];
        if (this.masked) maskBytes(ctl, got, got + n, this.key, got);
        i += n;
        this.frameGot = got + n;
        if (this.frameGot < length) return ~DecodeStatus.NEED_MORE;
        payload = ctl;
        start = 0;
      }
      this.state = S_HEADER;
      this.frameGot = 0;
      const status = this.onControl(payload, start, length);
      return status === DecodeStatus.NEED_MORE ? i : ~status;
    }

    if (this.fin && this.opcode !== Opcode.CONTINUATION && this.frameGot === 0 && end - i >= length) {
      // A whole one-frame message in this chunk: unmask it where it lies and lend it out.
      if (this.masked) maskBytes(bytes, i, i + length, this.key, 0);
      const stream = this.msgStream + length;
      this.state = S_HEADER;
      this.inMessage = false;
      this.msgStream = 0;
      if (this.msgText && !isUtf8Range(bytes, i, length)) return ~this.fail(1007, 'text message not UTF-8', WebSocketViolation.TEXT_NOT_UTF8);
      if (!sink.onDatagram(bytes, i, length)) return ~this.pauseWith(bytes, i, length, stream, bytes, i + length);
      return i + length;
    }

    const got = this.frameGot;
    const n = Math.min(length - got, end - i);
    if (n > 0) {
      if (this.masked) maskBytes(bytes, i, i + n, this.key, got);
      this.reserve(this.msgLength + n);
      copyBytes(this.scratch, this.msgLength, bytes, i, n);
      this.msgLength += n;
      this.msgStream += n;
      this.frameGot = got + n;
      i += n;
    }
    if (this.frameGot < length) return ~DecodeStatus.NEED_MORE;
    this.state = S_HEADER;
    this.frameGot = 0;
    if (!this.fin) return i;
    const messageLength = this.msgLength;
    const stream = this.msgStream;
    this.inMessage = false;
    this.msgLength = 0;
    this.msgStream = 0;
    const scratch = this.scratch;
    if (this.msgText && !isUtf8Range(scratch, 0, messageLength)) return ~this.fail(1007, 'text message not UTF-8', WebSocketViolation.TEXT_NOT_UTF8);
    if (!sink.onDatagram(scratch, 0, messageLength)) return ~this.pauseWith(scratch, 0, messageLength, stream, bytes, i);
    this.releaseLargeScratch();
    return i;
  }

  /** Acts on a complete control frame: payload[start, start + length). */
  private onControl(payload: Uint8Array, start: number, length: number): number {
    const opcode = this.opcode;
    if (opcode === Opcode.CLOSE) {
      let code = 1005;
      let reason = '';
      if (length >= 2) {
        code = (payload[start] << 8) | payload[start + 1];
        if (!isValidCloseCode(code)) return this.fail(1002, `invalid close code ${code}`, WebSocketViolation.INVALID_CLOSE_CODE);
        if (length > 2) {
          const text = payload.subarray(start + 2, start + length);
          if (!isUtf8(text)) return this.fail(1007, 'close reason not UTF-8', WebSocketViolation.CLOSE_REASON_NOT_UTF8);
          reason = utf8.decode(text);
        }
      }
      // Closed before the call, so a callback that resets finds nothing left to undo.
      this.state = S_CLOSED;
      this.clearMessage();
      this.releaseHeld();
      this.control.close(code, reason);
      return ST_CLOSED;
    }
    const epoch = this.epoch;
    const view = payload.subarray(start, start + length);
    if (opcode === Opcode.PING) this.control.ping(view);
    else this.control.pong(view);
    return this.epoch === epoch ? DecodeStatus.NEED_MORE : ST_ABANDONED;
  }

  /** Grows the scratch to hold at least `needed` bytes, keeping the msgLength bytes it holds. */
  private reserve(needed: number): void {
    const old = this.scratch;
    if (old.length >= needed) return;
    let size = old.length === 0 ? MIN_SCRATCH : old.length * 2;
    while (size < needed) size *= 2;
    if (size > this.max) size = Math.max(this.max, needed);
    const grown = new Uint8Array(size);
    if (this.msgLength !== 0) grown.set(old.subarray(0, this.msgLength));
    this.scratch = grown;
  }

  /** One large message must not pin its buffer for the connection's life. */
  private releaseLargeScratch(): void {
    if (this.scratch.length > SCRATCH_KEEP) this.scratch = EMPTY;
  }

  /** Holds the refused message bytes[start, start + length) and where to go on: chunk[offset]. */
  private pauseWith(bytes: Uint8Array, start: number, length: number, stream: number, chunk: Uint8Array, offset: number): DecodeStatus {
    this.isPaused = true;
    this.offer = bytes;
    this.offerStart = start;
    this.offerLength = length;
    this.offerStream = stream;
    this.heldChunk = chunk;
    this.heldOffset = offset;
    return DecodeStatus.PAUSED;
  }

  private oversized(total: number): DecodeStatus {
    this.state = S_OVERSIZED;
    this.announcedTooLarge = total;
    this.clearMessage();
    // Nothing will be delivered again: let go of the chunks at once.
    this.releaseHeld();
    return DecodeStatus.OVERSIZED;
  }

  private fail(closeCode: number, why: string, violation: WebSocketViolation): DecodeStatus {
    this.state = S_FAILED;
    this.broken = violation;
    this.clearMessage();
    this.releaseHeld();
    this.control.fail(closeCode, why, violation);
    return DecodeStatus.FAILED;
  }
}
