/**
 * The Panda3D manual's client–server flow, end to end, with ringwire on both sides: a
 * server (manager, listener, reader, writer, rendezvous) and clients that connect with
 * openTCPClientConnection, each with its own reader and writer.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { NetAddress } from '../../src/main/api/net-address.js';
import { NetDatagram } from '../../src/main/api/net-datagram.js';
import { PointerToConnection } from '../../src/main/api/pointer-to-connection.js';
import { PyDatagram } from '../../src/shared/datagram.js';
import { PyDatagramIterator } from '../../src/shared/datagram-iterator.js';
import type { Connection } from '../../src/main/api/connection.js';
import type { QueuedConnectionReader } from '../../src/main/api/queued-connection-reader.js';
import {
  HOST,
  Peer,
  closeAll,
  pollUntil,
  startClient,
  startServer,
  type TestClient,
  type TestServer,
} from '../helpers/net-harness.js';

const PRINT_MESSAGE = 1;
const ECHO_REPLY = 2;

function message(type: number, text: string): PyDatagram {
  const dg = new PyDatagram();
  dg.addUint8(type);
  dg.addString(text);
  return dg;
}

interface Received {
  type: number;
  text: string;
  connection: Connection | null;
  address: string;
}

/** Reads every waiting datagram as (uint8 type, string), as the manual's myProcessDataFunction. */
function readMessages(reader: QueuedConnectionReader, into: Received[]): void {
  const datagram = new NetDatagram();
  while (reader.dataAvailable()) {
    if (!reader.getData(datagram)) break;
    const it = new PyDatagramIterator(datagram);
    const type = it.getUint8();
    const text = it.getString();
    expect(it.getRemainingSize()).toBe(0);
    into.push({ type, text, connection: datagram.getConnection(), address: datagram.getAddress().toString() });
  }
}

/** Accepts one client with the manual's three-argument getNewConnection. */
async function acceptManual(server: TestServer): Promise<{ rendezvous: Connection; address: NetAddress; conn: Connection }> {
  const rendezvous = new PointerToConnection();
  const netAddress = new NetAddress();
  const newConnection = new PointerToConnection();
  await pollUntil(() => server.listener.newConnectionAvailable(), { label: 'newConnectionAvailable' });
  expect(server.listener.getNewConnection(rendezvous, netAddress, newConnection)).toBe(true);
  const conn = newConnection.p()!;
  expect(server.reader.addConnection(conn)).toBe(true);
  return { rendezvous: rendezvous.p()!, address: netAddress, conn };
}

