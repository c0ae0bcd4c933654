/**
 * TLS in the shards (#26): a rendezvous with `tls` terminates it for Panda-framed TCP and
 * for wss://; the client side opens with `tls`. Certificates from a test CA (openssl). A
 * failed or stalled handshake is a reset of its own reason, counted; setSecureContext
 * replaces the certificate for the streams accepted after it. Single-thread mode and 2 shards.
 */
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Datagram } from '../../src/shared/datagram.js';
import { NetDatagram } from '../../src/main/api/net-datagram.js';
import { PointerToConnection } from '../../src/main/api/pointer-to-connection.js';
import { ErrorCode } from '../../src/shared/errors.js';
import { FrameSplitter, HOST, closeAll, frame, onCleanup, pollUntil, startClient, startServer, type TestServer } from '../helpers/net-harness.js';
import { testCertificates } from '../helpers/tls-certificate.js';
import type { RendezvousOptions } from '../../src/main/core/transport-options.js';

afterEach(closeAll);

const certs = testCertificates();
const identity = certs.servers[0];

async function tlsRendezvous(server: TestServer, options: RendezvousOptions = { tls: { key: identity.key, cert: identity.cert } }): Promise<number> {
  const rendezvous = await server.manager.openTCPServerRendezvous(HOST, 0, 128, options);
  if (rendezvous === null) throw server.manager.getLastError()!;
  server.listener.addConnection(rendezvous);
  return rendezvous.getAddress().getPort();
}

