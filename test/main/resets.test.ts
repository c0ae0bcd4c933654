/**
 * How connections end: the reset queue, reset reasons, and the ordering guarantees around
 * a close — data sent before a close is delivered before the close is reported, in both
 * directions.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Datagram } from '../../src/shared/datagram.js';
import { NetDatagram } from '../../src/main/api/net-datagram.js';
import { PointerToConnection } from '../../src/main/api/pointer-to-connection.js';
import type { Connection } from '../../src/main/api/connection.js';
import type { QueuedConnectionManager } from '../../src/main/api/queued-connection-manager.js';
import type { QueuedConnectionReader } from '../../src/main/api/queued-connection-reader.js';
import {
  Peer,
  SequenceChecker,
  closeAll,
  expectNothingFor,
  fillPayload,
  frame,
  framedStream,
  payloadSize,
  pollUntil,
  startClient,
  startServer,
} from '../helpers/net-harness.js';

const MAX_SIZE = 200;

/** Drains `reader` and waits for the next reset; returns it. */
async function nextReset(manager: QueuedConnectionManager, reader: QueuedConnectionReader, label: string): Promise<Connection> {
  const ptr = new PointerToConnection();
  const dg = new NetDatagram();
  await pollUntil(
    () => {
      while (reader.getData(dg));
      return manager.getResetConnection(ptr);
    },
    { label },
  );
  return ptr.p()!;
}

function text(s: string): Datagram {
  const dg = new Datagram();
  dg.addString(s);
  return dg;
}

