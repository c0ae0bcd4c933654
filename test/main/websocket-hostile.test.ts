/**
 * Hostile input on a WebSocket rendezvous (#26): hostile.test.ts's attacks on the TCP path,
 * redone for WebSocket, in single-thread mode and with 2 shards. Floods of tiny frames
 * (over ws:// and wss://), a frame header that announces a huge length and sends nothing
 * more, a message of endless fragments, slowloris frames and upgrades, garbage after the
 * upgrade, connections that upgrade and vanish (or vanish mid-request, or mid-TLS-hello),
 * peers that send and never read. Each bad stream ends with its named reset reason and
 * counter; the server and a well-behaved client carry on. Raw node:net (and node:tls)
 * sockets speak the hand-built bytes.
 */
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Connection } from '../../src/main/api/connection.js';
import { NetDatagram } from '../../src/main/api/net-datagram.js';
import { PointerToConnection } from '../../src/main/api/pointer-to-connection.js';
import type { RendezvousOptions } from '../../src/main/core/transport-options.js';
import { HOST, Rng, closeAll, onCleanup, pollUntil, startServer, type TestServer } from '../helpers/net-harness.js';
import { testCertificates } from '../helpers/tls-certificate.js';

afterEach(closeAll);

/** A WebSocket rendezvous (with `options`) on `server`, listened to by its listener; its port. */
async function wsRendezvous(server: TestServer, options: RendezvousOptions = { websocket: true }): Promise<number> {
  const rendezvous = await server.manager.openTCPServerRendezvous(HOST, 0, 1024, options);
  if (rendezvous === null) throw server.manager.getLastError()!;
  server.listener.addConnection(rendezvous);
  return rendezvous.getAddress().getPort();
}

const UPGRADE = Buffer.from(
  'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  'latin1',
);

const MASK = [0x12, 0x34, 0x56, 0x78];

