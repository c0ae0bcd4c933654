/**
 * Outgoing WebSocket framing (RFC 6455 §5.2), the mirror of websocket-frame-decoder.ts.
 *
 * ```
 *  0               1               2               3
 *  F R R R opcode  M len7          extended length (len7 126: u16, 127: u64, big-endian)
 *  I S S S         A               … then the masking key (4 bytes) when MASK is set,
 *  N V V V         S               then the payload
 *    1 2 3         K
 * ```
 *
 * Every frame written here has FIN set: a message goes out as one frame (no fragmentation,
 * which the RFC leaves to the sender) and no extension is negotiated, so RSV1-3 stay clear.
 * A server's frames are unmasked; a client's are masked with a key the caller chooses (the
 * RFC wants a fresh unpredictable key per frame, e.g. from crypto.randomFillSync).
 *
 * A masking key is a u32 whose big-endian bytes are the four key bytes on the wire: key
 * 0x37fa213d is sent as 37 fa 21 3d, and payload byte j is XORed with key byte j mod 4.
 */
import { describeValue } from './describe-value.js';
import { ErrorCode, RingwireRangeError, RingwireTypeError } from './errors.js';

/** The opcodes of RFC 6455 §5.2 (the others are reserved). */
export const Opcode = {
  /** A later fragment of a text or binary message. */
  CONTINUATION: 0x0,
  /** A message whose payload is UTF-8 text. */
  TEXT: 0x1,
  /** A message of arbitrary bytes. */
  BINARY: 0x2,
  /** Closes the connection: optional u16 code, then an optional UTF-8 reason. */
  CLOSE: 0x8,
  /** Asks the peer to answer with a pong carrying the same payload. */
  PING: 0x9,
  /** The answer to a ping (or an unsolicited heartbeat). */
  PONG: 0xa,
} as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/** Largest payload of a control frame (close, ping, pong): it must fit the 7-bit length. */
export const MAX_CONTROL_PAYLOAD = 125;

/** Largest close reason in UTF-8 bytes: a control payload less the 2-byte code. */
export const MAX_CLOSE_REASON_BYTES = MAX_CONTROL_PAYLOAD - 2;

const utf8 = new TextEncoder();

/** True for opcodes 0x8-0xF: control frames, which are never fragmented and carry ≤ 125 bytes. */
function isControl(opcode: number): boolean {
  return opcode >= 0x8;
}

function isOpcode(value: unknown): value is Opcode {
  return value === 0x0 || value === 0x1 || value === 0x2 || value === 0x8 || value === 0x9 || value === 0xa;
}

function checkLength(payloadLength: number): void {
  if (typeof payloadLength !== 'number' || !Number.isSafeInteger(payloadLength) || payloadLength < 0) {
    throw new RingwireRangeError(
      ErrorCode.INVALID_ARG_VALUE,
      `payloadLength must be a non-negative safe integer, got ${describeValue(payloadLength)}`,
    );
  }
}

function checkMaskKey(maskKey: unknown): asserts maskKey is number {
  if (typeof maskKey !== 'number' || maskKey >>> 0 !== maskKey) {
    throw new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `maskKey must be a u32 (an integer 0..0xFFFFFFFF), got ${describeValue(maskKey)}`);
  }
}

/**
 * True for the close codes a close frame may carry (RFC 6455 §7.4): 1000-1003, 1007-1014
 * and 3000-4999 (registered and private use). 1004 is reserved, 1005, 1006 and 1015 are
 * for reporting only, 1016-2999 are unassigned and everything else is out of range.
 */
export function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

/**
 * Bytes of frame header in front of a payload of `payloadLength` bytes: 2 up to 125, 4 up
 * to 65535, 10 beyond; 4 more when masked (the key). Throws a RangeError when the length
 * is not a non-negative safe integer.
 */
export function frameHeaderSize(payloadLength: number, masked: boolean): number {
  checkLength(payloadLength);
  const size = payloadLength <= 125 ? 2 : payloadLength <= 0xffff ? 4 : 10;
  return masked ? size + 4 : size;
}

