import { Opcode, encodeClose, encodeControlFrame, randomMaskKey } from '../shared/websocket-frame-encoder.js';
import { WebSocketFrameDecoder, type WebSocketControl } from '../shared/websocket-frame-decoder.js';
import { clientUpgradeRequest, makeClientKey, parseUpgradeRequest, parseUpgradeResponse } from '../shared/websocket-handshake.js';
import type { WebSocketSpec } from '../shared/protocol/transport-spec.js';

/** What the decoder saw, for the lifecycle to act on. */
export const SessionEvent = {
  NONE: 0,
  /** The peer's close frame: the stream ends 'closed-by-peer'. */
  PEER_CLOSED: 1,
  /** The peer broke the protocol: close with `code` (1002, 1007) and reset 'protocol-error'. */
  VIOLATED: 2,
} as const;
export type SessionEvent = (typeof SessionEvent)[keyof typeof SessionEvent];

/** What a session needs of its connection: the stream to write its upgrade to. */
export interface SessionConnection {
  readonly socket: { write(bytes: Uint8Array): unknown };
}

/** What a session asks of the connection lifecycle. */
export interface SessionHost<C extends SessionConnection> {
  /** The upgrade succeeded; `leftover` is what came after it (frames), or null. */
  upgraded(conn: C, leftover: Uint8Array | null): void;
  /** The upgrade failed: `response` (an HTTP error for a server, null for a client) goes out, then the stream ends 'handshake-failed'. */
  upgradeFailed(conn: C, response: Uint8Array | null): void;
  /** A control frame (a pong) to write now: the stream is at a frame boundary. */
  control(conn: C, frame: Uint8Array): void;
}

/** Bytes of an upgrade request or response gathered before it is complete. */
const MAX_HEAD_BYTES = 8192;

/** The blank line that ends an HTTP head. */
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/**
 * One WebSocket stream in a shard: its upgrade (a server answers the request, a client
 * sends one and checks the answer), then the frames: the decoder cuts each message into
 * one datagram for the inbound ring and hands control frames here; outgoing control frames
 * wait for a boundary between the writer's data frames (a frame larger than a ring record
 * arrives as several SEND records, and nothing may come between them).
 */
export class WebSocketSession<C extends SessionConnection = SessionConnection> implements WebSocketControl {
  /** The upgrade is not done: bytes received are the request (or response) head. */
  upgrading = true;
  /** Bytes of the current outgoing data frame not appended yet (0: at a boundary). */
  outRemaining = 0;
  /** Control frames waiting for a boundary. */
  /** The pong waiting for a boundary (only the latest: RFC 6455 §5.5.3 lets an endpoint answer the most recent ping alone). */
  private pendingPong: Uint8Array | null = null;
  private head: Uint8Array | null = null;
  private headLength = 0;
  /** Bytes of the head already looked through for its blank line, which is not there. */
  private headScanned = 0;
  /** A client's Sec-WebSocket-Key, to check the answer. */
  private readonly key: string | null;
  /** The close frame was sent (or the stream failed): nothing more goes out after it. */
  closeSent = false;
  /**
   * What the decoder saw that the lifecycle must act on once the chunk is done (acting
   * inside the decoder's call would write a CLOSED record before the chunk's datagrams):
   * 0 nothing, else SessionEvent.
   */
  event: SessionEvent = SessionEvent.NONE;
  /** The peer's close code (PEER_CLOSED), or the code to close with (VIOLATED). */
  code = 0;

  constructor(
    private readonly conn: C,
    readonly role: 'server' | 'client',
    readonly spec: WebSocketSpec,
    private readonly host: SessionHost<C>,
  ) {
    this.key = role === 'client' ? makeClientKey() : null;
  }

  /** The decoder for this stream's messages (it calls back here for control frames). */
  decoder(maxDatagramSize: number): WebSocketFrameDecoder {
    return new WebSocketFrameDecoder({ role: this.role, maxDatagramSize, control: this });
  }

  /** A client's upgrade request, written first (before anything the program sent). */
  request(): Uint8Array {
    return clientUpgradeRequest(this.spec.host ?? '', this.spec.port, this.spec.path ?? '/', this.key!, this.spec.origin ?? undefined);
  }

