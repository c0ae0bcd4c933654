import type { Socket } from 'node:net';
import { FrameDecoder } from '../shared/frame-decoder.js';
import type { WebSocketSession } from './websocket-session.js';

/** What cuts a stream's bytes into datagrams: Panda3D's framing, or WebSocket messages. */
export type InboundDecoder = Pick<FrameDecoder, 'headerSize' | 'maxDatagramSize' | 'write' | 'resume' | 'reset' | 'setFraming' | 'bufferedBytes'>;

/**
 * Where a shard's TCP connection is in its life. The transitions live in
 * connection-lifecycle.ts, nowhere else:
 * ```
 *            peer FIN                      RELEASE (main saw CLOSED)
 *   OPEN ──────────────▶ HALF_CLOSED ─────────────────────────┐
 *     │  CLOSE / SHUTDOWN      │ CLOSE / SHUTDOWN              ▼
 *     └────────────────────────┴──────────────────────────▶ CLOSING ──FIN both ways,
 *     │                                                        │      or linger cut──┐
 *     └── socket error / close / reset (a cut) ────────────────┴──────────────────▶ GONE
 * ```
 * - OPEN: read when asked, written as SENDs arrive.
 * - HALF_CLOSED: the peer sent FIN and the CLOSED record is out, but the socket still
 *   writes: the main thread may be replying to the peer's last datagrams. It stays so until
 *   the main thread has seen CLOSED (its RELEASE record), after which no SEND follows.
 * - CLOSING: queued bytes go out, then our FIN; input is read and discarded; the peer is
 *   cut (RST) only when it takes nothing for closeLingerMs.
 * - GONE: the socket is destroyed. The connection leaves the shard once its CLOSED record
 *   is written (it may wait for held data to be delivered first).
 */
export const ConnectionState = {
  OPEN: 0,
  HALF_CLOSED: 1,
  CLOSING: 2,
  GONE: 3,
} as const;
export type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState];

/** One adopted socket: its state, its framing and its write queue. Created once per connection. */
export class ShardConnection {
  state: ConnectionState = ConnectionState.OPEN;
  /** The reset reason code its CLOSED record carries. */
  reason = 0;
  /** The CLOSED record has been written. */
  reported = false;
  decoder: InboundDecoder = new FrameDecoder({ headerSize: 2 });
  /** The stream's WebSocket side, or null for Panda3D's framing. */
  session: WebSocketSession<ShardConnection> | null = null;
  /**
   * False while its TLS handshake or WebSocket upgrade is under way: its socket flows
   * whatever the reader asked (the handshake needs it), and what the program sent waits.
   */
  ready = true;
  /** Bytes that came after a WebSocket upgrade before anyone read the stream (fed first when reading starts). */
  pendingInput: Uint8Array | null = null;
  /** Its TLS handshake is under way. */
  tlsPending = false;
  /**
   * CLOSE came while its handshake was under way (state CLOSING, CLOSED reported): once
   * the handshake is done, what the program sent goes out, then the close.
   */
  closeWhenReady = false;
  /** The handshake's deadline (handshakeTimeoutMs), while one is under way. */
  handshakeTimer: NodeJS.Timeout | null = null;
  /** It is being cut (RST): events its socket raises meanwhile are not new failures. */
  resetting = false;
  /** The TCP socket under a TLS stream (`socket` is then the TLSSocket), or null. */
  raw: Socket | null = null;
  /** A WebSocket rendezvous's maxPayload (0: the reader's limit alone). */
  maxPayload = 0;
  /** Bytes of a datagram too large for one record already written as DATA_LARGE parts. */
  largeWritten = 0;
  /**
   * setLinger: -1 (off) lingers the manager's closeLingerMs; 0 makes closeConnection reset
   * the connection (RST) rather than end it; more is how long its close may linger (ms).
   */
  lingerMs = -1;
  /** Reading was asked for by a READ record. */
  reading = false;
  /** In the inbound writer's blocked list: held data or a CLOSED record wait for ring room. */
  blocked = false;
  /** The shard's clock when a datagram last completed (or reading began). */
  lastActivity = 0;
  /**
   * Slot in the send-backlog table, or -1; retired (send-backlog.ts) when the main thread
   * has taken the CLOSED record (RELEASE) or the connection leaves the shard.
   */
  backlogSlot = -1;
  /** Bytes taken from the ring for this connection so far. */
  takenBytes = 0;

  // ── the write side (socket-writer.ts) ──
  /** Bytes of this batch not yet handed to the socket, coalesced. */
  out: Buffer | null = null;
  outLength = 0;
  /** In the writer's dirty list for this batch. */
  dirty = false;
  /** Bytes handed to socket.write so far. */
  written = 0;
  /** written − socket.writableLength when last looked at: what the kernel has taken. */
  kernelSeen = 0;
  /** The shard's clock when the kernel last took bytes (or the backlog began). */
  lastProgress = 0;
  /** In the writer's watch list: it has a backlog, or it is closing. */
  watched = false;
  /** socket.writableLength when last looked at (the shard's budget sums these). */
  queuedSeen = 0;

  readonly onData: (chunk: Buffer) => void;

  constructor(
    readonly id: number,
    /** The stream: the adopted socket, or the TLS socket over it. */
    readonly socket: Socket,
    /** Where its socket chunks go (the inbound writer). */
    sink: { onData(conn: ShardConnection, chunk: Buffer): void },
  ) {
    this.onData = sink.onData.bind(sink, this);
  }
}
