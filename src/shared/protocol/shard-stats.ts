/**
 * Per-shard counters in a SharedArrayBuffer of f64 slots. The shard is the only writer
 * (plain stores, once per socket chunk or ring drain); the main thread reads snapshots
 * for stats lines and the writer's queue size.
 *
 * ```
 * slot 0  DATAGRAMS_IN    datagrams the shard decoded into its inbound ring
 * slot 1  BYTES_IN        payload bytes of those datagrams
 * slot 2  DATAGRAMS_OUT   SEND records the shard has taken from its outbound ring
 * slot 3  BYTES_OUT       bytes (with headers) handed to its sockets
 * slot 4  CONNECTIONS     connections the shard holds now
 * slot 5  PAUSES          times a socket was paused because the inbound ring was full
 * slot 6  UDP_REJECTED    UDP packets dropped: shorter than the header, a bad checksum,
 *                         empty in raw mode, or too large for a ring record
 * slot 7  UDP_OVERFLOW    UDP packets dropped because the inbound ring was full
 * slot 8  UDP_UNREAD      UDP packets dropped because their connection was in no reader
 *                         and as many as it may hold were waiting already
 * slot 9  TLS_FAILURES    TLS handshakes that failed or timed out
 * slot 10 UPGRADES_REJECTED  WebSocket upgrade requests answered 400, 403, 404 or 426 (or a
 *                         client's upgrade refused), and upgrades that timed out
 * slot 11 WS_PROTOCOL_ERRORS  WebSocket streams closed with 1002 (a protocol violation)
 * slot 12 WS_INVALID_UTF8 WebSocket streams closed with 1007 (a text message or close reason not UTF-8)
 * ```
 */
export const StatSlot = {
  DATAGRAMS_IN: 0,
  BYTES_IN: 1,
  DATAGRAMS_OUT: 2,
  BYTES_OUT: 3,
  CONNECTIONS: 4,
  PAUSES: 5,
  UDP_REJECTED: 6,
  UDP_OVERFLOW: 7,
  UDP_UNREAD: 8,
  TLS_FAILURES: 9,
  UPGRADES_REJECTED: 10,
  WS_PROTOCOL_ERRORS: 11,
  WS_INVALID_UTF8: 12,
} as const;

export const STAT_SLOTS = 13;

/** A zeroed stats block for one shard. */
export function createShardStats(): Float64Array {
  return new Float64Array(new SharedArrayBuffer(STAT_SLOTS * Float64Array.BYTES_PER_ELEMENT));
}
