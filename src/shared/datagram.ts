import { Buffer } from 'node:buffer';
import { copyBytes } from './copy-bytes.js';
import { valuePackr } from './value-codec.js';

/** The largest a Datagram may grow: 256 MiB. Growing past it throws a RangeError. */
export const DATAGRAM_MAX_SIZE = 0x1000_0000;

/** A new Datagram's capacity: enough for a typical game message without growing. */
const INITIAL_CAPACITY = 64;

/** Strings up to this many UTF-16 units are tried as ASCII by a plain loop first. */
const ASCII_FAST_LIMIT = 64;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

import { describeValue } from './describe-value.js';
import { ErrorCode, RingwireRangeError, RingwireTypeError } from './errors.js';

const utf8Encoder = new TextEncoder();

/**
 * The error for a value that failed an integer range check: TypeError if not a number.
 * The checks themselves are a typeof test (bitwise operators would throw on a bigint or
 * call an object's valueOf) then one bitwise round trip, `(value & 0xffff) !== value` and
 * the like, which fails for every non-integer and out-of-range number at once and keeps
 * the add methods small enough for V8 to inline.
 */
function intError(method: string, value: unknown, min: number, max: number): Error {
  if (typeof value !== 'number') {
    return new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `${method}: value must be a number, got ${describeValue(value)} (${typeof value})`);
  }
  return new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `${method}: value must be an integer in [${min}, ${max}], got ${describeValue(value)}`);
}

/** The error for a bigint that failed a range check: TypeError if not a bigint. */
function bigintError(method: string, value: unknown, min: bigint, max: bigint): Error {
  if (typeof value !== 'bigint') {
    return new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `${method}: value must be a bigint, got ${describeValue(value)} (${typeof value})`);
  }
  return new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `${method}: value must be in [${min}n, ${max}n], got ${value}n`);
}

/** The error for a non-number given to a float add. */
function floatError(method: string, value: unknown): TypeError {
  return new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `${method}: value must be a number, got ${describeValue(value)} (${typeof value})`);
}

/** The error for a non-string given to a string add. */
function stringError(method: string, value: unknown): TypeError {
  return new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `${method}: value must be a string, got ${describeValue(value)} (${typeof value})`);
}

/** The error for a non-Uint8Array given where bytes are expected. */
function bytesError(method: string, value: unknown): TypeError {
  return new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `${method}: bytes must be a Uint8Array, got ${describeValue(value)}`);
}

/**
 * Throws TypeError unless `value` is a number, RangeError unless it is an integer in
 * `[0, max]`; `arg` names it in the message.
 * @internal Shared with DatagramIterator.
 */
export function checkCount(method: string, arg: string, value: unknown, max: number): void {
  if (typeof value !== 'number') {
    throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `${method}: ${arg} must be a number, got ${describeValue(value)} (${typeof value})`);
  }
  if (!Number.isInteger(value) || value < 0 || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? 'a non-negative integer' : `an integer in [0, ${max}]`;
    throw new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `${method}: ${arg} must be ${range}, got ${describeValue(value)}`);
  }
}

/**
 * A growable byte buffer, written front to back: Panda3D's `Datagram`, little-endian unless
 * a method's name says `Be`. Bytes live in one Uint8Array (with a DataView over it) that
 * doubles when full, so numeric adds allocate nothing once the capacity is reached.
 */
export class Datagram {
  /** @internal Backing store; bytes past `_length` are garbage. DatagramIterator reads it. */
  _bytes: Uint8Array;
  /** @internal DataView over `_bytes`, replaced together with it. */
  _view: DataView;
  /** @internal Bytes in use. */
  _length: number;
  /** @internal Whether stdfloat means float64. */
  _stdfloatDouble: boolean;

