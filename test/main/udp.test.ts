import dgram from 'node:dgram';
import os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionWriter } from '../../src/main/api/connection-writer.js';
import { NetAddress } from '../../src/main/api/net-address.js';
import { NetDatagram } from '../../src/main/api/net-datagram.js';
import { QueuedConnectionManager } from '../../src/main/api/queued-connection-manager.js';
import { QueuedConnectionReader } from '../../src/main/api/queued-connection-reader.js';
import { Datagram } from '../../src/shared/datagram.js';
import { DatagramIterator } from '../../src/shared/datagram-iterator.js';
import type { Connection } from '../../src/main/api/connection.js';
import { UDP_HELD_PACKETS } from '../../src/workers/udp-endpoints.js';
import { closeAll, expectNothingFor, onCleanup, pollUntil } from '../helpers/net-harness.js';
import { receiveQueue } from '../helpers/proc-fds.js';

afterEach(closeAll);

interface UdpSide {
  manager: QueuedConnectionManager;
  reader: QueuedConnectionReader;
  writer: ConnectionWriter;
}

function side(n: number, raw = false): UdpSide {
  const manager = new QueuedConnectionManager();
  onCleanup(() => manager.close());
  const reader = new QueuedConnectionReader(manager, n);
  const writer = new ConnectionWriter(manager, n);
  reader.setRawMode(raw);
  writer.setRawMode(raw);
  return { manager, reader, writer };
}