describe.each([0, 2])('the manual flow (numThreads %i)', (n) => {
  afterEach(closeAll);

  it('echoes PyDatagrams from a ringwire client back to it', async () => {
    const server = await startServer(n);
    const client = startClient(n);
    // n worker shards, or the one main-thread shard (the native fd helper must be built).
    expect(server.manager.getShards().length).toBe(Math.max(n, 1));
    const myConnection = await client.connect(server.port, 3000);
    expect(myConnection.getAddress().getIpString()).toBe(HOST);
    expect(myConnection.getAddress().getPort()).toBe(server.port);
    const { rendezvous, address, conn } = await acceptManual(server);
    expect(rendezvous).toBe(server.rendezvous);
    expect(address.getIpString()).toBe(HOST);
    expect(address.equals(conn.getAddress())).toBe(true);

    const texts = Array.from({ length: 50 }, (_, i) => `Hello, world! #${i} ${'é'.repeat(i)}`);
    // Results ignored, as the manual's client does: a refusal would lose a message below.
    for (const text of texts) client.writer.send(message(PRINT_MESSAGE, text), myConnection);

    // The server: read, check where it came from, echo.
    const atServer: Received[] = [];
    await pollUntil(
      () => {
        const before = atServer.length;
        readMessages(server.reader, atServer);
        for (const m of atServer.slice(before)) {
          expect(server.writer.send(message(ECHO_REPLY, m.text), m.connection!)).toBe(true);
        }
        return atServer.length === texts.length;
      },
      { label: 'the server to read 50 messages' },
    );
    expect(atServer.map((m) => m.type)).toEqual(texts.map(() => PRINT_MESSAGE));
    expect(atServer.map((m) => m.text)).toEqual(texts);
    for (const m of atServer) {
      expect(m.connection).toBe(conn);
      expect(m.address).toBe(address.toString());
    }

    // The client reads the echoes back.
    const atClient: Received[] = [];
    await pollUntil(
      () => {
        readMessages(client.reader, atClient);
        return atClient.length === texts.length;
      },
      { label: 'the client to read 50 echoes' },
    );
    expect(atClient.map((m) => m.type)).toEqual(texts.map(() => ECHO_REPLY));
    expect(atClient.map((m) => m.text)).toEqual(texts);
    for (const m of atClient) {
      expect(m.connection).toBe(myConnection);
      expect(m.address).toBe(`${HOST}:${server.port}`);
    }
  });

  it('broadcasts to 3 clients, then removes them from the reader and closes the rendezvous', async () => {
    const server = await startServer(n);
    const clients: TestClient[] = [];
    const clientConns: Connection[] = [];
    const activeConnections: Connection[] = [];
    for (let i = 0; i < 3; i++) {
      const client = startClient(n);
      clients.push(client);
      clientConns.push(await client.connect(server.port));
      activeConnections.push((await acceptManual(server)).conn);
    }
    expect(new Set(activeConnections).size).toBe(3);

    const broadcast = ['first', 'second', 'third'];
    for (const text of broadcast) {
      const dg = message(PRINT_MESSAGE, text);
      for (const conn of activeConnections) expect(server.writer.send(dg, conn)).toBe(true);
    }
    for (let i = 0; i < 3; i++) {
      const got: Received[] = [];
      await pollUntil(
        () => {
          readMessages(clients[i].reader, got);
          return got.length === broadcast.length;
        },
        { label: `client ${i} to receive the broadcast` },
      );
      expect(got.map((m) => m.text)).toEqual(broadcast);
      expect(got.every((m) => m.connection === clientConns[i])).toBe(true);
    }

    // The manual's disconnect: remove every client from the reader, close the rendezvous.
    for (const conn of activeConnections) {
      expect(server.reader.removeConnection(conn)).toBe(true);
      expect(server.reader.isConnectionOk(conn)).toBe(false);
      expect(server.reader.removeConnection(conn)).toBe(false);
    }
    expect(server.manager.closeConnection(server.rendezvous)).toBe(true);
    expect(server.manager.closeConnection(server.rendezvous)).toBe(false);
    expect(server.listener.newConnectionAvailable()).toBe(false);

    // Nobody listens on the port any more.
    const late = startClient(n);
    expect(await late.manager.openTCPClientConnection(HOST, server.port, 2000)).toBeNull();
    expect((late.manager.getLastError() as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');

    // The removed connections stay open: the server can still send to them.
    for (const conn of activeConnections) expect(server.writer.send(message(PRINT_MESSAGE, 'still here'), conn)).toBe(true);
    for (let i = 0; i < 3; i++) {
      const got: Received[] = [];
      await pollUntil(
        () => {
          readMessages(clients[i].reader, got);
          return got.length === 1;
        },
        { label: `client ${i} to receive a datagram after the rendezvous closed` },
      );
      expect(got[0].text).toBe('still here');
    }
  });

  it('getNewConnection fills the rendezvous and the client address (3 arguments) or only the connection (1 argument)', async () => {
    const server = await startServer(n);
    const a = await Peer.connect(server.port);
    const b = await Peer.connect(server.port);
    await pollUntil(() => server.listener.newConnectionAvailable(), { label: 'a queued connection' });

    const rendezvous = new PointerToConnection();
    const netAddress = new NetAddress();
    const first = new PointerToConnection();
    expect(server.listener.getNewConnection(rendezvous, netAddress, first)).toBe(true);
    expect(rendezvous.p()).toBe(server.rendezvous);
    // a connected (handshake complete) before b started, so it was accepted first.
    expect(netAddress.getIpString()).toBe(a.socket.localAddress);
    expect(netAddress.getPort()).toBe(a.localPort);
    expect(first.p()!.getAddress().equals(netAddress)).toBe(true);

    const second = new PointerToConnection();
    await pollUntil(() => server.listener.getNewConnection(second), { label: 'the second connection' });
    expect(second.p()).not.toBeNull();
    expect(second.p()).not.toBe(first.p());
    expect(second.p()!.getAddress().getIpString()).toBe(HOST);
    expect(second.p()!.getAddress().getPort()).toBe(b.localPort);
    expect(second.p()!.getManager()).toBe(server.manager);

    // Nothing left: both forms return false and leave the pointers alone.
    const empty = new PointerToConnection();
    expect(server.listener.newConnectionAvailable()).toBe(false);
    expect(server.listener.getNewConnection(empty)).toBe(false);
    expect(server.listener.getNewConnection(new PointerToConnection(), new NetAddress(), empty)).toBe(false);
    expect(empty.p()).toBeNull();
  });

  it('NetDatagram.getConnection() and getAddress() name the sender of each datagram', async () => {
    const server = await startServer(n);
    const peers = [await Peer.connect(server.port), await Peer.connect(server.port)];
    const conns = [await server.accept(), await server.accept()];
    const byPort = new Map(conns.map((c) => [c.getAddress().getPort(), c]));
    expect([...byPort.keys()].sort()).toEqual(peers.map((p) => p.localPort).sort());

    for (let i = 0; i < peers.length; i++) {
      const dg = message(PRINT_MESSAGE, `from peer ${i}`);
      await peers[i].write(Buffer.from([dg.getLength() & 0xff, dg.getLength() >> 8, ...dg.getMessage()]));
    }
    const seen = new Map<string, { conn: Connection | null; port: number; ip: string }>();
    const datagram = new NetDatagram();
    await pollUntil(
      () => {
        while (server.reader.getData(datagram)) {
          const it = new PyDatagramIterator(datagram);
          expect(it.getUint8()).toBe(PRINT_MESSAGE);
          seen.set(it.getString(), {
            conn: datagram.getConnection(),
            port: datagram.getAddress().getPort(),
            ip: datagram.getAddress().getIpString(),
          });
        }
        return seen.size === 2;
      },
      { label: 'a datagram from each peer' },
    );
    for (let i = 0; i < peers.length; i++) {
      const got = seen.get(`from peer ${i}`)!;
      expect(got.conn).toBe(byPort.get(peers[i].localPort));
      expect(got.port).toBe(peers[i].localPort);
      expect(got.ip).toBe(HOST);
    }
    // A NetDatagram built locally has no connection.
    expect(new NetDatagram().getConnection()).toBeNull();
  });
});