  /**
   * Makes an empty datagram, or one holding a copy of `data`: bytes, or another Datagram
   * (its bytes and its stdfloat setting, as Panda3D's copy constructor; a NetDatagram's
   * connection and address are not part of a Datagram). Throws TypeError if `data` is
   * neither, RangeError if an element of it is not a byte.
   */
  constructor(data?: Uint8Array | ArrayLike<number> | Datagram) {
    if (data instanceof Datagram) {
      const length = data._length;
      this._bytes = new Uint8Array(Math.max(length, INITIAL_CAPACITY));
      this._view = new DataView(this._bytes.buffer);
      this._length = length;
      this._stdfloatDouble = data._stdfloatDouble;
      copyBytes(this._bytes, 0, data._bytes, 0, length);
      return;
    }
    if (data !== undefined && (typeof data !== 'object' || data === null || !Number.isInteger(data.length))) {
      throw new RingwireTypeError(
        ErrorCode.INVALID_ARG_TYPE,
        `Datagram: data must be a Uint8Array, an array of bytes or a Datagram, got ${describeValue(data)}`,
      );
    }
    const length = data === undefined ? 0 : data.length;
    if (length > DATAGRAM_MAX_SIZE) {
      throw new RingwireRangeError(
        ErrorCode.DATAGRAM_TOO_LARGE,
        `Datagram: data is ${length} bytes, past DATAGRAM_MAX_SIZE (${DATAGRAM_MAX_SIZE} bytes)`,
      );
    }
    // Every field is set here, in this order, so all Datagrams share one hidden class.
    this._bytes = new Uint8Array(Math.max(length, INITIAL_CAPACITY));
    this._view = new DataView(this._bytes.buffer);
    this._length = length;
    this._stdfloatDouble = false;
    if (data instanceof Uint8Array) {
      copyBytes(this._bytes, 0, data, 0, length);
    } else if (data !== undefined) {
      for (let i = 0; i < length; i++) {
        const byte = data[i];
        if (!Number.isInteger(byte) || byte < 0 || byte > 0xff) {
          throw new RingwireRangeError(
            ErrorCode.INVALID_ARG_VALUE,
            `Datagram: data[${i}] must be an integer in [0, 255], got ${describeValue(byte)}`,
          );
        }
        this._bytes[i] = byte;
      }
    }
  }

  /** Returns the number of bytes in the datagram. */
  getLength(): number {
    return this._length;
  }

  /** Returns how many bytes the datagram can hold before it must reallocate. */
  getCapacity(): number {
    return this._bytes.length;
  }

  /**
   * Returns a copy of the datagram's bytes, as Panda3D's returns bytes: later changes to the
   * datagram (or a later getData into the same NetDatagram) do not touch it.
   */
  getMessage(): Uint8Array {
    return this._bytes.slice(0, this._length);
  }

  /**
   * Returns the datagram's bytes as a view, without copying. It is valid only until the
   * datagram next changes: a later add may move the bytes to a bigger buffer, and a
   * NetDatagram passed to `getData` is overwritten by the next call. Copy what you keep.
   * (ringwire's extension.)
   */
  getMessageView(): Uint8Array {
    return this._bytes.subarray(0, this._length);
  }

  /** Makes the datagram empty; keeps its capacity so refilling it allocates nothing. */
  clear(): void {
    this._length = 0;
  }

  /**
   * Replaces the contents with a copy of `bytes[offset, offset + length)`. Allocates only
   * when the capacity is too small. Throws TypeError if `bytes` is not a Uint8Array,
   * RangeError if the range is outside it or longer than DATAGRAM_MAX_SIZE.
   */
  assign(bytes: Uint8Array, offset = 0, length = bytes.length - offset): void {
    if (!(bytes instanceof Uint8Array)) throw bytesError('Datagram.assign', bytes);
    checkCount('Datagram.assign', 'offset', offset, bytes.length);
    checkCount('Datagram.assign', 'length', length, bytes.length - offset);
    // Nothing of the old contents survives, so a reallocation need not copy them.
    if (length > this._bytes.length) this._grow(length, 0, 'Datagram.assign');
    copyBytes(this._bytes, 0, bytes, offset, length);
    this._length = length;
  }

