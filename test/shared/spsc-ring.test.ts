import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SpscRing } from '../../src/shared/protocol/spsc-ring.js';
import { DATA_OFFSET, RECORD_HEADER_SIZE } from '../../src/shared/protocol/ring-layout.js';

function payload(seed: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (seed * 7 + i) & 0xff;
  return bytes;
}

interface Rec {
  kind: number;
  connectionId: number;
  aux: number;
  bytes: number[];
}

function readAll(ring: SpscRing): Rec[] {
  const out: Rec[] = [];
  while (ring.next()) {
    out.push({
      kind: ring.kind,
      connectionId: ring.connectionId,
      aux: ring.aux,
      bytes: Array.from(ring.bytes.subarray(ring.offset, ring.offset + ring.length)),
    });
  }
  ring.release();
  return out;
}

describe('SpscRing', () => {
  it('rejects capacities that are not powers of two in range, naming the value', () => {
    expect(() => SpscRing.create(1000)).toThrow(/power of two.*got 1000/);
    expect(() => SpscRing.create(128)).toThrow(RangeError);
    expect(() => SpscRing.create(2 ** 31)).toThrow(RangeError);
    expect(() => new SpscRing(new SharedArrayBuffer(DATA_OFFSET + 256))).toThrow(TypeError);
    expect(() => new SpscRing(new ArrayBuffer(4096) as unknown as SharedArrayBuffer)).toThrow(TypeError);
  });

  it('throws a RangeError for a record larger than the ring can ever hold', () => {
    const ring = SpscRing.create(1024);
    expect(ring.maxPayload).toBe(512 - RECORD_HEADER_SIZE);
    expect(() => ring.reserve(1, 1, ring.maxPayload + 1)).toThrow(/can never fit.*holds is 500/);
    expect(ring.tryWrite(1, 1, new Uint8Array(ring.maxPayload))).toBe(true);
  });

  it('carries kind, connection id, aux and payload, and hides records until commit', () => {
    const ring = SpscRing.create(256);
    const consumer = new SpscRing(ring.buffer);
    expect(ring.tryWrite(3, 0xfffffffe, Uint8Array.of(1, 2, 3), 0, 3, 7)).toBe(true);
    expect(consumer.next()).toBe(false);
    ring.commit();
    expect(readAll(consumer)).toEqual([{ kind: 3, connectionId: 0xfffffffe, aux: 7, bytes: [1, 2, 3] }]);
    expect(consumer.next()).toBe(false);
  });

  it('copies a slice of the source, and zero-length records', () => {
    const ring = SpscRing.create(256);
    const src = Uint8Array.from({ length: 100 }, (_, i) => i);
    expect(ring.tryWrite(1, 1, src, 10, 60)).toBe(true);
    expect(ring.tryWrite(2, 2, src, 0, 0)).toBe(true);
    ring.commit();
    const recs = readAll(new SpscRing(ring.buffer));
    expect(recs[0].bytes).toEqual(Array.from(src.subarray(10, 70)));
    expect(recs[1]).toEqual({ kind: 2, connectionId: 2, aux: 0, bytes: [] });
  });

  it('wraps records that do not fit before the end of the area, keeping order', () => {
    const ring = SpscRing.create(256);
    const consumer = new SpscRing(ring.buffer);
    const seen: number[] = [];
    for (let round = 0; round < 50; round++) {
      // 100-byte payloads span 112 bytes: two fit, the third must wrap.
      for (let i = 0; i < 2; i++) {
        const id = round * 2 + i;
        expect(ring.tryWrite(1, id, payload(id, 100))).toBe(true);
      }
      ring.commit();
      for (const rec of readAll(consumer)) {
        expect(rec.bytes).toEqual(Array.from(payload(rec.connectionId, 100)));
        seen.push(rec.connectionId);
      }
    }
    expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('returns false when full, and frees space only on release', () => {
    const ring = SpscRing.create(256);
    const consumer = new SpscRing(ring.buffer);
    let n = 0;
    while (ring.tryWrite(1, n, payload(n, 20))) n++;
    expect(n).toBe(256 / 32);
    ring.commit();
    expect(consumer.next()).toBe(true);
    expect(ring.tryWrite(1, 99, payload(1, 20))).toBe(false);
    consumer.release();
    expect(ring.tryWrite(1, 99, payload(1, 20))).toBe(true);
    expect(ring.usedBytes()).toBe(256 - 32);
  });

  it('drain visits records in order, stops at max and frees their space', () => {
    const ring = SpscRing.create(1024);
    for (let i = 0; i < 10; i++) ring.tryWrite(5, i, payload(i, i));
    ring.commit();
    const consumer = new SpscRing(ring.buffer);
    const ids: number[] = [];
    const visit = (kind: number, id: number, _aux: number, bytes: Uint8Array, offset: number, length: number) => {
      expect(kind).toBe(5);
      expect(Array.from(bytes.subarray(offset, offset + length))).toEqual(Array.from(payload(id, id)));
      ids.push(id);
    };
    expect(consumer.drain(visit, 4)).toBe(4);
    expect(consumer.drain(visit)).toBe(6);
    expect(consumer.drain(visit)).toBe(0);
    expect(ids).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(ring.usedBytes()).toBe(0);
  });

  it('matches a plain queue model under random writes, commits and reads', () => {
    const op = fc.oneof(
      fc.record({ t: fc.constant('write' as const), size: fc.integer({ min: 0, max: 500 }) }),
      fc.record({ t: fc.constant('commit' as const) }),
      fc.record({ t: fc.constant('read' as const), max: fc.integer({ min: 0, max: 5 }) }),
      fc.record({ t: fc.constant('release' as const) }),
    );
    fc.assert(
      fc.property(fc.constantFrom(256, 1024, 4096), fc.array(op, { maxLength: 300 }), (capacity, ops) => {
        const producer = SpscRing.create(capacity);
        const consumer = new SpscRing(producer.buffer);
        const staged: number[][] = [];
        const published: number[][] = [];
        let seq = 0;
        const check = (max: number) => {
          for (let i = 0; i < max; i++) {
            const got = consumer.next();
            expect(got).toBe(published.length > 0);
            if (!got) return;
            const want = published.shift()!;
            expect(consumer.connectionId).toBe(want[0]);
            expect(Array.from(consumer.bytes.subarray(consumer.offset, consumer.offset + consumer.length))).toEqual(
              want.slice(1),
            );
          }
        };
        for (const o of ops) {
          if (o.t === 'write') {
            const size = Math.min(o.size, producer.maxPayload);
            const data = payload(seq, size);
            if (producer.tryWrite(1, seq, data)) {
              staged.push([seq, ...data]);
            } else {
              // Full is only ever temporary: once everything is consumed it must fit.
              producer.commit();
              published.push(...staged.splice(0));
              check(published.length);
              consumer.release();
              expect(producer.tryWrite(1, seq, data)).toBe(true);
              staged.push([seq, ...data]);
            }
            seq++;
          } else if (o.t === 'commit') {
            producer.commit();
            published.push(...staged.splice(0));
          } else if (o.t === 'read') {
            check(o.max);
          } else {
            consumer.release();
          }
        }
        producer.commit();
        published.push(...staged.splice(0));
        check(published.length + 1);
      }),
      { numRuns: 300 },
    );
  });

  it('waitForData settles on the next commit; waitForSpace on the next release', async () => {
    const ring = SpscRing.create(256);
    const consumer = new SpscRing(ring.buffer);
    const waiting = consumer.waitForData();
    expect(waiting).not.toBeNull();
    ring.tryWrite(1, 1, payload(1, 10));
    ring.commit();
    await waiting;
    expect(consumer.waitForData()).toBeNull();
    expect(consumer.next()).toBe(true);

    while (ring.tryWrite(1, 2, payload(2, 100))) ring.commit();
    const space = ring.waitForSpace();
    expect(space).not.toBeNull();
    while (consumer.next());
    consumer.release();
    await space;
    expect(ring.tryWrite(1, 3, payload(3, 100))).toBe(true);
  });

  it('carries millions of random-size records from a worker producer exactly, in order', async () => {
    const count = 2_000_000;
    const maxSize = 96;
    const seed = 0x9e3779b9;
    const ring = SpscRing.create(1 << 16);
    const worker = new Worker(new URL('../fixtures/ring-producer.mjs', import.meta.url), {
      workerData: { buffer: ring.buffer, count, maxSize, seed },
    });
    const done = new Promise<{ written: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    let state = seed >>> 0;
    const rand = () => {
      state ^= state << 13;
      state >>>= 0;
      state ^= state >>> 17;
      state ^= state << 5;
      state >>>= 0;
      return state;
    };
    let received = 0;
    let bad = 0;
    const consumer = new SpscRing(ring.buffer);
    const deadline = Date.now() + 50_000;
    while (received < count && Date.now() < deadline) {
      if (!consumer.next()) {
        const wait = consumer.waitForData();
        if (wait) await wait;
        continue;
      }
      const size = rand() % (maxSize + 1);
      if (consumer.connectionId !== received || consumer.kind !== (received & 0xff) || consumer.length !== size) {
        bad++;
      } else {
        const { bytes, offset } = consumer;
        for (let i = 0; i < size; i++) {
          if (bytes[offset + i] !== ((received + i * 31) & 0xff)) {
            bad++;
            break;
          }
        }
      }
      received++;
    }
    consumer.release();
    const { written } = await done;
    await worker.terminate();
    expect(written).toBe(count);
    expect(received).toBe(count);
    expect(bad).toBe(0);
    expect(consumer.next()).toBe(false);
  });
});
