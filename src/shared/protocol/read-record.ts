import type { HeaderSize } from '../frame-encoder.js';

/**
 * Payloads of two outbound records (record-kind.ts), little-endian.
 *
 * ADOPT (8 bytes, and a transport after them for a stream that speaks WebSocket or TLS):
 * ```
 * +0 i32 fd    the duplicated descriptor, or -1: the socket object is handed over
 *              in-process (single-thread mode)
 * +4 i32 slot  the connection's slot in the shard's send-backlog table, or -1 (send-backlog.ts)
 * +8 …         the TransportSpec, msgpack (transport-spec.ts), to the record's end
 * ```
 * READ (8 bytes), aux = 1 to start reading, 0 to stop:
 * ```
 * +0 u8  headerSize       0, 2 or 4 (the reader's)
 * +1 u8  raw              1 in raw mode
 * +2 u16 reserved
 * +4 u32 maxDatagramSize  the reader's limit
 * ```
 */
export const ADOPT_PAYLOAD_SIZE = 8;
export const READ_PAYLOAD_SIZE = 8;

/** How a connection's incoming bytes are cut into datagrams. */
export interface ReadSettings {
  headerSize: HeaderSize;
  raw: boolean;
  maxDatagramSize: number;
}

/** Writes a READ payload at `offset` of `bytes`. */
export function writeReadSettings(bytes: Uint8Array, offset: number, settings: ReadSettings): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, READ_PAYLOAD_SIZE);
  view.setUint8(0, settings.headerSize);
  view.setUint8(1, settings.raw ? 1 : 0);
  view.setUint16(2, 0, true);
  view.setUint32(4, settings.maxDatagramSize, true);
}

/** Reads a READ payload at `offset` of `bytes`. */
export function readReadSettings(bytes: Uint8Array, offset: number): ReadSettings {
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, READ_PAYLOAD_SIZE);
  return {
    headerSize: view.getUint8(0) as HeaderSize,
    raw: view.getUint8(1) === 1,
    maxDatagramSize: view.getUint32(4, true),
  };
}

/** Writes an ADOPT payload. */
export function writeAdopt(bytes: Uint8Array, offset: number, fd: number, slot: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, ADOPT_PAYLOAD_SIZE);
  view.setInt32(0, fd, true);
  view.setInt32(4, slot, true);
}

/** Reads an ADOPT payload's fd (-1 once taken, or in single-thread mode). */
export function readAdoptFd(bytes: Uint8Array, offset: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset + offset, ADOPT_PAYLOAD_SIZE).getInt32(0, true);
}

/**
 * Reads an ADOPT payload's fd and marks it taken (-1) in the ring: should the shard die
 * before it releases the record, the main thread closes only the fds no shard took.
 */
export function takeAdoptFd(bytes: Uint8Array, offset: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, ADOPT_PAYLOAD_SIZE);
  const fd = view.getInt32(0, true);
  view.setInt32(0, -1, true);
  return fd;
}

/** Reads an ADOPT payload's send-backlog slot. */
export function readAdoptSlot(bytes: Uint8Array, offset: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset + offset, ADOPT_PAYLOAD_SIZE).getInt32(4, true);
}
