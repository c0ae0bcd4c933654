/**
 * The shard under back-pressure: with a tiny ring the inbound ring fills while the main
 * thread is not polling; the shard stops reading (StatSlot.PAUSES counts it) and, once the
 * main thread drains, delivers everything in order — nothing is dropped. Also the
 * outbound direction with a tiny ring, and the oversized-datagram reset.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Datagram } from '../../src/shared/datagram.js';
import { StatSlot } from '../../src/shared/protocol/shard-stats.js';
import { NetDatagram } from '../../src/main/api/net-datagram.js';
import { PointerToConnection } from '../../src/main/api/pointer-to-connection.js';
import type { TestServer } from '../helpers/net-harness.js';
import {
  Peer,
  Rng,
  SequenceChecker,
  closeAll,
  fillPayload,
  frame,
  framedStream,
  payloadSize,
  pollUntil,
  startServer,
} from '../helpers/net-harness.js';

const RING = 4096;
const MAX_SIZE = 60;

function pauses(server: TestServer): number {
  let sum = 0;
  for (const shard of server.manager.getShards()) sum += shard.stats[StatSlot.PAUSES];
  return sum;
}

describe.each([0, 2])('shard back-pressure (numThreads %i)', (n) => {
  afterEach(closeAll);

  it('a full inbound ring pauses the socket; after draining, all 20 000 datagrams arrive in order', async () => {
    const server = await startServer(n, { manager: { ringCapacity: RING } });
    expect(server.manager.getShards().every((s) => s.inbound.capacity === RING)).toBe(true);
    const peer = await Peer.connect(server.port);
    const conn = await server.accept();
    const COUNT = 20_000;
    const writing = peer.writeInSlices(framedStream(0, COUNT, MAX_SIZE), new Rng(7), 8192);

    // Not polling the reader: the ring fills and the shard must stop reading the socket.
    await pollUntil(() => pauses(server) > 0, { label: 'the shard to pause a socket (StatSlot.PAUSES > 0)' });
    const shard = conn.shard!;
    expect(shard.stats[StatSlot.PAUSES]).toBeGreaterThan(0);
    expect(shard.stats[StatSlot.DATAGRAMS_IN]).toBeLessThan(COUNT);

    const checker = new SequenceChecker(1, MAX_SIZE);
    const dg = new NetDatagram();
    await pollUntil(
      () => {
        while (server.reader.getData(dg)) checker.check(0, dg.getMessage(), 0, dg.getLength());
        return checker.failure !== null || checker.next[0] === COUNT;
      },
      { timeoutMs: 20_000, label: `${COUNT} datagrams after draining` },
    );
    await writing;
    expect(checker.failure).toBeNull();
    expect(checker.next[0]).toBe(COUNT);
    expect(shard.stats[StatSlot.DATAGRAMS_IN]).toBe(COUNT);
    expect(server.reader.isConnectionOk(conn)).toBe(true);
    expect(server.manager.resetConnectionAvailable()).toBe(false);
  });

  it('several connections blocked on one tiny ring each keep their order', async () => {
    const server = await startServer(n, { manager: { ringCapacity: RING } });
    const PEERS = 4;
    const COUNT = 3000;
    const peers: Peer[] = [];
    for (let i = 0; i < PEERS; i++) peers.push(await Peer.connect(server.port));
    const index = new Map<unknown, number>();
    for (let i = 0; i < PEERS; i++) {
      const conn = await server.accept();
      index.set(
        conn,
        peers.findIndex((p) => p.localPort === conn.getAddress().getPort()),
      );
    }
    const writing = peers.map((peer, i) => peer.writeInSlices(framedStream(i, COUNT, MAX_SIZE), new Rng(100 + i), 4096));
    await pollUntil(() => pauses(server) > 0, { label: 'a paused socket' });

    const checker = new SequenceChecker(PEERS, MAX_SIZE);
    const dg = new NetDatagram();
    // Drain slowly (a few datagrams per turn) so the shard pauses and resumes many times.
    await pollUntil(
      () => {
        for (let k = 0; k < 50 && server.reader.getData(dg); k++) {
          checker.check(index.get(dg.getConnection())!, dg.getMessage(), 0, dg.getLength());
        }
        return checker.failure !== null || checker.total() === PEERS * COUNT;
      },
      { timeoutMs: 20_000, label: `${PEERS * COUNT} datagrams` },
    );
    await Promise.all(writing);
    expect(checker.failure).toBeNull();
    expect(checker.next).toEqual(new Array(PEERS).fill(COUNT));
  });

  it('a peer that closes while its data waits for ring space: every datagram, then the reset', async () => {
    const server = await startServer(n, { manager: { ringCapacity: RING } });
    const peer = await Peer.connect(server.port);
    const conn = await server.accept();
    const COUNT = 20_000;
    const writing = peer.writeInSlices(framedStream(0, COUNT, MAX_SIZE), new Rng(9), 8192).then(() => peer.end());
    await pollUntil(() => pauses(server) > 0, { label: 'a paused socket' });

    const checker = new SequenceChecker(1, MAX_SIZE);
    const dg = new NetDatagram();
    const ptr = new PointerToConnection();
    let deliveredAtReset = -1;
    await pollUntil(
      () => {
        for (let k = 0; k < 200; k++) {
          if (server.manager.getResetConnection(ptr)) {
            deliveredAtReset = checker.next[0];
            return true;
          }
          if (!server.reader.getData(dg)) break;
          checker.check(0, dg.getMessage(), 0, dg.getLength());
        }
        return checker.failure !== null;
      },
      { timeoutMs: 20_000, label: 'every datagram and then the reset' },
    );
    await writing;
    expect(checker.failure).toBeNull();
    expect(deliveredAtReset).toBe(COUNT);
    expect(ptr.p()).toBe(conn);
    expect(conn.getResetReason()).toBe('closed-by-peer');
  });

  it('a peer that stops reading is reset as slow-consumer once its backlog passes sendBacklogLimit', async () => {
    const server = await startServer(n, { manager: { sendBacklogLimit: 256 * 1024 } });
    const peer = await Peer.connect(server.port, { keepBytes: false, keepFrames: false });
    peer.socket.pause();
    const conn = await server.accept();
    const dg = new Datagram();
    dg.padBytes(60_000);
    const ptr = new PointerToConnection();
    const none = new NetDatagram();
    let sent = 0;
    // Kernel buffers on loopback absorb a few MiB first; 256 MiB is far past any of them.
    await pollUntil(
      () => {
        while (server.reader.getData(none));
        if (server.manager.getResetConnection(ptr)) return true;
        for (let k = 0; k < 16 && sent < 256 * 1024 * 1024; k++) {
          if (!server.writer.send(dg, conn)) break;
          sent += dg.getLength();
        }
        return false;
      },
      { timeoutMs: 20_000, label: 'the slow-consumer reset' },
    );
    expect(ptr.p()).toBe(conn);
    expect(conn.getResetReason()).toBe('slow-consumer');
    expect(server.writer.send(dg, conn)).toBe(false);
  });

  it('a tiny outbound ring refuses nothing: 20 000 sends in one loop arrive in order, the excess waiting in the overflow', async () => {
    const server = await startServer(n, { manager: { ringCapacity: RING } });
    const checker = new SequenceChecker(1, MAX_SIZE);
    const peer = await Peer.connect(server.port, {
      keepFrames: false,
      onFrame: (payload) => checker.check(0, payload, 0, payload.length),
    });
    const conn = await server.accept({ read: false });
    const COUNT = 20_000;
    const scratch = new Uint8Array(MAX_SIZE);
    const dg = new Datagram();
    let accepted = 0;
    for (let seq = 0; seq < COUNT; seq++) {
      const size = payloadSize(0, seq, MAX_SIZE);
      fillPayload(scratch, 0, 0, seq, size);
      dg.assign(scratch, 0, size);
      if (server.writer.send(dg, conn)) accepted++;
    }
    // 20 000 datagrams cannot all fit a 4 KiB ring at once, and none was refused.
    expect(accepted).toBe(COUNT);
    await pollUntil(() => checker.failure !== null || checker.next[0] === COUNT, {
      timeoutMs: 20_000,
      label: `${COUNT} datagrams at the peer`,
    });
    expect(checker.failure).toBeNull();
    expect(peer.partialBytes).toBe(0);
    expect(server.writer.getCurrentQueueSize()).toBe(0);
  });

  it('with a small ring the default limit is still 65535; a header past the limit resets that connection only', async () => {
    const server = await startServer(n, { manager: { ringCapacity: RING } });
    expect(server.reader.getMaxDatagramSize()).toBe(65535);
    const limit = RING + 100; // larger than a ring record: such datagrams travel in parts
    server.reader.setMaxDatagramSize(limit);
    const bad = await Peer.connect(server.port);
    const good = await Peer.connect(server.port);
    const conns = [await server.accept(), await server.accept()];
    const badConn = conns.find((c) => c.getAddress().getPort() === bad.localPort)!;
    const goodConn = conns.find((c) => c !== badConn)!;

    await bad.write(Buffer.concat([frame([1, 2]), frame(new Uint8Array(limit).fill(7)), frame(new Uint8Array(limit + 1))]));
    const ptr = new PointerToConnection();
    const dg = new NetDatagram();
    const fromBad: number[][] = [];
    await pollUntil(
      () => {
        while (server.reader.getData(dg)) fromBad.push(Array.from(dg.getMessage()));
        return server.manager.getResetConnection(ptr);
      },
      { label: 'the oversized-datagram reset' },
    );
    expect(ptr.p()).toBe(badConn);
    expect(badConn.getResetReason()).toBe('oversized-datagram');
    expect(fromBad.length).toBe(2);
    expect(fromBad[0]).toEqual([1, 2]);
    expect(fromBad[1].length === limit && fromBad[1].every((b) => b === 7)).toBe(true);
    await pollUntil(() => bad.closed, { label: 'the bad peer to be disconnected' });

    // The other connection carries on.
    await good.write(frame([7]));
    await pollUntil(() => server.reader.getData(dg), { label: 'a datagram from the good peer' });
    expect(dg.getConnection()).toBe(goodConn);
    expect(Array.from(dg.getMessage())).toEqual([7]);
  });
});
