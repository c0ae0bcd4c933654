/**
 * A peer that ends its stream (a FIN) before the handshake is done: the stream never
 * carried a datagram, so it is a handshake that failed — reset 'handshake-failed' and
 * counted — not a peer that closed a working connection ('closed-by-peer'). Both sides:
 * ringwire's WebSocket client against a server that hangs up without answering (a TLS
 * server spoken to without --tls does just that), a WebSocket rendezvous whose client hangs
 * up halfway through its request, and a TLS rendezvous whose client does not trust its
 * certificate (with TLS 1.3 the client decides after the server has sent all it has, and
 * hangs up). Single-thread mode and 2 shards.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Datagram } from '../../src/shared/datagram.js';
import { PointerToConnection } from '../../src/main/api/pointer-to-connection.js';
import { HOST, closeAll, onCleanup, pollUntil, startClient, startServer } from '../helpers/net-harness.js';
import { testCertificates } from '../helpers/tls-certificate.js';

afterEach(closeAll);

/** A TCP server that reads the client's first bytes, then ends the stream without a word. */
async function hangUpServer(): Promise<{ port: number; requests: string[] }> {
  const requests: string[] = [];
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', (chunk: Buffer) => {
      requests.push(chunk.toString('latin1'));
      socket.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as net.AddressInfo).port, requests };
}

describe.each([0, 2])('a peer ends the stream before the WebSocket upgrade is done (numThreads %i)', (n) => {
  it("ringwire's client: reset 'handshake-failed', counted as a refused upgrade, never 'closed-by-peer'", async () => {
    const { port, requests } = await hangUpServer();
    const client = startClient(n);
    const conn = await client.manager.connectTCP(HOST, port, 5000, { websocket: true });
    client.reader.addConnection(conn);
    const dg = new Datagram();
    dg.addUint32(7);
    expect(client.writer.send(dg, conn)).toBe(true); // waits for the upgrade, which never comes
    const ptr = new PointerToConnection();
    await pollUntil(() => client.manager.getResetConnection(ptr), { label: 'the reset' });
    expect(ptr.p()).toBe(conn);
    expect(requests[0]).toMatch(/^GET \/ HTTP\/1\.1\r\n/);
    expect(conn.getResetReason()).toBe('handshake-failed');
    const stats = client.manager.getStats();
    expect(stats.resets['handshake-failed']).toBe(1);
    expect(stats.resets['closed-by-peer']).toBe(0);
    expect(stats.websocketUpgradesRejected).toBe(1);
  });

  it("a WebSocket rendezvous: a client that hangs up halfway through its request is reset 'handshake-failed'", async () => {
    const server = await startServer(n);
    const rendezvous = await server.manager.openTCPServerRendezvous(HOST, 0, 16, { websocket: true });
    server.listener.addConnection(rendezvous!);
    const socket = net.connect({ host: HOST, port: rendezvous!.getAddress().getPort() });
    socket.on('error', () => {});
    onCleanup(() => {
      socket.destroy();
    });
    socket.end('GET / HTTP/1.1\r\nHost: x\r\n'); // the request's first lines, then a FIN
    const conn = await server.accept();
    const ptr = new PointerToConnection();
    await pollUntil(() => server.manager.getResetConnection(ptr), { label: 'the reset' });
    expect(ptr.p()).toBe(conn);
    expect(conn.getResetReason()).toBe('handshake-failed');
    expect(server.manager.getStats().websocketUpgradesRejected).toBe(1);
  });

  it("a TLS rendezvous: a client that does not trust the certificate hangs up, and both sides see 'handshake-failed'", async () => {
    const certs = testCertificates();
    const server = await startServer(n);
    const rendezvous = await server.manager.openTCPServerRendezvous(HOST, 0, 16, { tls: { key: certs.servers[0].key, cert: certs.servers[0].cert } });
    server.listener.addConnection(rendezvous!);
    const client = startClient(n);
    const conn = await client.manager.connectTCP(HOST, rendezvous!.getAddress().getPort(), 5000, { tls: {} }); // Node's CAs only
    client.reader.addConnection(conn);
    const serverConn = await server.accept();
    const ptr = new PointerToConnection();
    await pollUntil(() => client.manager.getResetConnection(ptr), { label: "the client's reset" });
    expect(conn.getResetReason()).toBe('handshake-failed');
    await pollUntil(() => server.manager.getResetConnection(ptr), { label: "the server's reset" });
    expect(ptr.p()).toBe(serverConn);
    expect(serverConn.getResetReason()).toBe('handshake-failed');
    const stats = server.manager.getStats();
    expect(stats.tlsHandshakeFailures).toBe(1);
    expect(stats.resets['closed-by-peer']).toBe(0);
  });
});
