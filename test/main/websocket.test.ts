/**
 * WebSocket rendezvous (#26): the upgrade and RFC 6455's framing in the shards, each
 * binary (or text) message one datagram in the same rings, each datagram sent one binary
 * message. Real `ws` clients and raw node:net sockets on loopback against a real manager,
 * in single-thread mode and with 2 shards: echo in order, a room mixing Panda-framed TCP
 * and WebSocket, pings, close frames both ways, and every refusal the RFC asks for.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Datagram } from '../../src/shared/datagram.js';
import { NetDatagram } from '../../src/main/api/net-datagram.js';
import { ConnectionGroup } from '../../src/main/api/connection-group.js';
import { PointerToConnection } from '../../src/main/api/pointer-to-connection.js';
import { HOST, Peer, closeAll, frame, onCleanup, pollUntil, startClient, startServer, type TestServer } from '../helpers/net-harness.js';
import type { RendezvousOptions } from '../../src/main/core/transport-options.js';

afterEach(closeAll);

/** A second rendezvous on `server` that speaks WebSocket, listened to by its listener. */
async function wsRendezvous(server: TestServer, options: RendezvousOptions = { websocket: true }): Promise<number> {
  const rendezvous = await server.manager.openTCPServerRendezvous(HOST, 0, 128, options);
  if (rendezvous === null) throw server.manager.getLastError()!;
  server.listener.addConnection(rendezvous);
  return rendezvous.getAddress().getPort();
}

/** A `ws` client, open; closed (terminated) by closeAll. */
async function wsClient(url: string, options: WebSocket.ClientOptions = {}): Promise<{ socket: WebSocket; messages: Buffer[] }> {
  const socket = new WebSocket(url, options);
  const messages: Buffer[] = [];
  socket.binaryType = 'nodebuffer';
  socket.on('message', (data: Buffer) => messages.push(data));
  socket.on('error', () => {});
  onCleanup(() => {
    if (socket.readyState !== WebSocket.CLOSED) socket.terminate();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return { socket, messages };
}

/** Reads every datagram waiting and echoes it to its sender. */
function echoAll(server: TestServer, dg = new NetDatagram()): number {
  let n = 0;
  while (server.reader.getData(dg)) {
    server.writer.send(dg, dg.getConnection()!);
    n++;
  }
  return n;
}

/** The raw bytes of one client frame: FIN, `opcode`, masked with `key` (RFC 6455 §5.2). */
function clientFrame(opcode: number, payload: Uint8Array, options: { mask?: boolean; rsv?: number; fin?: boolean } = {}): Buffer {
  const masked = options.mask ?? true;
  const length = payload.length;
  const head = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const out = Buffer.alloc(head + (masked ? 4 : 0) + length);
  out[0] = ((options.fin ?? true) ? 0x80 : 0) | ((options.rsv ?? 0) << 4) | opcode;
  if (length < 126) out[1] = length;
  else if (length < 65536) {
    out[1] = 126;
    out.writeUInt16BE(length, 2);
  } else {
    out[1] = 127;
    out.writeBigUInt64BE(BigInt(length), 2);
  }
  if (masked) {
    out[1] |= 0x80;
    const key = [0x12, 0x34, 0x56, 0x78];
    out.set(key, head);
    for (let i = 0; i < length; i++) out[head + 4 + i] = payload[i] ^ key[i & 3];
  } else {
    out.set(payload, head);
  }
  return out;
}

const UPGRADE = (path = '/', extra = ''): string =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;

/** A raw socket that has done the upgrade; `received` gathers what the server sends after the 101. */
async function rawUpgraded(port: number): Promise<{ socket: net.Socket; received: () => Buffer; closed: () => boolean }> {
  const socket = net.connect({ host: HOST, port });
  let bytes = Buffer.alloc(0);
  let done = false;
  socket.on('data', (chunk: Buffer) => (bytes = Buffer.concat([bytes, chunk])));
  socket.on('close', () => (done = true));
  socket.on('error', () => {});
  onCleanup(() => {
    socket.destroy();
  });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(UPGRADE());
  await pollUntil(() => bytes.includes('\r\n\r\n'), { label: 'the 101' });
  expect(bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 101 /);
  const head = bytes.indexOf('\r\n\r\n') + 4;
  return { socket, received: () => bytes.subarray(head), closed: () => done };
}

/** The close code of the first close frame in `bytes` (an unmasked server frame), or -1. */
function closeCode(bytes: Buffer): number {
  let at = 0;
  while (at + 2 <= bytes.length) {
    const opcode = bytes[at] & 0x0f;
    let length = bytes[at + 1] & 0x7f;
    let head = 2;
    if (length === 126) {
      length = bytes.readUInt16BE(at + 2);
      head = 4;
    }
    if (opcode === 0x8) return length >= 2 ? bytes.readUInt16BE(at + head) : 1005;
    at += head + length;
  }
  return -1;
}

/** An HTTP request written raw; resolves the status line's code and whether the server closed. */
async function rawRequest(port: number, request: string): Promise<number> {
  const socket = net.connect({ host: HOST, port });
  onCleanup(() => {
    socket.destroy();
  });
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (text += chunk));
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(request);
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1] ?? -1);
}

