import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeStatus, FrameDecoder, type FrameSink } from '../../src/shared/frame-decoder.js';
import { encodeFrame } from '../../src/shared/frame-encoder.js';
import { fuzzRuns } from '../helpers/fuzz-runs.js';

/** Cuts `bytes` at the given fractions (any chunking, including empty chunks). */
function cut(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = cuts.map((c) => Math.floor(c * bytes.length)).sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const p of points) {
    chunks.push(bytes.subarray(from, p));
    from = p;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

describe('FrameDecoder under arbitrary input', () => {
  it.each([2, 4] as const)(
    'header %i: never throws, holds at most one datagram, and delivers the valid prefix intact',
    (headerSize) => {
      const max = 512;
      fc.assert(
        fc.property(
          fc.array(fc.uint8Array({ maxLength: max }), { maxLength: 20 }),
          fc.uint8Array({ maxLength: 4096 }),
          fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 40 }),
          fc.boolean(),
          (valid, garbage, cuts, refuseSometimes) => {
            const framed = valid.map((d) => encodeFrame(d, headerSize));
            const stream = new Uint8Array(framed.reduce((n, f) => n + f.length, 0) + garbage.length);
            let at = 0;
            for (const f of framed) {
              stream.set(f, at);
              at += f.length;
            }
            stream.set(garbage, at);
            const decoder = new FrameDecoder({ headerSize, maxDatagramSize: max });
            const got: number[][] = [];
            let flip = false;
            const sink: FrameSink = {
              onDatagram(bytes, start, length) {
                if (refuseSometimes && (flip = !flip)) return false;
                got.push(Array.from(bytes.subarray(start, start + length)));
                return true;
              },
            };
            let dead = false;
            for (const chunk of cut(stream, cuts)) {
              let status = decoder.write(chunk, sink);
              while (status === DecodeStatus.PAUSED) status = decoder.resume(sink);
              if (status === DecodeStatus.OVERSIZED) {
                dead = true;
                break;
              }
              // Not paused: what is held is one incomplete datagram and its header at most.
              expect(decoder.bufferedBytes).toBeLessThan(max + headerSize);
            }
            expect(got.slice(0, valid.length)).toEqual(valid.map((d) => Array.from(d)));
            if (dead) expect(decoder.oversizedLength).toBeGreaterThan(max);
          },
        ),
        { numRuns: fuzzRuns(300) },
      );
    },
  );

  it('raw mode: every byte comes out once, in order, in pieces no larger than the limit', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 20 }), (chunks) => {
        const decoder = new FrameDecoder({ headerSize: 0, maxDatagramSize: 1000 });
        const out: number[] = [];
        const sink: FrameSink = {
          onDatagram(bytes, start, length) {
            expect(length).toBeLessThanOrEqual(1000);
            for (let i = 0; i < length; i++) out.push(bytes[start + i]);
            return true;
          },
        };
        for (const c of chunks) expect(decoder.write(c, sink)).toBe(DecodeStatus.NEED_MORE);
        expect(out).toEqual(chunks.flatMap((c) => Array.from(c)));
      }),
      { numRuns: fuzzRuns(200) },
    );
  });
});
