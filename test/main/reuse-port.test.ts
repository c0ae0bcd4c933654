/**
 * `new QueuedConnectionManager({ reusePort: true })` (issue #14, point 1): several managers
 * (as several processes would) open the same TCP or UDP port, and the kernel spreads new
 * connections over them; each serves what it got. Without the option the second bind
 * fails with EADDRINUSE, as before.
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConnectionWriter,
  DatagramIterator,
  NetDatagram,
  PointerToConnection,
  QueuedConnectionListener,
  QueuedConnectionManager,
  QueuedConnectionReader,
  type Connection,
} from '../../src/index.js';
import { nodeHasReusePort, reusePortPath } from '../../src/main/core/reuse-port.js';
import { HOST, Peer, closeAll, frame, onCleanup, pollUntil } from '../helpers/net-harness.js';

afterEach(closeAll);

interface Side {
  manager: QueuedConnectionManager;
  listener: QueuedConnectionListener;
  reader: QueuedConnectionReader;
  writer: ConnectionWriter;
  accepted: Connection[];
}

function side(n: number, reusePort: boolean): Side {
  const manager = new QueuedConnectionManager({ reusePort });
  onCleanup(() => manager.close());
  return {
    manager,
    listener: new QueuedConnectionListener(manager, 0),
    reader: new QueuedConnectionReader(manager, n),
    writer: new ConnectionWriter(manager, n),
    accepted: [],
  };
}

/** Takes what the side's listener accepted, reads it, and echoes every datagram it has. */
function serve(s: Side): void {
  const ptr = new PointerToConnection();
  while (s.listener.getNewConnection(ptr)) {
    s.accepted.push(ptr.p()!);
    s.reader.addConnection(ptr.p()!);
  }
  const dg = new NetDatagram();
  while (s.reader.getData(dg)) s.writer.send(dg, dg.getConnection()!);
}

describe.each([0, 2])('reusePort (numThreads %i)', (n) => {
  it('two managers listen on one TCP port; the kernel spreads 40 clients over both, and each is served', async () => {
    const a = side(n, true);
    const b = side(n, true);
    const first = (await a.manager.openTCPServerRendezvous(HOST, 0, 64))!;
    expect(first).not.toBeNull();
    const port = first.getAddress().getPort();
    const second = await b.manager.openTCPServerRendezvous(HOST, port, 64);
    expect(second).not.toBeNull();
    a.listener.addConnection(first);
    b.listener.addConnection(second!);
    const peers: Peer[] = [];
    for (let i = 0; i < 40; i++) peers.push(await Peer.connect(port));
    for (const [i, peer] of peers.entries()) await peer.write(frame(Buffer.from(`client ${i}`)));
    await pollUntil(
      () => {
        serve(a);
        serve(b);
        return peers.every((peer) => peer.frameCount === 1);
      },
      { timeoutMs: 10_000, label: 'every client echoed' },
    );
    for (const [i, peer] of peers.entries()) expect(peer.frames[0].toString()).toBe(`client ${i}`);
    expect(a.accepted.length + b.accepted.length).toBe(40);
    // Spread by the kernel's hash of the 4-tuple: all 40 on one side has odds of 2^-39.
    expect(a.accepted.length).toBeGreaterThan(0);
    expect(b.accepted.length).toBeGreaterThan(0);
  });

  it('without reusePort the second manager cannot open the port (EADDRINUSE)', async () => {
    const a = side(n, false);
    const b = side(n, false);
    const first = (await a.manager.openTCPServerRendezvous(HOST, 0, 8))!;
    expect(await b.manager.openTCPServerRendezvous(HOST, first.getAddress().getPort(), 8)).toBeNull();
    expect((b.manager.getLastError() as NodeJS.ErrnoException).code).toBe('EADDRINUSE');
    // And reusePort on one side alone does not get in either.
    const c = side(n, true);
    expect(await c.manager.openTCPServerRendezvous(HOST, first.getAddress().getPort(), 8)).toBeNull();
    expect(c.manager.getLastError()?.message).toMatch(/EADDRINUSE|address already in use/i);
  });

  it('two managers bind one UDP port; packets from many senders are spread over both and read', async () => {
    const a = side(n, true);
    const b = side(n, true);
    const first = (await a.manager.openUDPConnection(0))!;
    const port = first.getAddress().getPort();
    const second = (await b.manager.openUDPConnection(port))!;
    expect(second).not.toBeNull();
    expect(second.getAddress().getPort()).toBe(port);
    a.reader.addConnection(first);
    b.reader.addConnection(second);
    const senders: dgram.Socket[] = [];
    for (let i = 0; i < 24; i++) {
      const socket = dgram.createSocket('udp4');
      onCleanup(() => new Promise<void>((resolve) => socket.close(() => resolve())));
      await new Promise<void>((resolve) => socket.bind(0, HOST, resolve));
      senders.push(socket);
    }
    const got = [new Set<number>(), new Set<number>()];
    const dg = new NetDatagram();
    const seen = (socket: dgram.Socket): boolean => got.some((ports) => ports.has(socket.address().port));
    let turn = 0;
    await pollUntil(
      () => {
        // Every 200th turn, again from each sender not heard yet: UDP may drop a packet.
        if (turn++ % 200 === 0) {
          for (const socket of senders) if (!seen(socket)) socket.send(Buffer.from([0, 0]), port, HOST); // empty, checksum 0
        }
        for (const [i, s] of [a, b].entries()) while (s.reader.getData(dg)) got[i].add(dg.getAddress().getPort());
        return got[0].size + got[1].size === 24;
      },
      { timeoutMs: 10_000, label: 'a packet from every sender' },
    );
    expect(got[0].size).toBeGreaterThan(0);
    expect(got[1].size).toBeGreaterThan(0);
    expect(new DatagramIterator(dg).getRemainingSize()).toBe(0);
  });
});

describe('reusePort options', () => {
  it('is a boolean option; Node before 22.12 (and 23.0) binds through the native helper, later ones through Node', () => {
    expect(() => new QueuedConnectionManager({ reusePort: 1 as never })).toThrow(/reusePort must be a boolean, got 1 \(number\)/);
    expect(nodeHasReusePort('20.20.2')).toBe(false);
    expect(nodeHasReusePort('22.12.0')).toBe(true);
    expect(nodeHasReusePort('23.0.0')).toBe(false);
    expect(nodeHasReusePort('23.1.0')).toBe(true);
    expect(nodeHasReusePort('24.0.0')).toBe(true);
    expect(nodeHasReusePort('26.12.1')).toBe(true);
  });

  // The suites above ran the path this Node takes; CI runs them on Node 20 and on Node 26,
  // so each path is exercised on a version that takes it. This names which one ran here.
  it(`this Node (${process.versions.node}) takes the ${reusePortPath()} path`, () => {
    const [major, minor] = process.versions.node.split('.').map(Number);
    const expected = major >= 24 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12) ? 'node' : 'native-helper';
    expect(reusePortPath()).toBe(expected);
  });
});