/** One client frame (RFC 6455 §5.2), masked: `fin` (default true), `opcode`, `payload`. */
function clientFrame(opcode: number, payload: Uint8Array | readonly number[] = [], fin = true): Buffer {
  const length = payload.length;
  const head = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const out = Buffer.alloc(head + 4 + length);
  out[0] = (fin ? 0x80 : 0) | opcode;
  if (length < 126) out[1] = 0x80 | length;
  else if (length < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(length, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeBigUInt64BE(BigInt(length), 2);
  }
  out.set(MASK, head);
  for (let i = 0; i < length; i++) out[head + 4 + i] = payload[i] ^ MASK[i & 3];
  return out;
}

/** A masked frame header alone announcing `length` bytes (64-bit length field) of a binary message. */
function headerAnnouncing(length: bigint): Buffer {
  const out = Buffer.alloc(14);
  out[0] = 0x82;
  out[1] = 0x80 | 127;
  out.writeBigUInt64BE(length, 2);
  out.set(MASK, 10);
  return out;
}

/** The server's frames (unmasked) in `bytes`: opcode and payload of each complete one. */
function serverFrames(bytes: Buffer): { opcode: number; payload: Buffer }[] {
  const frames: { opcode: number; payload: Buffer }[] = [];
  let at = 0;
  while (at + 2 <= bytes.length) {
    let length = bytes[at + 1] & 0x7f;
    let head = 2;
    if (length === 126) {
      if (at + 4 > bytes.length) break;
      length = bytes.readUInt16BE(at + 2);
      head = 4;
    } else if (length === 127) {
      if (at + 10 > bytes.length) break;
      length = Number(bytes.readBigUInt64BE(at + 2));
      head = 10;
    }
    if (at + head + length > bytes.length) break;
    frames.push({ opcode: bytes[at] & 0x0f, payload: bytes.subarray(at + head, at + head + length) });
    at += head + length;
  }
  return frames;
}

/** The code of the server's close frame in `bytes` (1005 when it carries none), or -1 when none came. */
function closeCode(bytes: Buffer): number {
  const close = serverFrames(bytes).find((f) => f.opcode === 0x8);
  if (close === undefined) return -1;
  return close.payload.length >= 2 ? close.payload.readUInt16BE(0) : 1005;
}

/** A raw client socket: what it received after the 101 (or all of it, before one), and how it ended. */
interface RawClient {
  socket: net.Socket;
  /** Bytes after the upgrade response's head (all bytes while no head is complete). */
  received(): Buffer;
  /** The upgrade response's head, or null. */
  head(): string | null;
  closed(): boolean;
  error(): NodeJS.ErrnoException | null;
}

/** Connects a raw socket to `port` (over TLS, trusting `ca`, when given); closed by closeAll. */
async function rawConnect(port: number, ca: string | null = null): Promise<RawClient> {
  const socket = ca === null ? net.connect({ host: HOST, port }) : tls.connect({ host: HOST, port, ca, servername: 'localhost' });
  const chunks: Buffer[] = [];
  let done = false;
  let failure: NodeJS.ErrnoException | null = null;
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  // Joined only when looked at, once per new chunk (a hog may be sent megabytes).
  let joined = Buffer.alloc(0);
  let joinedChunks = 0;
  const all = (): Buffer => {
    if (joinedChunks !== chunks.length) {
      joined = Buffer.concat(chunks);
      joinedChunks = chunks.length;
    }
    return joined;
  };
  socket.on('close', () => (done = true));
  socket.on('error', (error) => (failure = error));
  onCleanup(() => {
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once(ca === null ? 'connect' : 'secureConnect', () => resolve());
    socket.once('error', reject);
  });
  const end = (): number => all().indexOf('\r\n\r\n');
  return {
    socket,
    received: () => (end() < 0 ? all() : all().subarray(end() + 4)),
    head: () => (end() < 0 ? null : all().subarray(0, end()).toString('latin1')),
    closed: () => done,
    error: () => failure,
  };
}

/** A raw socket (over TLS when `ca` is given) that has done the upgrade (the server's 101 is in). */
async function rawUpgraded(port: number, ca: string | null = null): Promise<RawClient> {
  const client = await rawConnect(port, ca);
  client.socket.write(UPGRADE);
  await pollUntil(() => client.head() !== null, { label: 'the 101' });
  expect(client.head()).toMatch(/^HTTP\/1\.1 101 /);
  return client;
}

/**
 * Serves as a game server would: accepts and reads every connection, echoes each datagram
 * (unless `echo` is false), and records each reset's reason. Sleeps in waitForReaders
 * between turns; stops at closeAll.
 */
function serve(server: TestServer, echo = true): { resets: Map<Connection, string>; accepted: Connection[]; echo: boolean } {
  const served = { resets: new Map<Connection, string>(), accepted: [] as Connection[], echo };
  const { resets, accepted } = served;
  const ptr = new PointerToConnection();
  const dg = new NetDatagram();
  const stop = new AbortController();
  const turn = (): void => {
    if (stop.signal.aborted) return;
    while (server.listener.getNewConnection(ptr)) {
      accepted.push(ptr.p()!);
      server.reader.addConnection(ptr.p()!);
    }
    while (server.reader.getData(dg)) if (served.echo) server.writer.send(dg, dg.getConnection()!);
    while (server.manager.getResetConnection(ptr)) resets.set(ptr.p()!, ptr.p()!.getResetReason()!);
    server.manager.waitForReaders(0.05, { signal: stop.signal }).then(turn, () => {});
  };
  setImmediate(turn);
  onCleanup(() => stop.abort());
  return served;
}

/**
 * A `ws` client (wss://, trusting `ca`, when given) sends `count` messages one at a time,
 * each after the echo of the last (the server must be served); returns the echoes.
 */
async function goodClientEchoes(port: number, count: number, ca: string | null = null): Promise<number> {
  const socket = ca === null ? new WebSocket(`ws://127.0.0.1:${port}/`) : new WebSocket(`wss://localhost:${port}/`, { ca });
  const messages: Buffer[] = [];
  socket.binaryType = 'nodebuffer';
  socket.on('message', (data: Buffer) => messages.push(data));
  onCleanup(() => socket.terminate());
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  for (let i = 0; i < count; i++) {
    socket.send(Buffer.from([i, 0xee]));
    await pollUntil(() => messages.length === i + 1, { label: `echo ${i} to the good client` });
    expect([...messages[i]]).toEqual([i, 0xee]);
  }
  socket.terminate();
  return messages.length;
}

/** Resolves the reason of `conn`'s reset as `served` records it. */
async function resetOf(served: { resets: Map<Connection, string> }, conn: () => Connection | undefined, label: string): Promise<string> {
  return pollUntil(() => (conn() === undefined ? undefined : served.resets.get(conn()!)), { label });
}

describe.each([0, 2])('hostile WebSocket input with %i shards', (n) => {
  it.each(['ws', 'wss'] as const)(
    'a flood of 100,000 tiny frames over %s (empty and 1-byte messages, 1-byte fragments, pings between them) through a 64 KiB ring: every message in order, every ping answered in order, then the close',
    async (scheme) => {
      const certs = testCertificates();
      const server = await startServer(n, { manager: { ringCapacity: 64 * 1024 } });
      const port = await wsRendezvous(server, scheme === 'ws' ? { websocket: true } : { websocket: true, tls: certs.servers[0] });
      const raw = await rawUpgraded(port, scheme === 'ws' ? null : certs.ca);
      const conn = await server.accept();

      // The flood and what it must come out as: a message of 1 byte (i & 0xff), or an empty
      // one every 10th, or every 1000th a message of 100 one-byte fragments with a ping
      // between each two; a ping after every 100th message besides.
      const frames: Buffer[] = [];
      const expected: number[][] = [];
      const pings: number[] = [];
      const ping = (): void => {
        const payload = [pings.length & 0xff, pings.length >> 8];
        pings.push(pings.length);
        frames.push(clientFrame(0x9, payload));
      };
      while (frames.length < 100_000) {
        const i = expected.length;
        if (i % 1000 === 500) {
          const whole: number[] = [];
          for (let k = 0; k < 100; k++) {
            whole.push((i + k) & 0xff);
            frames.push(clientFrame(k === 0 ? 0x2 : 0x0, [(i + k) & 0xff], k === 99));
            if (k < 99) ping();
          }
          expected.push(whole);
        } else if (i % 10 === 3) {
          frames.push(clientFrame(0x2));
          expected.push([]);
        } else {
          frames.push(clientFrame(0x2, [i & 0xff]));
          expected.push([i & 0xff]);
        }
        if (i % 100 === 0) ping();
      }
      raw.socket.write(Buffer.concat(frames));

      // Nothing is read until the ring is full and the shard has stopped reading the socket.
      await pollUntil(() => server.manager.getStats().pauses > 0, { label: 'the inbound ring full' });
      const dg = new NetDatagram();
      let got = 0;
      let wrong: string | null = null;
      await pollUntil(
        () => {
          while (server.reader.getData(dg)) {
            const bytes = [...dg.getMessage()];
            if (wrong === null && JSON.stringify(bytes) !== JSON.stringify(expected[got])) wrong = `datagram ${got}: ${JSON.stringify(bytes)}`;
            got++;
          }
          return got === expected.length;
        },
        { timeoutMs: 30_000, label: `${expected.length} datagrams` },
      );
      expect(wrong).toBeNull();
      expect(server.manager.getStats().datagramsIn).toBe(expected.length);
      // Every ping answered with its payload, in order, and nothing else sent.
      await pollUntil(() => serverFrames(raw.received()).length === pings.length, { label: 'every pong' });
      const pongs = serverFrames(raw.received());
      expect(pongs.every((f) => f.opcode === 0xa)).toBe(true);
      expect(pongs.map((f) => f.payload[0] | (f.payload[1] << 8))).toEqual(pings);

      raw.socket.write(clientFrame(0x8, [0x03, 0xe8]));
      const ptr = new PointerToConnection();
      await pollUntil(() => server.manager.getResetConnection(ptr), { label: 'the reset' });
      expect(ptr.p()).toBe(conn);
      expect(conn.getResetReason()).toBe('closed-by-peer');
      await pollUntil(() => closeCode(raw.received()) !== -1, { label: 'the close frame' });
      expect(closeCode(raw.received())).toBe(1000);
      expect(server.manager.getStats().websocketProtocolErrors).toBe(0);
      serve(server);
      expect(await goodClientEchoes(port, 3, scheme === 'ws' ? null : certs.ca)).toBe(3);
    },
  );

  it("a header announcing 2^62 bytes and then nothing: closed 1009 at once, 'oversized-datagram'; 2^63 is a protocol error (1002)", async () => {
    const server = await startServer(n);
    const port = await wsRendezvous(server);
    const served = serve(server);
    const huge = await rawUpgraded(port);
    await pollUntil(() => served.accepted.length === 1, { label: 'the first accepted' });
    huge.socket.write(headerAnnouncing(1n << 62n));
    expect(await resetOf(served, () => served.accepted[0], 'the reset of the 2^62 header')).toBe('oversized-datagram');
    await pollUntil(() => huge.closed(), { label: 'the server to close it' });
    expect(closeCode(huge.received())).toBe(1009);
    expect(server.manager.getStats().resets['oversized-datagram']).toBe(1);

    // A 64-bit length with its most significant bit set breaks the RFC itself.
    const topBit = await rawUpgraded(port);
    await pollUntil(() => served.accepted.length === 2, { label: 'the second accepted' });
    topBit.socket.write(headerAnnouncing(1n << 63n));
    expect(await resetOf(served, () => served.accepted[1], 'the reset of the 2^63 header')).toBe('protocol-error');
    await pollUntil(() => topBit.closed(), { label: 'the server to close it' });
    expect(closeCode(topBit.received())).toBe(1002);
    expect(server.manager.getStats().websocketProtocolErrors).toBe(1);
    await pollUntil(() => server.manager.getStats().connections === 0, { label: 'the shards to hold nothing' });
    expect(await goodClientEchoes(port, 3)).toBe(3);
  });

  it("a message of endless 1-byte fragments: closed 1009 once it would pass the reader's limit, 'oversized-datagram'", async () => {
    const server = await startServer(n);
    server.reader.setMaxDatagramSize(10_000);
    const port = await wsRendezvous(server);
    const served = serve(server);
    const endless = await rawUpgraded(port);
    await pollUntil(() => served.accepted.length === 1, { label: 'the client accepted' });
    // 20,000 fragments of one byte, none the last: the message would be 20,000 bytes.
    const fragments: Buffer[] = [clientFrame(0x2, [0], false)];
    for (let i = 1; i < 20_000; i++) fragments.push(clientFrame(0x0, [i & 0xff], false));
    endless.socket.write(Buffer.concat(fragments));
    expect(await resetOf(served, () => served.accepted[0], 'the reset')).toBe('oversized-datagram');
    await pollUntil(() => endless.closed(), { label: 'the server to close it' });
    expect(closeCode(endless.received())).toBe(1009);
    expect(server.manager.getStats().datagramsIn).toBe(0);
    expect(await goodClientEchoes(port, 3)).toBe(3);
  });

  it("a header announcing 60,000 bytes and nothing more, and a frame sent a byte at a time: both end 'idle-timeout', cut mid-frame", async () => {
    const server = await startServer(n, { manager: { idleTimeoutMs: 400 } });
    const port = await wsRendezvous(server);
    const served = serve(server);
    const loris = await rawUpgraded(port);
    loris.socket.write(clientFrame(0x2, Buffer.alloc(60_000)).subarray(0, 8));
    const dripper = await rawUpgraded(port);
    const body = clientFrame(0x2, Buffer.alloc(1000, 7));
    let at = 0;
    const drip = setInterval(() => {
      if (at < body.length && !dripper.closed()) dripper.socket.write(body.subarray(at, ++at));
    }, 40);
    onCleanup(() => clearInterval(drip));
    await pollUntil(() => served.resets.size === 2, { label: 'both slow peers reset', timeoutMs: 10_000 });
    clearInterval(drip);
    expect([...served.resets.values()]).toEqual(['idle-timeout', 'idle-timeout']);
    expect(at).toBeLessThan(body.length);
    expect(server.manager.getStats().resets['idle-timeout']).toBe(2);
    // A cut: RST, no close frame.
    await pollUntil(() => loris.closed() && dripper.closed(), { label: 'both sockets closed' });
    expect(closeCode(loris.received())).toBe(-1);
    expect(await goodClientEchoes(port, 3)).toBe(3);
  });

  it('a slowloris upgrade a byte at a time: finished within handshakeTimeoutMs it is served; past it, reset handshake-failed and counted', async () => {
    const server = await startServer(n);
    const port = await wsRendezvous(server, { websocket: true, handshakeTimeoutMs: 4000 });
    const served = serve(server);
    const drips: NodeJS.Timeout[] = [];
    onCleanup(() => drips.forEach(clearInterval));
    const dripUpgrade = (client: RawClient, everyMs: number): (() => number) => {
      let at = 0;
      drips.push(
        setInterval(() => {
          if (at < UPGRADE.length && !client.closed()) client.socket.write(UPGRADE.subarray(at, ++at));
        }, everyMs),
      );
      return () => at;
    };

    // 160-odd bytes, one every 5 ms: about a second, well within 4 s.
    const patient = await rawConnect(port);
    const sentPatient = dripUpgrade(patient, 5);
    await pollUntil(() => patient.head() !== null, { label: 'the 101 after the slow request', timeoutMs: 4000 });
    expect(sentPatient()).toBe(UPGRADE.length);
    expect(patient.head()).toMatch(/^HTTP\/1\.1 101 /);
    patient.socket.write(clientFrame(0x2, [1, 2, 3]));
    await pollUntil(() => serverFrames(patient.received()).length === 1, { label: 'the echo after the slow upgrade' });
    expect([...serverFrames(patient.received())[0].payload]).toEqual([1, 2, 3]);
    expect(server.manager.getStats().websocketUpgradesRejected).toBe(0);

    // The same on a rendezvous that gives 300 ms: one byte every 20 ms takes 3 s.
    const strictPort = await wsRendezvous(server, { websocket: true, handshakeTimeoutMs: 300 });
    const started = Date.now();
    const loris = await rawConnect(strictPort);
    const sentLoris = dripUpgrade(loris, 20);
    await pollUntil(() => served.accepted.length === 2, { label: 'the slow client accepted' });
    expect(await resetOf(served, () => served.accepted[1], 'the reset of the slow upgrade')).toBe('handshake-failed');
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(sentLoris()).toBeLessThan(UPGRADE.length);
    await pollUntil(() => loris.closed(), { label: 'the slow client cut' });
    expect(loris.head()).toBeNull();
    expect(server.manager.getStats().websocketUpgradesRejected).toBe(1);
    expect(served.resets.has(served.accepted[0])).toBe(false);
    expect(await goodClientEchoes(port, 3)).toBe(3);
  });

  it('garbage after the upgrade: 9 streams of random bytes, 3 behind a plausible header: each ends closed 1002 or 1007 (protocol-error) or 1009 (oversized-datagram), each counted', async () => {
    const server = await startServer(n);
    const port = await wsRendezvous(server);
    const served = serve(server);
    const clients: RawClient[] = [];
    /** What each stream's first bytes are: random alone, or a valid header before the random bytes. */
    const kinds = ['random', 'random', 'random', 'random', 'random', 'random', 'text header', 'binary header of 2^62', 'text header'] as const;
    for (let seed = 1; seed <= kinds.length; seed++) {
      const client = await rawUpgraded(port);
      clients.push(client);
      await pollUntil(() => served.accepted.length === seed, { label: `stream ${seed} accepted` });
      // Random chunks until the server closes the stream (at most 4 MiB).
      const rng = new Rng(seed);
      for (let sent = 0; sent < 4 * 1024 * 1024 && !client.closed() && client.error() === null; sent += 4096) {
        const junk = Buffer.alloc(4096);
        for (let i = 0; i < junk.length; i++) junk[i] = rng.below(256);
        // A whole text message of 100 random bytes (not UTF-8), or a binary one too long to take.
        if (sent === 0 && kinds[seed - 1] === 'text header') clientFrame(0x1, junk.subarray(0, 100)).copy(junk);
        if (sent === 0 && kinds[seed - 1] === 'binary header of 2^62') headerAnnouncing(1n << 62n).copy(junk);
        if (!client.socket.write(junk)) await pollUntil(() => client.socket.writableLength === 0 || client.closed(), { label: 'the junk written' });
      }
    }
    await pollUntil(() => served.resets.size === kinds.length, { label: 'every junk stream reset' });
    const reasons = served.accepted.map((conn) => served.resets.get(conn));
    const codes = clients.map((client) => closeCode(client.received()));
    kinds.forEach((kind, i) => {
      if (kind === 'text header') expect([reasons[i], codes[i]]).toEqual(['protocol-error', 1007]);
      else if (kind === 'binary header of 2^62') expect([reasons[i], codes[i]]).toEqual(['oversized-datagram', 1009]);
      else {
        expect([reasons[i], codes[i]]).toSatisfy(
          ([reason, code]: [string, number]) =>
            (reason === 'protocol-error' && (code === 1002 || code === 1007)) || (reason === 'oversized-datagram' && code === 1009),
        );
      }
    });
    const stats = server.manager.getStats();
    expect(stats.websocketProtocolErrors).toBe(codes.filter((c) => c === 1002).length);
    expect(stats.websocketInvalidUtf8).toBe(codes.filter((c) => c === 1007).length);
    expect(stats.resets['oversized-datagram']).toBe(codes.filter((c) => c === 1009).length);
    expect(stats.resets['protocol-error']).toBe(reasons.filter((r) => r === 'protocol-error').length);
    await pollUntil(() => clients.every((c) => c.closed()), { label: 'every junk stream closed' });
    expect(await goodClientEchoes(port, 3)).toBe(3);
  });

  it("1000 connections that upgrade and vanish end 'closed-by-peer', 200 that vanish mid-request 'handshake-failed' (counted); none held", async () => {
    const server = await startServer(n);
    const port = await wsRendezvous(server);
    const served = serve(server, false);
    const vanish = (finish: boolean): Promise<void> =>
      new Promise<void>((resolve) => {
        const socket = net.connect({ host: HOST, port });
        let text = '';
        socket.setEncoding('latin1');
        socket.once('connect', () => {
          if (finish) socket.write(UPGRADE);
          else socket.write(UPGRADE.subarray(0, 40), () => socket.destroy());
        });
        socket.on('data', (chunk: string) => {
          text += chunk;
          if (text.includes('\r\n\r\n')) socket.destroy();
        });
        socket.once('error', () => undefined);
        socket.once('close', () => resolve());
      });
    for (let batch = 0; batch < 10; batch++) await Promise.all(Array.from({ length: 100 }, () => vanish(true)));
    for (let batch = 0; batch < 2; batch++) await Promise.all(Array.from({ length: 100 }, () => vanish(false)));
    await pollUntil(() => served.accepted.length === 1200 && served.resets.size === 1200, {
      label: 'resets for all 1200 connections',
      timeoutMs: 30_000,
    });
    const count = (reason: string): number => [...served.resets.values()].filter((r) => r === reason).length;
    expect(count('closed-by-peer')).toBe(1000);
    expect(count('handshake-failed')).toBe(200);
    expect(server.manager.getStats().websocketUpgradesRejected).toBe(200);
    await pollUntil(() => server.manager.getStats().connections === 0, { label: 'the shards to hold nothing' });
    expect(server.manager.connections.size).toBe(0);
    served.echo = true;
    expect(await goodClientEchoes(port, 3)).toBe(3);
  });

  it("a wss:// client that sends FIN halfway through its TLS hello: 'handshake-failed', counted once as a TLS failure", async () => {
    const certs = testCertificates();
    const server = await startServer(n);
    const port = await wsRendezvous(server, { websocket: true, tls: { key: certs.servers[0].key, cert: certs.servers[0].cert } });
    const served = serve(server);
    const client = await rawConnect(port);
    // A TLS handshake record's header announcing 512 bytes, and 20 of them.
    client.socket.end(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]), Buffer.alloc(20, 1)]));
    await pollUntil(() => served.accepted.length === 1, { label: 'the client accepted' });
    expect(await resetOf(served, () => served.accepted[0], 'the reset')).toBe('handshake-failed');
    expect(server.manager.getStats().tlsHandshakeFailures).toBe(1);
    expect(server.manager.getStats().websocketUpgradesRejected).toBe(0);
    await pollUntil(() => server.manager.getStats().connections === 0, { label: 'the shards to hold nothing' });
  });

  it.each([
    ['binary messages (echoed)', (i: number) => clientFrame(0x2, Buffer.alloc(16 * 1024, i & 0xff))],
    ['pings (answered with pongs)', (i: number) => clientFrame(0x9, Buffer.alloc(125, i & 0xff))],
  ] as const)("a peer that sends %s and never reads the replies is reset 'slow-consumer' and sees ECONNRESET", async (_kind, next) => {
    const server = await startServer(n, { manager: { sendBacklogLimit: 256 * 1024, sendStallTimeoutMs: 1000 } });
    const port = await wsRendezvous(server);
    const served = serve(server);
    const hog = await rawUpgraded(port);
    hog.socket.pause(); // reads nothing more: the kernel's buffers fill, then the shard's backlog grows
    // 48 MiB of replies: more than the loopback buffers take (at most 32 MiB received and
    // 4 MiB sent here), far past sendBacklogLimit, below sendBacklogHardLimit (64 MiB).
    let sent = 0;
    for (let i = 0; sent < 48 * 1024 * 1024 && hog.error() === null; i++) {
      const bytes = next(i);
      sent += bytes.length;
      if (!hog.socket.write(bytes)) {
        await pollUntil(() => hog.socket.writableLength === 0 || hog.error() !== null, { label: 'room to write', timeoutMs: 15_000 });
      }
    }
    expect(await resetOf(served, () => served.accepted[0], 'the slow-consumer reset')).toBe('slow-consumer');
    expect(server.manager.getStats().resets['slow-consumer']).toBe(1);
    // The cut is an RST: the hog's next write finds the stream reset.
    if (hog.error() === null) hog.socket.write(next(0));
    await pollUntil(() => hog.error() !== null, { label: 'ECONNRESET at the hog (no error: the stream was not cut with RST)', timeoutMs: 2000 });
    expect(hog.error()!.code).toBe('ECONNRESET');
    expect(await goodClientEchoes(port, 3)).toBe(3);
  });
});
