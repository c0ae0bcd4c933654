/**
 * The rest of Panda3D's net API (issue #13): NetAddress's setters and readers, NetDatagram
 * copies and clear(), the manager's interfaces and host name, the reader's and writer's
 * accessors and the writer's shutdown, framing changes that reach connections already
 * read, and UDP bound dual-stack as Panda binds it.
 */
import dgram from 'node:dgram';
import os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConnectionWriter,
  Datagram,
  DatagramIterator,
  Interface,
  NetAddress,
  NetDatagram,
  QueuedConnectionManager,
  QueuedConnectionReader,
  type Connection,
} from '../../src/index.js';
import { Peer, closeAll, frame, onCleanup, pollUntil, startServer, type TestServer } from '../helpers/net-harness.js';
import { ErrorCode } from '../../src/shared/errors.js';

afterEach(closeAll);

function address(host: string, port: number): NetAddress {
  const a = new NetAddress();
  expect(a.setHost(host, port)).toBe(true);
  return a;
}

describe('NetAddress', () => {
  it('setBroadcast, setPort, clear and isAny', () => {
    const a = new NetAddress();
    expect(a.isAny()).toBe(true);
    expect(a.setBroadcast(9099)).toBe(true);
    expect(a.toString()).toBe('255.255.255.255:9099');
    expect(a.isAny()).toBe(false);
    expect(a.setPort(1234)).toBe(true);
    expect(a.toString()).toBe('255.255.255.255:1234');
    a.clear();
    expect(a.toString()).toBe('0.0.0.0:0');
    expect(a.isAny()).toBe(true);
    expect(address('::', 5).isAny()).toBe(true);
    expect(() => a.setPort(70000)).toThrow(/port must be an integer from 0 to 65535, got 70000/);
  });

  it('getIp is the four bytes read as a little-endian integer, getIpComponent each dotted byte', () => {
    const a = address('127.0.0.1', 80);
    expect(a.getIp()).toBe(0x0100007f);
    expect(address('10.20.30.40', 1).getIp()).toBe(0x281e140a);
    expect([0, 1, 2, 3].map((n) => address('10.20.30.40', 1).getIpComponent(n))).toEqual([10, 20, 30, 40]);
    expect(address('::1', 1).getIp()).toBe(0);
    expect(() => a.getIpComponent(4)).toThrow(/n must be 0, 1, 2 or 3, got 4/);
  });

  it('equal addresses compare and hash alike, whatever the spelling; others differ', () => {
    expect(address('::0001', 5).equals(address('::1', 5))).toBe(true);
    expect(address('::0001', 5).getHash()).toBe(address('::1', 5).getHash());
    expect(address('::0001', 5).toString()).toBe('[::1]:5');
    expect(address('2001:DB8:0:0:0:0:0:1', 5).getIpString()).toBe('2001:db8::1');
    expect(address('::ffff:1.2.3.4', 5).getIpString()).toBe('1.2.3.4');
    expect(address('FE80:0::1%lo', 5).getIpString()).toBe('fe80::1%lo'); // the zone is kept
    expect(address('::1', 5).equals(address('::1', 6))).toBe(false);
    expect(address('1.2.3.4', 5).getHash()).not.toBe(address('1.2.3.5', 5).getHash());
    expect(address('1.2.3.4', 5).equals('1.2.3.4:5' as never)).toBe(false);
  });
});

describe('NetDatagram', () => {
  it('a copy keeps its connection and address; clear() forgets them; a Datagram copy has none', async () => {
    const server = await startServer(0);
    const peer = await Peer.connect(server.port);
    const conn = await server.accept();
    await peer.write(frame([7, 8]));
    const dg = new NetDatagram();
    await pollUntil(() => server.reader.getData(dg), { timeoutMs: 5000, label: 'a datagram' });
    const copy = new NetDatagram(dg);
    expect(copy.getConnection()).toBe(conn);
    expect(copy.getAddress().equals(conn.getAddress())).toBe(true);
    expect(Array.from(copy.getMessage())).toEqual([7, 8]);
    const plain = new NetDatagram(new Datagram(dg));
    expect(plain.getConnection()).toBeNull();
    expect(plain.getAddress().toString()).toBe('0.0.0.0:0');
    dg.clear();
    expect(dg.getLength()).toBe(0);
    expect(dg.getConnection()).toBeNull();
    expect(dg.getAddress().toString()).toBe('0.0.0.0:0');
    expect(copy.getConnection()).toBe(conn); // the copy is its own
  });
});

