import { afterEach, describe, expect, it } from 'vitest';
import { Datagram } from '../../src/shared/datagram.js';
import { PointerToConnection } from '../../src/main/api/pointer-to-connection.js';
import type { Connection } from '../../src/main/api/connection.js';
import type { ResetReason } from '../../src/shared/reset-reason.js';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { BACKLOG_SLOTS, SlotState, slotStates } from '../../src/shared/protocol/send-backlog.js';
import { NetDatagram } from '../../src/main/api/net-datagram.js';
import { HOST, Peer, closeAll, expectNothingFor, frame, onCleanup, pollUntil, startServer, type TestServer } from '../helpers/net-harness.js';

afterEach(closeAll);

/** Connections seen in a reset queue, by any call of resetOf. */
const queuedResets = new WeakSet<Connection>();

/** Polls the server (data and reset queue) until `conn` is in the reset queue; returns its reason. */
async function resetOf(server: TestServer, conn: Connection, label: string): Promise<ResetReason | null> {
  const ptr = new PointerToConnection();
  const dg = new Datagram();
  await pollUntil(
    () => {
      // Resets queue behind their connection's data: consume it to reach them.
      while (server.reader.getData(dg));
      while (server.manager.getResetConnection(ptr)) queuedResets.add(ptr.p()!);
      return queuedResets.has(conn);
    },
    { label, timeoutMs: 10_000 },
  );
  return conn.getResetReason();
}

/**
 * Connects to `port`: the Peer, or the error when the server resets the client before its
 * connect completes (a client refused at accept may see either).
 */
function connectOrRefused(port: number): Promise<Peer | NodeJS.ErrnoException> {
  return Peer.connect(port).catch((error: NodeJS.ErrnoException) => error);
}

/** True once `outcome` is a client the server reset (RST): refused at connect, or after. */
function wasReset(outcome: Peer | NodeJS.ErrnoException): boolean {
  const error = outcome instanceof Peer ? (outcome.closed ? (outcome.error as NodeJS.ErrnoException | null) : null) : outcome;
  return error?.code === 'ECONNRESET';
}

/** A plain node:net server on loopback that reads and drops: somewhere for a manager's client connections to go. Returns its port. */
async function plainServer(): Promise<number> {
  const server = net.createServer((socket) => socket.resume());
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as net.AddressInfo).port;
}