/**
 * Writes the header of a final (FIN) frame at `target[at]` and returns its size in bytes
 * (frameHeaderSize). The length is written big-endian in the shortest form, as the RFC
 * requires. When `masked`, `maskKey` is written after the length; the payload is the
 * caller's to mask (maskBytes with key offset 0). Throws a RangeError, writing nothing,
 * when the opcode is not one of Opcode, a control frame would carry more than 125 bytes,
 * `masked` comes without a u32 key, or the header does not fit in `target` from `at`.
 */
export function writeFrameHeader(target: Uint8Array, at: number, payloadLength: number, opcode: number, masked: boolean, maskKey?: number): number {
  if (!isOpcode(opcode)) {
    throw new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `opcode must be one of Opcode, got ${describeValue(opcode)}`);
  }
  const size = frameHeaderSize(payloadLength, masked);
  if (isControl(opcode) && payloadLength > MAX_CONTROL_PAYLOAD) {
    throw new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `a control frame carries at most ${MAX_CONTROL_PAYLOAD} bytes, got ${payloadLength}`);
  }
  if (masked) checkMaskKey(maskKey);
  // A typed array drops out-of-range writes silently; a truncated header would desync the peer.
  if (!Number.isInteger(at) || at < 0 || at + size > target.length) {
    throw new RingwireRangeError(
      ErrorCode.INVALID_ARG_VALUE,
      `at ${describeValue(at)} leaves no room for a ${size}-byte header in ${target.length} bytes`,
    );
  }
  target[at] = 0x80 | opcode;
  const maskBit = masked ? 0x80 : 0;
  let p = at + 2;
  if (payloadLength <= 125) {
    target[at + 1] = maskBit | payloadLength;
  } else if (payloadLength <= 0xffff) {
    target[at + 1] = maskBit | 126;
    target[at + 2] = payloadLength >>> 8;
    target[at + 3] = payloadLength & 0xff;
    p = at + 4;
  } else {
    target[at + 1] = maskBit | 127;
    const hi = Math.floor(payloadLength / 0x1_0000_0000);
    const lo = payloadLength >>> 0;
    target[at + 2] = hi >>> 24;
    target[at + 3] = (hi >>> 16) & 0xff;
    target[at + 4] = (hi >>> 8) & 0xff;
    target[at + 5] = hi & 0xff;
    target[at + 6] = lo >>> 24;
    target[at + 7] = (lo >>> 16) & 0xff;
    target[at + 8] = (lo >>> 8) & 0xff;
    target[at + 9] = lo & 0xff;
    p = at + 10;
  }
  if (masked) {
    const key = maskKey as number;
    target[p] = key >>> 24;
    target[p + 1] = (key >>> 16) & 0xff;
    target[p + 2] = (key >>> 8) & 0xff;
    target[p + 3] = key & 0xff;
  }
  return size;
}

/**
 * XORs `bytes[start, end)` in place with the masking key, beginning at key byte
 * `keyOffset` (0-3), and returns the key offset for the byte after `end`. Masking is its
 * own inverse, so this also unmasks. A payload split across buffers is masked piecewise:
 * start the first piece at offset 0 and each next piece at the offset the last returned.
 * Throws a RangeError when the range is not within `bytes` or the key is not a u32.
 */
