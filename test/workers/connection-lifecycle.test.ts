/**
 * ConnectionLifecycle (issue #24, point 7): a connection's life in the shard, driven the
 * way the record dispatcher drives it (adopt, READ, CLOSE, RELEASE, a cut), over a real
 * inbound ring, a real socket writer and real loopback sockets (handed over in-process, as
 * in single-thread mode). What the main thread sees is what the ring holds.
 */
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { READ_PAYLOAD_SIZE, writeReadSettings } from '../../src/shared/protocol/read-record.js';
import { RecordKind } from '../../src/shared/protocol/record-kind.js';
import { ResetReasonCode } from '../../src/shared/reset-reason.js';
import { SlotState, createSendBacklog, slotStates } from '../../src/shared/protocol/send-backlog.js';
import { StatSlot, createShardStats } from '../../src/shared/protocol/shard-stats.js';
import { SpscRing } from '../../src/shared/protocol/spsc-ring.js';
import { ConnectionLifecycle, type LocalSockets } from '../../src/workers/connection-lifecycle.js';
import { InboundWriter } from '../../src/workers/inbound-writer.js';
import { ConnectionState } from '../../src/workers/shard-connection.js';
import { SocketWriter } from '../../src/workers/socket-writer.js';
import { closeAll, frame, pollUntil } from '../helpers/net-harness.js';
import { collect, datagramsOf, socketPair, takeRecords, type ReadRecord } from './worker-harness.js';

afterEach(closeAll);

const READ = new Uint8Array(READ_PAYLOAD_SIZE);
writeReadSettings(READ, 0, { headerSize: 2, raw: false, maxDatagramSize: 0xffff });

let stoppers: (() => void)[] = [];
afterEach(() => {
  for (const stop of stoppers) stop();
  stoppers = [];
});

async function setup() {
  const ring = SpscRing.create(1 << 16);
  const stats = createShardStats();
  const backlog = createSendBacklog();
  const local: LocalSockets = new Map();
  let progress = 0;
  const lifecycle = new ConnectionLifecycle(stats, local, () => progress++);
  const inbound = new InboundWriter(ring, stats, lifecycle);
  const writer = new SocketWriter(
    { sendBacklogLimit: 1 << 20, sendBacklogHardLimit: 2 << 20, sendStallTimeoutMs: 10_000, closeLingerMs: 5000, shardSendBudget: 1 << 30 },
    backlog,
    lifecycle,
  );
  stoppers.push(() => writer.stop());
  lifecycle.attach(inbound, writer);
  const { shard, peer } = await socketPair();
  local.set(4, shard as Socket);
  const records: ReadRecord[] = [];
  const take = (): ReadRecord[] => {
    records.push(...takeRecords(ring));
    return records;
  };
  return { lifecycle, writer, stats, backlog, peer, take, progress: () => progress };
}

describe('ConnectionLifecycle', () => {
  it('adopts a socket (OPENED), reads it once asked (READ), and reports the peer closing after its last datagram', async () => {
    const { lifecycle, stats, peer, take } = await setup();
    lifecycle.adopt(4, -1, 9);
    const conn = lifecycle.connections.get(4)!;
    expect(take()).toMatchObject([{ kind: RecordKind.OPENED, id: 4 }]);
    expect(stats[StatSlot.CONNECTIONS]).toBe(1);
    lifecycle.setReading(conn, true, READ, 0);
    peer.end(Buffer.concat([frame([1]), frame([2, 3])]));
    await pollUntil(() => take().some((record) => record.kind === RecordKind.CLOSED), { label: 'the CLOSED record' });
    const records = take();
    expect(datagramsOf(records)).toEqual([[1], [2, 3]]);
    expect(records.at(-1)).toMatchObject({ kind: RecordKind.CLOSED, id: 4, aux: ResetReasonCode.CLOSED_BY_PEER });
    expect(conn.state).toBe(ConnectionState.HALF_CLOSED); // replies may still go out until RELEASE
  });

  it('CLOSE flushes what was sent, then FIN, and reports closed-locally at once; RELEASE retires the slot', async () => {
    const { lifecycle, writer, backlog, peer, take } = await setup();
    const received = collect(peer);
    lifecycle.adopt(4, -1, 9);
    const conn = lifecycle.connections.get(4)!;
    writer.append(conn, new Uint8Array([7, 7, 7]), 0, 3);
    lifecycle.close(conn);
    expect(take().at(-1)).toMatchObject({ kind: RecordKind.CLOSED, id: 4, aux: ResetReasonCode.CLOSED_LOCALLY });
    await pollUntil(() => received.ended(), { label: 'the FIN at the peer' });
    expect([...received.bytes()]).toEqual([7, 7, 7]);
    peer.end();
    await pollUntil(() => conn.state === ConnectionState.GONE, { label: 'the socket to close' });
    lifecycle.release(conn);
    expect(slotStates(backlog)[9]).toBe(SlotState.RETIRED);
    expect(lifecycle.connections.has(4)).toBe(false);
  });

  it('a cut resets the peer (RST) and reports the reason', async () => {
    const { lifecycle, peer, take } = await setup();
    const reset = new Promise<string | undefined>((resolve) => peer.once('error', (error: NodeJS.ErrnoException) => resolve(error.code)));
    lifecycle.adopt(4, -1, -1);
    const conn = lifecycle.connections.get(4)!;
    lifecycle.cut(conn, ResetReasonCode.SLOW_CONSUMER);
    expect(await reset).toBe('ECONNRESET');
    expect(take().at(-1)).toMatchObject({ kind: RecordKind.CLOSED, id: 4, aux: ResetReasonCode.SLOW_CONSUMER });
  });

  it('an adopt with no socket to take reports an error for the id and retires its slot', async () => {
    const { lifecycle, backlog, take } = await setup();
    lifecycle.adopt(77, -1, 11);
    expect(take()).toMatchObject([{ kind: RecordKind.CLOSED, id: 77, aux: ResetReasonCode.ERROR }]);
    expect(slotStates(backlog)[11]).toBe(SlotState.RETIRED);
  });
});
