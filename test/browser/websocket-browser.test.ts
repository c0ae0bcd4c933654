/**
 * ringwire's WebSocket rendezvous against a real browser (#26): Debian's Chromium, headless,
 * driven by playwright-core (test/helpers/browser.ts), opening `new WebSocket(...)` from a
 * page as a game's web client would. In single-thread mode and with 2 shards: an echo of
 * 10,000 messages over ws:// and over wss:// (the browser trusts the test CA, and refuses a
 * certificate the CA did not sign), the server's close seen by the page as a clean 1000,
 * and a room where a Panda-framed TCP client, a `ws` client and the browser get the same
 * broadcasts, byte for byte, in the same order.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ConnectionGroup } from '../../src/main/api/connection-group.js';
import type { Connection } from '../../src/main/api/connection.js';
import { NetDatagram } from '../../src/main/api/net-datagram.js';
import { PointerToConnection } from '../../src/main/api/pointer-to-connection.js';
import type { RendezvousOptions } from '../../src/main/core/transport-options.js';
import { Datagram } from '../../src/shared/datagram.js';
import { inPage, launchBrowser, type EchoSummary, type MemberSummary, type OpenSummary, type TestBrowser } from '../helpers/browser.js';
import { HOST, Peer, closeAll, frame, hash2, onCleanup, pollUntil, startServer, type TestServer } from '../helpers/net-harness.js';
import { testCertificates } from '../helpers/tls-certificate.js';

const certs = testCertificates();
let browser: TestBrowser;

beforeAll(async () => {
  browser = await launchBrowser({ trustedCa: certs.ca });
});
afterAll(async () => {
  await browser?.close();
});
afterEach(closeAll);

/** Messages the page echoes through the server. */
const ECHO_COUNT = 10_000;
/** How long the page itself waits for its run to end. */
const PAGE_DEADLINE_MS = 20_000;

/** A WebSocket rendezvous (with `options`) on `server`, listened to by its listener; its port. */
async function wsRendezvous(server: TestServer, options: RendezvousOptions = { websocket: true }): Promise<number> {
  const rendezvous = await server.manager.openTCPServerRendezvous(HOST, 0, 128, options);
  if (rendezvous === null) throw server.manager.getLastError()!;
  server.listener.addConnection(rendezvous);
  return rendezvous.getAddress().getPort();
}

/** A new page, closed by closeAll. */
async function newPage(): ReturnType<TestBrowser['newPage']> {
  const page = await browser.newPage();
  onCleanup(() => page.close());
  return page;
}

/** `promise`'s value once it settles, for polling: undefined before, throws what it rejects with. */
function settled<T>(promise: Promise<T>): () => T | undefined {
  let value: T | undefined;
  let failure: unknown = null;
  promise.then(
    (v) => (value = v),
    (error: unknown) => (failure = error ?? new Error('rejected')),
  );
  return () => {
    if (failure !== null) throw failure;
    return value;
  };
}

/**
 * Echoes every datagram to its sender until the page's run settles, checking on the way that
 * the server gets each message whole and in order (its first 4 bytes, u32 LE, count 0, 1,
 * 2, …); takes resets as they come (the page's close frame is answered once the reset is
 * taken). Returns the page's summary and the datagrams the server saw.
 */
async function echoUntilSettled(
  server: TestServer,
  run: Promise<EchoSummary>,
): Promise<{ summary: EchoSummary; seen: number; resets: Connection[] }> {
  const result = settled(run);
  const dg = new NetDatagram();
  const ptr = new PointerToConnection();
  const resets: Connection[] = [];
  let seen = 0;
  let wrong: string | null = null;
  const summary = await pollUntil(
    () => {
      while (server.reader.getData(dg)) {
        const bytes = dg.getMessage();
        const carried = bytes.length >= 4 ? new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true) : -1;
        if (wrong === null && carried !== seen) wrong = `datagram ${seen} at the server carries ${carried}`;
        seen++;
        server.writer.send(dg, dg.getConnection()!);
      }
      while (server.manager.getResetConnection(ptr)) resets.push(ptr.p()!);
      return result();
    },
    { timeoutMs: PAGE_DEADLINE_MS + 5000, label: "the page's echo run" },
  );
  expect(wrong).toBeNull();
  return { summary, seen, resets };
}

