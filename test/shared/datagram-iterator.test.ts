import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Datagram } from '../../src/shared/datagram.js';
import { DatagramIterator, PyDatagramIterator } from '../../src/shared/datagram-iterator.js';

/** One field kind for the round-trip property: how to write a value, read it, compare it. */
interface Kind<T> {
  arb: fc.Arbitrary<T>;
  add: (dg: Datagram, value: T) => void;
  get: (it: DatagramIterator) => T;
  /** What reading gives back for `value`, when it differs (float32 rounding). */
  expected?: (value: T) => unknown;
}

const int = (min: number, max: number) => fc.integer({ min, max });
const big = (min: bigint, max: bigint) => fc.bigInt({ min, max });
const fround = (v: number) => Math.fround(v);
// Any code point, with 1-, 2-, 3- and 4-byte UTF-8 characters, NUL and BOM made likely.
const textUnit = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  fc.constantFrom('a', 'é', 'ÿ', '€', '😀', '\0', '\uFEFF'),
);
const utf8Text = fc.string({ unit: textUnit, maxLength: 40 });
const noNul = utf8Text.map((s) => s.replaceAll('\0', ''));
const anyUnits = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((u) => String.fromCharCode(u)), maxLength: 40 });

/** msgpack values that round-trip exactly (msgpackr writes -0 as the integer 0, and renames `__proto__`). */
const msgpackValue = fc.letrec((tie) => ({
  leaf: fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.double().map((d) => (Object.is(d, -0) ? 0 : d)),
    utf8Text,
    big(-(2n ** 63n), 2n ** 64n - 1n),
    fc.uint8Array({ maxLength: 16 }),
  ),
  node: fc.oneof(
    { depthSize: 'small' },
    tie('leaf'),
    fc.array(tie('node'), { maxLength: 4 }),
    fc.dictionary(utf8Text.filter((k) => k !== '__proto__'), tie('node'), { maxKeys: 4, noNullPrototype: true }),
  ),
})).node;

const KINDS = {
  bool: { arb: fc.boolean(), add: (d, v) => d.addBool(v), get: (i) => i.getBool() } as Kind<boolean>,
  int8: { arb: int(-128, 127), add: (d, v) => d.addInt8(v), get: (i) => i.getInt8() } as Kind<number>,
  uint8: { arb: int(0, 255), add: (d, v) => d.addUint8(v), get: (i) => i.getUint8() } as Kind<number>,
  int16: { arb: int(-32768, 32767), add: (d, v) => d.addInt16(v), get: (i) => i.getInt16() } as Kind<number>,
  uint16: { arb: int(0, 65535), add: (d, v) => d.addUint16(v), get: (i) => i.getUint16() } as Kind<number>,
  int32: { arb: int(-(2 ** 31), 2 ** 31 - 1), add: (d, v) => d.addInt32(v), get: (i) => i.getInt32() } as Kind<number>,
  uint32: { arb: int(0, 2 ** 32 - 1), add: (d, v) => d.addUint32(v), get: (i) => i.getUint32() } as Kind<number>,
  int64: { arb: big(-(2n ** 63n), 2n ** 63n - 1n), add: (d, v) => d.addInt64(v), get: (i) => i.getInt64() } as Kind<bigint>,
  uint64: { arb: big(0n, 2n ** 64n - 1n), add: (d, v) => d.addUint64(v), get: (i) => i.getUint64() } as Kind<bigint>,
  float32: { arb: fc.double(), add: (d, v) => d.addFloat32(v), get: (i) => i.getFloat32(), expected: fround } as Kind<number>,
  float64: { arb: fc.double(), add: (d, v) => d.addFloat64(v), get: (i) => i.getFloat64() } as Kind<number>,
  stdfloat: { arb: fc.float(), add: (d, v) => d.addStdfloat(v), get: (i) => i.getStdfloat(), expected: fround } as Kind<number>,
  beInt16: { arb: int(-32768, 32767), add: (d, v) => d.addBeInt16(v), get: (i) => i.getBeInt16() } as Kind<number>,
  beUint16: { arb: int(0, 65535), add: (d, v) => d.addBeUint16(v), get: (i) => i.getBeUint16() } as Kind<number>,
  beInt32: { arb: int(-(2 ** 31), 2 ** 31 - 1), add: (d, v) => d.addBeInt32(v), get: (i) => i.getBeInt32() } as Kind<number>,
  beUint32: { arb: int(0, 2 ** 32 - 1), add: (d, v) => d.addBeUint32(v), get: (i) => i.getBeUint32() } as Kind<number>,
  beInt64: { arb: big(-(2n ** 63n), 2n ** 63n - 1n), add: (d, v) => d.addBeInt64(v), get: (i) => i.getBeInt64() } as Kind<bigint>,
  beUint64: { arb: big(0n, 2n ** 64n - 1n), add: (d, v) => d.addBeUint64(v), get: (i) => i.getBeUint64() } as Kind<bigint>,
  beFloat32: { arb: fc.double(), add: (d, v) => d.addBeFloat32(v), get: (i) => i.getBeFloat32(), expected: fround } as Kind<number>,
  beFloat64: { arb: fc.double(), add: (d, v) => d.addBeFloat64(v), get: (i) => i.getBeFloat64() } as Kind<number>,
  string: { arb: utf8Text, add: (d, v) => d.addString(v), get: (i) => i.getString() } as Kind<string>,
  string32: { arb: utf8Text, add: (d, v) => d.addString32(v), get: (i) => i.getString32() } as Kind<string>,
  zString: { arb: noNul, add: (d, v) => d.addZString(v), get: (i) => i.getZString() } as Kind<string>,
  wstring: { arb: anyUnits, add: (d, v) => d.addWstring(v), get: (i) => i.getWstring() } as Kind<string>,
  blob: { arb: fc.uint8Array({ maxLength: 40 }), add: (d, v) => d.addBlob(v), get: (i) => i.getBlob() } as Kind<Uint8Array>,
  blob32: { arb: fc.uint8Array({ maxLength: 40 }), add: (d, v) => d.addBlob32(v), get: (i) => i.getBlob32() } as Kind<Uint8Array>,
  value: { arb: msgpackValue, add: (d, v) => d.addValue(v), get: (i) => i.getValue() } as Kind<unknown>,
};

