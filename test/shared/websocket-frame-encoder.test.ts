import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encodeClose,
  encodeControlFrame,
  frameHeaderSize,
  isValidCloseCode,
  maskBytes,
  MAX_CLOSE_REASON_BYTES,
  Opcode,
  writeFrameHeader,
} from '../../src/shared/websocket-frame-encoder.js';
import { ErrorCode } from '../../src/shared/errors.js';
import { fuzzRuns } from '../helpers/fuzz-runs.js';
import { concatBytes, cutAt, Receiver, seededBytes } from '../helpers/websocket-frames.js';

/** A whole final frame: header then payload, masked when a key is given. */
function frame(opcode: number, payload: Uint8Array, maskKey?: number): Uint8Array {
  const masked = maskKey !== undefined;
  const out = new Uint8Array(frameHeaderSize(payload.length, masked) + payload.length);
  const header = writeFrameHeader(out, 0, payload.length, opcode, masked, maskKey);
  out.set(payload, header);
  if (masked) maskBytes(out, header, out.length, maskKey, 0);
  return out;
}

const hello = new TextEncoder().encode('Hello');

describe('the examples of RFC 6455 §5.7', () => {
  it('a single-frame unmasked text message', () => {
    expect([...frame(Opcode.TEXT, hello)]).toEqual([0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
  });

  it('a single-frame masked text message', () => {
    expect([...frame(Opcode.TEXT, hello, 0x37fa213d)]).toEqual([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
  });

  it('an unmasked ping and a masked pong', () => {
    expect([...encodeControlFrame(Opcode.PING, hello)]).toEqual([0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    expect([...encodeControlFrame(Opcode.PONG, hello, 0x37fa213d)]).toEqual([0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
  });

  it('256 bytes of binary data in a single unmasked frame', () => {
    const out = frame(Opcode.BINARY, new Uint8Array(256));
    expect([...out.subarray(0, 4)]).toEqual([0x82, 0x7e, 0x01, 0x00]);
    expect(out.length).toBe(4 + 256);
  });

  it('64 KiB of binary data in a single unmasked frame', () => {
    const out = frame(Opcode.BINARY, new Uint8Array(65536));
    expect([...out.subarray(0, 10)]).toEqual([0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]);
    expect(out.length).toBe(10 + 65536);
  });
});

describe('frameHeaderSize', () => {
  it('takes the shortest length form, plus 4 bytes of key when masked', () => {
    const cases: [number, number][] = [
      [0, 2],
      [125, 2],
      [126, 4],
      [65535, 4],
      [65536, 10],
      [2 ** 32 + 5, 10],
      [Number.MAX_SAFE_INTEGER, 10],
    ];
    for (const [length, size] of cases) {
      expect(frameHeaderSize(length, false)).toBe(size);
      expect(frameHeaderSize(length, true)).toBe(size + 4);
    }
  });

  it('rejects lengths that are not non-negative safe integers', () => {
    for (const bad of [-1, 1.5, NaN, Infinity, 2 ** 53, '5' as unknown as number]) {
      expect(() => frameHeaderSize(bad, false)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARG_VALUE }));
    }
  });
});

describe('writeFrameHeader', () => {
  it('writes FIN, the opcode and a big-endian 16-bit length at an offset', () => {
    const target = new Uint8Array(6).fill(0xee);
    expect(writeFrameHeader(target, 1, 0x1234, Opcode.BINARY, false)).toBe(4);
    expect([...target]).toEqual([0xee, 0x82, 126, 0x12, 0x34, 0xee]);
  });

  it('writes a 64-bit length past 2^32 and the key after it', () => {
    const target = new Uint8Array(14);
    expect(writeFrameHeader(target, 0, 2 ** 32 + 0x01020304, Opcode.BINARY, true, 0xa1b2c3d4)).toBe(14);
    expect([...target]).toEqual([0x82, 0xff, 0, 0, 0, 1, 1, 2, 3, 4, 0xa1, 0xb2, 0xc3, 0xd4]);
  });

  it('sets FIN on every opcode and never an RSV bit', () => {
    for (const opcode of Object.values(Opcode)) {
      const target = new Uint8Array(2);
      writeFrameHeader(target, 0, 0, opcode, false);
      expect(target[0]).toBe(0x80 | opcode);
    }
  });

  it('refuses, writing nothing, what would make a bad or truncated frame', () => {
    const target = new Uint8Array(16).fill(0xee);
    const bad = (f: () => unknown): void => {
      expect(f).toThrow(RangeError);
      expect(f).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARG_VALUE }));
    };
    bad(() => writeFrameHeader(target, 0, 5, 0x3, false));
    bad(() => writeFrameHeader(target, 0, 5, 0xb, false));
    bad(() => writeFrameHeader(target, 0, 126, Opcode.PING, false));
    bad(() => writeFrameHeader(target, 0, 5, Opcode.TEXT, true));
    bad(() => writeFrameHeader(target, 0, 5, Opcode.TEXT, true, -1));
    bad(() => writeFrameHeader(target, 0, 5, Opcode.TEXT, true, 2 ** 32));
    bad(() => writeFrameHeader(target, 0, 5, Opcode.TEXT, true, 1.5));
    bad(() => writeFrameHeader(target, 13, 5, Opcode.TEXT, true, 1));
    bad(() => writeFrameHeader(target, 7, 70000, Opcode.TEXT, false));
    bad(() => writeFrameHeader(target, -1, 5, Opcode.TEXT, false));
    bad(() => writeFrameHeader(target, 0, -5, Opcode.TEXT, false));
    expect([...target]).toEqual(new Array(16).fill(0xee));
  });
});

describe('maskBytes', () => {
  it('masks with the key bytes in big-endian order and returns the next key offset', () => {
    const bytes = new Uint8Array(6);
    expect(maskBytes(bytes, 0, 6, 0x01020304, 0)).toBe(2);
    expect([...bytes]).toEqual([1, 2, 3, 4, 1, 2]);
    const shifted = new Uint8Array(6);
    expect(maskBytes(shifted, 1, 6, 0x01020304, 3)).toBe(0);
    expect([...shifted]).toEqual([0, 4, 1, 2, 3, 4]);
  });

  it('masking piecewise across any splits equals masking at once, and undoes itself', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 }),
        (payload, key, cuts) => {
          const whole = payload.slice();
          expect(maskBytes(whole, 0, whole.length, key, 0)).toBe(whole.length & 3);
          let offset = 0;
          const pieces = cutAt(payload, cuts).map((piece) => {
            offset = maskBytes(piece, 0, piece.length, key, offset);
            return piece;
          });
          expect(concatBytes(pieces)).toEqual(whole);
          maskBytes(whole, 0, whole.length, key, 0);
          expect(whole).toEqual(payload);
        },
      ),
      { numRuns: fuzzRuns(300) },
    );
  });

  it('refuses a range outside the array or a key that is not a u32', () => {
    const bytes = new Uint8Array(4);
    expect(() => maskBytes(bytes, 0, 5, 1, 0)).toThrow(RangeError);
    expect(() => maskBytes(bytes, 3, 2, 1, 0)).toThrow(RangeError);
    expect(() => maskBytes(bytes, -1, 2, 1, 0)).toThrow(RangeError);
    expect(() => maskBytes(bytes, 0, 2, 2 ** 32, 0)).toThrow(RangeError);
    expect([...bytes]).toEqual([0, 0, 0, 0]);
  });
});