  /**
   * @internal The reader's refill: replaces the contents with `source[offset, offset +
   * length)`, read through `view` (a DataView over the same bytes) four bytes at a time.
   * No argument checks: the reader passes a ring record, whose payload is 4-byte aligned.
   */
  _assignFrom(source: Uint8Array, view: DataView, offset: number, length: number): void {
    if (length > this._bytes.length) this._grow(length, 0, 'Datagram.assign');
    const target = this._view;
    let i = 0;
    for (const words = length & ~3; i < words; i += 4) target.setUint32(i, view.getUint32(offset + i, true), true);
    const bytes = this._bytes;
    for (; i < length; i++) bytes[i] = source[offset + i];
    this._length = length;
  }

  /** Returns true if `other` is a Datagram holding the same bytes. */
  equals(other: Datagram): boolean {
    if (!(other instanceof Datagram)) return false;
    const length = this._length;
    if (other._length !== length) return false;
    const a = this._bytes;
    const b = other._bytes;
    for (let i = 0; i < length; i++) {
      if (a[i] !== b[i]) return false;
    }
    return true;
  }

  /** Returns an independent datagram with the same bytes and stdfloat setting. */
  copy(): Datagram {
    const result = new Datagram(this.getMessageView());
    result._stdfloatDouble = this._stdfloatDouble;
    return result;
  }

  /** Sets whether addStdfloat/getStdfloat use float64 (true) or float32 (false, the default). */
  setStdfloatDouble(stdfloatDouble: boolean): void {
    if (typeof stdfloatDouble !== 'boolean') {
      throw new RingwireTypeError(
        ErrorCode.INVALID_ARG_TYPE,
        `Datagram.setStdfloatDouble: value must be a boolean, got ${describeValue(stdfloatDouble)}`,
      );
    }
    this._stdfloatDouble = stdfloatDouble;
  }

  /** Returns true if stdfloat values are float64. */
  getStdfloatDouble(): boolean {
    return this._stdfloatDouble;
  }

  /** Adds one byte, 1 or 0; throws TypeError unless `value` is a boolean. */
  addBool(value: boolean): void {
    if (typeof value !== 'boolean') {
      throw new RingwireTypeError(
        ErrorCode.INVALID_ARG_TYPE,
        `Datagram.addBool: value must be a boolean, got ${describeValue(value)} (${typeof value})`,
      );
    }
    const at = this._claim(1, 'Datagram.addBool');
    this._bytes[at] = value ? 1 : 0;
  }

  /** Adds a signed byte; throws RangeError outside [-128, 127], TypeError for a non-number. */
  addInt8(value: number): void {
    if (typeof value !== 'number' || (value << 24) >> 24 !== value) {
      throw intError('Datagram.addInt8', value, -0x80, 0x7f);
    }
    const at = this._claim(1, 'Datagram.addInt8');
    this._bytes[at] = value;
  }

  /** Adds an unsigned byte; throws RangeError outside [0, 255], TypeError for a non-number. */
  addUint8(value: number): void {
    if (typeof value !== 'number' || (value & 0xff) !== value) {
      throw intError('Datagram.addUint8', value, 0, 0xff);
    }
    const at = this._claim(1, 'Datagram.addUint8');
    this._bytes[at] = value;
  }

  /** Adds a little-endian int16; throws RangeError out of range, TypeError for a non-number. */
  addInt16(value: number): void {
    if (typeof value !== 'number' || (value << 16) >> 16 !== value) {
      throw intError('Datagram.addInt16', value, -0x8000, 0x7fff);
    }
    const at = this._claim(2, 'Datagram.addInt16');
    this._view.setInt16(at, value, true);
  }

  /** Adds a little-endian uint16; throws RangeError out of range, TypeError for a non-number. */
  addUint16(value: number): void {
    if (typeof value !== 'number' || (value & 0xffff) !== value) {
      throw intError('Datagram.addUint16', value, 0, 0xffff);
    }
    const at = this._claim(2, 'Datagram.addUint16');
    this._view.setUint16(at, value, true);
  }

  /** Adds a little-endian int32; throws RangeError out of range, TypeError for a non-number. */
  addInt32(value: number): void {
    if (typeof value !== 'number' || (value | 0) !== value) {
      throw intError('Datagram.addInt32', value, -0x8000_0000, 0x7fff_ffff);
    }
    const at = this._claim(4, 'Datagram.addInt32');
    this._view.setInt32(at, value, true);
  }

