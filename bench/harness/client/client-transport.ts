/**
 * What a workload needs from a client: open connection `index`, send a payload on it, and
 * hear back every echo and every reset. Three transports implement it: `TcpClient`
 * (Panda3D framing through ringwire's own client side), `UdpClient` (Panda3D UDP packets,
 * one ringwire UDP socket per connection) and `WsClient` (binary WebSocket messages
 * through the `ws` package). Connections are named by their index in the run
 * (0 … connections − 1), the same index every payload carries.
 */
import type { Transport, UdpDrops } from '../report.js';

/** Receives what arrives on the client's connections. */
export interface ClientSink {
  /**
   * One datagram (an echo) on connection `index`: `bytes[offset, offset + length)`, valid
   * only during the call. `receivedAt` is when it was seen (performance.now(), ms).
   */
  onEcho(index: number, bytes: Uint8Array, offset: number, length: number, receivedAt: number): void;
  /** Connection `index` was closed by the server or failed (never called for a local close). */
  onReset(index: number): void;
}

/** A client with many connections to one target. */
export interface ClientTransport {
  readonly transport: Transport;
  /**
   * True when echoes arrive only through {@link poll} (ringwire's reader is polled; its
   * {@link waitForData} says when to); false when they arrive as events by themselves.
   */
  readonly polled: boolean;
  /**
   * Opens connection `index`. Resolves false when it was refused, failed or took longer
   * than `timeoutMs`; {@link lastError} then says why.
   */
  connect(index: number, timeoutMs: number): Promise<boolean>;
  /**
   * Sends `bytes[0, length)` on connection `index` as one datagram. Returns false, sending
   * nothing, when the connection is closed or its queue is full now (retry later).
   */
  send(index: number, bytes: Uint8Array, length: number): boolean;
  /** Hands every echo and reset that has arrived to the sink; returns how many echoes. */
  poll(now: number): number;
  /**
   * Polled clients that can sleep until something arrives: resolves true when an echo or
   * a reset is there to poll, false after `timeoutMs`.
   */
  waitForData?(timeoutMs: number): Promise<boolean>;
  /** UDP only: the packets the client's reader dropped so far. */
  udpDrops?(): UdpDrops;
  /** The last connect failure, or null. */
  lastError(): Error | null;
  /** Closes every connection (and the client's worker threads). Safe to call twice. */
  close(): Promise<void>;
}