describe('isValidCloseCode', () => {
  it('accepts 1000-1003, 1007-1014 and 3000-4999 only', () => {
    const valid = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
    const invalid = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];
    for (const code of valid) expect(isValidCloseCode(code), String(code)).toBe(true);
    for (const code of invalid) expect(isValidCloseCode(code), String(code)).toBe(false);
  });
});

describe('encodeControlFrame', () => {
  it('copies the payload and leaves the caller’s array alone when masking', () => {
    const payload = Uint8Array.from([1, 2, 3]);
    const out = encodeControlFrame(Opcode.PING, payload, 0xffffffff);
    expect([...out]).toEqual([0x89, 0x83, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xfd, 0xfc]);
    expect([...payload]).toEqual([1, 2, 3]);
  });

  it('carries up to 125 bytes, and only for close, ping and pong', () => {
    expect(encodeControlFrame(Opcode.PONG, new Uint8Array(125)).length).toBe(127);
    expect(() => encodeControlFrame(Opcode.PONG, new Uint8Array(126))).toThrow(RangeError);
    expect(() => encodeControlFrame(Opcode.BINARY, new Uint8Array(1))).toThrow(RangeError);
    expect(() => encodeControlFrame(Opcode.CLOSE, new Uint8Array(1))).toThrow(RangeError);
    expect(() => encodeControlFrame(Opcode.PING, [1, 2] as unknown as Uint8Array)).toThrow(TypeError);
  });
});