describe('manager: interfaces and host name', () => {
  it('scanInterfaces lists every address of every interface that is up, with Panda3D fields', () => {
    const manager = new QueuedConnectionManager();
    onCleanup(() => manager.close());
    expect(manager.getNumInterfaces()).toBe(0);
    expect(() => manager.getInterface(0)).toThrow(/call scanInterfaces\(\) first/);
    manager.scanInterfaces();
    const expected = Object.values(os.networkInterfaces()).reduce((n, list) => n + (list?.length ?? 0), 0);
    expect(manager.getNumInterfaces()).toBe(expected);
    const all: Interface[] = [];
    for (let i = 0; i < manager.getNumInterfaces(); i++) all.push(manager.getInterface(i));
    const loopback = all.find((iface) => iface.getIp().getIpString() === '127.0.0.1')!;
    expect(loopback).toBeInstanceOf(QueuedConnectionManager.Interface);
    expect(loopback.getName()).toBe('lo');
    expect(loopback.getMacAddress()).toBe('00-00-00-00-00-00');
    expect(loopback.getNetmask().getIpString()).toBe('255.0.0.0');
    expect(loopback.hasBroadcast()).toBe(false);
    expect(loopback.isIpv6()).toBe(false);
    expect(loopback.isOperational()).toBe(true);
    expect(loopback.toString()).toBe('lo [127.0.0.1 netmask 255.0.0.0]');
    for (const iface of all.filter((i) => !i.isIpv6() && i.getName() !== 'lo')) {
      const ip = iface.getIp().getIp();
      const mask = address(iface.getNetmask().getIpString(), 0).getIp();
      expect(iface.hasBroadcast()).toBe(true);
      expect(iface.getBroadcast().getIp()).toBe((ip | ~mask) >>> 0);
    }
    expect(() => manager.getInterface(expected)).toThrow(RangeError);
  });

  it('getHostName is the machine name, static as in Panda3D', () => {
    expect(QueuedConnectionManager.getHostName()).toBe(os.hostname());
    const manager = new QueuedConnectionManager();
    onCleanup(() => manager.close());
    expect(manager.getHostName()).toBe(os.hostname());
  });
});

