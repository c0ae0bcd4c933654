import { describe, expect, it } from 'vitest';
import {
  assertHeaderSize,
  encodeFrame,
  maxPayloadForHeader,
  writeFrameHeader,
  type HeaderSize,
} from '../../src/shared/frame-encoder.js';

describe('maxPayloadForHeader', () => {
  it('gives the largest length each header can announce', () => {
    expect(maxPayloadForHeader(2)).toBe(65535);
    expect(maxPayloadForHeader(4)).toBe(0xffffffff);
    expect(maxPayloadForHeader(0)).toBe(Infinity);
  });

  it('rejects other sizes', () => {
    expect(() => maxPayloadForHeader(3 as HeaderSize)).toThrow(RangeError);
  });
});

describe('writeFrameHeader', () => {
  it('writes a u16 little-endian header and returns 2', () => {
    const target = new Uint8Array(4).fill(0xee);
    expect(writeFrameHeader(target, 1, 0x1234, 2)).toBe(2);
    expect([...target]).toEqual([0xee, 0x34, 0x12, 0xee]);
  });

  it('writes a u32 little-endian header and returns 4', () => {
    const target = new Uint8Array(4);
    expect(writeFrameHeader(target, 0, 0xdeadbeef, 4)).toBe(4);
    expect([...target]).toEqual([0xef, 0xbe, 0xad, 0xde]);
  });

  it('writes the largest lengths', () => {
    const target = new Uint8Array(4);
    writeFrameHeader(target, 0, 65535, 2);
    expect([...target.subarray(0, 2)]).toEqual([0xff, 0xff]);
    writeFrameHeader(target, 0, 0xffffffff, 4);
    expect([...target]).toEqual([0xff, 0xff, 0xff, 0xff]);
  });

  it('writes nothing in raw mode and returns 0', () => {
    const target = new Uint8Array(2).fill(7);
    expect(writeFrameHeader(target, 0, 1_000_000, 0)).toBe(0);
    expect([...target]).toEqual([7, 7]);
  });

  it('rejects a length the header cannot hold, naming the length and the size', () => {
    const target = new Uint8Array(8);
    expect(() => writeFrameHeader(target, 0, 65536, 2)).toThrow(RangeError);
    expect(() => writeFrameHeader(target, 0, 65536, 2)).toThrow(/65536.*2-byte/);
    expect(() => writeFrameHeader(target, 0, 2 ** 32, 4)).toThrow(/4294967296.*4-byte/);
  });

  it('rejects negative, fractional and non-number lengths', () => {
    const target = new Uint8Array(8);
    expect(() => writeFrameHeader(target, 0, -1, 2)).toThrow(/payloadLength.*-1/);
    expect(() => writeFrameHeader(target, 0, 1.5, 2)).toThrow(RangeError);
    expect(() => writeFrameHeader(target, 0, NaN, 4)).toThrow(RangeError);
  });

  it('rejects a header that does not fit in the target and writes nothing', () => {
    const target = new Uint8Array(3);
    expect(() => writeFrameHeader(target, 2, 1, 2)).toThrow(/offset 2/);
    expect(() => writeFrameHeader(target, 0, 1, 4)).toThrow(RangeError);
    expect([...target]).toEqual([0, 0, 0]);
  });

  it('rejects an invalid header size', () => {
    expect(() => writeFrameHeader(new Uint8Array(8), 0, 1, 1 as HeaderSize)).toThrow(/headerSize.*1/);
  });
});

describe('encodeFrame', () => {
  it('frames with a u16 header by default', () => {
    expect([...encodeFrame(Uint8Array.of(1, 2, 3))]).toEqual([3, 0, 1, 2, 3]);
  });

  it('frames with a u32 header', () => {
    expect([...encodeFrame(Uint8Array.of(9), 4)]).toEqual([1, 0, 0, 0, 9]);
  });

  it('frames an empty payload', () => {
    expect([...encodeFrame(new Uint8Array(0))]).toEqual([0, 0]);
    expect([...encodeFrame(new Uint8Array(0), 4)]).toEqual([0, 0, 0, 0]);
  });

  it('copies the payload as is in raw mode', () => {
    const payload = Uint8Array.of(5, 6);
    const framed = encodeFrame(payload, 0);
    expect([...framed]).toEqual([5, 6]);
    expect(framed).not.toBe(payload);
  });

  it('frames the largest u16 payload and rejects one byte more', () => {
    const framed = encodeFrame(new Uint8Array(65535).fill(1));
    expect(framed.length).toBe(65537);
    expect([framed[0], framed[1], framed[65536]]).toEqual([0xff, 0xff, 1]);
    expect(() => encodeFrame(new Uint8Array(65536))).toThrow(/65536/);
  });

  it('rejects an invalid header size', () => {
    expect(() => encodeFrame(new Uint8Array(1), 8 as HeaderSize)).toThrow(RangeError);
  });
});

describe('assertHeaderSize', () => {
  it('accepts 0, 2 and 4', () => {
    for (const size of [0, 2, 4]) expect(() => assertHeaderSize(size, 'size')).not.toThrow();
  });

  it('throws a RangeError naming the argument and the value', () => {
    expect(() => assertHeaderSize(3, 'options.headerSize')).toThrow(RangeError);
    expect(() => assertHeaderSize(3, 'options.headerSize')).toThrow(/options\.headerSize.*3/);
    expect(() => assertHeaderSize('2', 'tcpHeaderSize')).toThrow(/tcpHeaderSize.*"2"/);
    expect(() => assertHeaderSize(undefined, 'x')).toThrow(/x.*undefined/);
    expect(() => assertHeaderSize(2.0000001, 'x')).toThrow(RangeError);
  });
});