describe('encodeClose', () => {
  it('writes the code big-endian then the reason in UTF-8', () => {
    expect([...encodeClose(1000, 'ok')]).toEqual([0x88, 0x04, 0x03, 0xe8, 0x6f, 0x6b]);
    expect([...encodeClose(4999)]).toEqual([0x88, 0x02, 0x13, 0x87]);
    const reason = 'é'.repeat(MAX_CLOSE_REASON_BYTES / 2) + 'x';
    expect(encodeClose(1001, reason).length).toBe(2 + 125);
  });

  it('masks when given a key', () => {
    const out = encodeClose(1000, '', 0x01020304);
    expect([...out]).toEqual([0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2]);
  });

  it('refuses codes no frame may carry and reasons over 123 bytes', () => {
    for (const code of [999, 1004, 1005, 1006, 1015, 2000, 5000, 1000.5]) {
      expect(() => encodeClose(code, ''), String(code)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARG_VALUE }));
    }
    expect(() => encodeClose(1000, 'x'.repeat(124))).toThrow(RangeError);
    expect(() => encodeClose(1000, 'é'.repeat(62))).toThrow(RangeError);
    expect(() => encodeClose(1000, 5 as unknown as string)).toThrow(TypeError);
  });
});

describe('ws reads what the encoder writes', () => {
  type Msg = { kind: 'text'; text: string } | { kind: 'binary'; bytes: Uint8Array } | { kind: 'ping' | 'pong'; bytes: Uint8Array };

  const msgArb: fc.Arbitrary<Msg> = fc.oneof(
    { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map((text): Msg => ({ kind: 'text', text })) },
    { weight: 3, arbitrary: fc.uint8Array({ maxLength: 400 }).map((bytes): Msg => ({ kind: 'binary', bytes })) },
    {
      weight: 1,
      arbitrary: fc
        .record({ length: fc.integer({ min: 60000, max: 70000 }), seed: fc.integer() })
        .map(({ length, seed }): Msg => ({ kind: 'binary', bytes: seededBytes(length, seed) })),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('ping' as const, 'pong' as const), bytes: fc.uint8Array({ maxLength: 125 }) }) },
  );

  it.each([
    ['a server (unmasked) to ws as a client', false],
    ['a client (masked) to ws as a server', true],
  ])('%s: the same messages, pings, pongs and close, however the stream is cut', async (_, masked) => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(msgArb, { maxLength: 12 }),
        fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 30 }),
        fc.integer({ min: 3000, max: 4999 }),
        fc.string({ maxLength: 40 }),
        async (messages, keys, cuts, code, reason) => {
          const key = (i: number): number | undefined => (masked ? keys[i % keys.length] : undefined);
          const frames = messages.map((m, i) => {
            if (m.kind === 'text') return frame(Opcode.TEXT, new TextEncoder().encode(m.text), key(i));
            if (m.kind === 'binary') return frame(Opcode.BINARY, m.bytes, key(i));
            return encodeControlFrame(m.kind === 'ping' ? Opcode.PING : Opcode.PONG, m.bytes, key(i));
          });
          const closeReason = new TextEncoder().encode(reason).length <= MAX_CLOSE_REASON_BYTES ? reason : '';
          frames.push(encodeClose(code, closeReason, key(messages.length)));

          const got: unknown[] = [];
          const errors: unknown[] = [];
          const receiver = new Receiver({ isServer: masked });
          receiver.on('message', (data, isBinary) =>
            got.push(isBinary ? { kind: 'binary', bytes: [...data] } : { kind: 'text', text: data.toString('utf8') }),
          );
          receiver.on('ping', (data) => got.push({ kind: 'ping', bytes: [...data] }));
          receiver.on('pong', (data) => got.push({ kind: 'pong', bytes: [...data] }));
          let concluded = false;
          receiver.on('conclude', (c, r) => {
            concluded = true;
            got.push({ kind: 'close', code: c, reason: r.toString('utf8') });
          });
          receiver.on('error', (e) => errors.push(e));
          for (const chunk of cutAt(concatBytes(frames), cuts)) if (!concluded) receiver.write(chunk);
          // ws reports a protocol error on a later tick.
          await new Promise((resolve) => setImmediate(resolve));

          // Text goes through UTF-8 and back: a lone surrogate becomes U+FFFD on the way.
          const want: unknown[] = messages.map((m) =>
            m.kind === 'text'
              ? { kind: 'text', text: new TextDecoder().decode(new TextEncoder().encode(m.text)) }
              : { kind: m.kind, bytes: [...m.bytes] },
          );
          want.push({ kind: 'close', code, reason: closeReason });
          expect(errors).toEqual([]);
          expect(got).toEqual(want);
        },
      ),
      { numRuns: fuzzRuns(60) },
    );
  });
});
