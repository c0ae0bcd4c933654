/**
 * writer.broadcast and ConnectionGroup (issue #11): one datagram to many connections,
 * framed once per shard and fanned out there. Used as a game uses it: broadcast's and
 * send's results are not retried. Every recipient must get each datagram once, in order
 * with its unicast sends; closed recipients are skipped; groups lose members that reset;
 * the ring holds one copy of the bytes per shard plus the recipients' ids.
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { Datagram } from '../../src/shared/datagram.js';
import { ConnectionGroup } from '../../src/main/api/connection-group.js';
import type { Connection } from '../../src/main/api/connection.js';
import { NetAddress } from '../../src/main/api/net-address.js';
import { PointerToConnection } from '../../src/main/api/pointer-to-connection.js';
import { HOST, Peer, closeAll, onCleanup, pollUntil, startServer, type TestServer } from '../helpers/net-harness.js';

afterEach(closeAll);

/** A datagram naming its kind ('u' unicast, 'b' broadcast), round and recipient. */
function datagram(text: string): Datagram {
  const dg = new Datagram();
  dg.addString(text);
  return dg;
}

/** The string each frame a peer received carries (Panda3D's u16-length string). */
function texts(peer: Peer): string[] {
  return peer.frames.map((frame) => frame.subarray(2, 2 + frame.readUInt16LE(0)).toString('utf8'));
}

/** `count` plain node:net peers, each accepted and read by `server`; returns both sides, index by index. */
async function connectPeers(server: TestServer, count: number): Promise<{ peers: Peer[]; conns: Connection[] }> {
  const peers: Peer[] = [];
  const conns: Connection[] = [];
  for (let i = 0; i < count; i += 50) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, count - i) }, () => Peer.connect(server.port)));
    peers.push(...batch);
    for (let j = 0; j < batch.length; j++) conns.push(await server.accept());
  }
  // Accepted in connection order is not guaranteed: pair them by the peer's port.
  const byPort = new Map(conns.map((conn) => [conn.getAddress().getPort(), conn]));
  return { peers, conns: peers.map((peer) => byPort.get(peer.localPort)!) };
}