  /** Adds a little-endian uint32; throws RangeError out of range, TypeError for a non-number. */
  addUint32(value: number): void {
    if (typeof value !== 'number' || value >>> 0 !== value) {
      throw intError('Datagram.addUint32', value, 0, 0xffff_ffff);
    }
    const at = this._claim(4, 'Datagram.addUint32');
    this._view.setUint32(at, value, true);
  }

  /** Adds a little-endian int64; throws TypeError unless `value` is a bigint, RangeError out of range. */
  addInt64(value: bigint): void {
    if (!(typeof value === 'bigint' && value >= INT64_MIN && value <= INT64_MAX)) {
      throw bigintError('Datagram.addInt64', value, INT64_MIN, INT64_MAX);
    }
    const at = this._claim(8, 'Datagram.addInt64');
    this._view.setBigInt64(at, value, true);
  }

  /** Adds a little-endian uint64; throws TypeError unless `value` is a bigint, RangeError out of range. */
  addUint64(value: bigint): void {
    if (!(typeof value === 'bigint' && value >= 0n && value <= UINT64_MAX)) {
      throw bigintError('Datagram.addUint64', value, 0n, UINT64_MAX);
    }
    const at = this._claim(8, 'Datagram.addUint64');
    this._view.setBigUint64(at, value, true);
  }

  /** Adds a little-endian float32 (rounded from `value`); throws TypeError for a non-number. */
  addFloat32(value: number): void {
    if (typeof value !== 'number') throw floatError('Datagram.addFloat32', value);
    const at = this._claim(4, 'Datagram.addFloat32');
    this._view.setFloat32(at, value, true);
  }

  /** Adds a little-endian float64; throws TypeError for a non-number. */
  addFloat64(value: number): void {
    if (typeof value !== 'number') throw floatError('Datagram.addFloat64', value);
    const at = this._claim(8, 'Datagram.addFloat64');
    this._view.setFloat64(at, value, true);
  }

  /** Adds a float32, or a float64 after `setStdfloatDouble(true)`; throws TypeError for a non-number. */
  addStdfloat(value: number): void {
    if (typeof value !== 'number') throw floatError('Datagram.addStdfloat', value);
    if (this._stdfloatDouble) {
      const at = this._claim(8, 'Datagram.addStdfloat');
      this._view.setFloat64(at, value, true);
    } else {
      const at = this._claim(4, 'Datagram.addStdfloat');
      this._view.setFloat32(at, value, true);
    }
  }

  /** Adds a big-endian int16; throws RangeError out of range, TypeError for a non-number. */
  addBeInt16(value: number): void {
    if (typeof value !== 'number' || (value << 16) >> 16 !== value) {
      throw intError('Datagram.addBeInt16', value, -0x8000, 0x7fff);
    }
    const at = this._claim(2, 'Datagram.addBeInt16');
    this._view.setInt16(at, value, false);
  }

  /** Adds a big-endian uint16; throws RangeError out of range, TypeError for a non-number. */
  addBeUint16(value: number): void {
    if (typeof value !== 'number' || (value & 0xffff) !== value) {
      throw intError('Datagram.addBeUint16', value, 0, 0xffff);
    }
    const at = this._claim(2, 'Datagram.addBeUint16');
    this._view.setUint16(at, value, false);
  }

  /** Adds a big-endian int32; throws RangeError out of range, TypeError for a non-number. */
  addBeInt32(value: number): void {
    if (typeof value !== 'number' || (value | 0) !== value) {
      throw intError('Datagram.addBeInt32', value, -0x8000_0000, 0x7fff_ffff);
    }
    const at = this._claim(4, 'Datagram.addBeInt32');
    this._view.setInt32(at, value, false);
  }

  /** Adds a big-endian uint32; throws RangeError out of range, TypeError for a non-number. */
  addBeUint32(value: number): void {
    if (typeof value !== 'number' || value >>> 0 !== value) {
      throw intError('Datagram.addBeUint32', value, 0, 0xffff_ffff);
    }
    const at = this._claim(4, 'Datagram.addBeUint32');
    this._view.setUint32(at, value, false);
  }

