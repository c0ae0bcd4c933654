/**
 * The send path (issue #9), used as a ported Panda3D program uses it: `send`'s result is
 * ignored and never retried. On an open TCP connection `send` takes every datagram (a full
 * ring or a shard that has not run yet is absorbed, in order); a connection that falls
 * behind is judged by the progress its peer makes, not by its backlog alone; a closing
 * connection lingers while its peer still takes data; resets that cut a stream end with
 * RST. The opt-in `setMaxSendBacklog` is the one way `send` refuses an open connection.
 */
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { Datagram } from '../../src/shared/datagram.js';
import { DatagramIterator } from '../../src/shared/datagram-iterator.js';
import { NetDatagram } from '../../src/main/api/net-datagram.js';
import { PointerToConnection } from '../../src/main/api/pointer-to-connection.js';
import type { Connection } from '../../src/main/api/connection.js';
import { NetAddress } from '../../src/main/api/net-address.js';
import type { ShardHandle } from '../../src/main/shards/shard-handle.js';
import { RecordKind } from '../../src/shared/protocol/record-kind.js';
import { DATA_OFFSET, HEAD, OFF_CONNECTION, OFF_KIND, OFF_LENGTH, TAIL, WRAP_MARKER, recordSpan } from '../../src/shared/protocol/ring-layout.js';
import {
  Peer,
  closeAll,
  expectNothingFor,
  fillPayload,
  frame,
  onCleanup,
  pollUntil,
  startServer,
  type PeerOptions,
  type TestServer,
} from '../helpers/net-harness.js';

// ── datagrams that carry their sequence number ──────────────────────────────

/** Bytes of the sequence number (u32 little-endian) at the front of each datagram. */
const SEQ_BYTES = 4;

/** Fills `out[0, size)` with datagram (`stream`, `seq`): its sequence number, then fillPayload's bytes. */
function fillSequenced(out: Uint8Array, stream: number, seq: number, size: number): void {
  out[0] = seq & 0xff;
  out[1] = (seq >>> 8) & 0xff;
  out[2] = (seq >>> 16) & 0xff;
  out[3] = seq >>> 24;
  fillPayload(out, SEQ_BYTES, stream, seq, size - SEQ_BYTES);
}

/** Builds datagram (`stream`, seq) of `size` bytes in one reused Datagram. */
class SequencedSource {
  readonly dg = new Datagram();
  private readonly scratch: Uint8Array;

  constructor(
    readonly stream: number,
    readonly size: number,
  ) {
    this.scratch = new Uint8Array(size);
  }

  datagram(seq: number): Datagram {
    fillSequenced(this.scratch, this.stream, seq, this.size);
    this.dg.assign(this.scratch, 0, this.size);
    return this.dg;
  }
}

/**
 * Checks one stream's datagrams as they arrive: each must be whole (its size, its bytes) and
 * come after the one before it. `consecutive` also rejects gaps; otherwise the sequence
 * numbers are kept in `seqs`, for comparison with the sends that returned true. Records the
 * first failure instead of throwing inside a socket callback.
 */
class StreamChecker {
  count = 0;
  last = -1;
  failure: string | null = null;
  readonly seqs: number[] = [];
  private readonly expected: Uint8Array;

  constructor(
    readonly stream: number,
    readonly size: number,
    private readonly consecutive = true,
  ) {
    this.expected = new Uint8Array(size);
  }

  readonly check = (payload: Uint8Array): void => {
    if (this.failure !== null) return;
    const where = `stream ${this.stream}, datagram #${this.count} (after seq ${this.last})`;
    if (payload.length !== this.size) {
      this.failure = `${where}: ${payload.length} bytes, expected ${this.size} (cut or merged)`;
      return;
    }
    const seq = (payload[0] | (payload[1] << 8) | (payload[2] << 16) | (payload[3] << 24)) >>> 0;
    if (seq <= this.last) {
      this.failure = `${where}: seq ${seq} (duplicated or reordered)`;
      return;
    }
    if (this.consecutive && seq !== this.last + 1) {
      this.failure = `${where}: seq ${seq}, expected ${this.last + 1} (lost)`;
      return;
    }
    fillSequenced(this.expected, this.stream, seq, this.size);
    if (Buffer.compare(payload, this.expected) !== 0) {
      this.failure = `${where}: seq ${seq} has the wrong bytes (corrupted)`;
      return;
    }
    if (!this.consecutive) this.seqs.push(seq);
    this.last = seq;
    this.count++;
  };
}

// ── small helpers ───────────────────────────────────────────────────────────

const QUIET: PeerOptions = { keepFrames: false, keepBytes: false };

/** Connects `count` Peers (25 at a time) and accepts them; conns[i] is peers[i]'s server side. */
async function connectPeers(
  server: TestServer,
  count: number,
  options: (index: number) => PeerOptions,
  read = true,
): Promise<{ peers: Peer[]; conns: Connection[] }> {
  const peers: Peer[] = [];
  for (let i = 0; i < count; i += 25) {
    const batch: Promise<Peer>[] = [];
    for (let j = i; j < Math.min(count, i + 25); j++) batch.push(Peer.connect(server.port, options(j)));
    peers.push(...(await Promise.all(batch)));
  }
  const byPort = new Map<number, Connection>();
  for (let i = 0; i < count; i++) {
    const conn = await server.accept({ read });
    byPort.set(conn.getAddress().getPort(), conn);
  }
  const conns = peers.map((peer) => {
    const conn = byPort.get(peer.localPort);
    if (conn === undefined) throw new Error(`connectPeers: no server connection for peer port ${peer.localPort}`);
    return conn;
  });
  return { peers, conns };
}