export function maskBytes(bytes: Uint8Array, start: number, end: number, maskKey: number, keyOffset: number): number {
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > bytes.length) {
    throw new RingwireRangeError(
      ErrorCode.INVALID_ARG_VALUE,
      `range [${describeValue(start)}, ${describeValue(end)}) is not within ${bytes.length} bytes`,
    );
  }
  checkMaskKey(maskKey);
  const k = keyOffset & 3;
  // The key rotated so that m0 applies to bytes[start].
  const m0 = (maskKey >>> (24 - 8 * k)) & 0xff;
  const m1 = (maskKey >>> (24 - 8 * ((k + 1) & 3))) & 0xff;
  const m2 = (maskKey >>> (24 - 8 * ((k + 2) & 3))) & 0xff;
  const m3 = (maskKey >>> (24 - 8 * ((k + 3) & 3))) & 0xff;
  let i = start;
  for (const whole = end - 3; i < whole; i += 4) {
    bytes[i] ^= m0;
    bytes[i + 1] ^= m1;
    bytes[i + 2] ^= m2;
    bytes[i + 3] ^= m3;
  }
  if (i < end) bytes[i++] ^= m0;
  if (i < end) bytes[i++] ^= m1;
  if (i < end) bytes[i] ^= m2;
  return (k + (end - start)) & 3;
}

/**
 * A whole control frame (Opcode.CLOSE, PING or PONG) carrying a copy of `payload`, masked
 * with `maskKey` when one is given (a client's frames), unmasked otherwise (a server's).
 * Throws a RangeError when the opcode is not a control opcode, the payload is longer than
 * 125 bytes, or a close payload is 1 byte long (a close payload is empty or starts with a
 * 2-byte code).
 */
export function encodeControlFrame(opcode: number, payload: Uint8Array, maskKey?: number): Uint8Array {
  if (opcode !== Opcode.CLOSE && opcode !== Opcode.PING && opcode !== Opcode.PONG) {
    throw new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `opcode must be Opcode.CLOSE, PING or PONG, got ${describeValue(opcode)}`);
  }
  if (!(payload instanceof Uint8Array)) {
    throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `payload must be a Uint8Array, got ${describeValue(payload)}`);
  }
  if (opcode === Opcode.CLOSE && payload.length === 1) {
    throw new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, 'a close payload is empty or at least 2 bytes (the code), got 1 byte');
  }
  const masked = maskKey !== undefined;
  const frame = new Uint8Array(frameHeaderSize(payload.length, masked) + payload.length);
  const header = writeFrameHeader(frame, 0, payload.length, opcode, masked, maskKey);
  frame.set(payload, header);
  if (maskKey !== undefined) maskBytes(frame, header, frame.length, maskKey, 0);
  return frame;
}

/**
 * A whole close frame carrying `code` and `reason` (UTF-8, at most 123 bytes), masked with
 * `maskKey` when one is given. Throws a RangeError when the code is not one a close frame
 * may carry (isValidCloseCode) or the reason is too long.
 */
export function encodeClose(code: number, reason = '', maskKey?: number): Uint8Array {
  if (typeof code !== 'number' || !Number.isInteger(code) || !isValidCloseCode(code)) {
    throw new RingwireRangeError(
      ErrorCode.INVALID_ARG_VALUE,
      `code must be a close code a frame may carry (1000-1003, 1007-1014, 3000-4999), got ${describeValue(code)}`,
    );
  }
  if (typeof reason !== 'string') {
    throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `reason must be a string, got ${describeValue(reason)}`);
  }
  const text = utf8.encode(reason);
  if (text.length > MAX_CLOSE_REASON_BYTES) {
    throw new RingwireRangeError(
      ErrorCode.INVALID_ARG_VALUE,
      `a close reason is at most ${MAX_CLOSE_REASON_BYTES} bytes of UTF-8, got ${text.length}`,
    );
  }
  const payload = new Uint8Array(2 + text.length);
  payload[0] = code >>> 8;
  payload[1] = code & 0xff;
  payload.set(text, 2);
  return encodeControlFrame(Opcode.CLOSE, payload, maskKey);
}

/** Random bytes for masking keys, refilled as they run out (one getRandomValues call per 1024 keys). */
const maskKeys = new Uint32Array(1024);
let maskKeyAt = maskKeys.length;

/** A fresh, unpredictable masking key for a client's frame (RFC 6455 §5.3). */
export function randomMaskKey(): number {
  if (maskKeyAt === maskKeys.length) {
    crypto.getRandomValues(maskKeys);
    maskKeyAt = 0;
  }
  return maskKeys[maskKeyAt++];
}