/** Waits for `conn`'s reset (taking every reset on the way) and returns its reason. */
async function resetReasonOf(server: TestServer, conn: Connection, already: readonly Connection[] = []): Promise<string> {
  const ptr = new PointerToConnection();
  await pollUntil(
    () => {
      if (already.includes(conn)) return true;
      while (server.manager.getResetConnection(ptr)) if (ptr.p() === conn) return true;
      return false;
    },
    { label: `the reset of ${conn.toString()}` },
  );
  return conn.getResetReason()!;
}

describe.each([0, 2])('a browser against a ringwire WebSocket rendezvous (numThreads %i)', (n) => {
  it('ws://: the page sends 10,000 binary messages of 4 to 60,003 bytes and gets every echo, in order and intact', async () => {
    const server = await startServer(n);
    const port = await wsRendezvous(server);
    const page = await newPage();
    const run = inPage<EchoSummary>(page, 'echo', { url: `ws://127.0.0.1:${port}/`, count: ECHO_COUNT, deadlineMs: PAGE_DEADLINE_MS });
    const conn = await server.accept();
    expect(conn.getTransport()).toBe('websocket');
    expect(conn.isSecure()).toBe(false);
    const { summary, seen, resets } = await echoUntilSettled(server, run);
    expect(summary).toMatchObject({ opened: true, sent: ECHO_COUNT, echoed: ECHO_COUNT, failure: null });
    expect(seen).toBe(ECHO_COUNT);
    // The page closed with 1000 after the last echo; the server answered its close frame.
    expect(summary).toMatchObject({ closeCode: 1000, wasClean: true });
    expect(await resetReasonOf(server, conn, resets)).toBe('closed-by-peer');
  });

  it('wss://, the browser trusting the test CA: the same 10,000 messages echoed; the stream is secure', async () => {
    const server = await startServer(n);
    const port = await wsRendezvous(server, { websocket: true, tls: { key: certs.servers[0].key, cert: certs.servers[0].cert } });
    const page = await newPage();
    const run = inPage<EchoSummary>(page, 'echo', { url: `wss://127.0.0.1:${port}/`, count: ECHO_COUNT, deadlineMs: PAGE_DEADLINE_MS });
    const conn = await server.accept();
    expect(conn.getTransport()).toBe('websocket');
    expect(conn.isSecure()).toBe(true);
    const { summary, seen, resets } = await echoUntilSettled(server, run);
    expect(summary).toMatchObject({ opened: true, sent: ECHO_COUNT, echoed: ECHO_COUNT, failure: null, closeCode: 1000, wasClean: true });
    expect(seen).toBe(ECHO_COUNT);
    expect(await resetReasonOf(server, conn, resets)).toBe('closed-by-peer');
    expect(server.manager.getStats().tlsHandshakeFailures).toBe(0);
  });

  it("wss:// with a certificate the CA did not sign: the browser refuses it, the server resets the stream 'handshake-failed', counted", async () => {
    const server = await startServer(n);
    const port = await wsRendezvous(server, { websocket: true, tls: certs.untrusted });
    const page = await newPage();
    const run = inPage<OpenSummary>(page, 'open', { url: `wss://127.0.0.1:${port}/`, deadlineMs: PAGE_DEADLINE_MS });
    const conn = await server.accept();
    const summary = await run;
    expect(summary).toMatchObject({ opened: false, errored: true, closeCode: 1006 });
    expect(await resetReasonOf(server, conn)).toBe('handshake-failed');
    expect(server.manager.getStats().tlsHandshakeFailures).toBe(1);
  });

  it('closeConnection: the page gets every message queued before it, then a clean close (1000)', async () => {
    const server = await startServer(n);
    const port = await wsRendezvous(server);
    const page = await newPage();
    const member = settled(
      inPage<MemberSummary>(page, 'member', { url: `ws://127.0.0.1:${port}/`, send: [], total: 1000, deadlineMs: PAGE_DEADLINE_MS }),
    );
    const conn = await server.accept();
    for (let i = 0; i < 100; i++) {
      const dg = new Datagram();
      dg.addUint32(i);
      expect(server.writer.send(dg, conn)).toBe(true);
    }
    server.manager.closeConnection(conn);
    const summary = await pollUntil(member, { timeoutMs: PAGE_DEADLINE_MS + 5000, label: "the page's run" });
    expect(summary.received.map((text) => Buffer.from(text, 'base64').readUInt32LE(0))).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(summary).toMatchObject({ opened: true, closeCode: 1000, wasClean: true, failure: 'closed after 100 of 1000 messages' });
  });

  it('a room of a Panda-framed TCP client, a ws client and the browser: each gets the same 901 messages, byte for byte, in the same order', async () => {
    const PER_MEMBER = 300;
    const TOTAL = 1 + 3 * PER_MEMBER;
    const server = await startServer(n);
    const wsPort = await wsRendezvous(server);
    const room = new ConnectionGroup();

    // What each member sends: its tag, a u16 sequence number, then 0 to 499 bytes of its own.
    const messages = [0, 1, 2].map((tag) =>
      Array.from({ length: PER_MEMBER }, (_, seq) => {
        const size = hash2(tag, seq) % 500;
        const bytes = Buffer.alloc(3 + size);
        bytes[0] = tag;
        bytes.writeUInt16LE(seq, 1);
        for (let i = 0; i < size; i++) bytes[3 + i] = (hash2(seq, tag) + i * 13) & 0xff;
        return bytes;
      }),
    );

    const panda = await Peer.connect(server.port);
    room.add(await server.accept());
    const ws = new WebSocket(`ws://127.0.0.1:${wsPort}/`);
    const wsMessages: Buffer[] = [];
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer) => wsMessages.push(data));
    ws.on('error', () => {});
    onCleanup(() => ws.terminate());
    room.add(await server.accept());
    const page = await newPage();
    const member = settled(
      inPage<MemberSummary>(page, 'member', {
        url: `ws://127.0.0.1:${wsPort}/`,
        send: messages[2].map((m) => m.toString('base64')),
        total: TOTAL,
        deadlineMs: PAGE_DEADLINE_MS,
      }),
    );
    room.add(await server.accept());
    await pollUntil(() => ws.readyState === WebSocket.OPEN, { label: 'the ws client open' });

    // The start: one broadcast; each member sends its messages once it has it (the
    // browser's page does so itself), and the server relays every datagram to the room.
    const start = new Datagram();
    start.addUint8(0xff);
    expect(server.writer.broadcast(start, room)).toBe(3);
    let pandaWrite: Promise<void> | null = null;
    let wsSent = false;
    const dg = new NetDatagram();
    const browserSummary = await pollUntil(
      () => {
        if (pandaWrite === null && panda.frameCount > 0) pandaWrite = panda.write(Buffer.concat(messages[0].map((m) => frame(m))));
        if (!wsSent && wsMessages.length > 0) {
          wsSent = true;
          for (const m of messages[1]) ws.send(m);
        }
        while (server.reader.getData(dg)) server.writer.broadcast(dg, room);
        const summary = member();
        if (summary !== undefined && summary.failure !== null) throw new Error(`the page: ${summary.failure}`);
        return panda.frameCount === TOTAL && wsMessages.length === TOTAL ? summary : undefined;
      },
      { timeoutMs: PAGE_DEADLINE_MS + 5000, label: `${TOTAL} messages at each member` },
    );
    await pandaWrite;
    const inBrowser = browserSummary.received.map((text) => Buffer.from(text, 'base64'));
    expect(inBrowser).toHaveLength(TOTAL);
    expect(panda.frames[0]).toEqual(Buffer.from([0xff]));
    // The same bytes in the same order at all three, whatever order the server relayed in.
    expect(wsMessages).toEqual(panda.frames);
    expect(inBrowser).toEqual(panda.frames);
    // And each member's messages among them whole, in the order it sent them.
    for (const tag of [0, 1, 2]) expect(panda.frames.filter((m) => m[0] === tag)).toEqual(messages[tag]);
  });
});