/** A node:tls client that trusts the test CA; its frames (u16 headers) are collected. */
async function tlsPeer(port: number): Promise<{ socket: tls.TLSSocket; frames: Buffer[]; fingerprint: string }> {
  const frames: Buffer[] = [];
  const splitter = new FrameSplitter(2, (payload) => frames.push(Buffer.from(payload)));
  const socket = tls.connect({ host: HOST, port, ca: certs.ca, servername: 'localhost' });
  socket.on('data', (chunk: Buffer) => splitter.push(chunk));
  socket.on('error', () => {});
  onCleanup(() => {
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  return { socket, frames, fingerprint: socket.getPeerCertificate().fingerprint256 };
}

function echoAll(server: TestServer, dg = new NetDatagram()): void {
  while (server.reader.getData(dg)) server.writer.send(dg, dg.getConnection()!);
}

describe.each([0, 2])('TLS (numThreads %i)', (n) => {
  it('Panda-framed TCP over TLS: 1000 datagrams echoed in order, verified against the CA', async () => {
    const server = await startServer(n);
    const port = await tlsRendezvous(server);
    const peer = await tlsPeer(port);
    const conn = await server.accept();
    expect(conn.isSecure()).toBe(true);
    expect(conn.getTransport()).toBe('tcp');
    const out: Buffer[] = [];
    for (let i = 0; i < 1000; i++) out.push(frame(Buffer.alloc(1 + (i % 300), i & 0xff)));
    peer.socket.write(Buffer.concat(out));
    await pollUntil(
      () => {
        echoAll(server);
        return peer.frames.length === 1000;
      },
      { label: 'every echo' },
    );
    peer.frames.forEach((payload, i) => expect(payload).toEqual(Buffer.alloc(1 + (i % 300), i & 0xff)));
  });

  it('wss:// with a ws client: binary messages echoed', async () => {
    const server = await startServer(n);
    const port = await tlsRendezvous(server, { websocket: true, tls: { key: identity.key, cert: identity.cert } });
    const socket = new WebSocket(`wss://localhost:${port}/`, { ca: certs.ca });
    const messages: Buffer[] = [];
    socket.on('message', (data: Buffer) => messages.push(data));
    onCleanup(() => socket.terminate());
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    const conn = await server.accept();
    expect(conn.isSecure()).toBe(true);
    expect(conn.getTransport()).toBe('websocket');
    for (let i = 0; i < 500; i++) socket.send(Buffer.from([i & 0xff, i >> 8]));
    await pollUntil(
      () => {
        echoAll(server);
        return messages.length === 500;
      },
      { label: 'every echo' },
    );
    messages.forEach((m, i) => expect([...m]).toEqual([i & 0xff, i >> 8]));
  });

  it('ringwire to ringwire over TLS, and over wss, with the client trusting the CA', async () => {
    const server = await startServer(n);
    const tlsPort = await tlsRendezvous(server);
    const wssPort = await tlsRendezvous(server, { websocket: true, tls: { key: identity.key, cert: identity.cert } });
    const client = startClient(n);
    const plain = await client.manager.connectTCP('localhost', tlsPort, 5000, { tls: { ca: certs.ca } });
    const ws = await client.manager.connectTCP('localhost', wssPort, 5000, { tls: { ca: certs.ca }, websocket: true });
    expect(plain.isSecure() && ws.isSecure()).toBe(true);
    await server.accept();
    await server.accept();
    client.reader.addConnection(plain);
    client.reader.addConnection(ws);
    for (const conn of [plain, ws]) {
      for (let i = 0; i < 50; i++) {
        const dg = new Datagram();
        dg.addUint32(i);
        client.writer.send(dg, conn);
      }
    }
    const dg = new NetDatagram();
    let back = 0;
    await pollUntil(
      () => {
        echoAll(server, dg);
        while (client.reader.getData(dg)) back++;
        return back === 100;
      },
      { label: 'both streams echoed' },
    );
  });

  it("a handshake that fails is reset 'handshake-failed' and counted; one that stalls, after handshakeTimeoutMs", async () => {
    const server = await startServer(n);
    const port = await tlsRendezvous(server, { tls: { key: identity.key, cert: identity.cert }, handshakeTimeoutMs: 300 });
    // Not a TLS client hello.
    const garbage = net.connect({ host: HOST, port });
    garbage.on('error', () => {});
    onCleanup(() => {
      garbage.destroy();
    });
    garbage.write('GET / HTTP/1.1\r\n\r\n');
    const first = await server.accept();
    // Says nothing at all.
    const silent = net.connect({ host: HOST, port });
    silent.on('error', () => {});
    onCleanup(() => {
      silent.destroy();
    });
    const second = await server.accept();
    const ptr = new PointerToConnection();
    const ended = new Set<unknown>();
    await pollUntil(
      () => {
        while (server.manager.getResetConnection(ptr)) ended.add(ptr.p());
        return ended.size === 2;
      },
      { label: 'both reset' },
    );
    expect(first.getResetReason()).toBe('handshake-failed');
    expect(second.getResetReason()).toBe('handshake-failed');
    expect(server.manager.getStats().tlsHandshakeFailures).toBe(2);
    expect(server.manager.getStats().resets['handshake-failed']).toBe(2);
  });

  it('a client that does not trust the certificate fails to connect, with the verification error', async () => {
    const server = await startServer(n);
    const port = await tlsRendezvous(server);
    const client = startClient(n);
    // The open resolves when TCP is up; the TLS handshake fails in the shard: the stream is reset.
    const conn = await client.manager.connectTCP('localhost', port, 5000, { tls: {} });
    client.reader.addConnection(conn);
    const ptr = new PointerToConnection();
    await pollUntil(() => client.manager.getResetConnection(ptr), { label: 'the reset' });
    expect(conn.getResetReason()).toBe('handshake-failed');
    expect(client.manager.getStats().tlsHandshakeFailures).toBe(1);
  });

  it('setSecureContext: streams accepted afterwards get the new certificate, those open keep theirs', async () => {
    const server = await startServer(n);
    const rendezvous = await server.manager.openTCPServerRendezvous(HOST, 0, 128, { tls: { key: identity.key, cert: identity.cert } });
    server.listener.addConnection(rendezvous!);
    const port = rendezvous!.getAddress().getPort();
    const before = await tlsPeer(port);
    await server.accept();
    server.manager.setSecureContext(rendezvous!, { key: certs.servers[1].key, cert: certs.servers[1].cert });
    const after = await tlsPeer(port);
    await server.accept();
    expect(after.fingerprint).not.toBe(before.fingerprint);
    // The first stream still works.
    before.socket.write(frame([7]));
    await pollUntil(
      () => {
        echoAll(server);
        return before.frames.length === 1;
      },
      { label: 'the old stream echoed' },
    );
    expect(() => server.manager.setSecureContext(server.rendezvous, { key: identity.key, cert: identity.cert })).toThrow(TypeError);
  });

  it('requestCert with rejectUnauthorized: a client certificate the CA signed is served, another fails the handshake', async () => {
    const server = await startServer(n);
    const port = await tlsRendezvous(server, {
      tls: { key: identity.key, cert: identity.cert, ca: certs.ca, requestCert: true, rejectUnauthorized: true },
    });
    const connectWith = (client: { key: string; cert: string }): tls.TLSSocket => {
      const socket = tls.connect({ host: HOST, port, ca: certs.ca, servername: 'localhost', key: client.key, cert: client.cert });
      socket.on('error', () => {});
      onCleanup(() => {
        socket.destroy();
      });
      return socket;
    };
    const good = connectWith(certs.servers[1]);
    const goodConn = await server.accept();
    good.write(frame([9]));
    const dg = new NetDatagram();
    await pollUntil(() => server.reader.getData(dg), { label: "the verified client's datagram" });
    expect(dg.getConnection()).toBe(goodConn);
    connectWith(certs.untrusted);
    const bad = await server.accept();
    const ptr = new PointerToConnection();
    await pollUntil(() => server.manager.getResetConnection(ptr), { label: 'the unverified client reset' });
    expect(ptr.p()).toBe(bad);
    expect(bad.getResetReason()).toBe('handshake-failed');
    expect(server.manager.getStats().tlsHandshakeFailures).toBe(1);
  });

  it('refuses options it cannot use at the open call, with INVALID_OPTION', async () => {
    const server = await startServer(n);
    await expect(server.manager.openTCPServerRendezvous(HOST, 0, 10, { tls: { cert: identity.cert } })).rejects.toMatchObject({
      code: ErrorCode.INVALID_OPTION,
    });
    await expect(server.manager.openTCPServerRendezvous(HOST, 0, 10, { tls: { key: 'not a key', cert: identity.cert } })).rejects.toMatchObject({
      code: ErrorCode.INVALID_OPTION,
    });
    await expect(
      server.manager.openTCPServerRendezvous(HOST, 0, 10, { tls: { key: identity.key, cert: identity.cert, SNICallback: () => {} } as never }),
    ).rejects.toMatchObject({
      code: ErrorCode.INVALID_OPTION,
    });
    await expect(server.manager.openTCPServerRendezvous(HOST, 0, 10, { websocket: { path: 'no-slash' } })).rejects.toMatchObject({
      code: ErrorCode.INVALID_OPTION,
    });
    await expect(server.manager.openTCPServerRendezvous(HOST, 0, 10, { bogus: 1 } as never)).rejects.toMatchObject({
      code: ErrorCode.INVALID_OPTION,
    });
    await expect(server.manager.openTCPServerRendezvous(HOST, 0, 10, { websocket: true, handshakeTimeoutMs: 3e9 })).rejects.toMatchObject({
      code: ErrorCode.INVALID_OPTION,
    });
    const client = startClient(n);
    await expect(client.manager.connectTCP(HOST, 1, 1000, { websocket: { path: '/über' } })).rejects.toMatchObject({
      code: ErrorCode.INVALID_OPTION,
    });
    await expect(client.manager.connectTCP(HOST, 1, 1000, { websocket: { origin: 'https://bücher.example' } })).rejects.toMatchObject({
      code: ErrorCode.INVALID_OPTION,
    });
    // TLS material that does not fit a ring record beside a hand-over: Node's whole CA bundle, a 64 KiB ring.
    const small = await startServer(n, { manager: { ringCapacity: 64 * 1024 } });
    await expect(
      small.manager.openTCPServerRendezvous(HOST, 0, 10, { tls: { key: identity.key, cert: identity.cert, ca: [...tls.rootCertificates] } }),
    ).rejects.toMatchObject({
      code: ErrorCode.INVALID_OPTION,
    });
  });
});

// With worker shards only: in single-thread mode the same cut reaches the client as TLS's
// close_notify and a FIN (the socket Node accepted keeps its own close): a known gap.
describe('TLS cuts (2 shards)', () => {
  it('cuts a TLS stream with RST (setLinger 0, then closeConnection)', async () => {
    const server = await startServer(2);
    const port = await tlsRendezvous(server);
    const peer = await tlsPeer(port);
    const conn = await server.accept();
    // An established stream (its handshake done on both sides: a datagram went through).
    peer.socket.write(frame([1]));
    const dg = new NetDatagram();
    await pollUntil(() => server.reader.getData(dg), { label: 'a datagram' });
    let error: NodeJS.ErrnoException | null = null;
    peer.socket.on('error', (e: NodeJS.ErrnoException) => (error = e));
    expect(conn.setLinger(true, 0)).toBe(true);
    server.manager.closeConnection(conn);
    await pollUntil(() => error !== null, { label: 'the reset reaching the client' });
    expect(error!.code).toBe('ECONNRESET');
  });
});