  /** Adds a big-endian int64; throws TypeError unless `value` is a bigint, RangeError out of range. */
  addBeInt64(value: bigint): void {
    if (!(typeof value === 'bigint' && value >= INT64_MIN && value <= INT64_MAX)) {
      throw bigintError('Datagram.addBeInt64', value, INT64_MIN, INT64_MAX);
    }
    const at = this._claim(8, 'Datagram.addBeInt64');
    this._view.setBigInt64(at, value, false);
  }

  /** Adds a big-endian uint64; throws TypeError unless `value` is a bigint, RangeError out of range. */
  addBeUint64(value: bigint): void {
    if (!(typeof value === 'bigint' && value >= 0n && value <= UINT64_MAX)) {
      throw bigintError('Datagram.addBeUint64', value, 0n, UINT64_MAX);
    }
    const at = this._claim(8, 'Datagram.addBeUint64');
    this._view.setBigUint64(at, value, false);
  }

  /** Adds a big-endian float32; throws TypeError for a non-number. */
  addBeFloat32(value: number): void {
    if (typeof value !== 'number') throw floatError('Datagram.addBeFloat32', value);
    const at = this._claim(4, 'Datagram.addBeFloat32');
    this._view.setFloat32(at, value, false);
  }

  /** Adds a big-endian float64; throws TypeError for a non-number. */
  addBeFloat64(value: number): void {
    if (typeof value !== 'number') throw floatError('Datagram.addBeFloat64', value);
    const at = this._claim(8, 'Datagram.addBeFloat64');
    this._view.setFloat64(at, value, false);
  }

  /**
   * Adds a u16 byte count then the UTF-8 bytes of `value`. Throws TypeError for a
   * non-string, RangeError if the bytes exceed 65535 (use addString32); the datagram is
   * unchanged on failure.
   */
  addString(value: string): void {
    if (typeof value !== 'string') throw stringError('Datagram.addString', value);
    const at = this._length;
    const count = this._writeUtf8(value, at + 2, 'Datagram.addString');
    if (count > 0xffff) {
      throw new RingwireRangeError(
        ErrorCode.DATAGRAM_TOO_LARGE,
        `Datagram.addString: the string is ${count} UTF-8 bytes, more than a u16 length holds (65535); use addString32`,
      );
    }
    this._view.setUint16(at, count, true);
    this._length = at + 2 + count;
  }

  /** Adds a u32 byte count then the UTF-8 bytes of `value`; throws TypeError for a non-string. */
  addString32(value: string): void {
    if (typeof value !== 'string') throw stringError('Datagram.addString32', value);
    const at = this._length;
    const count = this._writeUtf8(value, at + 4, 'Datagram.addString32');
    this._view.setUint32(at, count, true);
    this._length = at + 4 + count;
  }

  /**
   * Adds the UTF-8 bytes of `value` then a 0 byte. Throws TypeError for a non-string,
   * RangeError if `value` contains NUL (Panda3D would silently cut the string there).
   */
  addZString(value: string): void {
    if (typeof value !== 'string') throw stringError('Datagram.addZString', value);
    const nul = value.indexOf('\0');
    if (nul !== -1) {
      throw new RingwireRangeError(
        ErrorCode.INVALID_ARG_VALUE,
        `Datagram.addZString: the string contains NUL at index ${nul}, which would end it early: ${describeValue(value)}`,
      );
    }
    const at = this._length;
    const count = this._writeUtf8(value, at, 'Datagram.addZString');
    this._reserve(at + count + 1, 'Datagram.addZString');
    this._bytes[at + count] = 0;
    this._length = at + count + 1;
  }

