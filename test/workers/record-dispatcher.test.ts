/**
 * RecordDispatcher (issue #24, point 7): outbound records, written into a real ring with
 * the codecs the main thread uses, reach the part of the shard they are for: ADOPT and
 * READ the lifecycle, SEND and BROADCAST the sockets (in order, counted in the stats),
 * CLOSE a FIN, SHUTDOWN its deadline. Real loopback sockets, handed over in-process.
 */
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  OPTION_PAYLOAD_SIZE,
  SHUTDOWN_PAYLOAD_SIZE,
  broadcastPayloadSize,
  writeBroadcastIds,
  writeOption,
  writeShutdown,
} from '../../src/shared/protocol/outbound-records.js';
import { ADOPT_PAYLOAD_SIZE, READ_PAYLOAD_SIZE, writeAdopt, writeReadSettings } from '../../src/shared/protocol/read-record.js';
import { AdoptKind, RecordKind, SocketOption } from '../../src/shared/protocol/record-kind.js';
import { createSendBacklog } from '../../src/shared/protocol/send-backlog.js';
import { StatSlot, createShardStats } from '../../src/shared/protocol/shard-stats.js';
import { SpscRing } from '../../src/shared/protocol/spsc-ring.js';
import { ConnectionLifecycle, type LocalSockets } from '../../src/workers/connection-lifecycle.js';
import { InboundWriter } from '../../src/workers/inbound-writer.js';
import { RecordDispatcher } from '../../src/workers/record-dispatcher.js';
import { SocketWriter } from '../../src/workers/socket-writer.js';
import { UdpEndpoints } from '../../src/workers/udp-endpoints.js';
import { closeAll, frame, pollUntil } from '../helpers/net-harness.js';
import { collect, socketPair } from './worker-harness.js';

afterEach(closeAll);

let stoppers: (() => void)[] = [];
afterEach(() => {
  for (const stop of stoppers) stop();
  stoppers = [];
});

async function setup() {
  const outbound = SpscRing.create(1 << 16);
  const inbound = SpscRing.create(1 << 16);
  const stats = createShardStats();
  const local: LocalSockets = new Map();
  const lifecycle = new ConnectionLifecycle(stats, local, () => {});
  const inboundWriter = new InboundWriter(inbound, stats, lifecycle);
  const writer = new SocketWriter(
    { sendBacklogLimit: 1 << 20, sendBacklogHardLimit: 2 << 20, sendStallTimeoutMs: 10_000, closeLingerMs: 5000, shardSendBudget: 1 << 30 },
    createSendBacklog(),
    lifecycle,
  );
  stoppers.push(() => writer.stop());
  lifecycle.attach(inboundWriter, writer);
  const udp = new UdpEndpoints(inbound, stats, inboundWriter.reportId.bind(inboundWriter));
  stoppers.push(() => udp.closeAll());
  const dispatcher = new RecordDispatcher(outbound, stats, lifecycle, writer, udp, local);
  /** Stages one record with `payload`'s bytes and publishes it. */
  const put = (kind: number, id: number, aux: number, payload: Uint8Array): void => {
    expect(outbound.tryWrite(kind, id, payload, 0, payload.length, aux)).toBe(true);
    outbound.commit();
  };
  const adopt = async (id: number) => {
    const { shard, peer } = await socketPair();
    local.set(id, shard as Socket);
    const payload = new Uint8Array(ADOPT_PAYLOAD_SIZE);
    writeAdopt(payload, 0, -1, -1);
    put(RecordKind.ADOPT, id, AdoptKind.TCP, payload);
    return collect(peer);
  };
  return { dispatcher, lifecycle, stats, put, adopt };
}

describe('RecordDispatcher', () => {
  it('hands ADOPT and READ to the lifecycle, SENDs and a BROADCAST to the sockets in order, and counts them', async () => {
    const { dispatcher, lifecycle, stats, put, adopt } = await setup();
    const a = await adopt(1);
    const b = await adopt(2);
    const read = new Uint8Array(READ_PAYLOAD_SIZE);
    writeReadSettings(read, 0, { headerSize: 2, raw: false, maxDatagramSize: 100 });
    put(RecordKind.READ, 1, 1, read);
    put(RecordKind.SEND, 1, 0, frame([1, 1]));
    const broadcastFrame = frame([9, 9, 9]);
    const broadcast = new Uint8Array(broadcastPayloadSize(2, broadcastFrame.length));
    const at = writeBroadcastIds(new DataView(broadcast.buffer), 0, new Uint32Array([1, 2]), 0, 2);
    broadcast.set(broadcastFrame, at);
    put(RecordKind.BROADCAST, 0, 0, broadcast);
    put(RecordKind.SEND, 2, 0, frame([2]));
    const option = new Uint8Array(OPTION_PAYLOAD_SIZE);
    writeOption(new DataView(option.buffer), 0, 1, 0);
    put(RecordKind.OPTION, 2, SocketOption.NO_DELAY, option);
    expect(dispatcher.drain(Infinity)).toBe(false);
    expect(lifecycle.connections.size).toBe(2);
    expect(lifecycle.connections.get(1)!.reading).toBe(true);
    expect(lifecycle.connections.get(1)!.decoder.maxDatagramSize).toBe(100);
    const wantA = Buffer.concat([frame([1, 1]), broadcastFrame]);
    const wantB = Buffer.concat([broadcastFrame, frame([2])]);
    await pollUntil(() => a.bytes().length === wantA.length && b.bytes().length === wantB.length, { label: 'the bytes at both peers' });
    expect(a.bytes()).toEqual(wantA);
    expect(b.bytes()).toEqual(wantB);
    expect(stats[StatSlot.DATAGRAMS_OUT]).toBe(4); // two SENDs, one broadcast to two
    expect(stats[StatSlot.BYTES_OUT]).toBe(wantA.length + wantB.length);
  });

  it('CLOSE ends a connection with FIN after what was sent; SHUTDOWN sets the deadline and closes the rest', async () => {
    const { dispatcher, put, adopt } = await setup();
    const a = await adopt(1);
    const b = await adopt(2);
    put(RecordKind.SEND, 1, 0, frame([5]));
    put(RecordKind.CLOSE, 1, 0, new Uint8Array(0));
    const shutdown = new Uint8Array(SHUTDOWN_PAYLOAD_SIZE);
    writeShutdown(new DataView(shutdown.buffer), 0, 1234.5);
    put(RecordKind.SHUTDOWN, 0, 0, shutdown);
    put(RecordKind.SEND, 2, 0, frame([6])); // after SHUTDOWN: not read in this drain
    dispatcher.drain(Infinity);
    expect(dispatcher.shuttingDown).toBe(true);
    expect(dispatcher.shutdownDeadline).toBe(1234.5);
    await pollUntil(() => a.ended() && b.ended(), { label: 'both FINs' });
    expect(a.bytes()).toEqual(frame([5]));
    expect(b.bytes().length).toBe(0);
  });
});
