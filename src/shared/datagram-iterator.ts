import { DATAGRAM_MAX_SIZE, Datagram, checkCount } from './datagram.js';
import { describeValue } from './describe-value.js';
import { valueUnpackr } from './value-codec.js';
import { ErrorCode, RingwireRangeError, RingwireTypeError } from './errors.js';

/**
 * Strings up to this many bytes are tried as ASCII in JS before TextDecoder: for short
 * strings, building them 8 characters per String.fromCharCode call beats the native call.
 */
const ASCII_FAST_LIMIT = 24;

/** Code units per String.fromCharCode call in getWstring: well under the engine's argument limit. */
const WSTRING_CHUNK = 4096;

// ignoreBOM keeps a leading U+FEFF in the text instead of stripping it, so strings round-trip.
const utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** The error for a read that needs more bytes than the datagram has left. */
function overrun(method: string, needed: number, at: number, length: number): RangeError {
  const remain = Math.max(0, length - at);
  return new RingwireRangeError(
    ErrorCode.READ_PAST_END,
    `${method}: needs ${needed} bytes at offset ${at}, only ${remain} remain (datagram length ${length})`,
  );
}

/** Decodes `bytes[start, end)` as UTF-8. */
function decodeUtf8(bytes: Uint8Array, start: number, end: number): string {
  if (end - start <= ASCII_FAST_LIMIT) {
    const text = decodeShortAscii(bytes, start, end);
    if (text !== null) return text;
  }
  return utf8Decoder.decode(bytes.subarray(start, end));
}

/** Returns `bytes[start, end)` as a string if every byte is ASCII, else null. */
function decodeShortAscii(bytes: Uint8Array, start: number, end: number): string | null {
  let text = '';
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const c0 = bytes[i];
    const c1 = bytes[i + 1];
    const c2 = bytes[i + 2];
    const c3 = bytes[i + 3];
    const c4 = bytes[i + 4];
    const c5 = bytes[i + 5];
    const c6 = bytes[i + 6];
    const c7 = bytes[i + 7];
    if ((c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7) >= 0x80) return null;
    text += String.fromCharCode(c0, c1, c2, c3, c4, c5, c6, c7);
  }
  for (; i < end; i++) {
    const c = bytes[i];
    if (c >= 0x80) return null;
    text += String.fromCharCode(c);
  }
  return text;
}

/**
 * Reads a Datagram front to back: Panda3D's `DatagramIterator`. Each `get*` reads the
 * datagram's current bytes, so it stays correct when the datagram grows or is refilled.
 * A read that would pass the end throws a RangeError naming the method and the sizes, and
 * leaves the position where it was.
 */
export class DatagramIterator {
  private _datagram: Datagram;
  private _index: number;

  /**
   * Starts reading `datagram` at `offset`. Throws TypeError for a non-Datagram, RangeError
   * if `offset` is not an integer in [0, its length].
   */
  constructor(datagram: Datagram, offset = 0) {
    this._datagram = DatagramIterator._checkDatagram(datagram, 'DatagramIterator');
    // Set before the check (which reads the datagram) so the fields keep one order.
    this._index = 0;
    this._index = this._checkOffset(offset, 'DatagramIterator');
  }

  /** Re-points this iterator at `datagram`, `offset`, to reuse it; throws like the constructor. */
  assign(datagram: Datagram, offset = 0): void {
    this._datagram = DatagramIterator._checkDatagram(datagram, 'DatagramIterator.assign');
    this._index = this._checkOffset(offset, 'DatagramIterator.assign');
  }

  /** Returns the datagram being read. */
  getDatagram(): Datagram {
    return this._datagram;
  }

  /** Returns the offset of the next byte to read. */
  getCurrentIndex(): number {
    return this._index;
  }

  /** Returns how many bytes are left to read (0 if the datagram shrank below the position). */
  getRemainingSize(): number {
    return Math.max(0, this._datagram._length - this._index);
  }