describe('reader and writer accessors, and the writer shutdown', () => {
  it('getManager and isPolling', () => {
    const polled = new QueuedConnectionManager();
    const threaded = new QueuedConnectionManager();
    onCleanup(() => polled.close());
    onCleanup(() => threaded.close());
    const reader = new QueuedConnectionReader(polled, 0);
    const writer = new ConnectionWriter(polled, 0);
    expect(reader.getManager()).toBe(polled);
    expect(writer.getManager()).toBe(polled);
    expect(reader.isPolling()).toBe(true);
    expect(new QueuedConnectionReader(threaded, 2).isPolling()).toBe(false);
  });

  it.each([0, 2])('shutdown: what was queued is written, a later send throws (numThreads %i)', async (n) => {
    const server = await startServer(n);
    const peer = await Peer.connect(server.port);
    const conn = await server.accept();
    for (let i = 0; i < 10; i++) server.writer.send(new Datagram(new Uint8Array([i])), conn);
    server.writer.shutdown();
    server.writer.shutdown();
    expect(() => server.writer.send(new Datagram(), conn)).toThrow(expect.objectContaining({ code: ErrorCode.WRITER_SHUT_DOWN }));
    expect(() => server.writer.broadcast(new Datagram(), [conn])).toThrow(expect.objectContaining({ code: ErrorCode.WRITER_SHUT_DOWN }));
    await pollUntil(() => peer.frameCount === 10, { timeoutMs: 5000, label: 'the 10 datagrams queued before shutdown' });
    expect(peer.frames.map((f) => f[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

/** Waits for the reader's next datagram into `dg`; checks it came on `conn`; returns its bytes. */
async function nextFrom(server: TestServer, conn: Connection, dg: NetDatagram, what: string): Promise<number[]> {
  await pollUntil(() => server.reader.getData(dg), { timeoutMs: 5000, label: what });
  expect(dg.getConnection()).toBe(conn);
  return Array.from(dg.getMessage());
}

describe.each([0, 2])('framing changes reach connections already read (numThreads %i)', (n) => {
  it('setTcpHeaderSize(4), then setRawMode(true), on a connection the reader reads already', async () => {
    const server = await startServer(n);
    const peer = await Peer.connect(server.port);
    const conn = await server.accept();
    const dg = new NetDatagram();
    const next = (what: string): Promise<number[]> => nextFrom(server, conn, dg, what);
    await peer.write(frame([1, 2], 2));
    expect(await next('a header-2 datagram')).toEqual([1, 2]);
    server.reader.setTcpHeaderSize(4);
    // The shard takes the change in order with the connection's other records; a datagram
    // sent after it is read with it.
    await yieldToShard(server.manager);
    await peer.write(frame([3, 4, 5], 4));
    expect(await next('a header-4 datagram')).toEqual([3, 4, 5]);
    server.reader.setMaxDatagramSize(3);
    await yieldToShard(server.manager);
    server.reader.setRawMode(true);
    await yieldToShard(server.manager);
    await peer.write(Buffer.from([9, 9, 9, 9, 9]));
    const raw: number[] = [];
    while (raw.length < 5) raw.push(...(await next('raw bytes')));
    expect(raw).toEqual([9, 9, 9, 9, 9]);
    expect(dg.getLength()).toBeLessThanOrEqual(3); // raw pieces of at most maxDatagramSize
  });
});

describe.each([0, 2])('a framing change in the middle of a stream (numThreads %i)', (n) => {
  it('finishes the datagram part-way in with the old header size and reads the rest of the same socket read with the new one', async () => {
    const server = await startServer(n);
    const peer = await Peer.connect(server.port);
    const conn = await server.accept();
    const dg = new NetDatagram();
    const next = (what: string): Promise<number[]> => nextFrom(server, conn, dg, what);
    const b = frame([5, 6, 7], 2);
    // A whole, and the first byte of B's header: B is part-way in when the change comes.
    await peer.write(Buffer.concat([frame([1], 2), b.subarray(0, 1)]));
    expect(await next('A')).toEqual([1]);
    server.reader.setTcpHeaderSize(4);
    await yieldToShard(server.manager);
    // One write: the rest of B (old framing), then C and D framed with 4-byte headers.
    await peer.write(Buffer.concat([b.subarray(1), frame([8, 8], 4), frame([9, 9, 9], 4)]));
    expect(await next('B')).toEqual([5, 6, 7]);
    expect(await next('C')).toEqual([8, 8]);
    expect(await next('D')).toEqual([9, 9, 9]);
    expect(conn.getResetReason()).toBeNull();
  });
});

/** Waits until the shards have taken every record sent to them so far (a READ among them). */
async function yieldToShard(manager: QueuedConnectionManager): Promise<void> {
  await pollUntil(() => manager.getShards().every((shard) => shard.outbound.usedBytes() === 0 && shard.outbound.stagedBytes() === 0), {
    timeoutMs: 5000,
    label: 'the shards to take their records',
  });
}

describe.each([0, 2])('UDP bound as Panda3D binds it (numThreads %i)', (n) => {
  it('openUDPConnection(port) is dual-stack: an IPv4 sender shows as IPv4, and gets an answer; an IPv6 one too', async () => {
    const server = await startServer(n);
    const udp = (await server.manager.openUDPConnection(0))!;
    expect(udp.getAddress().getIpString()).toBe('::');
    expect(udp.getAddress().isAny()).toBe(true);
    server.reader.addConnection(udp);
    const port = udp.getAddress().getPort();
    for (const [type, host] of [
      ['udp4', '127.0.0.1'],
      ['udp6', '::1'],
    ] as const) {
      const client = dgram.createSocket(type);
      onCleanup(() => new Promise<void>((resolve) => client.close(() => resolve())));
      await new Promise<void>((resolve) => client.bind(0, host, resolve));
      const answers: Buffer[] = [];
      client.on('message', (message) => answers.push(message));
      const hello = new Datagram();
      hello.addString(`hello over ${type}`);
      const packet = Buffer.concat([Buffer.from([0, 0]), Buffer.from(hello.getMessage())]);
      const sum = hello.getMessage().reduce((a, b) => a + b, 0) & 0xffff;
      packet.writeUInt16LE(sum, 0);
      client.send(packet, port, host);
      const got = new NetDatagram();
      await pollUntil(() => server.reader.getData(got), { timeoutMs: 5000, label: `the ${type} datagram` });
      expect(new DatagramIterator(got).getString()).toBe(`hello over ${type}`);
      expect(got.getAddress().toString()).toBe(type === 'udp4' ? `127.0.0.1:${client.address().port}` : `[::1]:${client.address().port}`);
      // The answer goes back to the address as shown: IPv4 text from an IPv6 socket.
      server.writer.send(got, udp, got.getAddress());
      await pollUntil(() => answers.length === 1, { timeoutMs: 5000, label: `the answer over ${type}` });
      expect(answers[0].subarray(2)).toEqual(Buffer.from(hello.getMessage()));
    }
  });
});

describe('UDP datagrams past Panda3D’s 1500 bytes', () => {
  it('are refused by default with the reason; past setMaxUdpDatagramSize they are sent, and a ringwire receiver reads them', async () => {
    const server = await startServer(2);
    const udp = (await server.manager.openUDPConnection(0))!;
    server.reader.addConnection(udp);
    const to = new NetAddress();
    to.setLocalhost(udp.getAddress().getPort());
    const big = new Datagram(new Uint8Array(1501).fill(3));
    expect(server.writer.isValidForUdp(big)).toBe(false);
    expect(server.writer.getMaxUdpDatagramSize()).toBe(1500);
    expect(() => server.writer.send(big, udp, to)).toThrow(/1501-byte UDP datagram is past 1500 bytes, which a Panda3D receiver drops unread/);
    expect(() => server.writer.broadcast(big, udp, [to])).toThrow(/setMaxUdpDatagramSize/);
    expect(server.writer.send(new Datagram(new Uint8Array(1500).fill(2)), udp, to)).toBe(true);
    server.writer.setMaxUdpDatagramSize(60_000);
    expect(server.writer.send(big, udp, to)).toBe(true);
    const got = new NetDatagram();
    const lengths: number[] = [];
    await pollUntil(
      () => {
        while (server.reader.getData(got)) lengths.push(got.getLength());
        return lengths.length === 2;
      },
      { timeoutMs: 5000, label: 'both datagrams' },
    );
    expect(lengths).toEqual([1500, 1501]);
    expect(() => server.writer.setMaxUdpDatagramSize(70_000)).toThrow(/from 0 to 65507, got 70000/);
  });
});
