/**
 * SocketWriter (issue #24, point 7), driven through its host interface, a real send-backlog
 * table and a real loopback socket: each batch's SENDs reach the peer as one coalesced
 * write in order, the backlog is published for the main thread, a backlog past the hard
 * limit is reported to the host as slow-consumer, and a closing connection whose peer
 * takes nothing is cut when its linger runs out.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { QUEUED, TAKEN, createSendBacklog } from '../../src/shared/protocol/send-backlog.js';
import { ResetReasonCode } from '../../src/shared/reset-reason.js';
import { ConnectionState, ShardConnection } from '../../src/workers/shard-connection.js';
import { SocketWriter, type WriterHost, type WriterLimits } from '../../src/workers/socket-writer.js';
import { closeAll, onCleanup, pollUntil } from '../helpers/net-harness.js';
import { collect, socketPair } from './worker-harness.js';

afterEach(closeAll);

const LIMITS: WriterLimits = {
  sendBacklogLimit: 1 << 20,
  sendBacklogHardLimit: 2 << 20,
  sendStallTimeoutMs: 10_000,
  closeLingerMs: 200,
  shardSendBudget: 1 << 30,
};

function recordingHost(): WriterHost & { cuts: [number, number][]; lingered: number[] } {
  const host = {
    cuts: [] as [number, number][],
    lingered: [] as number[],
    cut(conn: ShardConnection, reason: number) {
      host.cuts.push([conn.id, reason]);
    },
    lingerOver(conn: ShardConnection) {
      host.lingered.push(conn.id);
    },
  };
  return host;
}

async function setup(limits = LIMITS) {
  const backlog = createSendBacklog();
  const host = recordingHost();
  const writer = new SocketWriter(limits, backlog, host);
  const { shard, peer } = await socketPair();
  const conn = new ShardConnection(3, shard, { onData() {} });
  conn.backlogSlot = 5;
  onCleanup(() => writer.stop());
  return { backlog, host, writer, conn, shard, peer };
}

describe('SocketWriter', () => {
  it("coalesces a batch's SENDs into one write, in order, and publishes the backlog", async () => {
    const { backlog, writer, conn, peer } = await setup();
    const received = collect(peer);
    const ring = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    conn.takenBytes = 8;
    writer.append(conn, ring, 0, 3);
    writer.append(conn, ring, 3, 5);
    expect(conn.outLength).toBe(8); // one buffer for the batch
    expect(writer.flushDirty()).toBe(false);
    expect(conn.outLength).toBe(0);
    await pollUntil(() => received.bytes().length === 8, { label: 'the batch at the peer' });
    expect([...received.bytes()]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(backlog[5 * 2 + TAKEN]).toBe(8);
    expect(backlog[5 * 2 + QUEUED]).toBeGreaterThanOrEqual(0);
  });

  it('reports a backlog past the hard limit to the host as slow-consumer', async () => {
    const { host, writer, conn, peer } = await setup();
    peer.pause(); // the peer reads nothing: the kernel's buffers fill, then the socket's queue
    const chunk = new Uint8Array(256 * 1024);
    for (let i = 0; i < 64 && host.cuts.length === 0; i++) {
      writer.append(conn, chunk, 0, chunk.length);
      writer.flushDirty();
    }
    expect(host.cuts).toEqual([[3, ResetReasonCode.SLOW_CONSUMER]]);
  });

  it('cuts a closing connection whose peer takes nothing once its linger runs out', async () => {
    const { host, writer, conn, peer } = await setup();
    peer.pause();
    const chunk = new Uint8Array(256 * 1024);
    for (let i = 0; i < 8; i++) writer.append(conn, chunk, 0, chunk.length);
    writer.flushDirty();
    conn.state = ConnectionState.CLOSING;
    writer.closing(conn);
    await pollUntil(() => host.cuts.length > 0, { label: 'the linger to run out', timeoutMs: 5000 });
    expect(host.cuts).toEqual([[3, ResetReasonCode.CLOSED_LOCALLY]]);
    expect(host.lingered).toEqual([]);
  });
});