  /** Returns a copy of the bytes left to read, without moving past them. */
  getRemainingBytes(): Uint8Array {
    const dg = this._datagram;
    return dg._bytes.slice(Math.min(this._index, dg._length), dg._length);
  }

  /**
   * Returns a copy of the next `count` bytes and moves past them (Panda3D's extract_bytes).
   * Throws RangeError if fewer remain or `count` is not a non-negative integer.
   */
  extractBytes(count: number): Uint8Array {
    checkCount('DatagramIterator.extractBytes', 'count', count, DATAGRAM_MAX_SIZE);
    const at = this._take(count, 'DatagramIterator.extractBytes');
    return this._datagram._bytes.slice(at, at + count);
  }

  /**
   * Moves past `count` bytes. Throws RangeError if fewer remain or `count` is not a
   * non-negative integer, TypeError for a non-number.
   */
  skipBytes(count: number): void {
    checkCount('DatagramIterator.skipBytes', 'count', count, DATAGRAM_MAX_SIZE);
    this._take(count, 'DatagramIterator.skipBytes');
  }

  /** Reads one byte as a boolean (any non-zero is true); throws RangeError past the end. */
  getBool(): boolean {
    const at = this._take(1, 'DatagramIterator.getBool');
    return this._datagram._bytes[at] !== 0;
  }

  /** Reads a signed byte; throws RangeError past the end. */
  getInt8(): number {
    const at = this._take(1, 'DatagramIterator.getInt8');
    return (this._datagram._bytes[at] << 24) >> 24;
  }

  /** Reads an unsigned byte; throws RangeError past the end. */
  getUint8(): number {
    const at = this._take(1, 'DatagramIterator.getUint8');
    return this._datagram._bytes[at];
  }

  /** Reads a little-endian int16; throws RangeError past the end. */
  getInt16(): number {
    const at = this._take(2, 'DatagramIterator.getInt16');
    return this._datagram._view.getInt16(at, true);
  }

  /** Reads a little-endian uint16; throws RangeError past the end. */
  getUint16(): number {
    const at = this._take(2, 'DatagramIterator.getUint16');
    return this._datagram._view.getUint16(at, true);
  }

  /** Reads a little-endian int32; throws RangeError past the end. */
  getInt32(): number {
    const at = this._take(4, 'DatagramIterator.getInt32');
    return this._datagram._view.getInt32(at, true);
  }

  /** Reads a little-endian uint32; throws RangeError past the end. */
  getUint32(): number {
    const at = this._take(4, 'DatagramIterator.getUint32');
    return this._datagram._view.getUint32(at, true);
  }

  /** Reads a little-endian int64 as a bigint; throws RangeError past the end. */
  getInt64(): bigint {
    const at = this._take(8, 'DatagramIterator.getInt64');
    return this._datagram._view.getBigInt64(at, true);
  }

  /** Reads a little-endian uint64 as a bigint; throws RangeError past the end. */
  getUint64(): bigint {
    const at = this._take(8, 'DatagramIterator.getUint64');
    return this._datagram._view.getBigUint64(at, true);
  }

  /** Reads a little-endian float32; throws RangeError past the end. */
  getFloat32(): number {
    const at = this._take(4, 'DatagramIterator.getFloat32');
    return this._datagram._view.getFloat32(at, true);
  }

  /** Reads a little-endian float64; throws RangeError past the end. */
  getFloat64(): number {
    const at = this._take(8, 'DatagramIterator.getFloat64');
    return this._datagram._view.getFloat64(at, true);
  }

  /** Reads a float32, or a float64 if the datagram's stdfloat is double; throws RangeError past the end. */
  getStdfloat(): number {
    const dg = this._datagram;
    if (dg._stdfloatDouble) {
      const at = this._take(8, 'DatagramIterator.getStdfloat');
      return dg._view.getFloat64(at, true);
    }
    const at = this._take(4, 'DatagramIterator.getStdfloat');
    return dg._view.getFloat32(at, true);
  }