describe.each([0, 2])('a WebSocket rendezvous (numThreads %i)', (n) => {
  it('echoes 2000 binary messages of 0 to 70,000 bytes in order; each message is one datagram', async () => {
    const server = await startServer(n, { headerSize: 4, manager: { ringCapacity: 256 * 1024 } });
    server.reader.setMaxDatagramSize(100_000);
    const port = await wsRendezvous(server);
    const client = await wsClient(`ws://127.0.0.1:${port}/`);
    const conn = await server.accept();
    expect(conn.getTransport()).toBe('websocket');
    expect(conn.isSecure()).toBe(false);
    const sizes = Array.from({ length: 2000 }, (_, i) => (i % 97 === 0 ? 70_000 : (i * 7919) % 300));
    for (let i = 0; i < sizes.length; i++) client.socket.send(Buffer.alloc(sizes[i], i & 0xff));
    const dg = new NetDatagram();
    await pollUntil(
      () => {
        echoAll(server, dg);
        return client.messages.length === sizes.length;
      },
      { timeoutMs: 20_000, label: 'every echo' },
    );
    client.messages.forEach((message, i) => {
      expect(message.length).toBe(sizes[i]);
      if (message.length > 0) expect(message[0]).toBe(i & 0xff);
    });
  });

  it('delivers a text message as a datagram of its UTF-8 bytes, and a fragmented one whole', async () => {
    const server = await startServer(n);
    const port = await wsRendezvous(server);
    const client = await wsClient(`ws://127.0.0.1:${port}/`);
    await server.accept();
    client.socket.send('héllo', { binary: false });
    client.socket.send(Buffer.from('abc'), { fin: false });
    client.socket.send(Buffer.from('def'), { fin: true });
    const dg = new NetDatagram();
    const got: string[] = [];
    await pollUntil(
      () => {
        while (server.reader.getData(dg)) got.push(Buffer.from(dg.getMessage()).toString('utf8'));
        return got.length === 2;
      },
      { label: 'both messages' },
    );
    expect(got).toEqual(['héllo', 'abcdef']);
  });

  it('one broadcast reaches a Panda-framed TCP client and WebSocket clients alike, each in its framing', async () => {
    const server = await startServer(n);
    const wsPort = await wsRendezvous(server);
    const panda = await Peer.connect(server.port);
    const pandaConn = await server.accept();
    const a = await wsClient(`ws://127.0.0.1:${wsPort}/`);
    const aConn = await server.accept();
    const b = await wsClient(`ws://127.0.0.1:${wsPort}/`);
    const bConn = await server.accept();
    const room = new ConnectionGroup();
    for (const conn of [pandaConn, aConn, bConn]) room.add(conn);
    for (let i = 0; i < 100; i++) {
      const dg = new Datagram();
      dg.addUint32(i);
      dg.addString('state');
      expect(server.writer.broadcast(dg, room)).toBe(3);
    }
    await pollUntil(() => panda.frameCount === 100 && a.messages.length === 100 && b.messages.length === 100, { label: 'every copy' });
    for (let i = 0; i < 100; i++) {
      expect(panda.frames[i].readUInt32LE(0)).toBe(i);
      expect(a.messages[i]).toEqual(panda.frames[i]);
      expect(b.messages[i]).toEqual(panda.frames[i]);
    }
  });

  it('answers a ping with a pong carrying its payload', async () => {
    const server = await startServer(n);
    const port = await wsRendezvous(server);
    const client = await wsClient(`ws://127.0.0.1:${port}/`);
    await server.accept();
    const pong = new Promise<Buffer>((resolve) => client.socket.once('pong', resolve));
    client.socket.ping(Buffer.from('are you there'));
    expect((await pong).toString()).toBe('are you there');
  });

  it("a client's close frame ends the connection 'closed-by-peer' after its last message; the server answers with the code", async () => {
    const server = await startServer(n);
    const port = await wsRendezvous(server);
    const client = await wsClient(`ws://127.0.0.1:${port}/`);
    const conn = await server.accept();
    client.socket.send(Buffer.from([1, 2, 3]));
    const closed = new Promise<number>((resolve) => client.socket.once('close', (code: number) => resolve(code)));
    client.socket.close(4001, 'bye');
    const dg = new NetDatagram();
    const ptr = new PointerToConnection();
    await pollUntil(() => server.reader.getData(dg), { label: 'the last message' });
    expect([...dg.getMessage()]).toEqual([1, 2, 3]);
    await pollUntil(() => server.manager.getResetConnection(ptr), { label: 'the reset' });
    expect(ptr.p()).toBe(conn);
    expect(conn.getResetReason()).toBe('closed-by-peer');
    expect(await closed).toBe(4001);
  });

  it('closeConnection sends what was queued, then a close frame (1000)', async () => {
    const server = await startServer(n);
    const port = await wsRendezvous(server);
    const client = await wsClient(`ws://127.0.0.1:${port}/`);
    const conn = await server.accept();
    const closed = new Promise<number>((resolve) => client.socket.once('close', (code: number) => resolve(code)));
    const dg = new Datagram();
    dg.addString('last words');
    server.writer.send(dg, conn);
    server.manager.closeConnection(conn);
    expect(await closed).toBe(1000);
    expect(client.messages.map((m) => m.subarray(2).toString())).toEqual(['last words']);
  });

  it("a message over the reader's limit closes with 1009 before its body is read: 'oversized-datagram'", async () => {
    const server = await startServer(n);
    server.reader.setMaxDatagramSize(1000);
    const port = await wsRendezvous(server);
    const raw = await rawUpgraded(port);
    const conn = await server.accept();
    // Only the header of a 5000-byte message: the limit is judged on it.
    raw.socket.write(clientFrame(0x2, Buffer.alloc(5000)).subarray(0, 8));
    const ptr = new PointerToConnection();
    await pollUntil(() => server.manager.getResetConnection(ptr), { label: 'the reset' });
    expect(conn.getResetReason()).toBe('oversized-datagram');
    await pollUntil(() => closeCode(raw.received()) !== -1, { label: 'the close frame' });
    expect(closeCode(raw.received())).toBe(1009);
  });

  it.each([
    ['an unmasked frame', clientFrame(0x2, Buffer.from('x'), { mask: false }), 1002, 'websocketProtocolErrors'],
    ['a reserved bit', clientFrame(0x2, Buffer.from('x'), { rsv: 4 }), 1002, 'websocketProtocolErrors'],
    ['an unknown opcode', clientFrame(0x3, Buffer.from('x')), 1002, 'websocketProtocolErrors'],
    ['a fragmented ping', clientFrame(0x9, Buffer.from('x'), { fin: false }), 1002, 'websocketProtocolErrors'],
    ['a continuation with nothing to continue', clientFrame(0x0, Buffer.from('x')), 1002, 'websocketProtocolErrors'],
    ['text that is not UTF-8', clientFrame(0x1, Buffer.from([0xc3, 0x28])), 1007, 'websocketInvalidUtf8'],
    ['a close reason that is not UTF-8', clientFrame(0x8, Buffer.from([0x03, 0xe8, 0xff, 0xfe])), 1007, 'websocketInvalidUtf8'],
  ] as const)("%s closes with %i and resets the connection 'protocol-error', counted", async (_name, bytes, code, stat) => {
    const server = await startServer(n);
    const port = await wsRendezvous(server);
    const raw = await rawUpgraded(port);
    const conn = await server.accept();
    raw.socket.write(bytes);
    const ptr = new PointerToConnection();
    await pollUntil(() => server.manager.getResetConnection(ptr), { label: 'the reset' });
    expect(conn.getResetReason()).toBe('protocol-error');
    await pollUntil(() => closeCode(raw.received()) !== -1, { label: 'the close frame' });
    expect(closeCode(raw.received())).toBe(code);
    expect(server.manager.getStats()[stat]).toBe(1);
    await pollUntil(() => raw.closed(), { label: 'the server closing the socket' });
  });

  it('answers a bad upgrade with 400, a wrong path with 404, an origin not allowed with 403, another version with 426; each counted', async () => {
    const server = await startServer(n);
    const port = await wsRendezvous(server, { websocket: { path: '/game', origins: ['https://good.example'] } });
    const good = 'Origin: https://good.example\r\n';
    expect(await rawRequest(port, 'GARBAGE\r\n\r\n')).toBe(400);
    expect(await rawRequest(port, `GET /game HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(10_000)}\r\n\r\n`)).toBe(400);
    expect(await rawRequest(port, UPGRADE('/other', good))).toBe(404);
    expect(await rawRequest(port, UPGRADE('/game', 'Origin: https://evil.example\r\n'))).toBe(403);
    expect(await rawRequest(port, UPGRADE('/game', good).replace('Version: 13', 'Version: 8'))).toBe(426);
    const client = await wsClient(`ws://127.0.0.1:${port}/game?room=1`, { origin: 'https://good.example' });
    expect(client.socket.readyState).toBe(WebSocket.OPEN);
    // Each refused stream was accepted, then reset 'handshake-failed'.
    const ptr = new PointerToConnection();
    const reasons: string[] = [];
    await pollUntil(
      () => {
        while (server.manager.getResetConnection(ptr)) reasons.push(ptr.p()!.getResetReason()!);
        return reasons.length === 5;
      },
      { label: 'five resets' },
    );
    expect(new Set(reasons)).toEqual(new Set(['handshake-failed']));
    expect(server.manager.getStats().websocketUpgradesRejected).toBe(5);
  });

  it("resets a client that never finishes its upgrade after handshakeTimeoutMs: 'handshake-failed'", async () => {
    const server = await startServer(n);
    const port = await wsRendezvous(server, { websocket: true, handshakeTimeoutMs: 200 });
    const socket = net.connect({ host: HOST, port });
    socket.on('error', () => {});
    onCleanup(() => {
      socket.destroy();
    });
    socket.write('GET / HTTP/1.1\r\n'); // and nothing more
    const conn = await server.accept();
    const ptr = new PointerToConnection();
    await pollUntil(() => server.manager.getResetConnection(ptr), { label: 'the reset' });
    expect(conn.getResetReason()).toBe('handshake-failed');
  });

  it('what the program sends before the upgrade is done waits for it, in order', async () => {
    const server = await startServer(n);
    const port = await wsRendezvous(server);
    const socket = net.connect({ host: HOST, port });
    let bytes = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => (bytes = Buffer.concat([bytes, chunk])));
    socket.on('error', () => {});
    onCleanup(() => {
      socket.destroy();
    });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const conn = await server.accept();
    const welcome = new Datagram();
    welcome.addUint8(42);
    server.writer.send(welcome, conn); // before the client has even asked to upgrade
    socket.write(UPGRADE());
    await pollUntil(() => bytes.length >= bytes.indexOf('\r\n\r\n') + 4 + 3 && bytes.includes('\r\n\r\n'), { label: '101 and the message' });
    expect(bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 101 /);
    const after = bytes.subarray(bytes.indexOf('\r\n\r\n') + 4);
    expect([...after]).toEqual([0x82, 1, 42]);
  });

  it('ringwire as the client: openTCPClientConnection with { websocket } to a ringwire WebSocket rendezvous, both ways', async () => {
    const server = await startServer(n);
    const port = await wsRendezvous(server, { websocket: { path: '/play' } });
    const client = startClient(n);
    const conn = await client.manager.connectTCP(HOST, port, 5000, { websocket: { path: '/play' } });
    expect(conn.getTransport()).toBe('websocket');
    client.reader.addConnection(conn);
    const serverConn = await server.accept();
    for (let i = 0; i < 200; i++) {
      const dg = new Datagram();
      dg.addUint16(i);
      dg.appendData(new Uint8Array(i * 50));
      client.writer.send(dg, conn);
    }
    const got: number[] = [];
    const dg = new NetDatagram();
    await pollUntil(
      () => {
        while (server.reader.getData(dg)) {
          expect(dg.getConnection()).toBe(serverConn);
          got.push(new DataView(dg.getMessage().buffer).getUint16(0, true));
          server.writer.send(dg, serverConn);
        }
        return got.length === 200;
      },
      { label: 'the server got 200' },
    );
    expect(got).toEqual(Array.from({ length: 200 }, (_, i) => i));
    let back = 0;
    await pollUntil(
      () => {
        while (client.reader.getData(dg)) {
          expect(dg.getLength()).toBe(2 + back * 50);
          back++;
        }
        return back === 200;
      },
      { label: 'the client got 200 back' },
    );
  });
});
