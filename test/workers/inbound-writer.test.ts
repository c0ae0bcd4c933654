/**
 * InboundWriter (issue #24, point 7), driven through its host interface and a real ring:
 * socket chunks become datagrams in the ring, a full ring pauses the socket until the
 * main thread drains it, an oversized header is reported to the host, and a connection's
 * CLOSED record follows its last datagram.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RecordKind } from '../../src/shared/protocol/record-kind.js';
import { ResetReasonCode } from '../../src/shared/reset-reason.js';
import { StatSlot, createShardStats } from '../../src/shared/protocol/shard-stats.js';
import { SpscRing } from '../../src/shared/protocol/spsc-ring.js';
import { InboundWriter, type InboundHost } from '../../src/workers/inbound-writer.js';
import { ShardConnection } from '../../src/workers/shard-connection.js';
import { closeAll, frame, pollUntil } from '../helpers/net-harness.js';
import { datagramsOf, socketPair, takeRecords } from './worker-harness.js';

afterEach(closeAll);

/** A host that records what the writer asks of it. */
function recordingHost(): InboundHost & { cuts: [number, number][]; reports: number[]; progress: number } {
  const host = {
    cuts: [] as [number, number][],
    reports: [] as number[],
    progress: 0,
    cut(conn: ShardConnection, reason: number) {
      host.cuts.push([conn.id, reason]);
    },
    reported(conn: ShardConnection) {
      host.reports.push(conn.id);
    },
    progressed() {
      host.progress++;
    },
    sessionEvent() {},
  };
  return host;
}

async function setup(capacity = 4096) {
  const ring = SpscRing.create(capacity);
  const stats = createShardStats();
  const host = recordingHost();
  const writer = new InboundWriter(ring, stats, host);
  const { shard } = await socketPair();
  const conn = new ShardConnection(7, shard, writer);
  return { ring, stats, host, writer, conn, shard };
}

describe('InboundWriter', () => {
  it('cuts a chunk into its datagrams, in the ring in order, and counts them', async () => {
    const { ring, stats, writer, conn } = await setup();
    writer.opened(7);
    writer.onData(conn, Buffer.concat([frame([1, 2, 3]), frame([4]), frame([5, 6]).subarray(0, 3)]));
    writer.onData(conn, frame([5, 6]).subarray(3));
    const records = takeRecords(ring);
    expect(records[0]).toMatchObject({ kind: RecordKind.OPENED, id: 7 });
    expect(records.slice(1).every((record) => record.id === 7)).toBe(true);
    expect(datagramsOf(records)).toEqual([[1, 2, 3], [4], [5, 6]]);
    expect(stats[StatSlot.DATAGRAMS_IN]).toBe(3);
  });

  it('pauses the socket while the ring is full and resumes it, in order, once the ring is drained', async () => {
    const { ring, writer, conn, shard } = await setup(4096);
    conn.reading = true; // as a READ record leaves it
    shard.resume();
    const sent: number[][] = [];
    const chunk: Buffer[] = [];
    for (let i = 0; i < 60; i++) {
      const payload = Array.from({ length: 200 }, (_, j) => (i + j) & 0xff);
      sent.push(payload);
      chunk.push(frame(payload));
    }
    writer.onData(conn, Buffer.concat(chunk)); // 12 KiB into a 4 KiB ring
    expect(shard.isPaused()).toBe(true);
    const got: number[][] = [];
    await pollUntil(
      () => {
        got.push(...datagramsOf(takeRecords(ring)));
        return got.length === sent.length;
      },
      { label: 'every datagram through the ring' },
    );
    expect(got).toEqual(sent);
    expect(shard.isPaused()).toBe(false);
    expect(writer.idle).toBe(true);
  });

  it('tells the host to cut a connection whose header announces more than the reader allows', async () => {
    const { host, writer, conn } = await setup();
    conn.decoder.setFraming({ headerSize: 2, maxDatagramSize: 10 });
    writer.onData(conn, frame(new Uint8Array(11)));
    expect(host.cuts).toEqual([[7, ResetReasonCode.OVERSIZED_DATAGRAM]]);
  });

  it("writes a connection's CLOSED record after its last datagram, with its reason, and tells the host", async () => {
    const { ring, host, writer, conn } = await setup();
    writer.onData(conn, frame([9]));
    conn.reason = ResetReasonCode.IDLE_TIMEOUT;
    writer.report(conn);
    const records = takeRecords(ring);
    expect(datagramsOf(records)).toEqual([[9]]);
    expect(records.at(-1)).toMatchObject({ kind: RecordKind.CLOSED, id: 7, aux: ResetReasonCode.IDLE_TIMEOUT });
    expect(host.reports).toEqual([7]);
    writer.reportId(12, ResetReasonCode.ERROR); // a connection the shard never had an object for
    expect(takeRecords(ring)).toMatchObject([{ kind: RecordKind.CLOSED, id: 12, aux: ResetReasonCode.ERROR }]);
  });
});
