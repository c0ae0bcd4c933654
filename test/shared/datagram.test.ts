import { describe, expect, it } from 'vitest';
import { DATAGRAM_MAX_SIZE, Datagram, PyDatagram } from '../../src/shared/datagram.js';
import { DatagramIterator } from '../../src/shared/datagram-iterator.js';

/**
 * One encoding: what to add, the bytes Panda3D's format gives for it (written by hand
 * from the format, never computed by the code under test), and how to read it back.
 */
interface Vector {
  name: string;
  write: (dg: Datagram) => void;
  read: (it: DatagramIterator) => unknown;
  value: unknown;
  bytes: number[];
  stdfloatDouble?: boolean;
}

const VECTORS: Vector[] = [
  { name: 'addBool(true)', write: (d) => d.addBool(true), read: (i) => i.getBool(), value: true, bytes: [0x01] },
  { name: 'addBool(false)', write: (d) => d.addBool(false), read: (i) => i.getBool(), value: false, bytes: [0x00] },
  { name: 'addInt8(-1)', write: (d) => d.addInt8(-1), read: (i) => i.getInt8(), value: -1, bytes: [0xff] },
  { name: 'addInt8(-128)', write: (d) => d.addInt8(-128), read: (i) => i.getInt8(), value: -128, bytes: [0x80] },
  { name: 'addInt8(127)', write: (d) => d.addInt8(127), read: (i) => i.getInt8(), value: 127, bytes: [0x7f] },
  { name: 'addUint8(255)', write: (d) => d.addUint8(255), read: (i) => i.getUint8(), value: 255, bytes: [0xff] },
  { name: 'addInt16(-2)', write: (d) => d.addInt16(-2), read: (i) => i.getInt16(), value: -2, bytes: [0xfe, 0xff] },
  { name: 'addInt16(0x1234)', write: (d) => d.addInt16(0x1234), read: (i) => i.getInt16(), value: 0x1234, bytes: [0x34, 0x12] },
  { name: 'addUint16(0x1234)', write: (d) => d.addUint16(0x1234), read: (i) => i.getUint16(), value: 0x1234, bytes: [0x34, 0x12] },
  { name: 'addUint16(0xffff)', write: (d) => d.addUint16(0xffff), read: (i) => i.getUint16(), value: 0xffff, bytes: [0xff, 0xff] },
  { name: 'addInt32(-2)', write: (d) => d.addInt32(-2), read: (i) => i.getInt32(), value: -2, bytes: [0xfe, 0xff, 0xff, 0xff] },
  {
    name: 'addInt32(0x12345678)',
    write: (d) => d.addInt32(0x12345678),
    read: (i) => i.getInt32(),
    value: 0x12345678,
    bytes: [0x78, 0x56, 0x34, 0x12],
  },
  {
    name: 'addUint32(0xdeadbeef)',
    write: (d) => d.addUint32(0xdeadbeef),
    read: (i) => i.getUint32(),
    value: 0xdeadbeef,
    bytes: [0xef, 0xbe, 0xad, 0xde],
  },
  {
    name: 'addInt64(-2n)',
    write: (d) => d.addInt64(-2n),
    read: (i) => i.getInt64(),
    value: -2n,
    bytes: [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  },
  {
    name: 'addInt64(0x0102030405060708n)',
    write: (d) => d.addInt64(0x0102030405060708n),
    read: (i) => i.getInt64(),
    value: 0x0102030405060708n,
    bytes: [0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01],
  },
  {
    name: 'addUint64(0xfedcba9876543210n)',
    write: (d) => d.addUint64(0xfedcba9876543210n),
    read: (i) => i.getUint64(),
    value: 0xfedcba9876543210n,
    bytes: [0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe],
  },
  { name: 'addFloat32(1)', write: (d) => d.addFloat32(1), read: (i) => i.getFloat32(), value: 1, bytes: [0x00, 0x00, 0x80, 0x3f] },
  {
    name: 'addFloat32(-2.5)',
    write: (d) => d.addFloat32(-2.5),
    read: (i) => i.getFloat32(),
    value: -2.5,
    bytes: [0x00, 0x00, 0x20, 0xc0],
  },
  {
    name: 'addFloat64(1)',
    write: (d) => d.addFloat64(1),
    read: (i) => i.getFloat64(),
    value: 1,
    bytes: [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f],
  },
  {
    name: 'addFloat64(-0.1)',
    write: (d) => d.addFloat64(-0.1),
    read: (i) => i.getFloat64(),
    value: -0.1,
    bytes: [0x9a, 0x99, 0x99, 0x99, 0x99, 0x99, 0xb9, 0xbf],
  },
  {
    name: 'addStdfloat(1.5) single',
    write: (d) => d.addStdfloat(1.5),
    read: (i) => i.getStdfloat(),
    value: 1.5,
    bytes: [0x00, 0x00, 0xc0, 0x3f],
  },
  {
    name: 'addStdfloat(1.5) double',
    write: (d) => d.addStdfloat(1.5),
    read: (i) => i.getStdfloat(),
    value: 1.5,
    bytes: [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x3f],
    stdfloatDouble: true,
  },
  { name: 'addBeInt16(-2)', write: (d) => d.addBeInt16(-2), read: (i) => i.getBeInt16(), value: -2, bytes: [0xff, 0xfe] },
  {
    name: 'addBeUint16(0x1234)',
    write: (d) => d.addBeUint16(0x1234),
    read: (i) => i.getBeUint16(),
    value: 0x1234,
    bytes: [0x12, 0x34],
  },
  {
    name: 'addBeInt32(-2)',
    write: (d) => d.addBeInt32(-2),
    read: (i) => i.getBeInt32(),
    value: -2,
    bytes: [0xff, 0xff, 0xff, 0xfe],
  },
  {
    name: 'addBeUint32(0xdeadbeef)',
    write: (d) => d.addBeUint32(0xdeadbeef),
    read: (i) => i.getBeUint32(),
    value: 0xdeadbeef,
    bytes: [0xde, 0xad, 0xbe, 0xef],
  },
  {
    name: 'addBeInt64(-2n)',
    write: (d) => d.addBeInt64(-2n),
    read: (i) => i.getBeInt64(),
    value: -2n,
    bytes: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe],
  },
  {
    name: 'addBeUint64(0x0102030405060708n)',
    write: (d) => d.addBeUint64(0x0102030405060708n),
    read: (i) => i.getBeUint64(),
    value: 0x0102030405060708n,
    bytes: [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08],
  },
  {
    name: 'addBeFloat32(1)',
    write: (d) => d.addBeFloat32(1),
    read: (i) => i.getBeFloat32(),
    value: 1,
    bytes: [0x3f, 0x80, 0x00, 0x00],
  },
  {
    name: 'addBeFloat64(1)',
    write: (d) => d.addBeFloat64(1),
    read: (i) => i.getBeFloat64(),
    value: 1,
    bytes: [0x3f, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
  },
  { name: "addString('hi')", write: (d) => d.addString('hi'), read: (i) => i.getString(), value: 'hi', bytes: [2, 0, 0x68, 0x69] },
  { name: "addString('')", write: (d) => d.addString(''), read: (i) => i.getString(), value: '', bytes: [0, 0] },
  { name: "addString('é')", write: (d) => d.addString('é'), read: (i) => i.getString(), value: 'é', bytes: [2, 0, 0xc3, 0xa9] },
  {
    name: "addString('€')",
    write: (d) => d.addString('€'),
    read: (i) => i.getString(),
    value: '€',
    bytes: [3, 0, 0xe2, 0x82, 0xac],
  },
  {
    name: "addString('\\uFEFFa') keeps the BOM",
    write: (d) => d.addString('\uFEFFa'),
    read: (i) => i.getString(),
    value: '\uFEFFa',
    bytes: [4, 0, 0xef, 0xbb, 0xbf, 0x61],
  },
  {
    name: "addString32('hi')",
    write: (d) => d.addString32('hi'),
    read: (i) => i.getString32(),
    value: 'hi',
    bytes: [2, 0, 0, 0, 0x68, 0x69],
  },
  { name: "addZString('hi')", write: (d) => d.addZString('hi'), read: (i) => i.getZString(), value: 'hi', bytes: [0x68, 0x69, 0] },
  { name: "addZString('')", write: (d) => d.addZString(''), read: (i) => i.getZString(), value: '', bytes: [0] },
  {
    name: "addFixedString('abc', 5) pads",
    write: (d) => d.addFixedString('abc', 5),
    read: (i) => i.getFixedString(5),
    value: 'abc',
    bytes: [0x61, 0x62, 0x63, 0, 0],
  },
  {
    name: "addFixedString('abcdef', 3) cuts",
    write: (d) => d.addFixedString('abcdef', 3),
    read: (i) => i.getFixedString(3),
    value: 'abc',
    bytes: [0x61, 0x62, 0x63],
  },
  {
    name: "addFixedString('ab€', 4) cuts bytes, not characters",
    write: (d) => d.addFixedString('ab€', 4),
    read: (i) => i.getFixedString(4),
    value: 'ab\uFFFD',
    bytes: [0x61, 0x62, 0xe2, 0x82],
  },
  {
    name: "addFixedString('😀', 1) cuts inside a surrogate pair's bytes",
    write: (d) => d.addFixedString('😀', 1),
    read: (i) => i.getFixedString(1),
    value: '\uFFFD',
    bytes: [0xf0],
  },
  {
    name: "addWstring('hi')",
    write: (d) => d.addWstring('hi'),
    read: (i) => i.getWstring(),
    value: 'hi',
    bytes: [2, 0, 0, 0, 0x68, 0x00, 0x69, 0x00],
  },
  {
    name: "addWstring('€😀') as UTF-16 units",
    write: (d) => d.addWstring('€😀'),
    read: (i) => i.getWstring(),
    value: '€😀',
    bytes: [3, 0, 0, 0, 0xac, 0x20, 0x3d, 0xd8, 0x00, 0xde],
  },
  {
    name: 'addBlob([1, 2, 3])',
    write: (d) => d.addBlob(new Uint8Array([1, 2, 3])),
    read: (i) => i.getBlob(),
    value: new Uint8Array([1, 2, 3]),
    bytes: [3, 0, 1, 2, 3],
  },
  {
    name: 'addBlob32([0xff])',
    write: (d) => d.addBlob32(new Uint8Array([0xff])),
    read: (i) => i.getBlob32(),
    value: new Uint8Array([0xff]),
    bytes: [1, 0, 0, 0, 0xff],
  },
  {
    name: 'appendData([9, 8])',
    write: (d) => d.appendData(new Uint8Array([9, 8])),
    read: (i) => [i.getUint8(), i.getUint8()],
    value: [9, 8],
    bytes: [9, 8],
  },
  {
    name: 'padBytes(3)',
    write: (d) => d.padBytes(3),
    read: (i) => [i.getUint8(), i.getUint8(), i.getUint8()],
    value: [0, 0, 0],
    bytes: [0, 0, 0],
  },
  {
    name: 'addValue({ a: 1 })',
    write: (d) => d.addValue({ a: 1 }),
    read: (i) => i.getValue(),
    value: { a: 1 },
    // fixmap(1), fixstr "a", positive fixint 1
    bytes: [4, 0, 0, 0, 0x81, 0xa1, 0x61, 0x01],
  },
  {
    name: "addValue({ id: 7, tags: ['x'] })",
    write: (d) => d.addValue({ id: 7, tags: ['x'] }),
    read: (i) => i.getValue(),
    value: { id: 7, tags: ['x'] },
    // fixmap(2), "id", 7, "tags", fixarray(1), "x"
    bytes: [13, 0, 0, 0, 0x82, 0xa2, 0x69, 0x64, 0x07, 0xa4, 0x74, 0x61, 0x67, 0x73, 0x91, 0xa1, 0x78],
  },
  { name: 'addValue(null)', write: (d) => d.addValue(null), read: (i) => i.getValue(), value: null, bytes: [1, 0, 0, 0, 0xc0] },
  { name: 'addValue(-1)', write: (d) => d.addValue(-1), read: (i) => i.getValue(), value: -1, bytes: [1, 0, 0, 0, 0xff] },
  {
    name: 'addValue(1.5)',
    write: (d) => d.addValue(1.5),
    read: (i) => i.getValue(),
    value: 1.5,
    bytes: [9, 0, 0, 0, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0],
  },
  {
    name: 'addValue(1n) as int64',
    write: (d) => d.addValue(1n),
    read: (i) => i.getValue(),
    value: 1n,
    bytes: [9, 0, 0, 0, 0xd3, 0, 0, 0, 0, 0, 0, 0, 1],
  },
  {
    name: 'addValue(2n ** 64n - 1n) as uint64',
    write: (d) => d.addValue(2n ** 64n - 1n),
    read: (i) => i.getValue(),
    value: 2n ** 64n - 1n,
    bytes: [9, 0, 0, 0, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  },
  {
    name: 'addValue(Uint8Array [1, 2]) as bin 8',
    write: (d) => d.addValue(new Uint8Array([1, 2])),
    read: (i) => i.getValue(),
    value: new Uint8Array([1, 2]),
    bytes: [4, 0, 0, 0, 0xc4, 0x02, 0x01, 0x02],
  },
];

describe('Datagram encodings (hand-written Panda3D byte vectors)', () => {
  it.each(VECTORS)('$name writes the expected bytes', (vector) => {
    const dg = new Datagram();
    if (vector.stdfloatDouble) dg.setStdfloatDouble(true);
    vector.write(dg);
    expect(Array.from(dg.getMessage())).toEqual(vector.bytes);
    expect(dg.getLength()).toBe(vector.bytes.length);
  });

  it.each(VECTORS)('$name reads back from the hand-written bytes', (vector) => {
    const dg = new Datagram(vector.bytes);
    if (vector.stdfloatDouble) dg.setStdfloatDouble(true);
    const it = new DatagramIterator(dg);
    expect(vector.read(it)).toEqual(vector.value);
    expect(it.getRemainingSize()).toBe(0);
  });

  it('writes every vector back to back into one datagram, then reads them in order', () => {
    const dg = new Datagram();
    const expected: number[] = [];
    for (const vector of VECTORS.filter((v) => !v.stdfloatDouble)) {
      vector.write(dg);
      expected.push(...vector.bytes);
    }
    expect(Array.from(dg.getMessage())).toEqual(expected);
    const it = new DatagramIterator(dg);
    for (const vector of VECTORS.filter((v) => !v.stdfloatDouble)) expect(vector.read(it)).toEqual(vector.value);
    expect(it.getRemainingSize()).toBe(0);
  });

  it('addValue round-trips bigints that do not fit a double as bigint, numbers as numbers', () => {
    const dg = new Datagram();
    dg.addValue({ big: 2n ** 60n + 1n, small: 5, wide: 2 ** 40, neg: -(2n ** 63n) });
    const value = new DatagramIterator(dg).getValue() as Record<string, unknown>;
    expect(value).toEqual({ big: 2n ** 60n + 1n, small: 5, wide: 2 ** 40, neg: -(2n ** 63n) });
    expect(typeof value.small).toBe('number');
    expect(typeof value.wide).toBe('number');
  });
});

describe('Datagram argument checks', () => {
  it('throws TypeError naming the method and the value for wrong types', () => {
    const dg = new Datagram();
    const cases: [() => void, RegExp][] = [
      [() => dg.addInt64(1 as unknown as bigint), /Datagram\.addInt64: value must be a bigint, got 1 \(number\)/],
      [() => dg.addUint64('1' as unknown as bigint), /Datagram\.addUint64: .*"1" \(string\)/],
      [() => dg.addBeInt64(1 as unknown as bigint), /Datagram\.addBeInt64/],
      [() => dg.addString(5 as unknown as string), /Datagram\.addString: value must be a string, got 5 \(number\)/],
      [() => dg.addString32(null as unknown as string), /Datagram\.addString32: .*null/],
      [() => dg.addZString(undefined as unknown as string), /Datagram\.addZString: .*undefined/],
      [() => dg.addWstring(1 as unknown as string), /Datagram\.addWstring/],
      [() => dg.addFixedString(1 as unknown as string, 2), /Datagram\.addFixedString/],
      [() => dg.addInt8('1' as unknown as number), /Datagram\.addInt8: value must be a number, got "1"/],
      [() => dg.addUint32(1n as unknown as number), /Datagram\.addUint32: .*1n \(bigint\)/],
      [() => dg.addFloat32('1' as unknown as number), /Datagram\.addFloat32: .*"1"/],
      [() => dg.addFloat64(null as unknown as number), /Datagram\.addFloat64/],
      [() => dg.addStdfloat(true as unknown as number), /Datagram\.addStdfloat/],
      [() => dg.addBool(1 as unknown as boolean), /Datagram\.addBool: value must be a boolean, got 1/],
      [() => dg.addBlob([1, 2] as unknown as Uint8Array), /Datagram\.addBlob: bytes must be a Uint8Array, got an object \(Array\)/],
      [() => dg.addBlob32('ab' as unknown as Uint8Array), /Datagram\.addBlob32/],
      [() => dg.appendData({} as unknown as Uint8Array), /Datagram\.appendData/],
      [() => dg.padBytes('3' as unknown as number), /Datagram\.padBytes: count must be a number/],
      [() => dg.addValue(Symbol('s')), /Datagram\.addValue: cannot encode/],
      [() => dg.setStdfloatDouble(1 as unknown as boolean), /Datagram\.setStdfloatDouble/],
      [() => new Datagram(5 as unknown as Uint8Array), /Datagram: data must be/],
    ];
    for (const [call, message] of cases) {
      expect(call).toThrow(TypeError);
      expect(call).toThrow(message);
    }
    expect(dg.getLength()).toBe(0);
  });

  it('throws RangeError naming the method and the value for out-of-range or non-integer numbers', () => {
    const dg = new Datagram();
    const cases: [() => void, RegExp][] = [
      [() => dg.addUint8(256), /Datagram\.addUint8: value must be an integer in \[0, 255\], got 256/],
      [() => dg.addUint8(-1), /Datagram\.addUint8: .*got -1/],
      [() => dg.addUint8(1.5), /Datagram\.addUint8: .*got 1\.5/],
      [() => dg.addInt8(128), /Datagram\.addInt8: .*\[-128, 127\], got 128/],
      [() => dg.addInt16(40000), /Datagram\.addInt16: .*got 40000/],
      [() => dg.addUint16(65536), /Datagram\.addUint16/],
      [() => dg.addInt32(2 ** 31), /Datagram\.addInt32: .*got 2147483648/],
      [() => dg.addUint32(-1), /Datagram\.addUint32/],
      [() => dg.addUint32(NaN), /Datagram\.addUint32: .*got NaN/],
      [() => dg.addInt32(Infinity), /Datagram\.addInt32: .*got Infinity/],
      [() => dg.addBeInt16(-40000), /Datagram\.addBeInt16/],
      [() => dg.addBeUint16(0.5), /Datagram\.addBeUint16/],
      [() => dg.addBeInt32(-(2 ** 31) - 1), /Datagram\.addBeInt32/],
      [() => dg.addBeUint32(2 ** 32), /Datagram\.addBeUint32/],
      [() => dg.addInt64(2n ** 63n), /Datagram\.addInt64: .*got 9223372036854775808n/],
      [() => dg.addUint64(-1n), /Datagram\.addUint64: .*got -1n/],
      [() => dg.addBeUint64(2n ** 64n), /Datagram\.addBeUint64/],
      [() => dg.addString('x'.repeat(65536)), /Datagram\.addString: the string is 65536 UTF-8 bytes/],
      [() => dg.addString('€'.repeat(21846)), /Datagram\.addString: the string is 65538 UTF-8 bytes/],
      [() => dg.addZString('a\0b'), /Datagram\.addZString: the string contains NUL at index 1/],
      [() => dg.addFixedString('a', -1), /Datagram\.addFixedString: size must be a non-negative integer, got -1/],
      [() => dg.addFixedString('a', 1.5), /Datagram\.addFixedString: size/],
      [() => dg.addBlob(new Uint8Array(65536)), /Datagram\.addBlob: the blob is 65536 bytes/],
      [() => dg.padBytes(-1), /Datagram\.padBytes: count must be a non-negative integer, got -1/],
      [() => dg.addValue(2n ** 64n), /Datagram\.addValue: cannot encode 18446744073709551616n/],
      [() => new Datagram([1, 256]), /Datagram: data\[1\] must be an integer in \[0, 255\], got 256/],
    ];
    for (const [call, message] of cases) {
      expect(call).toThrow(RangeError);
      expect(call).toThrow(message);
    }
    expect(dg.getLength()).toBe(0);
  });

  it('accepts the extremes of every integer range and any number for floats', () => {
    const dg = new Datagram();
    dg.addInt8(-128);
    dg.addUint16(0);
    dg.addInt32(-(2 ** 31));
    dg.addUint32(2 ** 32 - 1);
    dg.addInt64(-(2n ** 63n));
    dg.addUint64(2n ** 64n - 1n);
    dg.addFloat32(NaN);
    dg.addFloat32(1e40);
    dg.addFloat64(-Infinity);
    expect(dg.getLength()).toBe(1 + 2 + 4 + 4 + 8 + 8 + 4 + 4 + 8);
  });

  it('leaves the datagram unchanged when addString fails after encoding', () => {
    const dg = new Datagram();
    dg.addUint8(7);
    expect(() => dg.addString('y'.repeat(70000))).toThrow(RangeError);
    expect(Array.from(dg.getMessage())).toEqual([7]);
    dg.addString('ok');
    expect(Array.from(dg.getMessage())).toEqual([7, 2, 0, 0x6f, 0x6b]);
  });

  it('addString32 takes strings longer than 65535 bytes', () => {
    const dg = new Datagram();
    dg.addString32('z'.repeat(70000));
    expect(dg.getLength()).toBe(70004);
    expect(new DatagramIterator(dg).getString32()).toBe('z'.repeat(70000));
  });
});

describe('DATAGRAM_MAX_SIZE', () => {
  it('is 256 MiB', () => {
    expect(DATAGRAM_MAX_SIZE).toBe(256 * 1024 * 1024);
  });

  it('refuses to grow past it, naming the size, before allocating anything', () => {
    const dg = new Datagram();
    dg.appendData(new Uint8Array(10));
    const capacity = dg.getCapacity();
    const started = performance.now();
    expect(() => dg.padBytes(DATAGRAM_MAX_SIZE + 1)).toThrow(RangeError);
    expect(() => dg.padBytes(DATAGRAM_MAX_SIZE + 1)).toThrow(/Datagram\.padBytes: the datagram would grow to 268435467 bytes/);
    expect(() => dg.padBytes(DATAGRAM_MAX_SIZE - 5)).toThrow(
      /Datagram\.padBytes: the datagram would grow to 268435461 bytes, past DATAGRAM_MAX_SIZE \(268435456 bytes\)/,
    );
    expect(() => dg.addBlob32(new Uint8Array(0))).not.toThrow();
    expect(performance.now() - started).toBeLessThan(200);
    expect(dg.getCapacity()).toBe(capacity);
    expect(dg.getLength()).toBe(14);
  });
});

describe('Datagram buffer management', () => {
  it('grows by doubling and keeps its bytes', () => {
    const dg = new Datagram();
    const initial = dg.getCapacity();
    for (let i = 0; i < initial + 1; i++) dg.addUint8(i & 0xff);
    expect(dg.getCapacity()).toBe(initial * 2);
    const message = dg.getMessage();
    for (let i = 0; i < initial + 1; i++) expect(message[i]).toBe(i & 0xff);
  });

  it('getMessageView returns a view of the bytes, not a copy', () => {
    const dg = new Datagram([1, 2, 3]);
    const a = dg.getMessageView();
    const b = dg.getMessageView();
    expect(a.buffer).toBe(b.buffer);
    expect(a.byteOffset).toBe(0);
    expect(Array.from(a)).toEqual([1, 2, 3]);
  });

  it('clear empties the datagram and keeps its capacity', () => {
    const dg = new Datagram();
    dg.padBytes(1000);
    const capacity = dg.getCapacity();
    dg.clear();
    expect(dg.getLength()).toBe(0);
    expect(dg.getCapacity()).toBe(capacity);
    dg.padBytes(2);
    expect(Array.from(dg.getMessage())).toEqual([0, 0]);
  });

  it('padBytes writes zeros over old bytes left in the capacity', () => {
    const dg = new Datagram([0xaa, 0xbb, 0xcc]);
    dg.clear();
    dg.padBytes(3);
    expect(Array.from(dg.getMessage())).toEqual([0, 0, 0]);
    dg.clear();
    dg.appendData(new Uint8Array([0xaa, 0xbb, 0xcc, 0xdd]));
    dg.clear();
    dg.addFixedString('a', 4);
    expect(Array.from(dg.getMessage())).toEqual([0x61, 0, 0, 0]);
  });

  it('assign copies a range and does not reallocate when the capacity suffices', () => {
    const dg = new Datagram();
    dg.padBytes(200);
    const capacity = dg.getCapacity();
    const source = new Uint8Array([9, 1, 2, 3, 4, 9]);
    dg.assign(source, 1, 4);
    expect(dg.getCapacity()).toBe(capacity);
    expect(Array.from(dg.getMessage())).toEqual([1, 2, 3, 4]);
    source[1] = 77;
    expect(dg.getMessage()[0]).toBe(1);
    dg.assign(source);
    expect(Array.from(dg.getMessage())).toEqual([9, 77, 2, 3, 4, 9]);
    dg.assign(source, 6);
    expect(dg.getLength()).toBe(0);
    expect(dg.getCapacity()).toBe(capacity);
  });

  it('assign grows when needed and rejects bad ranges', () => {
    const dg = new Datagram();
    const big = new Uint8Array(1000).fill(5);
    dg.assign(big);
    expect(dg.getLength()).toBe(1000);
    expect(dg.getCapacity()).toBeGreaterThanOrEqual(1000);
    expect(() => dg.assign(big, 1001)).toThrow(/Datagram\.assign: offset must be an integer in \[0, 1000\], got 1001/);
    expect(() => dg.assign(big, 10, 991)).toThrow(/Datagram\.assign: length must be an integer in \[0, 990\], got 991/);
    expect(() => dg.assign(big, -1)).toThrow(RangeError);
    expect(() => dg.assign([1] as unknown as Uint8Array)).toThrow(TypeError);
  });

  it('assign from a range of its own message', () => {
    const dg = new Datagram([1, 2, 3, 4, 5]);
    dg.assign(dg.getMessage(), 2);
    expect(Array.from(dg.getMessage())).toEqual([3, 4, 5]);
  });

  it('appendData of its own message, with and without growing', () => {
    const dg = new Datagram([1, 2, 3]);
    dg.appendData(dg.getMessage());
    expect(Array.from(dg.getMessage())).toEqual([1, 2, 3, 1, 2, 3]);
    const big = new Datagram();
    big.padBytes(big.getCapacity());
    big.addUint8(7);
    const n = big.getLength();
    big.appendData(big.getMessage());
    expect(big.getLength()).toBe(2 * n);
    expect(big.getMessage()[n - 1]).toBe(7);
    expect(big.getMessage()[2 * n - 1]).toBe(7);
    expect(big.getMessage()[n]).toBe(0);
  });

  it('copy is independent and keeps the stdfloat setting', () => {
    const dg = new Datagram([1, 2]);
    dg.setStdfloatDouble(true);
    const copy = dg.copy();
    dg.addUint8(3);
    expect(Array.from(copy.getMessage())).toEqual([1, 2]);
    expect(copy.getStdfloatDouble()).toBe(true);
  });

  it('builds from a Uint8Array or an array of bytes, copying them', () => {
    const bytes = new Uint8Array([1, 2, 3]);
    const dg = new Datagram(bytes);
    bytes[0] = 9;
    expect(Array.from(dg.getMessage())).toEqual([1, 2, 3]);
    expect(Array.from(new Datagram([4, 5]).getMessage())).toEqual([4, 5]);
    expect(new Datagram().getLength()).toBe(0);
  });
});

describe('Datagram.getMessage copies, getMessageView does not', () => {
  it('getMessage returns a fresh array each call that later changes to the datagram do not alter', () => {
    const dg = new Datagram([1, 2, 3]);
    const m = dg.getMessage();
    const again = dg.getMessage();
    expect(Array.from(m)).toEqual([1, 2, 3]);
    expect(m).not.toBe(again);
    expect(m.buffer).not.toBe(again.buffer);
    dg.assign(Uint8Array.of(7, 8, 9));
    dg.addUint8(10);
    expect(Array.from(m)).toEqual([1, 2, 3]);
    // Nor do changes to the copy reach the datagram.
    m[0] = 99;
    expect(Array.from(dg.getMessage())).toEqual([7, 8, 9, 10]);
    expect(Array.from(again)).toEqual([1, 2, 3]);
  });

  it('getMessageView shares the datagram buffer: later changes show through', () => {
    const dg = new Datagram([1, 2, 3]);
    const view = dg.getMessageView();
    expect(Array.from(view)).toEqual([1, 2, 3]);
    dg.assign(Uint8Array.of(7, 8, 9));
    expect(Array.from(view)).toEqual([7, 8, 9]);
    expect(dg.getMessageView().buffer).toBe(view.buffer);
    expect(dg.getMessageView().length).toBe(3);
  });

  it('a copy taken before a clear keeps the old bytes; the view is as long as the datagram was', () => {
    const dg = new Datagram();
    dg.addUint32(0xdeadbeef);
    const copy = dg.getMessage();
    dg.clear();
    dg.addUint32(1);
    expect(Array.from(copy)).toEqual([0xef, 0xbe, 0xad, 0xde]);
    expect(Array.from(dg.getMessageView())).toEqual([1, 0, 0, 0]);
  });
});

describe('Datagram.equals', () => {
  it('compares by content, not by capacity or stdfloat setting', () => {
    const a = new Datagram([1, 2, 3]);
    const b = new Datagram();
    b.padBytes(500);
    b.clear();
    b.addUint8(1);
    b.addUint16(0x0302);
    b.setStdfloatDouble(true);
    expect(a.equals(b)).toBe(true);
    expect(b.equals(a)).toBe(true);
    expect(a.equals(new Datagram([1, 2]))).toBe(false);
    expect(a.equals(new Datagram([1, 2, 4]))).toBe(false);
    expect(new Datagram().equals(new Datagram())).toBe(true);
    expect(a.equals({} as Datagram)).toBe(false);
  });
});

describe('Datagram.dumpHex', () => {
  const bytes = [...'Hello, Panda3D!\n'].map((c) => c.charCodeAt(0)).concat([0x00, 0x7f, 0x80, 0xff, 0x41]);

  it("matches Panda3D's dump_hex layout", () => {
    const dg = new Datagram(bytes);
    expect(dg.dumpHex()).toBe(
      '0000  48 65 6c 6c 6f 2c 20 50 61 6e 64 61 33 44 21 0a  Hello, Panda3D!.\n' +
        '0010  00 7f 80 ff 41                                   ....A\n',
    );
  });

  it('indents every line', () => {
    const dg = new Datagram(bytes);
    const lines = dg.dumpHex(2).split('\n');
    expect(lines[0]).toBe('  0000  48 65 6c 6c 6f 2c 20 50 61 6e 64 61 33 44 21 0a  Hello, Panda3D!.');
    expect(lines[1]).toBe('  0010  00 7f 80 ff 41                                   ....A');
    expect(lines[2]).toBe('');
  });

  it('is empty for an empty datagram and widens offsets past 0xffff', () => {
    expect(new Datagram().dumpHex()).toBe('');
    const dg = new Datagram();
    dg.padBytes(0x10001);
    const lines = dg.dumpHex().split('\n');
    expect(lines[lines.length - 2]).toBe(`10000  00${' '.repeat(45)}  .`);
  });
});

describe('aliases', () => {
  it('PyDatagram is Datagram', () => {
    expect(PyDatagram).toBe(Datagram);
    const dg: PyDatagram = new PyDatagram();
    expect(dg).toBeInstanceOf(Datagram);
    expect(String(dg)).toBe('Datagram(0 bytes)');
  });
});

describe('Datagram copies (Panda3D copy constructor)', () => {
  it('new Datagram(other) copies the bytes and the stdfloat setting, and the two are independent', () => {
    const original = new Datagram(new Uint8Array([1, 2, 3, 4]));
    original.setStdfloatDouble(true);
    const copy = new Datagram(original);
    expect(Array.from(copy.getMessage())).toEqual([1, 2, 3, 4]);
    expect(copy.getStdfloatDouble()).toBe(true);
    expect(copy.equals(original)).toBe(true);
    copy.appendData(new Uint8Array([5, 6, 7, 8]));
    original.addUint8(9);
    expect(Array.from(original.getMessage())).toEqual([1, 2, 3, 4, 9]);
    expect(Array.from(copy.getMessage())).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('new Datagram(bytes) holds a copy of them; an empty copy is empty', () => {
    const bytes = new Uint8Array([0x61, 0x62, 0x63, 0x00]);
    const dg = new Datagram(bytes);
    bytes[0] = 0;
    expect(Array.from(dg.getMessage())).toEqual([0x61, 0x62, 0x63, 0x00]);
    expect(new Datagram(new Datagram()).getLength()).toBe(0);
    expect(() => new Datagram({} as never)).toThrow(/a Uint8Array, an array of bytes or a Datagram, got/);
  });
});