describe.each([0, 2])('writer.broadcast (numThreads %i)', (n) => {
  it('reaches each of 1000 clients once, in order with interleaved unicasts', async () => {
    const server = await startServer(n);
    const { peers, conns } = await connectPeers(server, 1000);
    if (n > 0) expect(new Set(conns.map((conn) => conn.shard!.index)).size).toBe(n);
    const rounds = 5;
    const expected: string[][] = conns.map(() => []);
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < conns.length; i++) {
        server.writer.send(datagram(`u${round}:${i}`), conns[i]);
        expected[i].push(`u${round}:${i}`);
      }
      expect(server.writer.broadcast(datagram(`b${round}`), conns)).toBe(conns.length);
      for (const list of expected) list.push(`b${round}`);
    }
    await pollUntil(() => peers.every((peer) => peer.frameCount >= rounds * 2), {
      timeoutMs: 20_000,
      label: 'every peer has every datagram',
    });
    for (let i = 0; i < peers.length; i++) expect(texts(peers[i])).toEqual(expected[i]);
    expect(server.manager.getStats().datagramsOut).toBe(rounds * 2 * conns.length);
  });

  it('keeps order through a full ring: the recipients split over records, the records wait behind it', async () => {
    // A 4 KiB ring: 600 ids do not fit one record, and every round overflows the ring.
    const server = await startServer(n, { manager: { ringCapacity: 4096 } });
    const { peers, conns } = await connectPeers(server, 600);
    const rounds = 20;
    const expected: string[][] = conns.map(() => []);
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < conns.length; i += 7) {
        server.writer.send(datagram(`u${round}:${i}`), conns[i]);
        expected[i].push(`u${round}:${i}`);
      }
      server.writer.broadcast(datagram(`b${round}`), conns);
      for (const list of expected) list.push(`b${round}`);
    }
    await pollUntil(() => peers.every((peer, i) => peer.frameCount >= expected[i].length), {
      timeoutMs: 20_000,
      label: 'every peer has every datagram',
    });
    for (let i = 0; i < peers.length; i++) expect(texts(peers[i])).toEqual(expected[i]);
  });

  it('skips a recipient the opted-in send backlog limit refuses, and sends to the rest', async () => {
    const server = await startServer(n);
    const { peers, conns } = await connectPeers(server, 3);
    server.writer.setMaxSendBacklog(1000);
    const big = new Datagram();
    big.appendData(new Uint8Array(900));
    // The first broadcast fits each backlog; the second would pass 1000 bytes for all three.
    expect(server.writer.broadcast(big, conns)).toBe(3);
    expect(server.writer.broadcast(big, conns)).toBe(0);
    await pollUntil(() => peers.every((peer) => peer.frameCount === 1), { label: 'one frame each' });
    await pollUntil(() => conns.every((conn) => server.writer.getSendBacklog(conn) === 0), { label: 'the backlogs drain' });
    expect(server.writer.broadcast(big, conns)).toBe(3);
    await pollUntil(() => peers.every((peer) => peer.frameCount === 2), { label: 'two frames each' });
  });

  it('skips recipients closed meanwhile, without error, and counts only the others', async () => {
    const server = await startServer(n);
    const { peers, conns } = await connectPeers(server, 10);
    for (const conn of conns.slice(0, 3)) expect(server.manager.closeConnection(conn)).toBe(true);
    expect(server.writer.broadcast(datagram('after close'), conns)).toBe(7);
    await pollUntil(() => peers.slice(3).every((peer) => peer.frameCount === 1), { label: 'the open peers' });
    await pollUntil(() => peers.slice(0, 3).every((peer) => peer.ended), { label: 'the closed peers end' });
    for (const peer of peers.slice(0, 3)) expect(peer.frameCount).toBe(0);
    for (const peer of peers.slice(3)) expect(texts(peer)).toEqual(['after close']);
  });

  it('a group shrinks when its members reset, and broadcast to it reaches the rest', async () => {
    const server = await startServer(n);
    const { peers, conns } = await connectPeers(server, 8);
    const group = new ConnectionGroup(conns);
    expect(group.size).toBe(8);
    await Promise.all(peers.slice(0, 3).map((peer) => peer.close()));
    const ptr = new PointerToConnection();
    let resets = 0;
    await pollUntil(
      () => {
        while (server.manager.getResetConnection(ptr)) resets++;
        return resets === 3;
      },
      { label: 'three resets' },
    );
    expect(group.size).toBe(5);
    for (const conn of conns.slice(0, 3)) expect(group.has(conn)).toBe(false);
    expect([...group]).toEqual(conns.slice(3));
    expect(server.writer.broadcast(datagram('to the room'), group)).toBe(5);
    await pollUntil(() => peers.slice(3).every((peer) => peer.frameCount === 1), { label: 'the members' });
    // A closed connection leaves too, and cannot join again.
    server.manager.closeConnection(conns[3]);
    expect(group.size).toBe(4);
    expect(group.add(conns[3])).toBe(false);
  });

  it('holds one copy of the bytes per shard plus the recipients ids, not a copy per recipient', async () => {
    const server = await startServer(n);
    const { conns } = await connectPeers(server, 200);
    const payload = new Uint8Array(1000).fill(7);
    const dg = new Datagram();
    dg.appendData(payload);
    const shards = server.manager.getShards();
    const staged = (): number => shards.reduce((sum, shard) => sum + shard.outbound.stagedBytes(), 0);
    // Let the ADOPT and READ records go out first, so only what is measured is staged.
    await new Promise((resolve) => setImmediate(resolve));
    expect(staged()).toBe(0);
    expect(server.writer.broadcast(dg, conns)).toBe(200);
    const broadcastBytes = staged();
    // Per shard: a 12-byte record header, the count, the ids, the 2-byte header and the payload (8-aligned).
    expect(broadcastBytes).toBeLessThanOrEqual(shards.length * (12 + 4 + 2 + 1000 + 8) + 200 * 4);
    await new Promise((resolve) => setImmediate(resolve));
    for (const conn of conns) server.writer.send(dg, conn);
    // The same datagram sent to each: a copy per recipient.
    expect(staged()).toBeGreaterThanOrEqual(200 * 1002);
  });

  it('sends one UDP packet to many addresses from one UDP connection', async () => {
    const server = await startServer(n);
    const udp = (await server.manager.openUDPConnection(HOST, 0))!;
    const receivers = await Promise.all(
      Array.from({ length: 3 }, () => new Promise<dgram.Socket>((resolve) => {
        const socket = dgram.createSocket('udp4');
        onCleanup(() => new Promise<void>((done) => socket.close(() => done())));
        socket.bind(0, HOST, () => resolve(socket));
      })),
    );
    const got: Buffer[][] = receivers.map(() => []);
    receivers.forEach((socket, i) => socket.on('message', (message) => got[i].push(message)));
    const addresses = receivers.map((socket) => {
      const address = new NetAddress();
      address.setHost(HOST, socket.address().port);
      return address;
    });
    const dg = new Datagram();
    dg.appendData(Uint8Array.of(1, 2, 3));
    expect(server.writer.broadcast(dg, udp, addresses)).toBe(3);
    await pollUntil(() => got.every((list) => list.length === 1), { label: 'a packet at each receiver' });
    // Panda3D's UDP framing: the u16 byte-sum checksum, then the payload.
    for (const list of got) expect([...list[0]]).toEqual([6, 0, 1, 2, 3]);
    server.manager.closeConnection(udp);
    expect(server.writer.broadcast(dg, udp, addresses)).toBe(0);
  });

  it('a broadcast that throws changes nothing: no recipient is counted or sent to', async () => {
    const server = await startServer(n);
    const { peers, conns } = await connectPeers(server, 3);
    const udp = (await server.manager.openUDPConnection(HOST, 0))!;
    const dg = datagram('never sent');
    // The bad recipient comes last: the ones before it must not have been counted.
    expect(() => server.writer.broadcast(dg, [conns[0], conns[1], udp])).toThrow(TypeError);
    expect(() => server.writer.broadcast(dg, [...conns, 'x' as never])).toThrow(/every recipient must be a TCP Connection, got "x"/);
    function* failing(): Generator<Connection> {
      yield conns[0];
      yield conns[2];
      throw new Error('the recipients could not be listed');
    }
    expect(() => server.writer.broadcast(dg, failing())).toThrow(/could not be listed/);
    for (const conn of conns) expect(server.writer.getSendBacklog(conn)).toBe(0);
    // A soft limit smaller than what the failed calls would have counted refuses nothing.
    server.writer.setMaxSendBacklog(64);
    expect(server.writer.broadcast(datagram('after'), new Set(conns))).toBe(3);
    await pollUntil(() => peers.every((peer) => peer.frameCount === 1), { label: 'one frame each' });
    for (const peer of peers) expect(texts(peer)).toEqual(['after']);
  });

  it('refuses what cannot be sent with a clear error', async () => {
    const server = await startServer(n);
    const { conns } = await connectPeers(server, 1);
    const dg = datagram('x');
    expect(() => server.writer.broadcast(dg, 5 as never)).toThrow(/recipients must be an iterable of Connections.*5 \(number\)/);
    expect(() => server.writer.broadcast(dg, [conns[0], {} as Connection])).toThrow(/every recipient must be a TCP Connection/);
    const udp = (await server.manager.openUDPConnection(HOST, 0))!;
    expect(() => server.writer.broadcast(dg, [udp])).toThrow(/UDP: broadcast\(dg, udpConnection, addresses\)/);
    expect(() => server.writer.broadcast(dg, conns[0], [])).toThrow(/is for a UDP connection/);
    const big = new Datagram();
    big.appendData(new Uint8Array(70_000));
    expect(() => server.writer.broadcast(big, conns)).toThrow(RangeError);
    expect(server.writer.broadcast(dg, [])).toBe(0);
  });
});

describe('ConnectionGroup', () => {
  it('adds, removes, answers has and size, and iterates in insertion order', async () => {
    const server = await startServer(0);
    const { conns } = await connectPeers(server, 3);
    const group = new ConnectionGroup();
    expect(group.add(conns[0])).toBe(true);
    expect(group.add(conns[1])).toBe(true);
    expect(group.add(conns[0])).toBe(false);
    expect(group.size).toBe(2);
    expect(group.has(conns[1])).toBe(true);
    expect(group.has(conns[2])).toBe(false);
    expect(group.remove(conns[1])).toBe(true);
    expect(group.remove(conns[1])).toBe(false);
    group.add(conns[2]);
    expect([...group]).toEqual([conns[0], conns[2]]);
    group.clear();
    expect(group.size).toBe(0);
    // A connection in several groups leaves all of them when it closes.
    const other = new ConnectionGroup([conns[0]]);
    group.add(conns[0]);
    server.manager.closeConnection(conns[0]);
    expect(group.size + other.size).toBe(0);
    expect(() => group.add('conn' as never)).toThrow(/expected a Connection, got "conn" \(string\)/);
  });
});