/** Where two sequence lists first differ (null when equal), without printing thousands of numbers. */
function firstDifference(got: readonly number[], want: readonly number[]): string | null {
  const n = Math.min(got.length, want.length);
  for (let i = 0; i < n; i++) {
    if (got[i] !== want[i]) return `at #${i}: got seq ${got[i]}, expected ${want[i]} (${got.length} received, ${want.length} expected)`;
  }
  if (got.length !== want.length) {
    return `the first ${n} agree; ${got.length} received, ${want.length} expected (next expected: ${want[n] ?? 'none'})`;
  }
  return null;
}

/** Takes the server's reset queue as it fills; `seen` maps each reset connection to when it was taken. */
class ResetWatch {
  readonly seen = new Map<Connection, number>();
  private readonly ptr = new PointerToConnection();
  private readonly dg = new NetDatagram();

  constructor(private readonly server: TestServer) {}

  /** Drops whatever the reader holds (resets queue behind their connection's data), then takes the resets. */
  poll(): void {
    while (this.server.reader.getData(this.dg));
    while (this.server.manager.getResetConnection(this.ptr)) this.seen.set(this.ptr.p()!, performance.now());
  }
}

/** Appends `state()` to a pollUntil timeout, so the failure says where things stood. */
async function withState<T>(waiting: Promise<T>, state: () => string): Promise<T> {
  try {
    return await waiting;
  } catch (error) {
    throw new Error(`${(error as Error).message}; ${state()}`);
  }
}

/**
 * Waits `ms` with a timer. Only where the passage of time is the test's condition (a peer
 * that stays away longer than a linger); everything else waits on a poll with a deadline.
 */
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    onCleanup(() => clearTimeout(timer));
  });
}

/** Runs `fn` after `ms`, unless the test ends first. */
function after(ms: number, fn: () => void): void {
  const timer = setTimeout(fn, ms);
  onCleanup(() => clearTimeout(timer));
}

function errorCode(peer: Peer): string | undefined {
  return (peer.error as NodeJS.ErrnoException | null)?.code;
}

/**
 * Asks a peer that is not reading whether its kernel holds an RST from the server: it writes
 * one frame. After an RST the write fails at once with ECONNRESET; after a clean FIN, or
 * while the server's socket still lives, it succeeds and a paused socket reports nothing.
 * (Resuming the socket would not tell them apart: after a partial read libuv reports the
 * hang-up as a clean 'end', RST or not.)
 */
async function probeForRst(peer: Peer, what: string): Promise<void> {
  peer.socket.write(frame([0]));
  await pollUntil(() => peer.error !== null, {
    timeoutMs: 2000,
    label: `${what}: ECONNRESET on a write by the peer (no error: the stream was not cut with RST)`,
  });
}

/**
 * True when `shard`'s inbound ring holds a record of `kind` for connection `id` that the
 * reader has not released: looked at without consuming anything (the reader's own
 * position is left alone).
 */
function inboundHolds(shard: ShardHandle, kind: number, id: number): boolean {
  const { buffer, capacity } = shard.inbound;
  const words = new Int32Array(buffer, 0, DATA_OFFSET >> 2);
  const view = new DataView(buffer, DATA_OFFSET, capacity);
  const head = Atomics.load(words, HEAD) >>> 0;
  for (let at = Atomics.load(words, TAIL) >>> 0; at !== head; ) {
    const pos = at & (capacity - 1);
    const length = view.getUint32(pos + OFF_LENGTH, true);
    if (length === WRAP_MARKER) {
      at = (at + capacity - pos) >>> 0;
      continue;
    }
    if (view.getUint8(pos + OFF_KIND) === kind && view.getUint32(pos + OFF_CONNECTION, true) === id) return true;
    at = (at + recordSpan(length)) >>> 0;
  }
  return false;
}

/**
 * A peer that sends one request together with its FIN and reads everything; returns the
 * server's side once the reader has handed out the request and the shard has written the
 * connection's CLOSED record, which the reader has not taken yet: the window in which the
 * program replies to a half-closed peer.
 */
async function halfClosedAfterRequest(server: TestServer): Promise<{ peer: Peer; conn: Connection }> {
  const peer = await Peer.connect(server.port, QUIET);
  const conn = await server.accept();
  peer.socket.end(frame([1, 2, 3]));
  const dg = new NetDatagram();
  await pollUntil(() => server.reader.getData(dg), { label: 'the request sent with the FIN' });
  await pollUntil(() => inboundHolds(conn.shard!, RecordKind.CLOSED, conn.id), { label: "the shard's CLOSED record for the half-closed peer" });
  expect(conn.getResetReason()).toBeNull();
  return { peer, conn };
}

const MiB = 1024 * 1024;