describe.each([0, 2])('limits with %i shards', (n) => {
  it('resets a connection whose header announces more than setMaxDatagramSize, before its body', async () => {
    const server = await startServer(n);
    server.reader.setMaxDatagramSize(100);
    const bad = await Peer.connect(server.port);
    const badConn = await server.accept();
    const good = await Peer.connect(server.port);
    const goodConn = await server.accept();
    // A valid datagram first, then a header announcing 101 bytes and no body.
    await bad.write(Buffer.concat([frame([1, 2, 3]), Buffer.from([101, 0])]));
    const dg = new Datagram();
    await pollUntil(() => server.reader.getData(dg), { label: 'the valid datagram' });
    expect(Array.from(dg.getMessage())).toEqual([1, 2, 3]);
    expect(await resetOf(server, badConn, 'the oversized reset')).toBe('oversized-datagram');
    await pollUntil(() => bad.closed, { label: 'the bad peer to be closed' });
    // The other connection carries on.
    await good.write(frame([9]));
    await pollUntil(() => server.reader.getData(dg), { label: 'the good datagram' });
    expect(Array.from(dg.getMessage())).toEqual([9]);
    expect(server.reader.isConnectionOk(goodConn)).toBe(true);
  });

  it('validates setMaxDatagramSize against the header size and the ring', async () => {
    const server = await startServer(n);
    expect(() => server.reader.setMaxDatagramSize(0)).toThrow(/from 1 to 65535, got 0/);
    expect(() => server.reader.setMaxDatagramSize(65536)).toThrow(RangeError);
    server.reader.setTcpHeaderSize(4);
    server.reader.setMaxDatagramSize(1_000_000);
    expect(server.reader.getMaxDatagramSize()).toBe(1_000_000);
  });

  it('defaults to 65535 with header size 2 and 2 MiB with 4 whatever the ring; a 3000-byte datagram passes a 4 KiB ring', async () => {
    const server = await startServer(n, { manager: { ringCapacity: 4096 } });
    expect(server.reader.getMaxDatagramSize()).toBe(65535);
    const peer = await Peer.connect(server.port);
    await server.accept();
    await peer.write(frame(new Uint8Array(3000).fill(5)));
    const dg = new Datagram();
    await pollUntil(() => server.reader.getData(dg), { label: 'the 3000-byte datagram' });
    expect(dg.getLength()).toBe(3000);
    expect(dg.getMessage().every((b) => b === 5)).toBe(true);
    server.reader.setTcpHeaderSize(4);
    expect(server.reader.getMaxDatagramSize()).toBe(2 * 1024 * 1024);
    server.reader.setTcpHeaderSize(2);
    expect(server.reader.getMaxDatagramSize()).toBe(65535);
  });

  it('closes clients beyond maxConnections at once, counts them, and leaves the others alone', async () => {
    const server = await startServer(n, { manager: { maxConnections: 2 } });
    const peers = [await Peer.connect(server.port), await Peer.connect(server.port)];
    const conns = [await server.accept(), await server.accept()];
    const extra = await Peer.connect(server.port);
    await pollUntil(() => extra.closed, { label: 'the extra client to be closed' });
    expect(server.manager.getRejectedConnectionCount()).toBe(1);
    expect(server.manager.getStats().rejectedConnections).toBe(1);
    expect(server.listener.newConnectionAvailable()).toBe(false);
    await peers[1].write(frame([7, 7]));
    const dg = new Datagram();
    await pollUntil(() => server.reader.getData(dg), { label: 'data from an admitted client' });
    expect(Array.from(dg.getMessage())).toEqual([7, 7]);
    expect(conns.every((c) => server.reader.isConnectionOk(c))).toBe(true);
  });

  it('maxConnections counts accepted TCP streams only: a UDP socket and a client connection take no slot', async () => {
    const elsewhere = await plainServer();
    const server = await startServer(n, { manager: { maxConnections: 2 } });
    expect(await server.manager.openUDPConnection(HOST, 0)).not.toBeNull();
    expect(await server.manager.openTCPClientConnection(HOST, elsewhere, 5000)).not.toBeNull();
    const peers = [await Peer.connect(server.port), await Peer.connect(server.port)];
    const conns = [await server.accept(), await server.accept()];
    expect(server.manager.getStats().rejectedConnections).toBe(0);
    const extra = await Peer.connect(server.port);
    await pollUntil(() => extra.closed, { label: 'the third client to be closed' });
    expect(server.manager.getStats().rejectedConnections).toBe(1);
    // An accepted stream that ends gives its slot back.
    await peers[0].close();
    expect(await resetOf(server, conns[0], 'the first client ends')).toBe('closed-by-peer');
    const next = await Peer.connect(server.port);
    const nextConn = await server.accept();
    await next.write(frame([3]));
    const dg = new NetDatagram();
    await pollUntil(() => server.reader.getData(dg), { label: 'data from the client that took the freed slot' });
    expect(dg.getConnection()).toBe(nextConn);
    expect(server.manager.getStats().rejectedConnections).toBe(1);
  });

  it('closing a rendezvous resets (RST) the clients it accepted that nobody took, and queues no reset for them', async () => {
    const server = await startServer(n);
    expect(server.listener.removeConnection(server.rendezvous)).toBe(true);
    const peers = [await Peer.connect(server.port), await Peer.connect(server.port)];
    await pollUntil(() => server.manager.getStats().connections === 2, { label: 'both clients handed to a shard' });
    expect(server.manager.closeConnection(server.rendezvous)).toBe(true);
    await pollUntil(() => peers.every((peer) => peer.closed), { label: 'the unclaimed clients to be reset' });
    for (const peer of peers) expect((peer.error as NodeJS.ErrnoException | null)?.code).toBe('ECONNRESET');
    await pollUntil(
      () => {
        server.reader.dataAvailable();
        return server.manager.getStats().connections === 0 && server.manager.connections.size === 0;
      },
      { label: 'the shards to let them go' },
    );
    expect(server.manager.resetConnectionAvailable()).toBe(false);
  });

  it('holds at most `backlog` clients nobody took: the rest are reset at accept and counted (rejectedBacklog)', async () => {
    const server = await startServer(n, { backlog: 2 });
    expect(server.listener.removeConnection(server.rendezvous)).toBe(true);
    const outcomes: (Peer | NodeJS.ErrnoException)[] = [];
    for (let i = 0; i < 5; i++) outcomes.push(await connectOrRefused(server.port));
    await pollUntil(() => server.manager.getStats().rejectedBacklog === 3, { label: 'three clients refused' });
    await pollUntil(() => outcomes.filter(wasReset).length === 3, { label: 'the refused clients to be reset' });
    const kept = outcomes.filter((outcome): outcome is Peer => outcome instanceof Peer && !outcome.closed);
    expect(kept.length).toBe(2);
    await pollUntil(() => server.manager.getStats().connections === 2, { label: 'the two held clients in the shards' });
    // A listener that comes back takes the two held, and they work.
    expect(server.listener.addConnection(server.rendezvous)).toBe(true);
    const conns = [await server.accept(), await server.accept()];
    expect(server.listener.newConnectionAvailable()).toBe(false);
    const dg = new NetDatagram();
    for (const [i, peer] of kept.entries()) {
      await peer.write(frame([i]));
      await pollUntil(() => server.reader.getData(dg), { label: `data from held client ${i}` });
      expect(conns).toContain(dg.getConnection());
    }
    // With a listener listening, the backlog bound does not apply: they are taken as they come.
    for (let i = 0; i < 3; i++) {
      await Peer.connect(server.port);
      await server.accept();
    }
    expect(server.manager.getStats().rejectedBacklog).toBe(3);
  });

  it('a shard whose send-backlog slots are all taken gets no more TCP streams: another shard does, else the client is reset and counted', async () => {
    const server = await startServer(n);
    const shards = server.manager.getShards();
    expect(shards.length).toBe(Math.max(1, n));
    // Take every slot of shard 0, as 65,536 open streams would.
    const held: number[] = [];
    for (let slot = shards[0].backlogSlots.take(); slot >= 0; slot = shards[0].backlogSlots.take()) held.push(slot);
    expect(held.length).toBe(BACKLOG_SLOTS);
    if (n > 1) {
      await Peer.connect(server.port);
      const conn = await server.accept();
      expect(conn.shard).toBe(shards[1]);
      expect(conn.backlogSlot).toBeGreaterThanOrEqual(0);
      for (let slot = shards[1].backlogSlots.take(); slot >= 0; slot = shards[1].backlogSlots.take());
    }
    const refused = await connectOrRefused(server.port);
    await pollUntil(() => wasReset(refused), { label: 'the client no shard can take to be reset' });
    expect(server.manager.getStats().rejectedShardFull).toBe(1);
    expect(server.listener.newConnectionAvailable()).toBe(false);
    // A client connection has nowhere to go either: it resolves null and says why.
    expect(await server.manager.openTCPClientConnection(HOST, await plainServer(), 5000)).toBeNull();
    expect(server.manager.getLastError()?.message).toMatch(/send-backlog/);
    // A slot given back takes the next client, with the send limits in force.
    // (The shard never published to these slots: retire the one given back as it would.)
    const slot = held.pop()!;
    shards[0].backlogSlots.give(slot);
    Atomics.store(slotStates(shards[0].backlog), slot, SlotState.RETIRED);
    const peer = await Peer.connect(server.port, { keepFrames: false });
    const conn = await server.accept();
    expect(conn.shard).toBe(shards[0]);
    expect(conn.backlogSlot).toBeGreaterThanOrEqual(0);
    server.writer.setMaxSendBacklog(1000);
    const dg = new Datagram();
    dg.padBytes(900);
    expect(server.writer.send(dg, conn)).toBe(true);
    expect(server.writer.send(dg, conn)).toBe(false);
    await pollUntil(() => peer.receivedBytes === 902, { label: 'the one datagram' });
  });

  it('resets a connection that receives nothing for idleTimeoutMs, and spares a talkative one', async () => {
    const server = await startServer(n, { manager: { idleTimeoutMs: 300 } });
    const quiet = await Peer.connect(server.port);
    const quietConn = await server.accept();
    const chatty = await Peer.connect(server.port);
    const chattyConn = await server.accept();
    const talk = setInterval(() => chatty.socket.write(frame([1])), 50);
    try {
      const started = Date.now();
      expect(await resetOf(server, quietConn, 'the idle reset')).toBe('idle-timeout');
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      await pollUntil(() => quiet.closed, { label: 'the idle peer to be closed' });
      expect(chattyConn.open).toBe(true);
      expect(chattyConn.getResetReason()).toBeNull();
    } finally {
      clearInterval(talk);
    }
  });

  it('resets a client that does not read with slow-consumer while another keeps receiving', async () => {
    const server = await startServer(n, { manager: { sendBacklogLimit: 256 * 1024 } });
    const slow = await Peer.connect(server.port);
    const slowConn = await server.accept();
    const fast = await Peer.connect(server.port, { keepFrames: false, keepBytes: false });
    const fastConn = await server.accept();
    slow.socket.pause(); // never reads: the kernel's buffers fill, then the shard's backlog grows
    const dg = new Datagram();
    dg.padBytes(1000);
    let sentToFast = 0;
    // Both get the same datagrams, paced by what the reading client has taken (at most 64
    // in flight): it is never behind, while the one that does not read falls ever further.
    await pollUntil(
      () => {
        while (sentToFast - fast.frameCount < 64) {
          server.writer.send(dg, slowConn);
          if (!server.writer.send(dg, fastConn)) break;
          sentToFast++;
        }
        server.reader.dataAvailable();
        return slowConn.getResetReason() !== null;
      },
      { label: 'the slow consumer reset', timeoutMs: 30_000 },
    );
    expect(slowConn.getResetReason()).toBe('slow-consumer');
    await pollUntil(
      () => {
        server.reader.dataAvailable();
        return fast.frameCount === sentToFast || !fastConn.open;
      },
      { label: 'every datagram sent to the fast client' },
    );
    expect(fastConn.getResetReason()).toBeNull();
    expect(fast.frameCount).toBe(sentToFast);
  });

  it('getSendBacklog tells how much a client has not taken, and falls back when it reads', async () => {
    const server = await startServer(n);
    const peer = await Peer.connect(server.port, { keepFrames: false, keepBytes: false });
    const conn = await server.accept();
    expect(server.writer.getSendBacklog(conn)).toBe(0);
    peer.socket.pause();
    const dg = new Datagram();
    dg.padBytes(998); // 1000 bytes on the wire with the header
    let sent = 0;
    // Pace on the backlog itself, as a client should: never past 1 MiB, so never reset.
    await pollUntil(
      () => {
        for (let i = 0; i < 50 && server.writer.getSendBacklog(conn) < 1024 * 1024; i++) {
          if (server.writer.send(dg, conn)) sent++;
        }
        server.reader.dataAvailable();
        // Sending stops at 1 MiB, so wait for exactly that: how much the kernel absorbed first
        // varies with load, and any condition on it could wait forever.
        return server.writer.getSendBacklog(conn) >= 1024 * 1024;
      },
      { label: 'a 1 MiB backlog', timeoutMs: 20_000 },
    ).catch((error: Error) => {
      const why = `sent ${sent}, backlog ${server.writer.getSendBacklog(conn)}, queue ${server.writer.getCurrentQueueSize()}, open ${conn.open}, reason ${conn.getResetReason()}, stats ${JSON.stringify(server.manager.getStats())}`;
      throw new Error(`${error.message}: ${why}`);
    });
    expect(server.writer.getSendBacklog(conn)).toBeLessThan(1024 * 1024 + 50_000);
    expect(conn.getResetReason()).toBeNull();
    peer.socket.resume();
    await pollUntil(() => server.writer.getSendBacklog(conn) === 0 && peer.frameCount === sent, {
      label: 'the backlog to drain',
    });
    expect(server.manager.closeConnection(conn)).toBe(true);
    expect(server.writer.getSendBacklog(conn)).toBe(0);
  });

  it('a close issued while the outbound ring is full is kept, and comes after the data', async () => {
    const server = await startServer(n, { manager: { ringCapacity: 4096 } });
    const peer = await Peer.connect(server.port, { keepFrames: false });
    const conn = await server.accept();
    const dg = new Datagram();
    dg.padBytes(500);
    let sent = 0;
    // 10 MB in one loop: far more than the 4 KiB ring holds (send no longer refuses for a
    // full ring, so no loop may wait for it to return false).
    for (let i = 0; i < 20_000; i++) if (server.writer.send(dg, conn)) sent++;
    expect(sent).toBeGreaterThan(0);
    expect(server.manager.closeConnection(conn)).toBe(true);
    await pollUntil(() => peer.ended, { label: "the peer to see the server's FIN" });
    expect(peer.framesAtEnd).toBe(sent);
  });

  it('send does not refuse past setMaxQueueSize, and getCurrentQueueSize drains to 0', async () => {
    const server = await startServer(n);
    const peer = await Peer.connect(server.port);
    const conn = await server.accept();
    server.writer.setMaxQueueSize(5);
    expect(server.writer.getMaxQueueSize()).toBe(5);
    const dg = new Datagram();
    const results: boolean[] = [];
    for (let i = 0; i < 50; i++) {
      dg.clear();
      dg.addUint32(i);
      results.push(server.writer.send(dg, conn));
    }
    expect(results).toEqual(new Array(50).fill(true));
    await pollUntil(() => server.writer.getCurrentQueueSize() === 0, { label: 'the queue to drain' });
    await pollUntil(() => peer.frameCount === 50, { label: 'all 50 datagrams at the peer' });
    expect(peer.frames.map((f) => f.readUInt32LE(0))).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(() => server.writer.setMaxQueueSize(0)).toThrow(/positive integer, got 0/);
  });
});

