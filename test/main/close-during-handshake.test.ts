/**
 * closeConnection during a stream's handshake (#26). The listener hands a WebSocket or TLS
 * stream out when TCP is up, before its upgrade or TLS handshake: a program may send a
 * goodbye and close it at once ("server full"). What it sent waits for the handshake, and
 * so does the close: the client gets the 101 (or the TLS session), every datagram, then
 * the close frame (1000) and FIN, as a Panda TCP client gets the datagrams then FIN. A
 * handshake that fails or never ends drops them; handshakeTimeoutMs still bounds the wait.
 * (It used to drop them at once: the client saw a failed handshake.) Single-thread mode
 * and 2 shards.
 */
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import type { Connection } from '../../src/main/api/connection.js';
import type { RendezvousOptions } from '../../src/main/core/transport-options.js';
import { Datagram } from '../../src/shared/datagram.js';
import { FrameSplitter, HOST, closeAll, onCleanup, pollUntil, startServer, type TestServer } from '../helpers/net-harness.js';
import { testCertificates } from '../helpers/tls-certificate.js';

afterEach(closeAll);

const certs = testCertificates();
const identity = { key: certs.servers[0].key, cert: certs.servers[0].cert };

const UPGRADE =
  'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

async function rendezvous(server: TestServer, options: RendezvousOptions): Promise<number> {
  const r = await server.manager.openTCPServerRendezvous(HOST, 0, 128, options);
  if (r === null) throw server.manager.getLastError()!;
  server.listener.addConnection(r);
  return r.getAddress().getPort();
}

/** A raw TCP client that has said nothing yet: what it receives, and whether it ended (FIN) or closed. */
async function silentClient(port: number): Promise<{ socket: net.Socket; bytes: () => Buffer; ended: () => boolean; closed: () => boolean }> {
  const socket = net.connect({ host: HOST, port });
  const chunks: Buffer[] = [];
  let ended = false;
  let closed = false;
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('end', () => (ended = true));
  socket.on('close', () => (closed = true));
  socket.on('error', () => {});
  onCleanup(() => {
    socket.destroy();
  });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return { socket, bytes: () => Buffer.concat(chunks), ended: () => ended, closed: () => closed };
}

/** Sends `count` datagrams (u32 LE 0, 1, 2, …) to `conn`, then closes it. */
function goodbye(server: TestServer, conn: Connection, count: number): void {
  for (let i = 0; i < count; i++) {
    const dg = new Datagram();
    dg.addUint32(i);
    expect(server.writer.send(dg, conn)).toBe(true);
  }
  server.manager.closeConnection(conn);
}

/** The server frames (unmasked, short) after the 101's head in `bytes`: [opcode, payload]. */
function framesAfterHead(bytes: Buffer): [number, number[]][] {
  const head = bytes.indexOf('\r\n\r\n');
  const frames: [number, number[]][] = [];
  for (let at = head + 4; at + 2 <= bytes.length;) {
    const length = bytes[at + 1] & 0x7f;
    frames.push([bytes[at] & 0x0f, [...bytes.subarray(at + 2, at + 2 + length)]]);
    at += 2 + length;
  }
  return frames;
}

describe.each([0, 2])('closeConnection during the handshake (numThreads %i)', (n) => {
  it('WebSocket: the upgrade still answers 101, then every datagram sent, then close 1000 and FIN', async () => {
    const server = await startServer(n);
    const port = await rendezvous(server, { websocket: true });
    const client = await silentClient(port);
    const conn = await server.accept();
    goodbye(server, conn, 5);
    client.socket.write(UPGRADE); // after the server has closed its side
    await pollUntil(() => client.ended(), { label: "the server's FIN" });
    expect(client.bytes().toString('latin1')).toMatch(/^HTTP\/1\.1 101 /);
    const u32 = (i: number): number[] => [i, 0, 0, 0];
    expect(framesAfterHead(client.bytes())).toEqual([
      [0x2, u32(0)],
      [0x2, u32(1)],
      [0x2, u32(2)],
      [0x2, u32(3)],
      [0x2, u32(4)],
      [0x8, [0x03, 0xe8]],
    ]);
    expect(server.manager.getStats().websocketUpgradesRejected).toBe(0);
  });

  it('TLS: the handshake still completes, then every datagram sent, then FIN', async () => {
    const server = await startServer(n);
    const port = await rendezvous(server, { tls: identity });
    const raw = await silentClient(port);
    const conn = await server.accept();
    goodbye(server, conn, 5);
    // TLS begins only now, over the socket the server has already closed its side of.
    const secure = tls.connect({ socket: raw.socket, ca: certs.ca, servername: 'localhost' });
    const frames: number[] = [];
    const splitter = new FrameSplitter(2, (payload) => frames.push(payload.readUInt32LE(0)));
    let ended = false;
    secure.on('data', (chunk: Buffer) => splitter.push(chunk));
    secure.on('end', () => (ended = true));
    secure.on('error', () => {});
    await pollUntil(() => ended, { label: "the server's FIN over TLS" });
    expect(secure.authorized).toBe(true);
    expect(frames).toEqual([0, 1, 2, 3, 4]);
    expect(server.manager.getStats().tlsHandshakeFailures).toBe(0);
  });

  it('an upgrade refused after the close still gets its 400; nothing sent goes out; counted', async () => {
    const server = await startServer(n);
    const port = await rendezvous(server, { websocket: { path: '/game' } });
    const client = await silentClient(port);
    const conn = await server.accept();
    goodbye(server, conn, 5);
    client.socket.write(UPGRADE); // path '/', not '/game'
    await pollUntil(() => client.ended(), { label: "the server's FIN" });
    const text = client.bytes().toString('latin1');
    expect(text).toMatch(/^HTTP\/1\.1 404 /);
    expect(text.slice(text.indexOf('\r\n\r\n') + 4)).not.toContain('\x02');
    expect(server.manager.getStats().websocketUpgradesRejected).toBe(1);
  });

  it('a client that never upgrades is cut after handshakeTimeoutMs: RST, counted, nothing held', async () => {
    const server = await startServer(n);
    const port = await rendezvous(server, { websocket: true, handshakeTimeoutMs: 300 });
    const client = await silentClient(port);
    const conn = await server.accept();
    goodbye(server, conn, 5);
    await pollUntil(() => client.closed(), { label: 'the cut' });
    expect(client.ended()).toBe(false);
    expect(client.bytes().length).toBe(0);
    expect(server.manager.getStats().websocketUpgradesRejected).toBe(1);
    await pollUntil(() => server.manager.getStats().connections === 0, { label: 'the shards to hold nothing' });
  });
});
