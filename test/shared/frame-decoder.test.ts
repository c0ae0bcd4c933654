import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeStatus, FrameDecoder, type FrameSink } from '../../src/shared/frame-decoder.js';
import { encodeFrame, type HeaderSize } from '../../src/shared/frame-encoder.js';
import { fuzzRuns } from '../helpers/fuzz-runs.js';

/** Copies every datagram at once: views into the decoder's scratch only live during the call. */
class CollectSink implements FrameSink {
  readonly datagrams: number[][] = [];
  readonly views: { bytes: Uint8Array; start: number; length: number }[] = [];
  onDatagram(bytes: Uint8Array, start: number, length: number): boolean {
    this.datagrams.push([...bytes.subarray(start, start + length)]);
    this.views.push({ bytes, start, length });
    return true;
  }
}

/**
 * Accepts or refuses as `answers` says (then accepts everything), and checks that a refused
 * datagram is exactly the one offered next.
 */
class RefusingSink implements FrameSink {
  readonly accepted: number[][] = [];
  acceptedFramedBytes = 0;
  mismatches = 0;
  private next = 0;
  private refused: number[] | null = null;
  constructor(
    private readonly answers: boolean[],
    private readonly headerSize: number,
  ) {}
  onDatagram(bytes: Uint8Array, start: number, length: number): boolean {
    const copy = [...bytes.subarray(start, start + length)];
    if (this.refused !== null && !sameBytes(this.refused, copy)) this.mismatches++;
    const accept = this.next < this.answers.length ? this.answers[this.next++] : true;
    if (!accept) {
      this.refused = copy;
      return false;
    }
    this.refused = null;
    this.accepted.push(copy);
    this.acceptedFramedBytes += this.headerSize + length;
    return true;
  }
}

function sameBytes(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

type Cut = { kind: 'single' } | { kind: 'bytes' } | { kind: 'sizes'; sizes: number[] };

const cutArb: fc.Arbitrary<Cut> = fc.oneof(
  fc.constant<Cut>({ kind: 'single' }),
  fc.constant<Cut>({ kind: 'bytes' }),
  fc.array(fc.integer({ min: 1, max: 600 }), { minLength: 1, maxLength: 12 }).map<Cut>((sizes) => ({
    kind: 'sizes',
    sizes,
  })),
);

/** Small datagrams (often empty) mixed with ones longer than most chunks. */
const datagramsArb = fc.array(
  fc.oneof(fc.uint8Array({ maxLength: 6 }), fc.uint8Array({ maxLength: 900 })),
  { maxLength: 24 },
);

/** Cuts `bytes` into independent chunks (copies, as socket reads are), sizes cycling through the cut. */
function cut(bytes: Uint8Array, how: Cut, withEmpties = false): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let i = 0;
  let k = 0;
  while (i < bytes.length) {
    const size = how.kind === 'single' ? bytes.length : how.kind === 'bytes' ? 1 : how.sizes[k++ % how.sizes.length];
    chunks.push(bytes.slice(i, i + size));
    if (withEmpties) chunks.push(new Uint8Array(0));
    i += size;
  }
  return chunks;
}

function frameAll(datagrams: Uint8Array[], headerSize: HeaderSize): Uint8Array {
  const frames = datagrams.map((d) => encodeFrame(d, headerSize));
  const out = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  let at = 0;
  for (const f of frames) {
    out.set(f, at);
    at += f.length;
  }
  return out;
}

function concat(parts: ArrayLike<number>[]): number[] {
  const out: number[] = [];
  for (const p of parts) for (let i = 0; i < p.length; i++) out.push(p[i]);
  return out;
}

