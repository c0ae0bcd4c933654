/** Why a connection ended, as `Connection.getResetReason()` reports it. */
export type ResetReason =
  'closed-by-peer' | 'closed-locally' | 'oversized-datagram' | 'slow-consumer' | 'idle-timeout' | 'handshake-failed' | 'protocol-error' | 'error';

/** The reasons as the u8 codes carried in a CLOSED record's aux byte. */
export const ResetReasonCode = {
  CLOSED_BY_PEER: 1,
  CLOSED_LOCALLY: 2,
  OVERSIZED_DATAGRAM: 3,
  SLOW_CONSUMER: 4,
  IDLE_TIMEOUT: 5,
  ERROR: 6,
  /** The TLS handshake or the WebSocket upgrade failed, or did not finish within handshakeTimeoutMs. */
  HANDSHAKE_FAILED: 7,
  /** The peer broke the WebSocket protocol (closed with 1002 or 1007). */
  PROTOCOL_ERROR: 8,
} as const;

const names: readonly ResetReason[] = [
  'error',
  'closed-by-peer',
  'closed-locally',
  'oversized-datagram',
  'slow-consumer',
  'idle-timeout',
  'error',
  'handshake-failed',
  'protocol-error',
];

/** The reason a CLOSED record's code stands for ('error' for an unknown code). */
export function resetReasonName(code: number): ResetReason {
  return names[code] ?? 'error';
}