/** A fixed string is read with the size it was written with, so the field carries it; the size
 * is the text's UTF-8 length plus padding, so the text survives whole. */
const fixedField = fc.tuple(noNul, int(0, 4)).map(([text, pad]) => ({
  kind: 'fixedString' as const,
  text,
  size: Buffer.byteLength(text) + pad,
}));

type PlainKind = keyof typeof KINDS;
type Field = { kind: PlainKind; value: unknown } | { kind: 'fixedString'; text: string; size: number };

const plainKinds = Object.keys(KINDS) as PlainKind[];

const field: fc.Arbitrary<Field> = fc.oneof(
  ...plainKinds.map((kind) => (KINDS[kind].arb as fc.Arbitrary<unknown>).map((value) => ({ kind, value }) as Field)),
  fixedField,
);

function write(dg: Datagram, f: Field): void {
  if (f.kind === 'fixedString') dg.addFixedString(f.text, f.size);
  else (KINDS[f.kind] as Kind<unknown>).add(dg, f.value);
}

function readAndCheck(it: DatagramIterator, f: Field): void {
  if (f.kind === 'fixedString') {
    expect(it.getFixedString(f.size)).toBe(f.text);
    return;
  }
  const kind = KINDS[f.kind] as Kind<unknown>;
  const expected = kind.expected ? kind.expected(f.value) : f.value;
  const actual = kind.get(it);
  if (typeof expected === 'number') expect(Object.is(actual, expected)).toBe(true);
  else expect(actual).toEqual(expected);
}

