import { udpAddressSize, writeUdpAddress } from './udp-framing.js';

/**
 * Codecs for the payloads of the outbound records the main thread frames in place
 * (record-kind.ts lists the kinds; ADOPT and READ are in read-record.ts): the main thread's
 * shard handle writes them with these, the shard's record dispatcher and UDP endpoints read
 * them with these, and no offset of them is written anywhere else. All little-endian; each
 * works on a record's payload at `at` of the ring's (or an overflow block's) bytes and view,
 * and allocates nothing.
 *
 * BROADCAST (connectionId 0):
 * ```
 * +0          u32 count          recipients
 * +4          count × u32 id     their connection ids
 * +4+4·count  the frame          header and payload, written once for all of them
 * ```
 * SEND_TO (from connectionId):
 * ```
 * +0  the destination            udp-framing.ts: family, port, address (udpAddressSize bytes)
 * +n  [u16 checksum]             Panda3D's, unless raw
 *     the datagram
 * ```
 * SEND_TO_MANY (from connectionId):
 * ```
 * +0  u32 count                  destinations
 * +4  count × destination        each as SEND_TO's
 *     [u16 checksum], the datagram, sent to every destination
 * ```
 * OPTION (aux = SocketOption): `+0 i32 value, +4 i32 seconds`.
 * SHUTDOWN (connectionId 0): `+0 f64 deadline`, the Date.now() time by which lingering
 * connections are cut.
 */

/** Bytes of an OPTION record's payload. */
export const OPTION_PAYLOAD_SIZE = 8;
/** Bytes of a SHUTDOWN record's payload. */
export const SHUTDOWN_PAYLOAD_SIZE = 8;
/** Bytes before a BROADCAST's ids, and a SEND_TO_MANY's destinations: the u32 count. */
export const COUNT_SIZE = 4;

// ── BROADCAST ─────────────────────────────────────────────────────────────

/** The payload bytes of a BROADCAST to `count` recipients of a `frameSize`-byte frame. */
export function broadcastPayloadSize(count: number, frameSize: number): number {
  return COUNT_SIZE + count * 4 + frameSize;
}

/** How many recipients one BROADCAST record of a `frameSize`-byte frame holds in a ring whose records carry `maxPayload` bytes (at least 1). */
export function broadcastIdsPerRecord(maxPayload: number, frameSize: number): number {
  return Math.max(1, Math.floor((maxPayload - COUNT_SIZE - frameSize) / 4));
}

/** Writes a BROADCAST's count and the ids `ids[first, first + count)` at `at`; returns where its frame goes. */
export function writeBroadcastIds(view: DataView, at: number, ids: Uint32Array, first: number, count: number): number {
  view.setUint32(at, count, true);
  for (let i = 0; i < count; i++) view.setUint32(at + COUNT_SIZE + i * 4, ids[first + i], true);
  return at + COUNT_SIZE + count * 4;
}

/** A BROADCAST's recipient count. */
export function readBroadcastCount(view: DataView, at: number): number {
  return view.getUint32(at, true);
}

/** A BROADCAST's `i`th recipient. */
export function readBroadcastId(view: DataView, at: number, i: number): number {
  return view.getUint32(at + COUNT_SIZE + i * 4, true);
}

/** Where a BROADCAST of `count` recipients at `at` has its frame. */
export function broadcastFrameOffset(at: number, count: number): number {
  return at + COUNT_SIZE + count * 4;
}

// ── SEND_TO and SEND_TO_MANY ──────────────────────────────────────────────

/** Bytes of the checksum header before a UDP datagram: 2, or 0 in raw mode. */
export function udpHeaderSize(raw: boolean): number {
  return raw ? 0 : 2;
}

/** The payload bytes of a SEND_TO of `length` bytes to `ip`. */
export function sendToPayloadSize(ip: string, raw: boolean, length: number): number {
  return udpAddressSize(ip) + udpHeaderSize(raw) + length;
}

/**
 * Writes a SEND_TO's destination and (unless `raw`) Panda3D's checksum `sum` at `at`;
 * returns where the datagram goes.
 */
export function writeSendToHead(bytes: Uint8Array, at: number, ip: string, port: number, raw: boolean, sum: number): number {
  writeUdpAddress(bytes, at, ip, port);
  return writeChecksum(bytes, at + udpAddressSize(ip), raw, sum);
}

/** Writes a SEND_TO_MANY's count at `at`; returns where its first destination goes. */
export function writeSendToManyCount(view: DataView, at: number, count: number): number {
  view.setUint32(at, count, true);
  return at + COUNT_SIZE;
}

/** A SEND_TO_MANY's destination count. */
export function readSendToManyCount(view: DataView, at: number): number {
  return view.getUint32(at, true);
}

/** Writes one SEND_TO_MANY destination at `at`; returns where the next goes. */
export function writeDestination(bytes: Uint8Array, at: number, ip: string, port: number): number {
  writeUdpAddress(bytes, at, ip, port);
  return at + udpAddressSize(ip);
}

/** Writes Panda3D's checksum header (nothing when `raw`) at `at`; returns where the datagram goes. */
export function writeChecksum(bytes: Uint8Array, at: number, raw: boolean, sum: number): number {
  if (raw) return at;
  bytes[at] = sum & 0xff;
  bytes[at + 1] = sum >>> 8;
  return at + 2;
}

// ── OPTION ────────────────────────────────────────────────────────────────

/** Writes an OPTION payload. */
export function writeOption(view: DataView, at: number, value: number, seconds: number): void {
  view.setInt32(at, value, true);
  view.setInt32(at + 4, seconds, true);
}

/** An OPTION's value. */
export function readOptionValue(view: DataView, at: number): number {
  return view.getInt32(at, true);
}

/** An OPTION's seconds (SO_LINGER). */
export function readOptionSeconds(view: DataView, at: number): number {
  return view.getInt32(at + 4, true);
}

// ── SHUTDOWN ──────────────────────────────────────────────────────────────

/** Writes a SHUTDOWN payload: the Date.now() time by which lingering connections are cut. */
export function writeShutdown(view: DataView, at: number, deadline: number): void {
  view.setFloat64(at, deadline, true);
}

/** A SHUTDOWN's deadline; Infinity for a record without one. */
export function readShutdownDeadline(view: DataView, at: number, length: number): number {
  return length >= SHUTDOWN_PAYLOAD_SIZE ? view.getFloat64(at, true) : Infinity;
}
