import { afterEach, describe, expect, it } from 'vitest';
import { Datagram } from '../../src/shared/datagram.js';
import { PointerToConnection } from '../../src/main/pointer-to-connection.js';
import type { Connection } from '../../src/main/connection.js';
import type { ResetReason } from '../../src/shared/reset-reason.js';
import { Peer, closeAll, frame, pollUntil, startServer, type TestServer } from '../helpers/net-harness.js';

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
});