  /**
   * Bytes that arrived while upgrading. The head is parsed once its blank line is in (or it
   * has grown past MAX_HEAD_BYTES), and each look for the blank line starts where the last
   * stopped: a head sent a byte at a time costs time in proportion to its length, not to
   * its square (a slowloris client must not buy a parse of the whole head per byte).
   */
  onHead(chunk: Uint8Array): void {
    if (this.refused) return; // refused: what follows is read and dropped while the stream closes
    const needed = this.headLength + chunk.length;
    if (this.head === null || this.head.length < needed) {
      const grown = new Uint8Array(Math.max(needed, 512, this.head === null ? 0 : this.head.length * 2));
      if (this.head !== null) grown.set(this.head.subarray(0, this.headLength));
      this.head = grown;
    }
    this.head.set(chunk, this.headLength);
    this.headLength = needed;
    if (!this.headReady()) return;
    if (this.role === 'server') {
      const result = parseUpgradeRequest(this.head, this.headLength, {
        path: this.spec.path ?? undefined,
        origins: this.spec.origins ?? undefined,
        maxHeaderBytes: MAX_HEAD_BYTES,
      });
      if (result.status === 'incomplete') return;
      if (result.status === 'rejected') {
        this.finishHead();
        this.refused = true;
        this.host.upgradeFailed(this.conn, result.response);
        return;
      }
      this.conn.socket.write(result.response);
      this.accepted(result.consumed);
    } else {
      const result = parseUpgradeResponse(this.head, this.headLength, this.key!);
      if (result.status === 'incomplete') {
        if (this.headLength > MAX_HEAD_BYTES) {
          this.finishHead();
          this.refused = true;
          this.host.upgradeFailed(this.conn, null);
        }
        return;
      }
      if (result.status === 'rejected') {
        this.finishHead();
        this.refused = true;
        this.host.upgradeFailed(this.conn, null);
        return;
      }
      this.accepted(result.consumed);
    }
  }

  private accepted(consumed: number): void {
    const leftover = consumed < this.headLength ? this.head!.slice(consumed, this.headLength) : null;
    this.finishHead();
    this.upgrading = false;
    this.host.upgraded(this.conn, leftover);
  }

  /** True once the head holds its blank line or reached MAX_HEAD_BYTES: worth parsing. */
  private headReady(): boolean {
    const head = this.head!;
    // A blank line may straddle the bytes looked through and the new ones: back up 3.
    const from = Math.max(0, this.headScanned - (HEAD_END.length - 1));
    this.headScanned = this.headLength;
    if (this.headLength >= MAX_HEAD_BYTES) return true;
    return Buffer.from(head.buffer, head.byteOffset, this.headLength).indexOf(HEAD_END, from) >= 0;
  }

  /** The upgrade was refused or broken: later bytes are not parsed again. */
  private refused = false;

  private finishHead(): void {
    this.head = null;
    this.headLength = 0;
    this.headScanned = 0;
  }

  /**
   * A data frame's bytes appended to the stream's writes: `aux` 0 starts a frame (its
   * header is at `offset`), 1 continues one. Returns the pong due now that the stream is at
   * a boundary (append it after), or null.
   */
  noteOut(bytes: Uint8Array, offset: number, length: number, aux: number): Uint8Array | null {
    if (aux === 0) this.outRemaining = frameLength(bytes, offset) - length;
    else this.outRemaining -= length;
    if (this.outRemaining !== 0 || this.pendingPong === null) return null;
    const due = this.pendingPong;
    this.pendingPong = null;
    return due;
  }

  /** A pong to send: now when at a boundary, else (replacing any earlier one) when the current data frame is out. */
  private send(frame: Uint8Array): void {
    if (this.closeSent) return;
    if (this.outRemaining === 0) this.host.control(this.conn, frame);
    else this.pendingPong = frame;
  }

  /** The close frame to end with (`code` 1000 for a normal close), or null when one went out already. */
  closeFrame(code: number): Uint8Array | null {
    if (this.closeSent || this.upgrading) return null;
    this.closeSent = true;
    this.pendingPong = null;
    return encodeClose(code, '', this.role === 'client' ? randomMaskKey() : undefined);
  }

  // ── WebSocketControl: the decoder's control frames ──

  ping(payload: Uint8Array): void {
    this.send(encodeControlFrame(Opcode.PONG, payload, this.role === 'client' ? randomMaskKey() : undefined));
  }

  pong(): void {
    // Unsolicited or an answer: nothing to do (we send no pings).
  }

  close(code: number): void {
    if (this.event === SessionEvent.NONE) {
      this.event = SessionEvent.PEER_CLOSED;
      this.code = code;
    }
  }

  fail(code: number): void {
    if (this.event === SessionEvent.NONE) {
      this.event = SessionEvent.VIOLATED;
      this.code = code;
    }
  }

  /** Takes the event the decoder raised (the lifecycle acts on it). */
  takeEvent(): SessionEvent {
    const event = this.event;
    this.event = SessionEvent.NONE;
    return event;
  }
}

/** The whole length (header and payload) of the frame whose header is at bytes[offset]. */
function frameLength(bytes: Uint8Array, offset: number): number {
  const second = bytes[offset + 1];
  const masked = (second & 0x80) !== 0 ? 4 : 0;
  const short = second & 0x7f;
  if (short < 126) return 2 + masked + short;
  if (short === 126) return 4 + masked + ((bytes[offset + 2] << 8) | bytes[offset + 3]);
  // 8-byte length: ringwire's frames stay far below 2^53.
  let length = 0;
  for (let i = 2; i < 10; i++) length = length * 256 + bytes[offset + i];
  return 10 + masked + length;
}