describe('worker shard faults', () => {
  it('resets the connections of a shard whose thread dies, replaces it, and new connections work', async () => {
    const server = await startServer(2);
    const peers: Peer[] = [];
    const conns: Connection[] = [];
    for (let i = 0; i < 4; i++) {
      peers.push(await Peer.connect(server.port));
      conns.push(await server.accept());
    }
    const shards = server.manager.getShards();
    const doomed = shards[0];
    const onDoomed = conns.filter((c) => c.shard === doomed);
    expect(onDoomed.length).toBe(2);
    // Kill the thread running shard 0, as a crash inside it would.
    const pool = (server.manager as unknown as { shards: { pool: { threads: { terminate(): Promise<number> }[] } } })
      .shards.pool;
    const threads = pool.threads;
    await Promise.all(threads.map((t) => t.terminate()));
    for (const conn of conns) expect(await resetOf(server, conn, `reset of ${conn.toString()}`)).toBe('error');
    expect(server.manager.getLastError()).not.toBeNull();
    // Fresh shards take new connections and carry data both ways.
    await pollUntil(() => server.manager.getShards().every((s) => !s.failed), { label: 'replacement shards' });
    const peer = await Peer.connect(server.port);
    const conn = await server.accept();
    await peer.write(frame([4, 2]));
    const dg = new Datagram();
    await pollUntil(() => server.reader.getData(dg), { label: 'data on a replacement shard' });
    expect(Array.from(dg.getMessage())).toEqual([4, 2]);
    expect(server.writer.send(dg, conn)).toBe(true);
    await pollUntil(() => peer.frameCount === 1, { label: 'the echo from a replacement shard' });
    await server.close();
  });

  it('a shard that fails at every start is replaced after a growing delay, not in a loop', async () => {
    const server = await startServer(2);
    // Every run fails at once, as a shard whose worker cannot start does. (Set before the
    // first hand-over starts the pool.)
    (server.manager as unknown as { shards: { workerFile: string } }).shards.workerFile = fileURLToPath(
      new URL('../fixtures/failing-shard-worker.mjs', import.meta.url),
    );
    // No listener: the client waits in the rendezvous's backlog, unclaimed, when its shard dies.
    server.listener.removeConnection(server.rendezvous);
    const peer = await Peer.connect(server.port);
    await pollUntil(() => peer.closed, { label: 'the client of a failed shard to be closed' });
    await pollUntil(() => server.manager.getStats().shardFailures >= 4, { label: 'the first replacements to fail too' });
    // The program never had that client: no reset is queued for it.
    expect(server.manager.resetConnectionAvailable()).toBe(false);
    server.listener.addConnection(server.rendezvous);
    // Replaced at once, then after 100, 200, 400, 800 ms…: a handful per shard in a second,
    // where a loop would fail thousands of times.
    await expectNothingFor(1000, () => server.manager.getStats().shardFailures > 14, 'a crash loop');
    expect(server.manager.getStats().shardFailures).toBeGreaterThan(4);
    // Now every shard waits seconds for its next start: a client is reset at accept and
    // counted, never closed as if served.
    await pollUntil(() => server.manager.getShards().every((shard) => shard.failed), { label: 'every shard to be down' });
    const late = await connectOrRefused(server.port);
    await pollUntil(() => wasReset(late), { label: 'the client with no shard to be reset' });
    expect(server.manager.getStats().rejectedNoShard).toBe(1);
    expect(server.listener.newConnectionAvailable()).toBe(false);
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(3000);
  });
});
