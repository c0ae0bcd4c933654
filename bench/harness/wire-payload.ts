/**
 * The harness's datagram payload, so every echo can be checked and timed:
 * ```
 * +0  u32 connection index (within the run)
 * +4  u32 sequence number (per connection, from 0)
 * +8  f64 intended send time (ms, performance.timeOrigin-relative: performance.now())
 * +16 u32 checksum of bytes [20, length) (FNV-1a)
 * +20 filler: bytes derived from (connection, sequence), up to the payload size
 * ```
 * The smallest payload is therefore 20 bytes.
 */
export const PAYLOAD_HEADER = 20;

/** FNV-1a over bytes[start, end). */
export function checksum(bytes: Uint8Array, start: number, end: number): number {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    hash ^= bytes[i];
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** Fills `target[0, length)` with a payload for (connection, sequence) sent at `intendedMs`. */
export function writePayload(target: Uint8Array, length: number, connection: number, sequence: number, intendedMs: number): void {
  if (length < PAYLOAD_HEADER) throw new RangeError(`harness payloads are at least ${PAYLOAD_HEADER} bytes, got ${length}`);
  const view = new DataView(target.buffer, target.byteOffset, length);
  view.setUint32(0, connection, true);
  view.setUint32(4, sequence, true);
  view.setFloat64(8, intendedMs, true);
  let x = (connection * 2654435761 + sequence) >>> 0;
  for (let i = PAYLOAD_HEADER; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    target[i] = x >>> 24;
  }
  view.setUint32(16, checksum(target, PAYLOAD_HEADER, length), true);
}

/** What readPayload found. */
export interface PayloadFields {
  connection: number;
  sequence: number;
  intendedMs: number;
  /** False when the checksum does not match the filler (a corrupted datagram). */
  intact: boolean;
}

/** Scratch for reading the f64 without a DataView per datagram. */
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);

/** A little-endian u32 at bytes[at]. */
function u32(bytes: Uint8Array, at: number): number {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
}

/** Reads the fields of a payload at bytes[offset, offset + length) into `out`; false if too short. Allocates nothing. */
export function readPayload(bytes: Uint8Array, offset: number, length: number, out: PayloadFields): boolean {
  if (length < PAYLOAD_HEADER) return false;
  out.connection = u32(bytes, offset);
  out.sequence = u32(bytes, offset + 4);
  for (let i = 0; i < 8; i++) f64Bytes[i] = bytes[offset + 8 + i];
  out.intendedMs = f64[0];
  out.intact = u32(bytes, offset + 16) === checksum(bytes, offset + PAYLOAD_HEADER, offset + length);
  return true;
}