  /** Reads a big-endian int16; throws RangeError past the end. */
  getBeInt16(): number {
    const at = this._take(2, 'DatagramIterator.getBeInt16');
    return this._datagram._view.getInt16(at, false);
  }

  /** Reads a big-endian uint16; throws RangeError past the end. */
  getBeUint16(): number {
    const at = this._take(2, 'DatagramIterator.getBeUint16');
    return this._datagram._view.getUint16(at, false);
  }

  /** Reads a big-endian int32; throws RangeError past the end. */
  getBeInt32(): number {
    const at = this._take(4, 'DatagramIterator.getBeInt32');
    return this._datagram._view.getInt32(at, false);
  }

  /** Reads a big-endian uint32; throws RangeError past the end. */
  getBeUint32(): number {
    const at = this._take(4, 'DatagramIterator.getBeUint32');
    return this._datagram._view.getUint32(at, false);
  }

  /** Reads a big-endian int64 as a bigint; throws RangeError past the end. */
  getBeInt64(): bigint {
    const at = this._take(8, 'DatagramIterator.getBeInt64');
    return this._datagram._view.getBigInt64(at, false);
  }

  /** Reads a big-endian uint64 as a bigint; throws RangeError past the end. */
  getBeUint64(): bigint {
    const at = this._take(8, 'DatagramIterator.getBeUint64');
    return this._datagram._view.getBigUint64(at, false);
  }

  /** Reads a big-endian float32; throws RangeError past the end. */
  getBeFloat32(): number {
    const at = this._take(4, 'DatagramIterator.getBeFloat32');
    return this._datagram._view.getFloat32(at, false);
  }

  /** Reads a big-endian float64; throws RangeError past the end. */
  getBeFloat64(): number {
    const at = this._take(8, 'DatagramIterator.getBeFloat64');
    return this._datagram._view.getFloat64(at, false);
  }

  /** Reads a u16 byte count then that many UTF-8 bytes; throws RangeError if either is cut short. */
  getString(): string {
    const start = this._takePrefixed(2, 1, 'DatagramIterator.getString');
    return decodeUtf8(this._datagram._bytes, start, this._index);
  }

  /** Reads a u32 byte count then that many UTF-8 bytes; throws RangeError if either is cut short. */
  getString32(): string {
    const start = this._takePrefixed(4, 1, 'DatagramIterator.getString32');
    return decodeUtf8(this._datagram._bytes, start, this._index);
  }

  /** Reads UTF-8 bytes up to a 0 byte and moves past it; throws RangeError if there is no 0 byte. */
  getZString(): string {
    const dg = this._datagram;
    const bytes = dg._bytes;
    const length = dg._length;
    const start = this._index;
    const nul = start < length ? bytes.indexOf(0, start) : -1;
    if (nul === -1 || nul >= length) {
      const remain = Math.max(0, length - start);
      throw new RingwireRangeError(
        ErrorCode.READ_PAST_END,
        `DatagramIterator.getZString: no 0 byte ends the string in the ${remain} bytes from offset ${start} ` + `(datagram length ${length})`,
      );
    }
    this._index = nul + 1;
    return decodeUtf8(bytes, start, nul);
  }

  /** Reads exactly `size` bytes as UTF-8, ending the text at the first 0 byte; throws RangeError past the end. */
  getFixedString(size: number): string {
    checkCount('DatagramIterator.getFixedString', 'size', size, DATAGRAM_MAX_SIZE);
    const start = this._take(size, 'DatagramIterator.getFixedString');
    const bytes = this._datagram._bytes;
    const end = start + size;
    let stop = start;
    while (stop < end && bytes[stop] !== 0) stop++;
    return decodeUtf8(bytes, start, stop);
  }