/** A plain node:dgram peer on 127.0.0.1 that records every packet it gets. */
async function plainPeer(): Promise<{ socket: dgram.Socket; port: number; packets: Buffer[] }> {
  const socket = dgram.createSocket('udp4');
  const packets: Buffer[] = [];
  socket.on('message', (msg) => packets.push(msg));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  onCleanup(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return { socket, port: socket.address().port, packets };
}

/** Panda3D's UDP packet: u16 LE sum of the payload bytes, then the payload. */
function pandaPacket(payload: number[]): Buffer {
  const sum = payload.reduce((a, b) => a + b, 0) & 0xffff;
  return Buffer.from([sum & 0xff, sum >>> 8, ...payload]);
}

/** Sends `packets` from `socket` to 127.0.0.1:`port`; resolves once the kernel has taken each. */
function sendAll(socket: dgram.Socket, port: number, packets: readonly Buffer[]): Promise<void[]> {
  return Promise.all(
    packets.map((packet) => new Promise<void>((resolve, reject) => socket.send(packet, port, '127.0.0.1', (error) => (error ? reject(error) : resolve())))),
  );
}

/**
 * Waits until the socket bound to 127.0.0.1:`port` has read everything the kernel held for
 * it: on loopback a packet is in the receiver's queue once its send completes, so after
 * this the shard has seen every packet sent before.
 */
function shardHasRead(port: number): Promise<boolean> {
  return pollUntil(() => receiveQueue('udp', port) === 0, { label: `the shard to read the packets sent to port ${port}` });
}

/** Takes every datagram the reader has now, as arrays of bytes. */
function takeAll(reader: QueuedConnectionReader, into: number[][]): number[][] {
  const dg = new NetDatagram();
  while (reader.getData(dg)) into.push(Array.from(dg.getMessage()));
  return into;
}

/** An IPv6 link-local address of this machine and its interface (the zone), or null. */
function linkLocal(): { ip: string; zone: string } | null {
  for (const [name, addresses] of Object.entries(os.networkInterfaces())) {
    for (const a of addresses ?? []) {
      if (a.family === 'IPv6' && !a.internal && a.address.toLowerCase().startsWith('fe80:')) return { ip: a.address, zone: name };
    }
  }
  return null;
}

async function openUdp(s: UdpSide, ...args: [] | [number] | [string, number, boolean?]): Promise<Connection> {
  const conn = await (s.manager.openUDPConnection as (...a: unknown[]) => Promise<Connection | null>)(...args);
  if (conn === null) throw new Error(`openUDPConnection failed: ${String(s.manager.getLastError())}`);
  return conn;
}

describe.each([0, 2])('UDP with %i shards', (n) => {
  it.each(['127.0.0.1', '::1'])(
    'round trip between two ringwire sides over %s, with the sender address on each datagram',
    async (ip) => {
      const server = side(n);
      const serverConn = await openUdp(server, ip, 0);
      expect(serverConn.kind).toBe('udp');
      expect(serverConn.getAddress().getIpString()).toBe(ip); // bound to that interface, as Panda3D
      expect(server.reader.addConnection(serverConn)).toBe(true);
      const client = side(n);
      const clientConn = await openUdp(client, ip, 0);
      expect(client.reader.addConnection(clientConn)).toBe(true);
      const serverAddress = new NetAddress();
      serverAddress.setHost(ip, serverConn.getAddress().getPort());

      const hello = new Datagram();
      hello.addUint16(7);
      hello.addString('ping');
      expect(() => client.writer.send(hello, clientConn)).toThrow(/needs the address/);
      expect(client.writer.send(hello, clientConn, serverAddress)).toBe(true);
      const dg = new NetDatagram();
      await pollUntil(() => server.reader.getData(dg), { label: 'the ping at the server' });
      const it = new DatagramIterator(dg);
      expect([it.getUint16(), it.getString()]).toEqual([7, 'ping']);
      expect(dg.getConnection()).toBe(serverConn);
      expect(dg.getAddress().getIpString()).toBe(ip);
      expect(dg.getAddress().getPort()).toBe(clientConn.getAddress().getPort());

      const sender = new NetAddress();
      sender.assign(dg.getAddress());
      const reply = new Datagram();
      reply.addString('pong');
      expect(server.writer.send(reply, serverConn, sender)).toBe(true);
      const back = new NetDatagram();
      await pollUntil(() => client.reader.getData(back), { label: 'the pong at the client' });
      expect(new DatagramIterator(back).getString()).toBe('pong');
      expect(back.getAddress().getPort()).toBe(serverConn.getAddress().getPort());
    },
  );

  it('matches Panda3D byte for byte, and drops short or corrupted packets, counting them', async () => {
    const server = side(n);
    const conn = await openUdp(server, 0);
    server.reader.addConnection(conn);
    const peer = await plainPeer();
    const port = conn.getAddress().getPort();
    peer.socket.send(Buffer.from([9]), port, '127.0.0.1'); // shorter than the header
    peer.socket.send(Buffer.from([0x00, 0x00, 1, 2, 3]), port, '127.0.0.1'); // checksum 0, should be 6
    peer.socket.send(pandaPacket([1, 2, 3, 250]), port, '127.0.0.1');
    const dg = new NetDatagram();
    await pollUntil(() => server.reader.getData(dg), { label: 'the good packet' });
    expect(Array.from(dg.getMessage())).toEqual([1, 2, 3, 250]);
    await pollUntil(() => server.manager.getStats().udpRejected === 2, { label: 'two rejected packets counted' });
    expect(server.reader.getData(dg)).toBe(false);

    const out = new Datagram();
    out.addUint8(0xff);
    out.addUint8(0x02);
    const to = new NetAddress();
    to.setHost('127.0.0.1', peer.port);
    expect(server.writer.send(out, conn, to)).toBe(true);
    await pollUntil(() => peer.packets.length === 1, { label: 'the packet at the plain peer' });
    expect(Array.from(peer.packets[0])).toEqual([0x01, 0x01, 0xff, 0x02]);
  });

  it('raw mode: no header either way', async () => {
    const server = side(n, true);
    const conn = await openUdp(server, 0);
    server.reader.addConnection(conn);
    const peer = await plainPeer();
    peer.socket.send(Buffer.from([0, 0, 5]), conn.getAddress().getPort(), '127.0.0.1');
    const dg = new NetDatagram();
    await pollUntil(() => server.reader.getData(dg), { label: 'the raw packet' });
    expect(Array.from(dg.getMessage())).toEqual([0, 0, 5]);
    const to = new NetAddress();
    to.setHost('127.0.0.1', peer.port);
    server.writer.send(dg, conn, to);
    await pollUntil(() => peer.packets.length === 1, { label: 'the raw reply' });
    expect(Array.from(peer.packets[0])).toEqual([0, 0, 5]);
  });

  it('a burst past the socket buffer loses packets, counted by sequence, and nothing breaks', async () => {
    const server = side(n);
    const conn = await openUdp(server, 0);
    server.reader.addConnection(conn);
    const peer = await plainPeer();
    const total = 20_000;
    const payload = new Array<number>(1000).fill(1);
    for (let seq = 0; seq < total; seq++) {
      payload[0] = seq & 0xff;
      payload[1] = (seq >>> 8) & 0xff;
      peer.socket.send(pandaPacket(payload), conn.getAddress().getPort(), '127.0.0.1');
    }
    // Packets from one sender arrive in order on loopback: once a marker sent after the
    // burst arrives, whatever of the burst is missing was lost.
    const dg = new NetDatagram();
    const arrived: number[] = [];
    let marker = false;
    await pollUntil(
      () => {
        peer.socket.send(pandaPacket([42]), conn.getAddress().getPort(), '127.0.0.1');
        while (server.reader.getData(dg)) {
          const m = dg.getMessage();
          if (dg.getLength() === 1) marker = m[0] === 42;
          else arrived.push(m[0] | (m[1] << 8));
        }
        return marker;
      },
      { label: 'a marker after the burst', timeoutMs: 20_000 },
    );
    // What arrived is a subsequence of what was sent: each sequence once, in order (the
    // 16-bit sequence wraps at 65536, above the burst), none invented.
    expect(arrived.length).toBeGreaterThan(0);
    expect(arrived.length).toBeLessThanOrEqual(total);
    for (let i = 1; i < arrived.length; i++) expect(arrived[i]).toBeGreaterThan(arrived[i - 1]);
    expect(arrived.at(-1)!).toBeLessThan(total);
    // No rejected packets: a loss is the socket buffer's, never a corrupted delivery.
    expect(server.manager.getStats().udpRejected).toBe(0);
  });

  it('isValidForUdp follows Panda3D (1500 bytes); a send needs an address', async () => {
    const s = side(n);
    const conn = await openUdp(s, 0);
    const dg = new Datagram();
    dg.padBytes(1500);
    expect(s.writer.isValidForUdp(dg)).toBe(true);
    dg.addUint8(0);
    expect(s.writer.isValidForUdp(dg)).toBe(false);
    expect(() => s.writer.send(dg, conn)).toThrow(/needs the address/);
    const huge = new Datagram();
    huge.padBytes(70_000);
    const to = new NetAddress();
    to.setHost('127.0.0.1', 9);
    expect(() => s.writer.send(huge, conn, to)).toThrow(RangeError);
    const nowhere = new NetAddress();
    nowhere.setHost('127.0.0.1', 0);
    expect(() => s.writer.send(dg, conn, nowhere)).toThrow(/port 0/);
    expect(s.manager.closeConnection(conn)).toBe(true);
    expect(s.writer.send(dg, conn, to)).toBe(false);
    expect(s.manager.closeConnection(conn)).toBe(false);
  });

  it('a zero-length raw packet is never delivered, as in Panda3D: it is dropped and counted', async () => {
    const server = side(n, true);
    const conn = await openUdp(server, '127.0.0.1', 0);
    server.reader.addConnection(conn);
    const peer = await plainPeer();
    const port = conn.getAddress().getPort();
    await sendAll(peer.socket, port, [Buffer.alloc(0), Buffer.from([7])]);
    const got = await pollUntil(() => takeAll(server.reader, []).at(0), { label: 'the one-byte packet' });
    expect(got).toEqual([7]);
    await pollUntil(() => server.manager.getStats().udpRejected === 1, { label: 'the empty packet counted as rejected' });
    expect(takeAll(server.reader, [])).toEqual([]);
  });

  it('packets that come while the connection is in no reader wait, in order, for addConnection', async () => {
    const server = side(n);
    const conn = await openUdp(server, '127.0.0.1', 0);
    const port = conn.getAddress().getPort();
    const peer = await plainPeer();
    // Before addConnection.
    await sendAll(peer.socket, port, [pandaPacket([1]), pandaPacket([2]), pandaPacket([3])]);
    await shardHasRead(port);
    expect(server.reader.addConnection(conn)).toBe(true);
    const got: number[][] = [];
    await pollUntil(() => takeAll(server.reader, got).length >= 3, { label: 'the three packets sent before addConnection' });
    expect(got).toEqual([[1], [2], [3]]);

    // After removeConnection, until the next addConnection.
    expect(server.reader.removeConnection(conn)).toBe(true);
    await sendAll(peer.socket, port, [pandaPacket([4]), pandaPacket([5])]);
    await shardHasRead(port);
    await expectNothingFor(50, () => takeAll(server.reader, []).length > 0, 'datagram while in no reader');
    expect(server.reader.addConnection(conn)).toBe(true);
    await pollUntil(() => takeAll(server.reader, got).length >= 5, { label: 'the two packets sent after removeConnection' });
    expect(got).toEqual([[1], [2], [3], [4], [5]]);
    expect(server.manager.getStats().udpUnread).toBe(0);
  });

  it(`at most ${UDP_HELD_PACKETS} packets wait for a reader; later ones are dropped and counted (udpUnread)`, async () => {
    const server = side(n);
    const conn = await openUdp(server, '127.0.0.1', 0);
    const port = conn.getAddress().getPort();
    const peer = await plainPeer();
    const total = UDP_HELD_PACKETS + 10;
    // In batches the kernel's buffer holds whole, so every packet reaches the shard.
    for (let first = 0; first < total; first += 50) {
      const batch: Buffer[] = [];
      for (let seq = first; seq < Math.min(total, first + 50); seq++) batch.push(pandaPacket([seq & 0xff, seq >>> 8]));
      await sendAll(peer.socket, port, batch);
      await shardHasRead(port);
    }
    expect(server.manager.getStats().udpUnread).toBe(10);
    server.reader.addConnection(conn);
    const got: number[][] = [];
    await pollUntil(() => takeAll(server.reader, got).length >= UDP_HELD_PACKETS, { label: `the ${UDP_HELD_PACKETS} packets held` });
    // The oldest wait, as in a kernel's buffer; the newest were dropped.
    expect(got.map(([low, high]) => low | (high << 8))).toEqual(Array.from({ length: UDP_HELD_PACKETS }, (_, seq) => seq));
    await expectNothingFor(50, () => takeAll(server.reader, got).length > UDP_HELD_PACKETS, 'datagram past the bound');
  });

  it("a link-local sender's address keeps its zone, and a reply to it arrives", async () => {
    const local = linkLocal();
    if (local === null) throw new Error('this test needs an interface with an IPv6 link-local (fe80::) address');
    const server = side(n);
    const conn = await openUdp(server, 0); // :: dual-stack
    server.reader.addConnection(conn);
    const peer = dgram.createSocket('udp6');
    const replies: Buffer[] = [];
    peer.on('message', (msg) => replies.push(msg));
    await new Promise<void>((resolve) => peer.bind(0, '::', () => resolve()));
    onCleanup(() => new Promise<void>((resolve) => peer.close(() => resolve())));
    const zoned = `${local.ip}%${local.zone}`;
    peer.send(pandaPacket([9]), conn.getAddress().getPort(), zoned);
    const dg = new NetDatagram();
    await pollUntil(() => server.reader.getData(dg), { label: 'the packet from the link-local sender' });
    expect(dg.getAddress().getIpString()).toBe(zoned);
    expect(dg.getAddress().getPort()).toBe(peer.address().port);
    const reply = new Datagram();
    reply.addUint8(10);
    expect(server.writer.send(reply, conn, dg.getAddress())).toBe(true);
    const many = new Datagram();
    many.addUint8(11);
    expect(server.writer.broadcast(many, conn, [dg.getAddress(), dg.getAddress()])).toBe(2);
    await pollUntil(() => replies.length === 3, { label: 'the replies at the link-local sender' });
    expect(replies.map((r) => Array.from(r))).toEqual([Array.from(pandaPacket([10])), Array.from(pandaPacket([11])), Array.from(pandaPacket([11]))]);
  });

  it('opening a UDP port in use resolves null with EADDRINUSE', async () => {
    const s = side(n);
    const busy = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    await new Promise<void>((resolve) => busy.bind(0, () => resolve()));
    onCleanup(() => new Promise<void>((resolve) => busy.close(() => resolve())));
    expect(await s.manager.openUDPConnection(busy.address().port)).toBeNull();
    expect((s.manager.getLastError() as NodeJS.ErrnoException).code).toBe('EADDRINUSE');
  });
});
