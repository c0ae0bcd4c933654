import { describeValue } from './describe-value.js';
import { ErrorCode, RingwireRangeError } from './errors.js';
/**
 * Outgoing TCP framing, the mirror of frame-decoder.ts.
 *
 * Panda3D precedes every TCP datagram with its payload length (header excluded),
 * little-endian: a u16 by default, a u32 with header size 4, nothing at all with header
 * size 0 (raw mode: the bytes go out as they are and the peer sees no boundaries).
 *
 * ```
 * header 2:  [len & 0xff][len >> 8] payload…            len ≤ 65535
 * header 4:  [b0][b1][b2][b3]        payload…            len ≤ 0xFFFFFFFF
 * header 0:                          payload…            no limit, no boundaries
 * ```
 */

/** Bytes of length header in front of each TCP datagram; 0 is raw mode. */
export type HeaderSize = 0 | 2 | 4;

/**
 * Checks that `value` is a header size ringwire speaks.
 * Throws a RangeError naming `what` and the value when it is not 0, 2 or 4.
 */
export function assertHeaderSize(value: unknown, what: string): asserts value is HeaderSize {
  if (value !== 0 && value !== 2 && value !== 4) {
    throw new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `${what} must be 0, 2 or 4, got ${describeValue(value)}`);
  }
}

/**
 * The largest payload one header of `headerSize` bytes can announce: 65535 for 2,
 * 0xFFFFFFFF for 4, Infinity for raw mode (0). Throws a RangeError for any other size.
 */
export function maxPayloadForHeader(headerSize: HeaderSize): number {
  if (headerSize === 2) return 0xffff;
  if (headerSize === 4) return 0xffffffff;
  assertHeaderSize(headerSize, 'headerSize');
  return Infinity;
}

/**
 * Writes the little-endian length header for a payload of `payloadLength` bytes at
 * `target[offset]` and returns the number of header bytes written (0 in raw mode).
 * Throws a RangeError when the length does not fit the header (naming the length and the
 * header size), is not a non-negative integer, or the header does not fit in `target`;
 * nothing is written then.
 */
export function writeFrameHeader(target: Uint8Array, offset: number, payloadLength: number, headerSize: HeaderSize): number {
  if (!Number.isInteger(payloadLength) || payloadLength < 0) {
    throw new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `payloadLength must be a non-negative integer, got ${describeValue(payloadLength)}`);
  }
  const max = maxPayloadForHeader(headerSize);
  if (payloadLength > max) {
    throw new RingwireRangeError(
      ErrorCode.DATAGRAM_TOO_LARGE,
      `payloadLength ${payloadLength} exceeds ${max}, the most a ${headerSize}-byte header can announce`,
    );
  }
  // A typed array silently drops out-of-range writes; a truncated header would desync the peer.
  if (!Number.isInteger(offset) || offset < 0 || offset + headerSize > target.length) {
    throw new RingwireRangeError(
      ErrorCode.INVALID_ARG_VALUE,
      `offset ${describeValue(offset)} leaves no room for a ${headerSize}-byte header in ${target.length} bytes`,
    );
  }
  if (headerSize === 2) {
    target[offset] = payloadLength & 0xff;
    target[offset + 1] = payloadLength >>> 8;
  } else if (headerSize === 4) {
    target[offset] = payloadLength & 0xff;
    target[offset + 1] = (payloadLength >>> 8) & 0xff;
    target[offset + 2] = (payloadLength >>> 16) & 0xff;
    target[offset + 3] = payloadLength >>> 24;
  }
  return headerSize;
}

/**
 * Returns a new array holding the header for `payload` followed by a copy of it.
 * Throws a RangeError when the payload is too long for `headerSize` or the size is invalid.
 */
export function encodeFrame(payload: Uint8Array, headerSize: HeaderSize = 2): Uint8Array {
  assertHeaderSize(headerSize, 'headerSize');
  const framed = new Uint8Array(headerSize + payload.length);
  writeFrameHeader(framed, 0, payload.length, headerSize);
  framed.set(payload, headerSize);
  return framed;
}