describe.each([0, 2])('the send path (numThreads %i)', (n) => {
  afterEach(closeAll);

  it('a 20 000-send burst in one loop (100 × 200 B to each of 200 clients) reaches every client whole and in order', async () => {
    const server = await startServer(n);
    const CLIENTS = 200;
    const PER_CLIENT = 100;
    const SIZE = 200;
    const checkers = Array.from({ length: CLIENTS }, (_, i) => new StreamChecker(i, SIZE));
    const { peers, conns } = await connectPeers(server, CLIENTS, (i) => ({ ...QUIET, onFrame: checkers[i].check }), false);
    const sources = checkers.map((_, i) => new SequencedSource(i, SIZE));

    // One synchronous loop, results ignored, as a game's broadcast does it.
    let refused = 0;
    for (let seq = 0; seq < PER_CLIENT; seq++) {
      for (let i = 0; i < CLIENTS; i++) if (!server.writer.send(sources[i].datagram(seq), conns[i])) refused++;
    }

    const failure = (): string | null => checkers.find((c) => c.failure !== null)?.failure ?? null;
    const received = (): number => checkers.reduce((sum, c) => sum + c.count, 0);
    await withState(
      pollUntil(() => failure() !== null || received() === CLIENTS * PER_CLIENT, {
        timeoutMs: 20_000,
        label: `${CLIENTS * PER_CLIENT} datagrams at ${CLIENTS} clients`,
      }),
      () =>
        `received ${received()}, send returned false ${refused} times, clients short: ` +
        `${checkers.filter((c) => c.count < PER_CLIENT).length}, queue ${server.writer.getCurrentQueueSize()}`,
    );
    expect(failure()).toBeNull();
    expect(checkers.map((c) => c.count)).toEqual(new Array(CLIENTS).fill(PER_CLIENT));
    expect(peers.map((p) => p.partialBytes)).toEqual(new Array(CLIENTS).fill(0));
    expect(conns.every((c) => c.open)).toBe(true);
    expect(refused).toBe(0);
  });

  it('32 MiB at 1 MiB a turn to a peer reading flat out: every send returns true, no reset, all in order', async () => {
    const server = await startServer(n);
    const SIZE = 1024;
    const PER_TURN = 1024;
    const TOTAL = 32 * 1024; // 32 MiB of payload
    const checker = new StreamChecker(0, SIZE);
    const peer = await Peer.connect(server.port, { ...QUIET, onFrame: checker.check });
    const conn = await server.accept();
    const source = new SequencedSource(0, SIZE);

    let refused = 0;
    let maxBacklog = 0;
    for (let seq = 0; seq < TOTAL; ) {
      for (let k = 0; k < PER_TURN; k++, seq++) if (!server.writer.send(source.datagram(seq), conn)) refused++;
      maxBacklog = Math.max(maxBacklog, server.writer.getSendBacklog(conn));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }

    await withState(
      pollUntil(() => checker.failure !== null || checker.count === TOTAL || !conn.open, {
        timeoutMs: 20_000,
        label: `${TOTAL} datagrams of ${SIZE} B at the peer`,
      }),
      () =>
        `received ${checker.count}, refused ${refused}, open ${conn.open} (${conn.getResetReason()}), ` +
        `backlog ${server.writer.getSendBacklog(conn)}, max backlog seen ${maxBacklog}`,
    );
    expect(checker.failure).toBeNull();
    expect(conn.getResetReason()).toBeNull();
    expect(conn.open).toBe(true);
    expect(checker.count).toBe(TOTAL);
    expect(peer.partialBytes).toBe(0);
    expect(refused).toBe(0);
    expect(server.manager.resetConnectionAvailable()).toBe(false);
    expect(peer.error).toBeNull();
  });

  it(
    'a peer that stops reading is reset slow-consumer after sendStallTimeoutMs and sees ECONNRESET; ' +
      'a peer that reads gets everything and is not reset',
    async () => {
      const STALL_MS = 1000;
      const LIMIT = 256 * 1024;
      const server = await startServer(n, { manager: { sendBacklogLimit: LIMIT, sendStallTimeoutMs: STALL_MS } });
      const SIZE = 1000;
      const fastChecker = new StreamChecker(1, SIZE);
      const { peers, conns } = await connectPeers(server, 2, (i) => (i === 0 ? QUIET : { ...QUIET, onFrame: fastChecker.check }));
      const [slow, fast] = peers;
      const [slowConn, fastConn] = conns;
      slow.socket.pause(); // reads nothing from now on: the kernel's buffers fill, then the backlog grows
      const slowDg = new Datagram();
      slowDg.padBytes(SIZE - 2); // SIZE bytes on the wire
      const fastSource = new SequencedSource(1, SIZE);
      // Enough to fill the loopback buffers and pass LIMIT by far, well below sendBacklogHardLimit.
      const SLOW_BYTES = 16 * MiB;
      const WINDOW = 256;

      const watch = new ResetWatch(server);
      const started = performance.now();
      let overLimitAt = -1;
      let slowBytes = 0;
      let fastSent = 0;
      await withState(
        pollUntil(
          () => {
            for (let k = 0; k < 32 && slowBytes < SLOW_BYTES; k++, slowBytes += SIZE) server.writer.send(slowDg, slowConn);
            // The reading peer gets a steady stream, at most WINDOW datagrams ahead of it.
            while (fastSent - fastChecker.count < WINDOW) server.writer.send(fastSource.datagram(fastSent++), fastConn);
            if (overLimitAt < 0 && server.writer.getSendBacklog(slowConn) > LIMIT) overLimitAt = performance.now();
            watch.poll();
            return watch.seen.has(slowConn) || watch.seen.has(fastConn);
          },
          { timeoutMs: 15_000, label: 'the slow-consumer reset of the peer that does not read' },
        ),
        () =>
          `sent ${slowBytes} B to the slow peer (backlog ${server.writer.getSendBacklog(slowConn)}, over the limit since ` +
          `${overLimitAt < 0 ? 'never' : `${Math.round(performance.now() - overLimitAt)} ms`}), ${fastSent} datagrams to the fast one`,
      );
      expect(watch.seen.has(fastConn)).toBe(false);
      expect(slowConn.getResetReason()).toBe('slow-consumer');
      const resetAt = watch.seen.get(slowConn)!;
      expect(overLimitAt).toBeGreaterThan(0);
      // Judged by progress: not reset on passing the limit, but once nothing was taken for
      // sendStallTimeoutMs (the peer stopped taking after the first send, at the earliest).
      expect(resetAt - started).toBeGreaterThanOrEqual(STALL_MS * 0.8);
      expect(resetAt - overLimitAt).toBeLessThan(STALL_MS + 2000);

      // The reset cuts the stream: RST, not a clean FIN.
      await probeForRst(slow, 'the slow-consumer reset');
      expect(errorCode(slow)).toBe('ECONNRESET');
      expect(slow.ended).toBe(false);

      await withState(
        pollUntil(() => fastChecker.failure !== null || fastChecker.count === fastSent || !fastConn.open, {
          label: `all ${fastSent} datagrams at the reading peer`,
        }),
        () => `it has ${fastChecker.count}, open ${fastConn.open} (${fastConn.getResetReason()})`,
      );
      expect(fastChecker.failure).toBeNull();
      expect(fastChecker.count).toBe(fastSent);
      expect(fastConn.open).toBe(true);
      expect(fastConn.getResetReason()).toBeNull();
      watch.poll();
      expect(watch.seen.has(fastConn)).toBe(false);
      expect(fast.error).toBeNull();
    },
  );

  it.each(['close()', 'closeConnection(conn)'] as const)(
    '%s with 10 MB queued to a peer that resumes reading 2.5 s later: every datagram, then a clean end',
    async (how) => {
      const server = await startServer(n);
      const SIZE = 1000;
      const COUNT = 10_000;
      const checker = new StreamChecker(0, SIZE);
      const peer = await Peer.connect(server.port, { ...QUIET, onFrame: checker.check });
      peer.socket.pause();
      const conn = await server.accept();
      const source = new SequencedSource(0, SIZE);
      for (let seq = 0; seq < COUNT; seq++) server.writer.send(source.datagram(seq), conn); // results ignored

      let closed = false;
      if (how === 'close()') {
        void server.manager.close().then(() => (closed = true));
      } else {
        expect(server.manager.closeConnection(conn)).toBe(true);
        closed = true;
      }
      // Longer than the old 2 s linger, well inside closeLingerMs and shutdownTimeoutMs (5 s).
      after(2500, () => peer.socket.resume());

      await withState(
        pollUntil(() => peer.ended || peer.closed || checker.failure !== null, {
          timeoutMs: 15_000,
          label: "the peer to read everything and see the server's FIN",
        }),
        () => `received ${checker.count} of ${COUNT}, error ${errorCode(peer) ?? String(peer.error)}`,
      );
      expect(checker.failure).toBeNull();
      expect(peer.error).toBeNull();
      expect(peer.ended).toBe(true);
      expect(peer.framesAtEnd).toBe(COUNT);
      expect(peer.partialBytes).toBe(0);
      await pollUntil(() => closed, { label: `${how} to have finished` });
      expect(conn.getResetReason()).toBe('closed-locally');
      expect(server.writer.send(source.datagram(COUNT), conn)).toBe(false);
    },
  );

  it('a peer that half-closes while not reading gets every datagram send accepted, then the FIN', async () => {
    const server = await startServer(n);
    const SIZE = 1000;
    const checker = new StreamChecker(0, SIZE, false);
    const peer = await Peer.connect(server.port, { ...QUIET, onFrame: checker.check });
    peer.socket.pause();
    const conn = await server.accept();
    const source = new SequencedSource(0, SIZE);
    const accepted: number[] = [];
    let seq = 0;
    const sendNext = (): void => {
      if (server.writer.send(source.datagram(seq), conn)) accepted.push(seq);
      seq++;
    };

    const BEFORE_FIN = 8000; // 8 MB: more than the loopback buffers of a peer that never read take
    for (let k = 0; k < BEFORE_FIN; k++) sendNext();
    const acceptedBeforeFin = accepted.length;
    peer.socket.end(); // FIN, without reading anything
    after(3000, () => peer.socket.resume());

    // Keep sending (results ignored) until the server has seen the peer go, and once after.
    const watch = new ResetWatch(server);
    await pollUntil(
      () => {
        for (let k = 0; k < 16; k++) sendNext();
        watch.poll();
        return watch.seen.has(conn);
      },
      { label: 'the closed-by-peer reset of the half-closed peer' },
    );
    expect(conn.getResetReason()).toBe('closed-by-peer');
    for (let k = 0; k < 100; k++) sendNext();

    await withState(
      pollUntil(() => peer.ended || peer.closed || checker.failure !== null, {
        timeoutMs: 15_000,
        label: "the half-closed peer to read everything and see the server's FIN",
      }),
      () => `received ${checker.count} of the ${accepted.length} accepted, error ${errorCode(peer) ?? String(peer.error)}`,
    );
    expect(checker.failure).toBeNull();
    expect(peer.error).toBeNull();
    expect(peer.ended).toBe(true);
    expect(firstDifference(checker.seqs, accepted)).toBeNull();
    expect(peer.framesAtEnd).toBe(accepted.length);
    expect(peer.partialBytes).toBe(0);
    // Every send before the FIN was on an open connection.
    expect(acceptedBeforeFin).toBe(BEFORE_FIN);
  });

  it('a request sent together with FIN gets its reply, then the FIN', async () => {
    const server = await startServer(n);
    const peer = await Peer.connect(server.port);
    const conn = await server.accept();
    const request = new Datagram();
    request.addString('request 1');
    peer.socket.end(frame(request.getMessage())); // one write: the request and the FIN

    // The server runs its loop as a game does, every turn: answer each datagram as it is
    // read (the manual's loop), then take the resets.
    const dg = new NetDatagram();
    const ptr = new PointerToConnection();
    const replies: boolean[] = [];
    let resetSeen = false;
    await withState(
      pollUntil(
        () => {
          while (server.reader.getData(dg)) {
            const reply = new Datagram();
            reply.addString(`reply to ${new DatagramIterator(dg).getString()}`);
            replies.push(server.writer.send(reply, dg.getConnection()!));
          }
          while (server.manager.getResetConnection(ptr)) if (ptr.p() === conn) resetSeen = true;
          return peer.ended || peer.closed;
        },
        { label: "the reply and the server's FIN at the peer" },
      ),
      () => `send results ${JSON.stringify(replies)}, reset seen ${resetSeen} (${conn.getResetReason()}), peer has ${peer.frameCount} frames`,
    );
    expect(peer.error).toBeNull();
    const expected = new Datagram();
    expected.addString('reply to request 1');
    expect(peer.frames.map((f) => Array.from(f))).toEqual([Array.from(expected.getMessage())]);
    expect(peer.framesAtEnd).toBe(1);
    expect(replies).toEqual([true]);
    await pollUntil(
      () => {
        while (server.manager.getResetConnection(ptr)) if (ptr.p() === conn) resetSeen = true;
        return resetSeen;
      },
      { label: 'the closed-by-peer reset after the request' },
    );
    expect(conn.getResetReason()).toBe('closed-by-peer');
  });

  it('replies to a half-closed peer that reads leave no backlog: getSendBacklog falls to 0 and setMaxSendBacklog refuses none', async () => {
    const server = await startServer(n);
    server.writer.setMaxSendBacklog(64 * 1024);
    const { peer, conn } = await halfClosedAfterRequest(server);
    const reply = new Datagram();
    reply.padBytes(4096 - 2);
    const REPLIES = 64; // 256 KiB in all: four times the soft limit
    for (let i = 0; i < REPLIES; i++) {
      expect(server.writer.send(reply, conn), `reply ${i + 1}`).toBe(true);
      await pollUntil(() => server.writer.getSendBacklog(conn) === 0, { timeoutMs: 3000, label: `the backlog to fall to 0 after reply ${i + 1}` });
    }
    await pollUntil(() => peer.frameCount === REPLIES, { label: 'every reply at the peer' });
    // Moving past the request takes the CLOSED record: the peer gets our FIN after the replies.
    expect(server.reader.getData(new NetDatagram())).toBe(false);
    expect(conn.getResetReason()).toBe('closed-by-peer');
    await pollUntil(() => peer.ended, { label: "the server's FIN at the peer" });
    expect(peer.framesAtEnd).toBe(REPLIES);
    expect(peer.error).toBeNull();
  });

  it('replies to a half-closed peer that reads never reach sendBacklogHardLimit', async () => {
    const server = await startServer(n, { manager: { ringCapacity: 64 * 1024, sendBacklogLimit: 32 * 1024, sendBacklogHardLimit: 64 * 1024 } });
    const { peer, conn } = await halfClosedAfterRequest(server);
    const reply = new Datagram();
    reply.padBytes(4096 - 2);
    const REPLIES = 64; // 256 KiB in all: four times the hard limit, each taken before the next
    for (let i = 0; i < REPLIES; i++) {
      expect(server.writer.send(reply, conn), `reply ${i + 1}`).toBe(true);
      await pollUntil(() => peer.frameCount === i + 1 || peer.error !== null, { label: `reply ${i + 1} at the peer` });
    }
    expect(peer.error).toBeNull();
    expect(server.reader.getData(new NetDatagram())).toBe(false);
    expect(conn.getResetReason()).toBe('closed-by-peer');
    await pollUntil(() => peer.ended || peer.error !== null, { label: "the server's FIN at the peer" });
    expect(peer.error).toBeNull();
    expect(peer.framesAtEnd).toBe(REPLIES);
  });

  it('a responsive shard answers 95 % of pings within 250 ms, and all within 1 s, while the main thread sends 1 MiB a turn to 50 others', async () => {
    const server = await startServer(n);
    const BULK_PEERS = 50;
    // The bulk readers only count bytes (no frame decoding), so their cost on the main
    // thread, which also runs the ping peer and the server's loop, stays small.
    const { peers: bulkPeers, conns } = await connectPeers(server, BULK_PEERS, () => ({ ...QUIET, headerSize: 0 }), false);
    const sentAt = new Map<number, number>();
    const rtts: number[] = [];
    const oneWay: number[] = []; // ping written → the server's getData: the inbound half
    const ping = await Peer.connect(server.port, {
      ...QUIET,
      onFrame: (payload) => {
        const seq = payload.readUInt32LE(0);
        const t = sentAt.get(seq);
        if (t === undefined) return;
        rtts.push(performance.now() - t);
        sentAt.delete(seq);
      },
    });
    const pingConn = await server.accept();
    pingConn.setNoDelay(true);
    let pings = 0;
    const pinger = setInterval(() => {
      const body = Buffer.alloc(4);
      body.writeUInt32LE(pings);
      sentAt.set(pings++, performance.now());
      ping.socket.write(frame(body));
    }, 20);
    onCleanup(() => clearInterval(pinger));

    const bulk = new Datagram();
    bulk.padBytes(1000);
    const echo = new NetDatagram();
    const answer = (): void => {
      while (server.reader.getData(echo)) {
        const m = echo.getMessage();
        const t = sentAt.get((m[0] | (m[1] << 8) | (m[2] << 16) | (m[3] << 24)) >>> 0);
        if (t !== undefined) oneWay.push(performance.now() - t);
        server.writer.send(echo, echo.getConnection()!);
      }
    };
    const PER_PEER = 20; // 20 × 1000 B × 50 peers: 1 MiB a turn when all have room
    const PACE = 256 * 1024; // per connection, on getSendBacklog, as the README advises
    let bytesSent = 0;
    const turnGaps: number[] = [];
    let lastTurn = performance.now();
    const end = lastTurn + 2000;
    await pollUntil(
      () => {
        const now = performance.now();
        turnGaps.push(now - lastTurn);
        lastTurn = now;
        for (const conn of conns) {
          if (server.writer.getSendBacklog(conn) >= PACE) continue;
          for (let k = 0; k < PER_PEER; k++) server.writer.send(bulk, conn);
          bytesSent += PER_PEER * bulk.getLength();
        }
        answer();
        return now > end;
      },
      { label: 'the 2 s of bulk sending to pass' },
    );
    clearInterval(pinger);
    await pollUntil(
      () => {
        answer();
        return sentAt.size === 0;
      },
      { label: `the replies to the last pings (${sentAt.size} outstanding of ${pings})` },
    );

    const quantile = (values: number[], q: number): string => {
      const sorted = [...values].sort((a, b) => a - b);
      return sorted.length === 0 ? '-' : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))].toFixed(1);
    };
    const received = bulkPeers.reduce((sum, p) => sum + p.receivedBytes, 0);
    const summary =
      `${pings} pings, round trip ms p50 ${quantile(rtts, 0.5)} p99 ${quantile(rtts, 0.99)} max ${quantile(rtts, 1)}; ` +
      `inbound half p50 ${quantile(oneWay, 0.5)} max ${quantile(oneWay, 1)}; ` +
      `${turnGaps.length} main-thread turns, p99 ${quantile(turnGaps, 0.99)} max ${quantile(turnGaps, 1)} ms; ` +
      `${(bytesSent / MiB).toFixed(0)} MiB sent, ${(received / MiB).toFixed(0)} MiB received`;
    expect(rtts.length, summary).toBe(pings);
    expect(pings, summary).toBeGreaterThanOrEqual(40);
    expect(bytesSent, summary).toBeGreaterThan(8 * MiB); // the load was real
    // Bounds 20-100x looser than a normal round trip under this load (about 10 ms): only a
    // shard that keeps its sockets unread for long stretches, again and again, breaks them.
    // Not the maximum against 250 ms: with 2 shards, the main thread and the bulk readers
    // all busy on a 2-core machine, a rare ping waits out the scheduler for 150-400 ms.
    expect(Number(quantile(rtts, 0.95)), summary).toBeLessThan(250);
    expect(Math.max(...rtts), summary).toBeLessThan(1000);
    expect(conns.every((c) => c.open), summary).toBe(true);
    expect(pingConn.open).toBe(true);
  });

  it('send(dg, tcpConnection, address) throws a TypeError naming the address (the form is UDP only) and sends nothing', async () => {
    const server = await startServer(n);
    const peer = await Peer.connect(server.port);
    const conn = await server.accept();
    const to = new NetAddress();
    expect(to.setHost('127.0.0.1', 9)).toBe(true);
    const dg = new Datagram();
    dg.addUint8(1);
    expect(() => server.writer.send(dg, conn, to)).toThrow(TypeError);
    expect(() => server.writer.send(dg, conn, to, true)).toThrow(/address .*UDP/);
    expect(() => server.writer.send(dg, conn, 'x' as never)).toThrow(/got "x" \(string\)/);
    expect(server.writer.getSendBacklog(conn)).toBe(0);
    // Panda3D's three-argument TCP form (block) still sends.
    dg.clear();
    dg.addUint8(2);
    expect(server.writer.send(dg, conn, true)).toBe(true);
    await pollUntil(() => peer.frameCount === 1, { label: 'the one datagram' });
    await expectNothingFor(100, () => peer.frameCount > 1, 'second datagram');
    expect(Array.from(peer.frames[0])).toEqual([2]);
  });

  it('getMessage() after getData is a copy the next getData leaves alone; getMessageView() is the buffer itself', async () => {
    const server = await startServer(n);
    const peer = await Peer.connect(server.port);
    await server.accept();
    await peer.write(Buffer.concat([frame([1, 2, 3, 4]), frame([5, 6, 7, 8])]));
    const dg = new NetDatagram();
    await pollUntil(() => server.reader.getData(dg), { label: 'the first datagram' });
    const copy = dg.getMessage();
    const view = dg.getMessageView();
    expect(Array.from(copy)).toEqual([1, 2, 3, 4]);
    expect(Array.from(view)).toEqual([1, 2, 3, 4]);
    await pollUntil(() => server.reader.getData(dg), { label: 'the second datagram' });
    expect(Array.from(copy)).toEqual([1, 2, 3, 4]);
    expect(Array.from(view)).toEqual([5, 6, 7, 8]);
    expect(Array.from(dg.getMessage())).toEqual([5, 6, 7, 8]);
  });

  it('setMaxSendBacklog: sends to a peer that does not read return false at the limit, the backlog stays bounded, and exactly what returned true arrives', async () => {
    const server = await startServer(n);
    expect(server.writer.getMaxSendBacklog()).toBe(0);
    const LIMIT = 64 * 1024;
    server.writer.setMaxSendBacklog(LIMIT);
    expect(server.writer.getMaxSendBacklog()).toBe(LIMIT);
    const SIZE = 1000;
    const checker = new StreamChecker(0, SIZE, false);
    const peer = await Peer.connect(server.port, { ...QUIET, onFrame: checker.check });
    peer.socket.pause();
    const conn = await server.accept();
    const source = new SequencedSource(0, SIZE);
    const accepted: number[] = [];
    let refused = 0;
    let seq = 0;
    let maxBacklog = 0;
    await withState(
      pollUntil(
        () => {
          for (let k = 0; k < 64; k++, seq++) {
            if (server.writer.send(source.datagram(seq), conn)) accepted.push(seq);
            else refused++;
            maxBacklog = Math.max(maxBacklog, server.writer.getSendBacklog(conn));
          }
          return refused >= 2000 || !conn.open;
        },
        { timeoutMs: 15_000, label: '2000 sends refused at the soft limit' },
      ),
      () => `accepted ${accepted.length}, refused ${refused}, backlog ${server.writer.getSendBacklog(conn)}, open ${conn.open}`,
    );
    expect(conn.open).toBe(true);
    expect(conn.getResetReason()).toBeNull();
    expect(server.manager.resetConnectionAvailable()).toBe(false);
    // Bounded near the limit: the shard publishes what it took and what its socket queues as
    // two numbers, so a reading between them may count one batch twice — never more.
    expect(maxBacklog).toBeLessThanOrEqual(2 * LIMIT);
    expect(server.writer.getSendBacklog(conn)).toBeLessThanOrEqual(LIMIT);

    peer.socket.resume();
    await withState(
      pollUntil(() => checker.failure !== null || checker.count === accepted.length, {
        label: `the ${accepted.length} accepted datagrams at the peer`,
      }),
      () => `received ${checker.count}`,
    );
    expect(checker.failure).toBeNull();
    expect(firstDifference(checker.seqs, accepted)).toBeNull();
    await expectNothingFor(200, () => peer.frameCount > accepted.length, 'datagram beyond those send accepted');
    expect(peer.partialBytes).toBe(0);
    await pollUntil(() => server.writer.getSendBacklog(conn) === 0, { label: 'the backlog to drain' });
    expect(conn.open).toBe(true);
  });

  it('by default 20 000 sends in one loop are never refused, and getCurrentQueueSize() falls to 0 once handed over', async () => {
    const server = await startServer(n);
    const SIZE = 20;
    const COUNT = 20_000;
    const checker = new StreamChecker(0, SIZE);
    await Peer.connect(server.port, { ...QUIET, onFrame: checker.check });
    const conn = await server.accept({ read: false });
    const source = new SequencedSource(0, SIZE);
    let refused = 0;
    for (let seq = 0; seq < COUNT; seq++) if (!server.writer.send(source.datagram(seq), conn)) refused++;
    expect(refused).toBe(0);
    await withState(
      pollUntil(() => server.writer.getCurrentQueueSize() === 0, { label: 'the writer queue to be handed over' }),
      () => `queue ${server.writer.getCurrentQueueSize()}`,
    );
    await pollUntil(() => checker.failure !== null || checker.count === COUNT, { label: `${COUNT} datagrams at the peer` });
    expect(checker.failure).toBeNull();
    expect(checker.count).toBe(COUNT);
    expect(server.writer.getCurrentQueueSize()).toBe(0);
  });

  it('a closing connection whose peer takes nothing for closeLingerMs is destroyed with RST', async () => {
    const LINGER_MS = 300;
    const server = await startServer(n, { manager: { closeLingerMs: LINGER_MS } });
    const SIZE = 1000;
    const COUNT = 10_000;
    const peer = await Peer.connect(server.port, QUIET);
    peer.socket.pause();
    const conn = await server.accept();
    const source = new SequencedSource(0, SIZE);
    for (let seq = 0; seq < COUNT; seq++) server.writer.send(source.datagram(seq), conn);
    expect(server.manager.closeConnection(conn)).toBe(true);
    // The condition is time itself: the peer stays away for 5 × closeLingerMs.
    await delay(5 * LINGER_MS);
    await probeForRst(peer, 'the end of the linger');
    expect(errorCode(peer)).toBe('ECONNRESET');
    expect(peer.ended).toBe(false);
  });

  it('a backlog past sendBacklogHardLimit is cut at once, long before the stall timeout, with RST', async () => {
    const HARD = 2 * MiB;
    const server = await startServer(n, { manager: { sendBacklogLimit: HARD, sendBacklogHardLimit: HARD, sendStallTimeoutMs: 60_000 } });
    const peer = await Peer.connect(server.port, QUIET);
    peer.socket.pause();
    const conn = await server.accept();
    // The shard holds the socket before anything is sent, so its letting go below means the cut.
    await pollUntil(() => server.manager.getStats().connections === 1, { label: 'the shard to adopt the socket' });
    const dg = new Datagram();
    dg.padBytes(1000);
    const watch = new ResetWatch(server);
    const started = performance.now();
    let sent = 0;
    // 1 MiB a turn: loopback's kernel buffers take a few MiB, then the backlog climbs past HARD.
    await withState(
      pollUntil(
        () => {
          for (let k = 0; k < 1024 && conn.open; k++, sent++) server.writer.send(dg, conn);
          watch.poll();
          return watch.seen.has(conn);
        },
        { timeoutMs: 20_000, label: 'the hard-limit reset' },
      ),
      () => `sent ${sent} datagrams, backlog ${server.writer.getSendBacklog(conn)}`,
    );
    expect(conn.getResetReason()).toBe('slow-consumer');
    // Far below the 60 s stall timeout: the size alone decided.
    expect(watch.seen.get(conn)! - started).toBeLessThan(15_000);
    expect(server.writer.send(dg, conn)).toBe(false);
    // The writer may have queued the reset before the shard cut the socket: probe once it has.
    await pollUntil(() => server.manager.getStats().connections === 0, { label: 'the shard to let go of the cut socket' });
    await probeForRst(peer, 'the hard-limit cut');
    expect(errorCode(peer)).toBe('ECONNRESET');
  });

  it('past shardSendBudget the largest backlog is cut first and a smaller one is kept', async () => {
    const BUDGET = 8 * MiB;
    const server = await startServer(n, { manager: { shardSendBudget: BUDGET, sendStallTimeoutMs: 60_000 } });
    // numThreads 2 spreads connections over the shards: find two on the same shard.
    const { peers, conns } = await connectPeers(server, 4, () => QUIET);
    let pair: [number, number] | null = null;
    for (let i = 0; i < conns.length && pair === null; i++) {
      for (let j = i + 1; j < conns.length; j++) if (conns[i].shard === conns[j].shard) pair = [i, j];
    }
    expect(pair).not.toBeNull();
    const [big, small] = pair!;
    peers[big].socket.pause();
    peers[small].socket.pause();
    const dg = new Datagram();
    dg.padBytes(1000);
    const watch = new ResetWatch(server);
    let bigSent = 0;
    let smallSent = 0;
    const SMALL_TOTAL = 4096; // 4 MiB: within the budget on its own, whatever the kernel takes
    await withState(
      pollUntil(
        () => {
          for (let k = 0; k < 1024 && conns[big].open; k++, bigSent++) server.writer.send(dg, conns[big]);
          for (let k = 0; k < 256 && smallSent < SMALL_TOTAL; k++, smallSent++) server.writer.send(dg, conns[small]);
          watch.poll();
          return watch.seen.size > 0;
        },
        { timeoutMs: 20_000, label: 'a budget reset' },
      ),
      () => `big ${bigSent} sent (backlog ${server.writer.getSendBacklog(conns[big])}), small ${smallSent} sent`,
    );
    expect([...watch.seen.keys()]).toEqual([conns[big]]);
    expect(conns[big].getResetReason()).toBe('slow-consumer');
    // The kept one is still served: it gets everything once it reads again.
    for (; smallSent < SMALL_TOTAL; smallSent++) server.writer.send(dg, conns[small]);
    const peer = peers[small];
    let frames = 0;
    peer.socket.resume();
    await withState(
      pollUntil(
        () => {
          watch.poll();
          frames = peer.frameCount;
          return frames === SMALL_TOTAL || !conns[small].open;
        },
        { label: 'every datagram at the kept peer' },
      ),
      () => `it has ${frames} of ${SMALL_TOTAL}`,
    );
    expect(conns[small].open).toBe(true);
    expect(peer.frameCount).toBe(SMALL_TOTAL);
  });

  it('a connection cut while its sends wait behind a full ring: they are dropped, the queue empties, others are unaffected', async () => {
    const server = await startServer(n, { manager: { ringCapacity: 4096, sendBacklogLimit: MiB, sendBacklogHardLimit: MiB } });
    const checker = new StreamChecker(1, 1000);
    const { peers, conns } = await connectPeers(server, 2, (i) => (i === 0 ? QUIET : { ...QUIET, onFrame: checker.check }));
    peers[0].socket.pause();
    const [cutConn, keptConn] = conns;
    const dg = new Datagram();
    dg.padBytes(998);
    const source = new SequencedSource(1, 1000);
    // One loop, far more than a 4 KiB ring holds: the excess waits in order on this thread
    // (worker shards) or is written at once (single-thread mode). 8 MB to the peer that does
    // not read passes the 1 MiB hard limit whatever the kernel takes; the kept one stays below.
    const KEPT = 1000;
    let accepted = 0;
    for (let seq = 0; seq < 8 * KEPT; seq++) {
      server.writer.send(dg, cutConn);
      if (seq < KEPT && server.writer.send(source.datagram(seq), keptConn)) accepted++;
    }
    expect(accepted).toBe(KEPT);
    const watch = new ResetWatch(server);
    await withState(
      pollUntil(
        () => {
          watch.poll();
          return watch.seen.has(cutConn) && server.writer.getCurrentQueueSize() === 0 && checker.count === KEPT;
        },
        { label: 'the cut, an empty queue and every datagram at the kept peer' },
      ),
      () => `cut ${watch.seen.has(cutConn)}, queue ${server.writer.getCurrentQueueSize()}, kept peer has ${checker.count}`,
    );
    expect(cutConn.getResetReason()).toBe('slow-consumer');
    expect(checker.failure).toBeNull();
    expect(keptConn.open).toBe(true);
    expect(watch.seen.has(keptConn)).toBe(false);
  });
});