  /**
   * Adds exactly `size` bytes: the UTF-8 bytes of `value`, cut at `size` or padded with
   * zeros. Throws TypeError for a non-string, RangeError if `size` is not a non-negative integer.
   */
  addFixedString(value: string, size: number): void {
    if (typeof value !== 'string') throw stringError('Datagram.addFixedString', value);
    checkCount('Datagram.addFixedString', 'size', size, Number.MAX_SAFE_INTEGER);
    const at = this._length;
    this._reserve(at + size, 'Datagram.addFixedString');
    // Every unit takes at least one byte, so `size + 1` units cover the first `size` bytes;
    // the extra unit keeps a surrogate pair at the cut whole. Bytes written past `size` lie
    // beyond the new length, so they are simply not kept.
    const text = value.length > size + 1 ? value.slice(0, size + 1) : value;
    const count = Math.min(this._writeUtf8(text, at, 'Datagram.addFixedString'), size);
    this._bytes.fill(0, at + count, at + size);
    this._length = at + size;
  }

  /**
   * Adds a u32 count of UTF-16 code units, then each unit as a little-endian u16 (Panda3D's
   * wstring, as on Windows). Lone surrogates round-trip. Throws TypeError for a non-string.
   */
  addWstring(value: string): void {
    if (typeof value !== 'string') throw stringError('Datagram.addWstring', value);
    const units = value.length;
    const at = this._claim(4 + units * 2, 'Datagram.addWstring');
    const view = this._view;
    view.setUint32(at, units, true);
    for (let i = 0, p = at + 4; i < units; i++, p += 2) view.setUint16(p, value.charCodeAt(i), true);
  }

  /** Adds a u16 byte count then `bytes`; throws TypeError for a non-Uint8Array, RangeError past 65535 bytes. */
  addBlob(bytes: Uint8Array): void {
    if (!(bytes instanceof Uint8Array)) throw bytesError('Datagram.addBlob', bytes);
    const count = bytes.length;
    if (count > 0xffff) {
      throw new RingwireRangeError(
        ErrorCode.DATAGRAM_TOO_LARGE,
        `Datagram.addBlob: the blob is ${count} bytes, more than a u16 length holds (65535); use addBlob32`,
      );
    }
    const at = this._claim(2 + count, 'Datagram.addBlob');
    this._view.setUint16(at, count, true);
    copyBytes(this._bytes, at + 2, bytes, 0, count);
  }

  /** Adds a u32 byte count then `bytes`; throws TypeError for a non-Uint8Array. */
  addBlob32(bytes: Uint8Array): void {
    if (!(bytes instanceof Uint8Array)) throw bytesError('Datagram.addBlob32', bytes);
    const count = bytes.length;
    const at = this._claim(4 + count, 'Datagram.addBlob32');
    this._view.setUint32(at, count, true);
    copyBytes(this._bytes, at + 4, bytes, 0, count);
  }

  /** Appends `bytes` as they are; throws TypeError for a non-Uint8Array. */
  appendData(bytes: Uint8Array): void {
    if (!(bytes instanceof Uint8Array)) throw bytesError('Datagram.appendData', bytes);
    const at = this._claim(bytes.length, 'Datagram.appendData');
    copyBytes(this._bytes, at, bytes, 0, bytes.length);
  }

  /**
   * Appends `count` zero bytes. Throws RangeError if `count` is not a non-negative integer
   * or the datagram would pass DATAGRAM_MAX_SIZE (checked before allocating).
   */
  padBytes(count: number): void {
    checkCount('Datagram.padBytes', 'count', count, Number.MAX_SAFE_INTEGER);
    const at = this._claim(count, 'Datagram.padBytes');
    // The spare capacity may hold old bytes (after clear), so zero it explicitly.
    this._bytes.fill(0, at, at + count);
  }

  /**
   * Adds any msgpack-encodable value: a u32 byte count then the msgpack bytes (ringwire's
   * extension; read it back with `getValue`). 64-bit integers travel as bigint. Throws
   * TypeError for a value msgpack cannot encode (a symbol), RangeError for a bigint
   * outside 64 bits.
   */
  addValue(value: unknown): void {
    let encoded: Uint8Array;
    try {
      encoded = valuePackr.pack(value);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const message = `Datagram.addValue: cannot encode ${describeValue(value)} as msgpack: ${reason}`;
      if (error instanceof RangeError) throw new RingwireRangeError(ErrorCode.BAD_VALUE, message, { cause: error });
      throw new RingwireTypeError(ErrorCode.BAD_VALUE, message, { cause: error });
    }
    const count = encoded.length;
    const at = this._claim(4 + count, 'Datagram.addValue');
    this._view.setUint32(at, count, true);
    copyBytes(this._bytes, at + 4, encoded, 0, count);
  }

