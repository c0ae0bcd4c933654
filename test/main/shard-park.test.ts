/**
 * A worker shard that holds nothing ends its run (parks), so its thread stops holding the
 * process (issue #12, point 2), and the next socket starts it again on the same rings:
 * nothing is lost, counters carry on, and a connection closed with writes still queued
 * keeps its shard running until they are written.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Datagram, DatagramIterator, NetAddress, NetDatagram, PointerToConnection, type Connection } from '../../src/index.js';
import { Peer, closeAll, expectNothingFor, frame, pollUntil, startServer, type TestServer } from '../helpers/net-harness.js';

afterEach(closeAll);

const parked = (server: TestServer): boolean => server.manager.getShards().every((shard) => !shard.running);

/** Sends `text` from `peer`, waits for it at the server, echoes it, waits for the echo. */
async function roundTrip(server: TestServer, conn: Connection, peer: Peer, text: string): Promise<void> {
  const before = peer.frameCount;
  await peer.write(frame(Buffer.from(text)));
  const dg = new NetDatagram();
  await pollUntil(() => server.reader.getData(dg), { timeoutMs: 5000, label: `"${text}" at the server` });
  expect(Buffer.from(dg.getMessage()).toString()).toBe(text);
  expect(dg.getConnection()).toBe(conn);
  server.writer.send(dg, conn);
  await pollUntil(() => peer.frameCount > before, { timeoutMs: 5000, label: `the echo of "${text}"` });
  expect(peer.frames.at(-1)!.toString()).toBe(text);
}

/** Polls the reset queue (as a game loop does) until `conn` comes out of it. */
async function awaitReset(server: TestServer, conn: Connection): Promise<void> {
  const ptr = new PointerToConnection();
  await pollUntil(() => server.manager.getResetConnection(ptr) && ptr.p() === conn, { timeoutMs: 5000, label: 'the reset' });
}

describe('worker shards park when they hold nothing', () => {
  it('end their runs once the last connection is gone, and start again for the next, counters carried on', async () => {
    const server = await startServer(2);
    expect(server.reader.getNumWorkerShards()).toBe(2);
    const first = await Peer.connect(server.port);
    const conn = await server.accept();
    await roundTrip(server, conn, first, 'one');
    expect(parked(server)).toBe(false);
    await first.close();
    await awaitReset(server, conn);
    await pollUntil(() => parked(server), { timeoutMs: 5000, label: 'both shards parked' });
    const stats = server.manager.getStats();
    expect(stats.datagramsIn).toBe(1);
    expect(stats.datagramsOut).toBe(1);

    // The next client starts a shard again: it reads on where the last run stopped.
    const second = await Peer.connect(server.port);
    const again = await server.accept();
    expect(parked(server)).toBe(false);
    for (let i = 0; i < 20; i++) await roundTrip(server, again, second, `two-${i}`);
    const after = server.manager.getStats();
    expect(after.datagramsIn).toBe(21);
    expect(after.datagramsOut).toBe(21);
    expect(after.connections).toBe(1);
  });

  it('a connection closed with writes queued for a reader that is not reading keeps its shard running until they are written', async () => {
    const server = await startServer(2);
    const peer = await Peer.connect(server.port, { keepFrames: false, keepBytes: false });
    peer.socket.pause();
    const conn = await server.accept();
    const dg = new Datagram(new Uint8Array(60_000).fill(7));
    const count = 200; // 12 MB: far past what the kernel's buffers take
    for (let i = 0; i < count; i++) server.writer.send(dg, conn);
    server.manager.closeConnection(conn);
    // Far longer than a shard sleeps before it parks: the lingering socket holds it.
    await expectNothingFor(400, () => parked(server), 'a shard parked with a write queued');
    peer.socket.resume();
    await pollUntil(() => peer.ended, { timeoutMs: 20_000, label: 'the FIN after every byte' });
    expect(peer.framesAtEnd).toBe(count);
    expect(peer.receivedBytes).toBe(count * 60_002);
    await pollUntil(() => parked(server), { timeoutMs: 5000, label: 'both shards parked' });
  });

  it('a UDP socket keeps its shard running; once it is closed the shard parks, and a new one is read', async () => {
    const server = await startServer(2);
    const udp = await server.manager.openUDPConnection(0);
    expect(udp).not.toBeNull();
    server.reader.addConnection(udp!);
    await expectNothingFor(300, () => parked(server), 'a shard parked with a UDP socket open');
    server.manager.closeConnection(udp!);
    await pollUntil(() => parked(server), { timeoutMs: 5000, label: 'both shards parked' });
    const next = await server.manager.openUDPConnection(0);
    expect(next).not.toBeNull();
    server.reader.addConnection(next!);
    const to = new NetAddress();
    to.setLocalhost(next!.getAddress().getPort());
    const out = new Datagram();
    out.addString('after the park');
    server.writer.send(out, next!, to);
    const got = new NetDatagram();
    await pollUntil(() => server.reader.getData(got), { timeoutMs: 5000, label: 'the UDP datagram' });
    expect(new DatagramIterator(got).getString()).toBe('after the park');
    expect(got.getConnection()).toBe(next);
  });
});