function bytesOf(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

const RUNS = 300;

describe.each([2, 4] as const)('FrameDecoder with a %i-byte header: properties', (headerSize) => {
  it('emits exactly the datagrams that were framed, however the stream is cut', () => {
    fc.assert(
      fc.property(datagramsArb, cutArb, fc.boolean(), (datagrams, how, withEmpties) => {
        const decoder = new FrameDecoder({ headerSize });
        const sink = new CollectSink();
        for (const chunk of cut(frameAll(datagrams, headerSize), how, withEmpties)) {
          expect(decoder.write(chunk, sink)).toBe(DecodeStatus.NEED_MORE);
        }
        expect(sink.datagrams).toEqual(datagrams.map((d) => [...d]));
        expect(decoder.bufferedBytes).toBe(0);
        expect(decoder.paused).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });

  it('emits the same datagrams when the sink refuses at random and the caller resumes', () => {
    fc.assert(
      fc.property(
        datagramsArb,
        cutArb,
        fc.array(fc.boolean(), { maxLength: 60 }),
        fc.array(fc.boolean(), { maxLength: 30 }),
        (datagrams, how, answers, resumeAtOnce) => {
          const decoder = new FrameDecoder({ headerSize });
          const sink = new RefusingSink(answers, headerSize);
          let written = 0;
          let r = 0;
          const check = (): void => {
            expect(decoder.bufferedBytes).toBe(written - sink.acceptedFramedBytes);
          };
          for (const chunk of cut(frameAll(datagrams, headerSize), how)) {
            written += chunk.length;
            let status = decoder.write(chunk, sink);
            check();
            // Sometimes keep writing while paused, so chunks queue up behind the held one.
            if (status === DecodeStatus.PAUSED && (resumeAtOnce[r++] ?? true)) {
              while (status === DecodeStatus.PAUSED) {
                status = decoder.resume(sink);
                check();
              }
            }
            expect(status).not.toBe(DecodeStatus.OVERSIZED);
          }
          while (decoder.resume(sink) === DecodeStatus.PAUSED) check();
          expect(sink.mismatches).toBe(0);
          expect(sink.accepted).toEqual(datagrams.map((d) => [...d]));
          expect(decoder.bufferedBytes).toBe(0);
          expect(decoder.paused).toBe(false);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('holds a truncated tail and emits only the whole datagrams before it', () => {
    fc.assert(
      fc.property(datagramsArb, cutArb, fc.nat(), (datagrams, how, seed) => {
        const framed = frameAll(datagrams, headerSize);
        const prefix = framed.length === 0 ? 0 : seed % framed.length;
        const expected: number[][] = [];
        let end = 0;
        for (const d of datagrams) {
          if (end + headerSize + d.length > prefix) break;
          end += headerSize + d.length;
          expected.push([...d]);
        }
        const decoder = new FrameDecoder({ headerSize });
        const sink = new CollectSink();
        for (const chunk of cut(framed.subarray(0, prefix), how)) decoder.write(chunk, sink);
        expect(sink.datagrams).toEqual(expected);
        expect(decoder.bufferedBytes).toBe(prefix - end);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('FrameDecoder in raw mode: properties', () => {
  const chunksArb = fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 });
  const maxArb = fc.option(fc.integer({ min: 1, max: 120 }), { nil: undefined });

  it('emits the chunks’ bytes unchanged, in views of the chunks no longer than maxDatagramSize', () => {
    fc.assert(
      fc.property(chunksArb, maxArb, (chunks, maxDatagramSize) => {
        const decoder = new FrameDecoder({ headerSize: 0, maxDatagramSize });
        const sink = new CollectSink();
        for (const chunk of chunks) expect(decoder.write(chunk, sink)).toBe(DecodeStatus.NEED_MORE);
        expect(concat(sink.datagrams)).toEqual(concat(chunks));
        for (const v of sink.views) {
          expect(v.length).toBeGreaterThan(0);
          expect(v.length).toBeLessThanOrEqual(maxDatagramSize ?? 1024 * 1024);
          expect(chunks).toContain(v.bytes);
        }
        expect(decoder.bufferedBytes).toBe(0);
      }),
      { numRuns: RUNS },
    );
  });

  it('emits the same bytes when the sink refuses at random', () => {
    fc.assert(
      fc.property(chunksArb, maxArb, fc.array(fc.boolean(), { maxLength: 40 }), (chunks, maxDatagramSize, answers) => {
        const decoder = new FrameDecoder({ headerSize: 0, maxDatagramSize });
        const sink = new RefusingSink(answers, 0);
        let written = 0;
        for (const chunk of chunks) {
          written += chunk.length;
          decoder.write(chunk, sink);
          expect(decoder.bufferedBytes).toBe(written - sink.acceptedFramedBytes);
        }
        while (decoder.resume(sink) === DecodeStatus.PAUSED);
        expect(sink.mismatches).toBe(0);
        expect(concat(sink.accepted)).toEqual(concat(chunks));
        expect(decoder.bufferedBytes).toBe(0);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('FrameDecoder byte vectors', () => {
  it('decodes [3, 0, 1, 2, 3] as one datagram [1, 2, 3]', () => {
    const decoder = new FrameDecoder();
    const sink = new CollectSink();
    expect(decoder.write(bytesOf(0x03, 0x00, 1, 2, 3), sink)).toBe(DecodeStatus.NEED_MORE);
    expect(sink.datagrams).toEqual([[1, 2, 3]]);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('reads the u16 header little-endian', () => {
    const body = new Uint8Array(0x0102).fill(9);
    const sink = new CollectSink();
    new FrameDecoder().write(Uint8Array.from([0x02, 0x01, ...body]), sink);
    expect(sink.datagrams.map((d) => d.length)).toEqual([0x0102]);
  });

  it('decodes u32 headers', () => {
    const decoder = new FrameDecoder({ headerSize: 4 });
    const sink = new CollectSink();
    const status = decoder.write(bytesOf(2, 0, 0, 0, 0xaa, 0xbb, 1, 0, 0, 0, 0xcc, 0, 0, 0, 0), sink);
    expect(status).toBe(DecodeStatus.NEED_MORE);
    expect(sink.datagrams).toEqual([[0xaa, 0xbb], [0xcc], []]);
  });

  it('reads all four bytes of a u32 header', () => {
    const decoder = new FrameDecoder({ headerSize: 4, maxDatagramSize: 0x01020304 });
    const sink = new CollectSink();
    decoder.write(bytesOf(0x04, 0x03, 0x02, 0x01, 7), sink);
    expect(sink.datagrams).toEqual([]);
    expect(decoder.bufferedBytes).toBe(5);
  });

  it('emits zero-length datagrams', () => {
    const decoder = new FrameDecoder();
    const sink = new CollectSink();
    expect(decoder.write(bytesOf(0, 0, 0, 0, 1, 0, 5, 0, 0), sink)).toBe(DecodeStatus.NEED_MORE);
    expect(sink.datagrams).toEqual([[], [], [5], []]);
  });

  it('emits a zero-length datagram whose header arrives split', () => {
    const decoder = new FrameDecoder();
    const sink = new CollectSink();
    decoder.write(bytesOf(0), sink);
    expect(sink.datagrams).toEqual([]);
    decoder.write(bytesOf(0), sink);
    expect(sink.datagrams).toEqual([[]]);
  });

  it('holds a truncated header or body without emitting it', () => {
    const decoder = new FrameDecoder();
    const sink = new CollectSink();
    decoder.write(bytesOf(1, 0, 9, 5), sink);
    expect(sink.datagrams).toEqual([[9]]);
    expect(decoder.bufferedBytes).toBe(1);
    decoder.write(bytesOf(0, 1, 2), sink);
    expect(sink.datagrams).toEqual([[9]]);
    expect(decoder.bufferedBytes).toBe(4);
    decoder.write(bytesOf(3, 4, 5), sink);
    expect(sink.datagrams).toEqual([[9], [1, 2, 3, 4, 5]]);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('assembles a u16 header split byte by byte', () => {
    const decoder = new FrameDecoder();
    const sink = new CollectSink();
    for (const b of [2, 0, 7, 8, 0]) decoder.write(bytesOf(b), sink);
    expect(sink.datagrams).toEqual([[7, 8]]);
    expect(decoder.bufferedBytes).toBe(1);
  });

  it('assembles a u32 header split byte by byte, high byte included', () => {
    const decoder = new FrameDecoder({ headerSize: 4, maxDatagramSize: 0xffffffff });
    const sink = new CollectSink();
    for (const b of [1, 0, 0, 0, 0x42]) decoder.write(bytesOf(b), sink);
    expect(sink.datagrams).toEqual([[0x42]]);
    for (const b of [0, 0, 0, 0x80]) decoder.write(bytesOf(b), sink);
    expect(decoder.bufferedBytes).toBe(4);
    expect(decoder.oversizedLength).toBe(-1);
  });

  it('delivers a body split across chunks from one reused scratch array', () => {
    const decoder = new FrameDecoder();
    const sink = new CollectSink();
    decoder.write(bytesOf(3, 0, 1), sink);
    decoder.write(bytesOf(2, 3, 2, 0, 4), sink);
    decoder.write(bytesOf(5), sink);
    expect(sink.datagrams).toEqual([[1, 2, 3], [4, 5]]);
    expect(sink.views[0].start).toBe(0);
    expect(sink.views[1].bytes).toBe(sink.views[0].bytes);
  });

  it('grows the scratch for a split datagram larger than the last one', () => {
    const decoder = new FrameDecoder({ headerSize: 4 });
    const sink = new CollectSink();
    const big = new Uint8Array(100_000).map((_, i) => i & 0xff);
    for (const chunk of cut(frameAll([bytesOf(1, 2), big, bytesOf(3)], 4), { kind: 'sizes', sizes: [3, 7001] })) {
      decoder.write(chunk, sink);
    }
    expect(sink.datagrams).toEqual([[1, 2], [...big], [3]]);
  });
});

describe('FrameDecoder zero copy', () => {
  it('delivers a datagram wholly inside a chunk as a view of that chunk', () => {
    const decoder = new FrameDecoder();
    const sink = new CollectSink();
    const chunk = bytesOf(2, 0, 10, 11, 1, 0, 12);
    decoder.write(chunk, sink);
    expect(sink.views).toEqual([
      { bytes: chunk, start: 2, length: 2 },
      { bytes: chunk, start: 6, length: 1 },
    ]);
    expect(sink.views[0].bytes).toBe(chunk);
    expect(sink.views[1].bytes).toBe(chunk);
  });

  it('still delivers a view when only the header was split', () => {
    const decoder = new FrameDecoder();
    const sink = new CollectSink();
    decoder.write(bytesOf(2), sink);
    const chunk = bytesOf(0, 10, 11);
    decoder.write(chunk, sink);
    expect(sink.views).toEqual([{ bytes: chunk, start: 1, length: 2 }]);
  });

  it('accepts Buffers and delivers views of them', () => {
    const decoder = new FrameDecoder();
    const sink = new CollectSink();
    const chunk = Buffer.from([1, 0, 0x61]);
    decoder.write(chunk, sink);
    expect(sink.views[0].bytes).toBe(chunk);
  });
});

describe('FrameDecoder oversize', () => {
  it('reports OVERSIZED at the header, before the body arrives, and stays dead', () => {
    const decoder = new FrameDecoder({ maxDatagramSize: 10 });
    const sink = new CollectSink();
    expect(decoder.write(bytesOf(11, 0), sink)).toBe(DecodeStatus.OVERSIZED);
    expect(decoder.oversizedLength).toBe(11);
    expect(decoder.bufferedBytes).toBe(0);
    expect(decoder.write(bytesOf(1, 0, 5), sink)).toBe(DecodeStatus.OVERSIZED);
    expect(decoder.resume(sink)).toBe(DecodeStatus.OVERSIZED);
    expect(sink.datagrams).toEqual([]);
  });

  it('accepts a datagram of exactly maxDatagramSize', () => {
    const decoder = new FrameDecoder({ maxDatagramSize: 10 });
    const sink = new CollectSink();
    expect(decoder.write(encodeFrame(new Uint8Array(10)), sink)).toBe(DecodeStatus.NEED_MORE);
    expect(sink.datagrams).toHaveLength(1);
    expect(decoder.oversizedLength).toBe(-1);
  });

  it('reports OVERSIZED for a header completed across chunks', () => {
    const decoder = new FrameDecoder({ maxDatagramSize: 10 });
    const sink = new CollectSink();
    expect(decoder.write(bytesOf(11), sink)).toBe(DecodeStatus.NEED_MORE);
    expect(decoder.write(bytesOf(0, 1, 2, 3), sink)).toBe(DecodeStatus.OVERSIZED);
    expect(decoder.oversizedLength).toBe(11);
  });

  it('delivers the datagrams before the oversized header in the same chunk first', () => {
    const decoder = new FrameDecoder({ maxDatagramSize: 10 });
    const sink = new CollectSink();
    expect(decoder.write(bytesOf(1, 0, 7, 0, 0, 2, 0, 8, 9, 11, 0, 1, 2), sink)).toBe(DecodeStatus.OVERSIZED);
    expect(sink.datagrams).toEqual([[7], [], [8, 9]]);
    expect(decoder.oversizedLength).toBe(11);
  });

  it('rejects a u32 header announcing 0xFFFFFFFF without allocating for it', () => {
    const decoder = new FrameDecoder({ headerSize: 4 });
    const sink = new CollectSink();
    const before = process.memoryUsage().arrayBuffers;
    expect(decoder.write(bytesOf(0xff, 0xff, 0xff, 0xff, 1, 2, 3), sink)).toBe(DecodeStatus.OVERSIZED);
    expect(decoder.oversizedLength).toBe(0xffffffff);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1 << 20);
  });

  it('grows the scratch with the bytes received, not with the length announced', () => {
    const decoder = new FrameDecoder({ headerSize: 4, maxDatagramSize: 0xffffffff });
    const sink = new CollectSink();
    const before = process.memoryUsage().arrayBuffers;
    expect(decoder.write(bytesOf(0xff, 0xff, 0xff, 0xff, 1, 2, 3), sink)).toBe(DecodeStatus.NEED_MORE);
    expect(decoder.bufferedBytes).toBe(7);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1 << 20);
  });

  it('applies maxDatagramSize to u32 headers', () => {
    const decoder = new FrameDecoder({ headerSize: 4, maxDatagramSize: 3 });
    const sink = new CollectSink();
    expect(decoder.write(bytesOf(3, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0), sink)).toBe(DecodeStatus.OVERSIZED);
    expect(sink.datagrams).toEqual([[1, 2, 3]]);
    expect(decoder.oversizedLength).toBe(4);
  });

  it('is usable again after reset()', () => {
    const decoder = new FrameDecoder({ maxDatagramSize: 10 });
    const sink = new CollectSink();
    decoder.write(bytesOf(11, 0), sink);
    decoder.reset();
    expect(decoder.oversizedLength).toBe(-1);
    expect(decoder.write(bytesOf(1, 0, 4), sink)).toBe(DecodeStatus.NEED_MORE);
    expect(sink.datagrams).toEqual([[4]]);
  });
});

describe('FrameDecoder pausing', () => {
  class GateSink implements FrameSink {
    open = false;
    offers = 0;
    readonly got: number[][] = [];
    onDatagram(bytes: Uint8Array, start: number, length: number): boolean {
      this.offers++;
      if (!this.open) return false;
      this.got.push([...bytes.subarray(start, start + length)]);
      return true;
    }
  }

  it('stops at a refused datagram, queues later chunks and offers it again on resume', () => {
    const decoder = new FrameDecoder();
    const sink = new GateSink();
    const chunk = bytesOf(1, 0, 1, 1, 0, 2);
    expect(decoder.write(chunk, sink)).toBe(DecodeStatus.PAUSED);
    expect(decoder.paused).toBe(true);
    expect(sink.offers).toBe(1);
    expect(decoder.bufferedBytes).toBe(6);
    expect(decoder.write(bytesOf(1, 0, 3), sink)).toBe(DecodeStatus.PAUSED);
    expect(decoder.write(new Uint8Array(0), sink)).toBe(DecodeStatus.PAUSED);
    expect(sink.offers).toBe(1);
    expect(decoder.bufferedBytes).toBe(9);
    expect(decoder.resume(sink)).toBe(DecodeStatus.PAUSED);
    expect(sink.offers).toBe(2);
    sink.open = true;
    expect(decoder.resume(sink)).toBe(DecodeStatus.NEED_MORE);
    expect(sink.got).toEqual([[1], [2], [3]]);
    expect(decoder.paused).toBe(false);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('offers an assembled scratch datagram again on resume', () => {
    const decoder = new FrameDecoder();
    const sink = new GateSink();
    expect(decoder.write(bytesOf(2, 0, 5), sink)).toBe(DecodeStatus.NEED_MORE);
    expect(decoder.write(bytesOf(6, 1, 0, 7), sink)).toBe(DecodeStatus.PAUSED);
    expect(decoder.bufferedBytes).toBe(7);
    sink.open = true;
    expect(decoder.resume(sink)).toBe(DecodeStatus.NEED_MORE);
    expect(sink.got).toEqual([[5, 6], [7]]);
  });

  it('returns NEED_MORE from resume() when not paused', () => {
    expect(new FrameDecoder().resume(new GateSink())).toBe(DecodeStatus.NEED_MORE);
  });

  it('reports OVERSIZED from resume() when a queued chunk holds a too-large header', () => {
    const decoder = new FrameDecoder({ maxDatagramSize: 4 });
    const sink = new GateSink();
    decoder.write(bytesOf(1, 0, 1), sink);
    decoder.write(bytesOf(1, 0, 2, 5, 0), sink);
    sink.open = true;
    expect(decoder.resume(sink)).toBe(DecodeStatus.OVERSIZED);
    expect(sink.got).toEqual([[1], [2]]);
    expect(decoder.oversizedLength).toBe(5);
    expect(decoder.paused).toBe(false);
  });

  it('pauses in raw mode and resumes at the refused piece', () => {
    const decoder = new FrameDecoder({ headerSize: 0, maxDatagramSize: 2 });
    const sink = new GateSink();
    expect(decoder.write(bytesOf(1, 2, 3), sink)).toBe(DecodeStatus.PAUSED);
    expect(decoder.bufferedBytes).toBe(3);
    sink.open = true;
    expect(decoder.resume(sink)).toBe(DecodeStatus.NEED_MORE);
    expect(sink.got).toEqual([[1, 2], [3]]);
  });

  it('drops everything held on reset()', () => {
    const decoder = new FrameDecoder();
    const sink = new GateSink();
    decoder.write(bytesOf(1, 0, 1, 9), sink);
    decoder.write(bytesOf(1, 0, 3), sink);
    decoder.reset();
    expect(decoder.paused).toBe(false);
    expect(decoder.bufferedBytes).toBe(0);
    sink.open = true;
    expect(decoder.write(bytesOf(1, 0, 4), sink)).toBe(DecodeStatus.NEED_MORE);
    expect(sink.got).toEqual([[4]]);
  });
});

describe('FrameDecoder raw mode', () => {
  it('delivers each chunk as one datagram and ignores empty chunks', () => {
    const decoder = new FrameDecoder({ headerSize: 0 });
    const sink = new CollectSink();
    const a = bytesOf(3, 0, 1);
    decoder.write(a, sink);
    decoder.write(new Uint8Array(0), sink);
    decoder.write(bytesOf(9), sink);
    expect(sink.datagrams).toEqual([[3, 0, 1], [9]]);
    expect(sink.views[0]).toEqual({ bytes: a, start: 0, length: 3 });
  });

  it('cuts a chunk larger than maxDatagramSize into pieces', () => {
    const decoder = new FrameDecoder({ headerSize: 0, maxDatagramSize: 2 });
    const sink = new CollectSink();
    decoder.write(bytesOf(1, 2, 3, 4, 5), sink);
    expect(sink.datagrams).toEqual([[1, 2], [3, 4], [5]]);
  });
});

describe('FrameDecoder options', () => {
  it('defaults to a 2-byte header and 65535', () => {
    const decoder = new FrameDecoder();
    expect(decoder.headerSize).toBe(2);
    expect(decoder.maxDatagramSize).toBe(65535);
    expect(decoder.oversizedLength).toBe(-1);
  });

  it('defaults to 1 MiB for 4-byte headers and raw mode', () => {
    expect(new FrameDecoder({ headerSize: 4 }).maxDatagramSize).toBe(1024 * 1024);
    expect(new FrameDecoder({ headerSize: 0 }).maxDatagramSize).toBe(1024 * 1024);
  });

  it('rejects a bad headerSize, naming the option and the value', () => {
    expect(() => new FrameDecoder({ headerSize: 3 as HeaderSize })).toThrow(RangeError);
    expect(() => new FrameDecoder({ headerSize: 3 as HeaderSize })).toThrow(/options\.headerSize.*3/);
  });

  it.each([0, -1, 1.5, NaN, Infinity, '8' as unknown as number])(
    'rejects maxDatagramSize %s, naming the option and the value',
    (value) => {
      expect(() => new FrameDecoder({ maxDatagramSize: value })).toThrow(RangeError);
      expect(() => new FrameDecoder({ maxDatagramSize: value })).toThrow(
        new RegExp(`options\\.maxDatagramSize.*${String(value).replace('.', '\\.')}`),
      );
    },
  );
});

describe('FrameDecoder memory between datagrams', () => {
  it('lets go of a scratch grown for one large datagram, and keeps a small one', () => {
    const decoder = new FrameDecoder({ headerSize: 4, maxDatagramSize: 4 << 20 });
    let delivered = 0;
    let sum = 0;
    const sink: FrameSink = {
      onDatagram(bytes, start, length) {
        delivered++;
        sum += bytes[start] + bytes[start + length - 1];
        return true;
      },
    };
    const big = new Uint8Array(3 << 20).fill(5);
    const framed = encodeFrame(big, 4);
    // In two chunks, so it is put together in the scratch.
    expect(decoder.write(framed.subarray(0, 1000), sink)).toBe(DecodeStatus.NEED_MORE);
    expect(decoder.scratchCapacity).toBeGreaterThanOrEqual(1000 - 4);
    expect(decoder.write(framed.subarray(1000), sink)).toBe(DecodeStatus.NEED_MORE);
    expect(delivered).toBe(1);
    expect(sum).toBe(10);
    expect(decoder.scratchCapacity).toBe(0); // 3 MiB let go once delivered
    // A small split datagram keeps its (small) scratch for the next.
    const small = encodeFrame(new Uint8Array(300).fill(1), 4);
    decoder.write(small.subarray(0, 10), sink);
    decoder.write(small.subarray(10), sink);
    expect(delivered).toBe(2);
    expect(decoder.scratchCapacity).toBeGreaterThan(0);
    expect(decoder.scratchCapacity).toBeLessThanOrEqual(1024 * 1024);
  });
});

/**
 * Framing changes are stream positions: a change made after N bytes were written applies
 * from the first datagram boundary at or after N. The model builds a stream of segments,
 * each in its own framing; the change to segment k's framing is made after writing a
 * number of bytes that lies inside segment k−1's last datagram (or exactly at segment k's
 * start), so its first boundary at or after that point is segment k's start.
 */
describe('FrameDecoder framing changes', () => {
  type Framing = { headerSize: HeaderSize; maxDatagramSize: number };
  interface Segment {
    framing: Framing;
    payloads: Uint8Array[];
  }
  const framingArb: fc.Arbitrary<Framing> = fc.oneof(
    fc.constant<Framing>({ headerSize: 2, maxDatagramSize: 0xffff }),
    fc.constant<Framing>({ headerSize: 2, maxDatagramSize: 40 }),
    fc.constant<Framing>({ headerSize: 4, maxDatagramSize: 300 }),
    fc.constant<Framing>({ headerSize: 4, maxDatagramSize: 100_000 }),
    fc.constant<Framing>({ headerSize: 0, maxDatagramSize: 7 }),
    fc.constant<Framing>({ headerSize: 0, maxDatagramSize: 1 << 20 }),
  );
  const segmentArb: fc.Arbitrary<Segment> = framingArb.chain((framing) =>
    fc
      .array(fc.uint8Array({ minLength: framing.headerSize === 0 ? 1 : 0, maxLength: Math.min(framing.maxDatagramSize, 120) }), { minLength: 1, maxLength: 6 })
      .map((payloads) => ({ framing, payloads })),
  );

  /** The framed bytes of one segment, and where its last datagram starts in them. */
  function encodeSegment(segment: Segment): { bytes: Uint8Array; lastStart: number } {
    const parts = segment.payloads.map((p) => (segment.framing.headerSize === 0 ? p : encodeFrame(p, segment.framing.headerSize)));
    const bytes = Buffer.concat(parts);
    return { bytes, lastStart: bytes.length - parts[parts.length - 1].length };
  }

  it('frames every byte by the settings in force when it was written, however cut and paused', () => {
    fc.assert(
      fc.property(
        fc.array(segmentArb, { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(), { minLength: 5, maxLength: 5 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 20 }),
        fc.array(fc.boolean(), { maxLength: 40 }),
        (segments, changePicks, cuts, refusals) => {
          const encoded = segments.map(encodeSegment);
          const stream = Buffer.concat(encoded.map((e) => e.bytes));
          // Where each change (to segment k ≥ 1) is made: after the first byte of segment
          // k−1's last datagram and at most at segment k's start; a raw segment before it
          // has a boundary at every byte, so there the change must be made exactly at k's start.
          const changeAt: number[] = [];
          let segmentStart = 0;
          for (let k = 0; k < segments.length; k++) {
            if (k > 0) {
              const previous = encoded[k - 1];
              const previousStart = segmentStart - previous.bytes.length;
              const low = segments[k - 1].framing.headerSize === 0 ? segmentStart : previousStart + previous.lastStart + 1;
              changeAt.push(low + (changePicks[k % changePicks.length] % (segmentStart - low + 1)));
            }
            segmentStart += encoded[k].bytes.length;
          }
          const decoder = new FrameDecoder(segments[0].framing);
          const got: number[][] = [];
          let refusal = 0;
          const sink: FrameSink = {
            onDatagram(bytes, start, length) {
              if (refusal < refusals.length && refusals[refusal++]) return false;
              got.push([decoder.headerSize, ...bytes.subarray(start, start + length)]);
              return true;
            },
          };
          // Write the stream in cuts, stopping at each change's position to make it, and
          // resume whatever paused (a few times per write, as the shard would when the
          // ring drains).
          let at = 0;
          let cut = 0;
          let change = 0;
          let status: DecodeStatus = DecodeStatus.NEED_MORE;
          while (at < stream.length || change < changeAt.length) {
            if (change < changeAt.length && changeAt[change] === at) {
              decoder.setFraming(segments[change + 1].framing);
              change++;
              continue;
            }
            const stop = change < changeAt.length ? changeAt[change] : stream.length;
            const n = Math.min(cuts[cut++ % cuts.length], stop - at);
            status = decoder.write(stream.subarray(at, at + n), sink);
            expect(status).not.toBe(DecodeStatus.OVERSIZED);
            at += n;
            if (status === DecodeStatus.PAUSED && cut % 3 === 0) status = decoder.resume(sink);
          }
          while (status === DecodeStatus.PAUSED) status = decoder.resume(sink);
          expect(status).toBe(DecodeStatus.NEED_MORE);
          // Framed segments come out datagram by datagram with their header size; a raw
          // segment comes out as its bytes, in pieces.
          const expected: number[][] = [];
          for (const segment of segments) {
            const h = segment.framing.headerSize;
            if (h === 0) expected.push([0, ...Buffer.concat(segment.payloads)]);
            else for (const p of segment.payloads) expected.push([h, ...p]);
          }
          const merged: number[][] = [];
          for (const d of got) {
            const last = merged[merged.length - 1];
            if (d[0] === 0 && last !== undefined && last[0] === 0) last.push(...d.slice(1));
            else merged.push(d);
          }
          // Two raw segments in a row are one run of bytes.
          const expectedMerged: number[][] = [];
          for (const d of expected) {
            const last = expectedMerged[expectedMerged.length - 1];
            if (d[0] === 0 && last !== undefined && last[0] === 0) last.push(...d.slice(1));
            else expectedMerged.push(d);
          }
          expect(merged.filter((d) => d[0] !== 0 || d.length > 1)).toEqual(expectedMerged.filter((d) => d[0] !== 0 || d.length > 1));
        },
      ),
      { numRuns: fuzzRuns(300) },
    );
  });

  it('reads a datagram part-way in with the old header and the next with the new (4 → 2)', () => {
    const decoder = new FrameDecoder({ headerSize: 4 });
    const sink = new CollectSink();
    const first = encodeFrame(new Uint8Array([1, 2, 3]), 4);
    expect(decoder.write(first.subarray(0, 5), sink)).toBe(DecodeStatus.NEED_MORE);
    decoder.setFraming({ headerSize: 2 });
    expect(decoder.headerSize).toBe(4); // the datagram under way keeps its framing
    const rest = Buffer.concat([first.subarray(5), encodeFrame(new Uint8Array([9]), 2)]);
    expect(decoder.write(rest, sink)).toBe(DecodeStatus.NEED_MORE);
    expect(sink.datagrams).toEqual([[1, 2, 3], [9]]);
    expect(decoder.headerSize).toBe(2);
  });

  it('parses a header after a raised maxDatagramSize with the new limit', () => {
    const decoder = new FrameDecoder({ headerSize: 2, maxDatagramSize: 10 });
    const sink = new CollectSink();
    const first = encodeFrame(new Uint8Array(8), 2);
    decoder.write(first.subarray(0, 4), sink);
    decoder.setFraming({ headerSize: 2, maxDatagramSize: 3000 });
    expect(decoder.write(Buffer.concat([first.subarray(4), encodeFrame(new Uint8Array(2000), 2)]), sink)).toBe(DecodeStatus.NEED_MORE);
    expect(sink.datagrams.map((d) => d.length)).toEqual([8, 2000]);
  });

  it('frames datagrams held for back-pressure before the change the old way', () => {
    const decoder = new FrameDecoder({ headerSize: 2 });
    let open = false;
    const got: number[][] = [];
    const sink: FrameSink = {
      onDatagram(bytes, start, length) {
        if (!open) return false;
        got.push([...bytes.subarray(start, start + length)]);
        return true;
      },
    };
    const held = Buffer.concat([1, 2, 3].map((v) => encodeFrame(new Uint8Array([v, v]), 2)));
    expect(decoder.write(held, sink)).toBe(DecodeStatus.PAUSED);
    decoder.setFraming({ headerSize: 4 });
    expect(decoder.write(encodeFrame(new Uint8Array([7, 7, 7]), 4), sink)).toBe(DecodeStatus.PAUSED);
    open = true;
    expect(decoder.resume(sink)).toBe(DecodeStatus.NEED_MORE);
    expect(got).toEqual([[1, 1], [2, 2], [3, 3], [7, 7, 7]]);
  });

  it('cuts a raw chunk at the change to framed, to the byte', () => {
    const decoder = new FrameDecoder({ headerSize: 0 });
    const sink = new CollectSink();
    decoder.write(new Uint8Array([5, 6]), sink);
    decoder.setFraming({ headerSize: 2 });
    decoder.write(encodeFrame(new Uint8Array([1]), 2), sink);
    expect(sink.datagrams).toEqual([[5, 6], [1]]);
  });

  it('applies several changes made before their boundary in order, and the latest on reset()', () => {
    const decoder = new FrameDecoder({ headerSize: 2 });
    const sink = new CollectSink();
    const a = encodeFrame(new Uint8Array([1, 1, 1]), 2);
    decoder.write(a.subarray(0, 3), sink);
    decoder.setFraming({ headerSize: 4 });
    decoder.write(a.subarray(3, 4), sink);
    decoder.setFraming({ headerSize: 0 });
    expect(decoder.pendingFramingChanges).toBe(2);
    decoder.write(a.subarray(4), sink); // the datagram ends past both changes: raw from here
    decoder.write(new Uint8Array([8, 9]), sink);
    expect(sink.datagrams).toEqual([[1, 1, 1], [8, 9]]);
    expect(decoder.pendingFramingChanges).toBe(0);
    decoder.setFraming({ headerSize: 2 }); // at a boundary with nothing held: at once
    expect(decoder.headerSize).toBe(2);
    decoder.write(new Uint8Array([3, 0, 1]), sink);
    decoder.setFraming({ headerSize: 4 });
    expect(decoder.headerSize).toBe(2);
    decoder.reset();
    expect(decoder.headerSize).toBe(4);
  });
});