  /**
   * Returns Panda3D's `dump_hex` text: per 16 bytes, `indent` spaces, the offset as 4+ hex
   * digits, the bytes in hex, then the printable ASCII characters ('.' for the rest).
   */
  dumpHex(indent = 0): string {
    checkCount('Datagram.dumpHex', 'indent', indent, 1024);
    const bytes = this._bytes;
    const length = this._length;
    const pad = ' '.repeat(indent);
    let out = '';
    for (let line = 0; line < length; line += 16) {
      let hex = '';
      let text = '';
      for (let p = line; p < line + 16; p++) {
        if (p < length) {
          const byte = bytes[p];
          hex += ` ${byte.toString(16).padStart(2, '0')}`;
          text += byte >= 0x20 && byte <= 0x7e ? String.fromCharCode(byte) : '.';
        } else {
          hex += '   ';
        }
      }
      out += `${pad}${line.toString(16).padStart(4, '0')} ${hex}  ${text}\n`;
    }
    return out;
  }

  /** Returns a short description: the class and the length. */
  toString(): string {
    return `Datagram(${this._length} bytes)`;
  }

  /** Claims `count` bytes at the end, growing if needed; returns where they start. */
  private _claim(count: number, method: string): number {
    const at = this._length;
    const end = at + count;
    if (end > this._bytes.length) this._grow(end, at, method);
    this._length = end;
    return at;
  }

  /** Makes the capacity at least `needed` without changing the length. */
  private _reserve(needed: number, method: string): void {
    if (needed > this._bytes.length) this._grow(needed, this._length, method);
  }

  /**
   * Moves to a buffer of at least `needed` bytes (doubling, for amortised O(1) appends),
   * keeping the first `keep` bytes. Checks the limit before allocating anything.
   */
  private _grow(needed: number, keep: number, method: string): void {
    if (needed > DATAGRAM_MAX_SIZE) {
      throw new RingwireRangeError(
        ErrorCode.DATAGRAM_TOO_LARGE,
        `${method}: the datagram would grow to ${needed} bytes, past DATAGRAM_MAX_SIZE (${DATAGRAM_MAX_SIZE} bytes)`,
      );
    }
    const capacity = Math.min(Math.max(needed, this._bytes.length * 2), DATAGRAM_MAX_SIZE);
    const bytes = new Uint8Array(capacity);
    copyBytes(bytes, 0, this._bytes, 0, keep);
    this._bytes = bytes;
    this._view = new DataView(bytes.buffer);
  }

  /**
   * Writes the UTF-8 bytes of `value` at `at`, growing the capacity as needed but leaving
   * the length alone; returns the byte count. Unpaired surrogates become U+FFFD.
   */
  private _writeUtf8(value: string, at: number, method: string): number {
    const units = value.length;
    // A UTF-16 unit never takes more than 3 UTF-8 bytes; reserve that unless it would
    // pass the limit, then ask for the exact count (an O(n) scan, only for huge strings).
    let worst = at + units * 3;
    if (worst > DATAGRAM_MAX_SIZE) worst = at + Buffer.byteLength(value, 'utf8');
    this._reserve(worst, method);
    const bytes = this._bytes;
    if (units <= ASCII_FAST_LIMIT) {
      let i = 0;
      for (; i < units; i++) {
        const code = value.charCodeAt(i);
        if (code >= 0x80) break;
        bytes[at + i] = code;
      }
      if (i === units) return units;
    }
    return utf8Encoder.encodeInto(value, bytes.subarray(at)).written;
  }
}

/** Panda3D's Python name for Datagram. */
export const PyDatagram = Datagram;
/** Panda3D's Python name for Datagram. */
export type PyDatagram = Datagram;