  /** Reads a u32 count of UTF-16 code units then each as a little-endian u16; throws RangeError if cut short. */
  getWstring(): string {
    const start = this._takePrefixed(4, 2, 'DatagramIterator.getWstring');
    const view = this._datagram._view;
    const end = this._index;
    let text = '';
    const chunk: number[] = [];
    for (let p = start; p < end; p += 2) {
      chunk.push(view.getUint16(p, true));
      if (chunk.length === WSTRING_CHUNK) {
        text += String.fromCharCode(...chunk);
        chunk.length = 0;
      }
    }
    return chunk.length === 0 ? text : text + String.fromCharCode(...chunk);
  }

  /** Returns a copy of a u16-length-prefixed byte block; throws RangeError if cut short. */
  getBlob(): Uint8Array {
    const start = this._takePrefixed(2, 1, 'DatagramIterator.getBlob');
    return this._datagram._bytes.slice(start, this._index);
  }

  /** Returns a copy of a u32-length-prefixed byte block; throws RangeError if cut short. */
  getBlob32(): Uint8Array {
    const start = this._takePrefixed(4, 1, 'DatagramIterator.getBlob32');
    return this._datagram._bytes.slice(start, this._index);
  }

  /**
   * Reads a value written by `addValue`: a u32 byte count then msgpack. Throws RangeError
   * if cut short or if the bytes are not exactly one msgpack value (position unchanged).
   */
  getValue(): unknown {
    const at = this._index;
    const start = this._takePrefixed(4, 1, 'DatagramIterator.getValue');
    const end = this._index;
    if (start === end) {
      this._index = at;
      throw new RingwireRangeError(ErrorCode.BAD_VALUE, `DatagramIterator.getValue: the value at offset ${at} is empty (0 bytes of msgpack)`);
    }
    try {
      return valueUnpackr.unpack(this._datagram._bytes.subarray(start, end));
    } catch (error) {
      this._index = at;
      const reason = error instanceof Error ? error.message : String(error);
      throw new RingwireRangeError(
        ErrorCode.BAD_VALUE,
        `DatagramIterator.getValue: the ${end - start} bytes at offset ${start} are not one msgpack value: ${reason}`,
        {
          cause: error,
        },
      );
    }
  }

  /** Advances by `count` bytes and returns where they start; throws RangeError if fewer remain. */
  private _take(count: number, method: string): number {
    const at = this._index;
    const end = at + count;
    const length = this._datagram._length;
    if (end > length) throw overrun(method, count, at, length);
    this._index = end;
    return at;
  }

  /**
   * Reads a little-endian count of `prefixSize` bytes, then advances past the prefix and
   * `count * unitSize` bytes; returns where those bytes start. Checks both parts before
   * moving, so a failure leaves the position unchanged.
   */
  private _takePrefixed(prefixSize: 2 | 4, unitSize: number, method: string): number {
    const dg = this._datagram;
    const at = this._index;
    const length = dg._length;
    if (at + prefixSize > length) throw overrun(method, prefixSize, at, length);
    const count = prefixSize === 2 ? dg._view.getUint16(at, true) : dg._view.getUint32(at, true);
    const start = at + prefixSize;
    const end = start + count * unitSize;
    if (end > length) throw overrun(method, count * unitSize, start, length);
    this._index = end;
    return start;
  }

  private static _checkDatagram(datagram: Datagram, method: string): Datagram {
    if (!(datagram instanceof Datagram)) {
      throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `${method}: datagram must be a Datagram, got ${describeValue(datagram)}`);
    }
    return datagram;
  }

  /** Returns `offset` if it is an integer in [0, datagram length]; throws RangeError otherwise. */
  private _checkOffset(offset: number, method: string): number {
    checkCount(method, 'offset', offset, this._datagram._length);
    return offset;
  }
}

/** Panda3D's Python name for DatagramIterator. */
export const PyDatagramIterator = DatagramIterator;
/** Panda3D's Python name for DatagramIterator. */
export type PyDatagramIterator = DatagramIterator;
