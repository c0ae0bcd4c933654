/**
 * SendOverflow (issue #24, point 7): records that found a real ring full wait here in
 * order and move into the ring as the consumer frees room; a cut connection's datagrams
 * stop counting at once and are passed over when reached; the largest backlog is named.
 */
import { describe, expect, it } from 'vitest';
import { RecordKind } from '../../../src/shared/protocol/record-kind.js';
import { SpscRing } from '../../../src/shared/protocol/spsc-ring.js';
import { SendOverflow } from '../../../src/main/shards/send-overflow.js';

/** Puts a record of `bytes` in `overflow`. */
function put(overflow: SendOverflow, kind: number, id: number, bytes: number[], aux = 0): void {
  const at = overflow.reserve(kind, id, bytes.length, aux);
  overflow.target.set(bytes, at);
}

/** Takes what the ring holds: [kind, id, aux, payload] per record. */
function take(ring: SpscRing): [number, number, number, number[]][] {
  const out: [number, number, number, number[]][] = [];
  while (ring.next()) out.push([ring.kind, ring.connectionId, ring.aux, [...ring.bytes.subarray(ring.offset, ring.offset + ring.length)]]);
  ring.release();
  return out;
}

describe('SendOverflow', () => {
  it('moves records into the ring in order, as far as they fit, and the rest once room is freed', () => {
    const ring = SpscRing.create(4096);
    const overflow = new SendOverflow();
    const payload = Array.from({ length: 1000 }, (_, i) => i & 0xff);
    for (let i = 0; i < 10; i++) put(overflow, RecordKind.SEND, 1 + (i % 2), [i, ...payload]);
    put(overflow, RecordKind.CLOSE, 2, [], 5);
    expect(overflow.records).toBe(11);
    expect(overflow.bytes).toBe(10 * 1001);
    expect(overflow.moveTo(ring)).toBe(false); // a 4 KiB ring takes a few
    ring.commit();
    const got: [number, number, number, number[]][] = [];
    for (let rounds = 0; rounds < 20 && overflow.records > 0; rounds++) {
      got.push(...take(ring));
      overflow.moveTo(ring);
      ring.commit();
    }
    got.push(...take(ring));
    expect(overflow.records).toBe(0);
    expect(overflow.bytes).toBe(0);
    expect(got.map(([kind, id, , bytes]) => [kind, id, bytes[0]])).toEqual([
      ...Array.from({ length: 10 }, (_, i) => [RecordKind.SEND, 1 + (i % 2), i]),
      [RecordKind.CLOSE, 2, undefined],
    ]);
    expect(got.at(-1)![2]).toBe(5);
  });

  it("drops a cut connection's datagrams, whole ones counted as skipped, and names the largest backlog", () => {
    const ring = SpscRing.create(4096);
    const overflow = new SendOverflow();
    put(overflow, RecordKind.SEND, 1, [1, 1, 1]);
    put(overflow, RecordKind.SEND, 2, [2, 2, 2, 2, 2]);
    put(overflow, RecordKind.SEND, 2, [2], 1); // a later part of the same datagram
    put(overflow, RecordKind.SEND, 3, [3]);
    expect(overflow.largest()).toBe(2);
    overflow.discardSends(2);
    expect(overflow.bytes).toBe(4);
    expect(overflow.largest()).toBe(1);
    put(overflow, RecordKind.SEND, 2, [2, 2]); // more for the cut connection: passed over too
    expect(overflow.bytes).toBe(4);
    expect(overflow.moveTo(ring)).toBe(true);
    ring.commit();
    expect(take(ring).map(([, id, , bytes]) => [id, bytes])).toEqual([
      [1, [1, 1, 1]],
      [3, [3]],
    ]);
    expect(overflow.skipped).toBe(2); // two datagrams (the part with aux 1 is not one)
    expect(overflow.largest()).toBe(-1);
  });

  it('hands every waiting record to forEach, then forgets them on clear (a shard that died)', () => {
    const overflow = new SendOverflow();
    put(overflow, RecordKind.ADOPT, 1, [0, 0, 0, 0, 255, 255, 255, 255]);
    put(overflow, RecordKind.SEND, 1, [7]);
    const kinds: number[] = [];
    overflow.forEach((kind) => kinds.push(kind));
    expect(kinds).toEqual([RecordKind.ADOPT, RecordKind.SEND]);
    overflow.clear();
    expect([overflow.records, overflow.bytes, overflow.largest()]).toEqual([0, 0, -1]);
  });
});
