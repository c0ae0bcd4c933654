/**
 * Datagrams larger than a ring record (issue #13, point 6): with header size 4 Panda3D has
 * no limit, and a 3,000,000-byte datagram round-trips between Panda peers. ringwire
 * carries one in parts, both ways, whole and in order with the connection's other
 * datagrams, through a ring far smaller than the datagram, and with other connections'
 * traffic between the parts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Datagram, NetDatagram, type Connection } from '../../src/index.js';
import { Peer, closeAll, frame, pollUntil, startClient, startServer } from '../helpers/net-harness.js';

afterEach(closeAll);

/** `size` bytes that say who and which: byte i is (seed * 31 + i * 7) & 0xff. */
function pattern(size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (seed * 31 + i * 7) & 0xff;
  return bytes;
}

function samePattern(bytes: Uint8Array, size: number, seed: number): boolean {
  if (bytes.length !== size) return false;
  for (let i = 0; i < size; i++) if (bytes[i] !== ((seed * 31 + i * 7) & 0xff)) return false;
  return true;
}

describe.each([0, 2])('large datagrams, header size 4 (numThreads %i)', (n) => {
  it('a 3,000,000-byte datagram from a peer arrives whole, then the small one sent after it', async () => {
    const server = await startServer(n, { headerSize: 4 });
    server.reader.setMaxDatagramSize(4_000_000);
    const peer = await Peer.connect(server.port, { headerSize: 4 });
    const conn = await server.accept();
    await peer.write(Buffer.concat([frame(pattern(3_000_000, 1), 4), frame([1, 2, 3], 4)]));
    const dg = new NetDatagram();
    await pollUntil(() => server.reader.getData(dg), { timeoutMs: 20_000, label: 'the large datagram' });
    expect(dg.getConnection()).toBe(conn);
    expect(samePattern(dg.getMessage(), 3_000_000, 1)).toBe(true);
    await pollUntil(() => server.reader.getData(dg), { timeoutMs: 5000, label: 'the small one after it' });
    expect(Array.from(dg.getMessage())).toEqual([1, 2, 3]);
    expect(server.manager.getStats().datagramsIn).toBe(2);
  });

  it('a 3,000,000-byte datagram sent to a peer leaves whole, in order with the small ones around it', async () => {
    const server = await startServer(n, { headerSize: 4 });
    const peer = await Peer.connect(server.port, { headerSize: 4 });
    const conn = await server.accept();
    server.writer.send(new Datagram(new Uint8Array([9])), conn);
    server.writer.send(new Datagram(pattern(3_000_000, 2)), conn);
    server.writer.send(new Datagram(new Uint8Array([8])), conn);
    await pollUntil(() => peer.frameCount === 3, { timeoutMs: 20_000, label: 'the three datagrams' });
    expect(Array.from(peer.frames[0])).toEqual([9]);
    expect(samePattern(peer.frames[1], 3_000_000, 2)).toBe(true);
    expect(Array.from(peer.frames[2])).toEqual([8]);
    expect(server.manager.getStats().datagramsOut).toBe(3);
    await pollUntil(() => server.writer.getCurrentQueueSize() === 0, { timeoutMs: 5000, label: 'an empty queue' });
  });

  it('ringwire to ringwire through 4 KiB rings: large and small datagrams of several connections, each whole and in order', async () => {
    const ring = { ringCapacity: 4096, sendBacklogLimit: 4096, sendBacklogHardLimit: 1 << 20 };
    const server = await startServer(n, { headerSize: 4, manager: ring });
    server.reader.setMaxDatagramSize(300_000);
    const client = startClient(n, { headerSize: 4, manager: ring });
    const clientConns: Connection[] = [];
    const serverConns: Connection[] = [];
    for (let i = 0; i < 3; i++) {
      clientConns.push(await client.connect(server.port));
      serverConns.push(await server.accept());
    }
    const sizes = [200_000, 10, 70_000, 1, 250_000, 5000];
    for (let round = 0; round < sizes.length; round++) {
      for (let c = 0; c < 3; c++) client.writer.send(new Datagram(pattern(sizes[round], c * 100 + round)), clientConns[c]);
    }
    const seen = serverConns.map(() => 0);
    const dg = new NetDatagram();
    await pollUntil(
      () => {
        while (server.reader.getData(dg)) {
          const c = serverConns.indexOf(dg.getConnection()!);
          const round = seen[c]++;
          expect(samePattern(dg.getMessage(), sizes[round], c * 100 + round)).toBe(true);
        }
        return seen.every((count) => count === sizes.length);
      },
      { timeoutMs: 30_000, label: 'every datagram of every connection' },
    );
    expect(seen).toEqual([6, 6, 6]);
  });

  it('broadcast of a datagram too large for one record reaches every recipient whole', async () => {
    const server = await startServer(n, { headerSize: 4, manager: { ringCapacity: 4096, sendBacklogLimit: 4096, sendBacklogHardLimit: 1 << 20 } });
    const peers: Peer[] = [];
    const conns: Connection[] = [];
    for (let i = 0; i < 3; i++) {
      peers.push(await Peer.connect(server.port, { headerSize: 4 }));
      conns.push(await server.accept());
    }
    expect(server.writer.broadcast(new Datagram(pattern(50_000, 7)), conns)).toBe(3);
    await pollUntil(() => peers.every((p) => p.frameCount === 1), { timeoutMs: 10_000, label: 'the datagram at every peer' });
    for (const peer of peers) expect(samePattern(peer.frames[0], 50_000, 7)).toBe(true);
  });

  it('the limits: a header past setMaxDatagramSize resets; one datagram alone past sendBacklogHardLimit is a RangeError', async () => {
    const server = await startServer(n, { headerSize: 4, manager: { sendBacklogLimit: 1 << 20, sendBacklogHardLimit: 4 << 20 } });
    const peer = await Peer.connect(server.port, { headerSize: 4 });
    const conn = await server.accept();
    expect(() => server.writer.send(new Datagram(new Uint8Array(5 << 20)), conn)).toThrow(/past the manager's sendBacklogHardLimit \(4194304 bytes\)/);
    expect(() => server.reader.setMaxDatagramSize(0x1000_0001)).toThrow(/from 1 to 268435456/);
    server.reader.setMaxDatagramSize(100_000);
    const header = Buffer.alloc(4);
    header.writeUInt32LE(100_001);
    await peer.write(header);
    await pollUntil(
      () => {
        server.manager.resetConnectionAvailable(); // handles the shard's events, as a game loop's poll does
        return conn.getResetReason();
      },
      { timeoutMs: 5000, label: 'the oversized reset' },
    );
    expect(conn.getResetReason()).toBe('oversized-datagram');
  });
});