describe('DatagramIterator round trip (property)', () => {
  it('reads back, in order, every field written to one datagram', () => {
    fc.assert(
      fc.property(fc.array(field, { maxLength: 30 }), fc.boolean(), (fields, stdfloatDouble) => {
        const dg = new Datagram();
        dg.setStdfloatDouble(stdfloatDouble);
        for (const f of fields) write(dg, f);
        const it = new DatagramIterator(dg);
        for (const f of fields) {
          if (stdfloatDouble && f.kind === 'stdfloat') {
            expect(Object.is(it.getStdfloat(), f.value)).toBe(true);
          } else {
            readAndCheck(it, f);
          }
        }
        expect(it.getRemainingSize()).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('reads the same fields again after clear() and refill of a reused datagram and iterator', () => {
    const dg = new Datagram();
    const it = new DatagramIterator(dg);
    fc.assert(
      fc.property(fc.array(field, { maxLength: 10 }), (fields) => {
        dg.clear();
        for (const f of fields) write(dg, f);
        it.assign(dg);
        for (const f of fields) {
          if (f.kind !== 'stdfloat') readAndCheck(it, f);
          else expect(Object.is(it.getStdfloat(), Math.fround(f.value as number))).toBe(true);
        }
        expect(it.getRemainingSize()).toBe(0);
      }),
      { numRuns: 100 },
    );
  });
});

/** Every fixed-size getter with the bytes it needs. */
const FIXED_GETTERS: [string, number, (it: DatagramIterator) => unknown][] = [
  ['getBool', 1, (i) => i.getBool()],
  ['getInt8', 1, (i) => i.getInt8()],
  ['getUint8', 1, (i) => i.getUint8()],
  ['getInt16', 2, (i) => i.getInt16()],
  ['getUint16', 2, (i) => i.getUint16()],
  ['getInt32', 4, (i) => i.getInt32()],
  ['getUint32', 4, (i) => i.getUint32()],
  ['getInt64', 8, (i) => i.getInt64()],
  ['getUint64', 8, (i) => i.getUint64()],
  ['getFloat32', 4, (i) => i.getFloat32()],
  ['getFloat64', 8, (i) => i.getFloat64()],
  ['getStdfloat', 4, (i) => i.getStdfloat()],
  ['getBeInt16', 2, (i) => i.getBeInt16()],
  ['getBeUint16', 2, (i) => i.getBeUint16()],
  ['getBeInt32', 4, (i) => i.getBeInt32()],
  ['getBeUint32', 4, (i) => i.getBeUint32()],
  ['getBeInt64', 8, (i) => i.getBeInt64()],
  ['getBeUint64', 8, (i) => i.getBeUint64()],
  ['getBeFloat32', 4, (i) => i.getBeFloat32()],
  ['getBeFloat64', 8, (i) => i.getBeFloat64()],
  ['getFixedString', 3, (i) => i.getFixedString(3)],
  ['skipBytes', 5, (i) => i.skipBytes(5)],
  // Length-prefixed fields: an empty datagram lacks the whole prefix.
  ['getString', 2, (i) => i.getString()],
  ['getString32', 4, (i) => i.getString32()],
  ['getWstring', 4, (i) => i.getWstring()],
  ['getBlob', 2, (i) => i.getBlob()],
  ['getBlob32', 4, (i) => i.getBlob32()],
  ['getValue', 4, (i) => i.getValue()],
];

describe('DatagramIterator reading past the end', () => {
  it.each(FIXED_GETTERS)('%s throws a RangeError naming the field and the sizes', (name, size, read) => {
    // One byte of something else, then one byte short of the field.
    const dg = new Datagram(new Uint8Array(size));
    const it = new DatagramIterator(dg, 1);
    const message = new RegExp(
      `^DatagramIterator\\.${name}: needs ${size} bytes at offset 1, only ${size - 1} remain \\(datagram length ${size}\\)$`,
    );
    expect(() => read(it)).toThrow(RangeError);
    expect(() => read(it)).toThrow(message);
    expect(it.getCurrentIndex()).toBe(1);
  });

  it('getStdfloat in double mode needs 8 bytes', () => {
    const dg = new Datagram(new Uint8Array(4));
    dg.setStdfloatDouble(true);
    expect(() => new DatagramIterator(dg).getStdfloat()).toThrow(/getStdfloat: needs 8 bytes at offset 0, only 4 remain/);
  });

  it('a length prefix larger than the bytes that follow throws and leaves the position alone', () => {
    const cases: [string, number[], (it: DatagramIterator) => unknown, RegExp][] = [
      ['getString', [5, 0, 0x61], (i) => i.getString(), /getString: needs 5 bytes at offset 2, only 1 remain \(datagram length 3\)/],
      ['getString32', [3, 0, 0, 0, 0x61], (i) => i.getString32(), /getString32: needs 3 bytes at offset 4, only 1 remain/],
      ['getBlob', [0xff, 0xff], (i) => i.getBlob(), /getBlob: needs 65535 bytes at offset 2, only 0 remain/],
      ['getBlob32', [2, 0, 0, 0, 1], (i) => i.getBlob32(), /getBlob32: needs 2 bytes at offset 4, only 1 remain/],
      ['getWstring', [2, 0, 0, 0, 0x61, 0, 0x62], (i) => i.getWstring(), /getWstring: needs 4 bytes at offset 4, only 3 remain/],
      ['getValue', [2, 0, 0, 0, 0xc0], (i) => i.getValue(), /getValue: needs 2 bytes at offset 4, only 1 remain/],
      ['getString (prefix cut)', [1], (i) => i.getString(), /getString: needs 2 bytes at offset 0, only 1 remain/],
    ];
    for (const [, bytes, read, message] of cases) {
      const it = new DatagramIterator(new Datagram(bytes));
      expect(() => read(it)).toThrow(RangeError);
      expect(() => read(it)).toThrow(message);
      expect(it.getCurrentIndex()).toBe(0);
    }
  });

  it('getZString without a 0 byte throws', () => {
    const it = new DatagramIterator(new Datagram([0x61, 0x62]));
    expect(() => it.getZString()).toThrow(RangeError);
    expect(() => it.getZString()).toThrow(/getZString: no 0 byte ends the string in the 2 bytes from offset 0 \(datagram length 2\)/);
    expect(it.getCurrentIndex()).toBe(0);
    expect(() => new DatagramIterator(new Datagram()).getZString()).toThrow(/getZString: .*0 bytes from offset 0/);
  });

  it('does not read bytes left in the capacity after clear()', () => {
    const dg = new Datagram([1, 2, 3, 4]);
    dg.clear();
    dg.addUint8(9);
    const it = new DatagramIterator(dg);
    expect(it.getUint8()).toBe(9);
    expect(() => it.getUint8()).toThrow(/getUint8: needs 1 bytes at offset 1, only 0 remain \(datagram length 1\)/);
    // A 0 byte in the stale capacity must not end a z-string.
    dg.clear();
    dg.appendData(new Uint8Array([0x61, 0x00]));
    dg.clear();
    dg.addUint8(0x61);
    expect(() => new DatagramIterator(dg).getZString()).toThrow(RangeError);
  });

  it('getValue rejects bytes that are not exactly one msgpack value', () => {
    const cases: [number[], RegExp][] = [
      [[2, 0, 0, 0, 0x92, 0x01], /getValue: the 2 bytes at offset 4 are not one msgpack value/],
      [[2, 0, 0, 0, 0x01, 0x01], /getValue: the 2 bytes at offset 4 are not one msgpack value/],
      [[0, 0, 0, 0], /getValue: the value at offset 0 is empty/],
    ];
    for (const [bytes, message] of cases) {
      const it = new DatagramIterator(new Datagram(bytes));
      expect(() => it.getValue()).toThrow(RangeError);
      expect(() => it.getValue()).toThrow(message);
      expect(it.getCurrentIndex()).toBe(0);
    }
  });

  it('rejects bad counts and sizes', () => {
    const it = new DatagramIterator(new Datagram([1, 2]));
    expect(() => it.skipBytes(-1)).toThrow(/skipBytes: count must be/);
    expect(() => it.skipBytes(0.5)).toThrow(RangeError);
    expect(() => it.skipBytes('1' as unknown as number)).toThrow(TypeError);
    expect(() => it.getFixedString(-1)).toThrow(/getFixedString: size must be/);
  });
});

describe('DatagramIterator API', () => {
  it('tracks the position and the remaining bytes', () => {
    const dg = new Datagram([1, 2, 3, 4, 5]);
    const it = new DatagramIterator(dg);
    expect(it.getDatagram()).toBe(dg);
    expect(it.getCurrentIndex()).toBe(0);
    expect(it.getRemainingSize()).toBe(5);
    it.skipBytes(2);
    expect(it.getCurrentIndex()).toBe(2);
    expect(Array.from(it.getRemainingBytes())).toEqual([3, 4, 5]);
    expect(it.getCurrentIndex()).toBe(2);
    expect(it.getUint8()).toBe(3);
    expect(it.getRemainingSize()).toBe(2);
    it.skipBytes(2);
    expect(it.getRemainingSize()).toBe(0);
    expect(Array.from(it.getRemainingBytes())).toEqual([]);
  });

  it('starts at an offset and rejects one past the end', () => {
    const dg = new Datagram([1, 2, 3]);
    expect(new DatagramIterator(dg, 2).getUint8()).toBe(3);
    expect(new DatagramIterator(dg, 3).getRemainingSize()).toBe(0);
    expect(() => new DatagramIterator(dg, 4)).toThrow(/DatagramIterator: offset must be an integer in \[0, 3\], got 4/);
    expect(() => new DatagramIterator(dg, -1)).toThrow(RangeError);
    expect(() => new DatagramIterator({} as Datagram)).toThrow(TypeError);
  });

  it('assign re-points a reused iterator', () => {
    const a = new Datagram([1]);
    const b = new Datagram([7, 8]);
    const it = new DatagramIterator(a);
    it.getUint8();
    it.assign(b, 1);
    expect(it.getDatagram()).toBe(b);
    expect(it.getUint8()).toBe(8);
    it.assign(a);
    expect(it.getUint8()).toBe(1);
    expect(() => it.assign(b, 3)).toThrow(/DatagramIterator\.assign: offset/);
  });

  it("reads the datagram's current bytes after it grows into a new buffer", () => {
    const dg = new Datagram();
    dg.addUint16(0xbeef);
    const it = new DatagramIterator(dg);
    expect(it.getUint16()).toBe(0xbeef);
    const capacity = dg.getCapacity();
    dg.padBytes(capacity);
    dg.addUint32(0xcafef00d);
    expect(dg.getCapacity()).toBeGreaterThan(capacity);
    it.skipBytes(capacity);
    expect(it.getUint32()).toBe(0xcafef00d);
  });

  it('getBlob, getRemainingBytes and getValue return copies that survive reuse of the datagram', () => {
    const dg = new Datagram();
    dg.addBlob(new Uint8Array([1, 2, 3]));
    dg.addValue({ bin: new Uint8Array([4, 5]) });
    dg.addUint8(6);
    const it = new DatagramIterator(dg);
    const blob = it.getBlob();
    const value = it.getValue() as { bin: Uint8Array };
    const rest = it.getRemainingBytes();
    dg.clear();
    dg.padBytes(64);
    expect(Array.from(blob)).toEqual([1, 2, 3]);
    expect(Array.from(value.bin)).toEqual([4, 5]);
    expect(Array.from(rest)).toEqual([6]);
  });

  it('getFixedString ends the text at the first 0 byte but consumes all of the field', () => {
    const it = new DatagramIterator(new Datagram([0x61, 0x00, 0x62, 0x63, 0x7a]));
    expect(it.getFixedString(4)).toBe('a');
    expect(it.getCurrentIndex()).toBe(4);
    expect(it.getFixedString(1)).toBe('z');
    expect(new DatagramIterator(new Datagram()).getFixedString(0)).toBe('');
  });

  it('getString decodes long and non-ASCII text', () => {
    const dg = new Datagram();
    const long = 'é'.repeat(1000) + 'x'.repeat(100) + '😀';
    dg.addString(long);
    dg.addString('abc'.repeat(20));
    dg.addString('ab😀');
    const it = new DatagramIterator(dg);
    expect(it.getString()).toBe(long);
    expect(it.getString()).toBe('abc'.repeat(20));
    expect(it.getString()).toBe('ab😀');
  });

  it('getWstring reads lone surrogates and long strings exactly', () => {
    const dg = new Datagram();
    const text = '\ud800x\udfff' + 'ü'.repeat(10_000);
    dg.addWstring(text);
    expect(new DatagramIterator(dg).getWstring()).toBe(text);
  });

  it('getBool treats any non-zero byte as true', () => {
    const it = new DatagramIterator(new Datagram([0, 1, 2, 0xff]));
    expect([it.getBool(), it.getBool(), it.getBool(), it.getBool()]).toEqual([false, true, true, true]);
  });

  it('getStdfloat follows the datagram setting at read time', () => {
    const dg = new Datagram();
    dg.setStdfloatDouble(true);
    dg.addStdfloat(0.1);
    const it = new DatagramIterator(dg);
    expect(it.getStdfloat()).toBe(0.1);
    dg.setStdfloatDouble(false);
    it.assign(dg);
    it.getStdfloat();
    expect(it.getCurrentIndex()).toBe(4);
  });

  it('PyDatagramIterator is DatagramIterator', () => {
    expect(PyDatagramIterator).toBe(DatagramIterator);
    const it: PyDatagramIterator = new PyDatagramIterator(new Datagram([1]));
    expect(it.getUint8()).toBe(1);
  });
});

describe('DatagramIterator.extractBytes', () => {
  it('returns a copy of the next n bytes and moves past them; past the end it throws and stays', () => {
    const dg = new Datagram(new Uint8Array([1, 2, 3, 4, 5]));
    const it = new DatagramIterator(dg);
    expect(it.getUint8()).toBe(1);
    const taken = it.extractBytes(3);
    expect(Array.from(taken)).toEqual([2, 3, 4]);
    taken[0] = 99;
    expect(dg.getMessage()[1]).toBe(2); // a copy
    expect(it.getCurrentIndex()).toBe(4);
    expect(Array.from(it.extractBytes(0))).toEqual([]);
    expect(() => it.extractBytes(2)).toThrow(RangeError);
    expect(it.getCurrentIndex()).toBe(4);
    expect(() => it.extractBytes(-1)).toThrow(RangeError);
    expect(Array.from(it.extractBytes(1))).toEqual([5]);
  });
});