describe.each([0, 2])('resets (numThreads %i)', (n) => {
  afterEach(closeAll);

  it('a peer that closes is reset as closed-by-peer, only after all it sent was delivered', async () => {
    const server = await startServer(n);
    const peer = await Peer.connect(server.port);
    const conn = await server.accept();
    const COUNT = 1000;
    await peer.write(framedStream(0, COUNT, MAX_SIZE));
    await peer.end();

    const checker = new SequenceChecker(1, MAX_SIZE);
    const ptr = new PointerToConnection();
    const dg = new NetDatagram();
    let deliveredAtReset = -1;
    await pollUntil(
      () => {
        // Look for the reset after every datagram: it must not overtake any of them.
        for (;;) {
          if (server.manager.resetConnectionAvailable()) {
            deliveredAtReset = checker.next[0];
            return true;
          }
          if (!server.reader.getData(dg)) return false;
          expect(dg.getConnection()).toBe(conn);
          checker.check(0, dg.getMessage(), 0, dg.getLength());
        }
      },
      { label: 'the reset of the closed peer' },
    );
    expect(checker.failure).toBeNull();
    expect(deliveredAtReset).toBe(COUNT);
    expect(server.manager.getResetConnection(ptr)).toBe(true);
    expect(ptr.p()).toBe(conn);
    expect(conn.getResetReason()).toBe('closed-by-peer');
    expect(server.reader.isConnectionOk(conn)).toBe(false);
    expect(server.writer.send(text('too late'), conn)).toBe(false);
    // Queued once, and nothing after it.
    expect(server.manager.getResetConnection(ptr)).toBe(false);
    expect(server.reader.getData(dg)).toBe(false);
    expect(server.manager.closeConnection(conn)).toBe(false);
  });

  it('a peer that aborts (RST) is reset as closed-by-peer', async () => {
    const server = await startServer(n);
    const peer = await Peer.connect(server.port);
    const conn = await server.accept();
    await peer.write(frame([1, 2, 3]));
    peer.socket.resetAndDestroy();
    const reset = await nextReset(server.manager, server.reader, 'the reset of the aborted peer');
    expect(reset).toBe(conn);
    expect(conn.getResetReason()).toBe('closed-by-peer');
  });

  it('closeConnection: the client sees closed-by-peer, the server side says closed-locally', async () => {
    const server = await startServer(n);
    const client = startClient(n);
    const clientConn = await client.connect(server.port);
    const conn = await server.accept();
    expect(conn.getResetReason()).toBeNull();

    expect(server.writer.send(text('bye'), conn)).toBe(true);
    expect(server.manager.closeConnection(conn)).toBe(true);
    expect(conn.getResetReason()).toBe('closed-locally');
    expect(server.manager.closeConnection(conn)).toBe(false);
    expect(server.reader.isConnectionOk(conn)).toBe(false);
    expect(server.writer.send(text('after close'), conn)).toBe(false);

    // The client gets what was sent before the close, then the reset.
    const ptr = new PointerToConnection();
    const dg = new NetDatagram();
    const got: number[][] = [];
    await pollUntil(
      () => {
        while (client.reader.getData(dg)) got.push(Array.from(dg.getMessage()));
        return client.manager.getResetConnection(ptr);
      },
      { label: 'the client to see the reset' },
    );
    expect(got).toEqual([Array.from(text('bye').getMessage())]);
    expect(ptr.p()).toBe(clientConn);
    expect(clientConn.getResetReason()).toBe('closed-by-peer');
    expect(client.writer.send(text('x'), clientConn)).toBe(false);

    // A connection closed locally is not queued as a reset (as in Panda3D).
    await pollUntil(
      () => {
        while (server.reader.getData(dg));
        return !server.manager.connections.has(conn.id);
      },
      { label: 'the server shard to report the close' },
    );
    expect(server.manager.resetConnectionAvailable()).toBe(false);
    expect(conn.getResetReason()).toBe('closed-locally');
  });

  it('removeConnection stops reading but leaves the connection open for sending', async () => {
    const server = await startServer(n);
    const peer = await Peer.connect(server.port);
    const other = await Peer.connect(server.port);
    const conns = [await server.accept(), await server.accept()];
    const conn = conns.find((c) => c.getAddress().getPort() === peer.localPort)!;
    const otherConn = conns.find((c) => c !== conn)!;

    const dg = new NetDatagram();
    await peer.write(frame([1]));
    await pollUntil(() => server.reader.getData(dg), { label: 'the first datagram' });
    expect(dg.getConnection()).toBe(conn);

    expect(server.reader.removeConnection(conn)).toBe(true);
    expect(server.reader.isConnectionOk(conn)).toBe(false);
    expect(server.reader.removeConnection(conn)).toBe(false);
    expect(conn.open).toBe(true);
    expect(conn.getResetReason()).toBeNull();

    // Still writable: once this arrives, the shard has also handled the stop (same ring, in order).
    expect(server.writer.send(text('sync'), conn)).toBe(true);
    await pollUntil(() => peer.frameCount === 1, { label: 'the sync datagram at the peer' });

    await peer.write(Buffer.concat([frame([2]), frame([3]), frame([4])]));
    // A marker on a connection that is still read, sent after the ignored bytes.
    await other.write(frame([9]));
    let sawMarker = false;
    await pollUntil(
      () => {
        while (server.reader.getData(dg)) {
          if (dg.getConnection() === otherConn && dg.getMessage()[0] === 9) sawMarker = true;
          else throw new Error(`unexpected datagram [${Array.from(dg.getMessage())}] from ${dg.getConnection()?.toString()}`);
        }
        return sawMarker;
      },
      { label: 'the marker on the other connection' },
    );
    await expectNothingFor(200, () => server.reader.getData(dg), 'datagram from the removed connection');

    // The server can still send to it, and the peer receives.
    for (let i = 0; i < 10; i++) expect(server.writer.send(text(`still ${i}`), conn)).toBe(true);
    await pollUntil(() => peer.frameCount === 11, { label: '10 more datagrams at the peer' });
    expect(peer.frames[10].equals(Buffer.from(text('still 9').getMessage()))).toBe(true);

    expect(server.manager.closeConnection(conn)).toBe(true);
    await pollUntil(() => peer.ended, { label: "the peer to see the server's FIN" });
    expect(peer.framesAtEnd).toBe(11);
    expect(peer.error).toBeNull();
    expect(conn.getResetReason()).toBe('closed-locally');
    // What the peer sent while unread was never delivered, and the close is not a reset.
    await pollUntil(
      () => {
        if (server.reader.getData(dg)) throw new Error('a datagram of the removed connection was delivered');
        return !server.manager.connections.has(conn.id);
      },
      { label: 'the shard to report the close' },
    );
    expect(server.manager.resetConnectionAvailable()).toBe(false);
    expect(server.reader.isConnectionOk(otherConn)).toBe(true);
  });

  it('everything sent before closeConnection reaches the peer before the FIN', async () => {
    const server = await startServer(n);
    const checker = new SequenceChecker(1, MAX_SIZE);
    const peer = await Peer.connect(server.port, {
      keepFrames: false,
      onFrame: (payload) => checker.check(0, payload, 0, payload.length),
    });
    const conn = await server.accept();
    const COUNT = 10_000;
    const scratch = new Uint8Array(MAX_SIZE);
    const dg = new Datagram();
    for (let seq = 0; seq < COUNT; seq++) {
      const size = payloadSize(0, seq, MAX_SIZE);
      fillPayload(scratch, 0, 0, seq, size);
      dg.assign(scratch, 0, size);
      server.writer.send(dg, conn); // the result ignored, as a ported Panda3D program does
    }
    expect(server.manager.closeConnection(conn)).toBe(true);
    await pollUntil(() => peer.ended, { label: "the peer to see the server's FIN" });
    expect(checker.failure).toBeNull();
    expect(peer.framesAtEnd).toBe(COUNT);
    expect(checker.next[0]).toBe(COUNT);
    expect(peer.partialBytes).toBe(0);
    expect(peer.error).toBeNull();
  });
});
