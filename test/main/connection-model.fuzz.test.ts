// A model-based test (#21): random sequences of operations against a real manager and real
// loopback peers, checked after each sequence against a model small enough to be obviously
// right. Operations: server sends and broadcasts, peers that send, pause and resume
// reading, half-close or reset; closeConnection; framing changes done the race-free way
// (the server reads what each peer sent, changes the framing, acknowledges; peers use the
// new framing from the acknowledgement on); the server's read loop stalling so the 4 KiB
// rings fill. The model says, per connection:
// - server → peer: exactly the datagrams `send`/`broadcast` took (and `send` must take every
//   one for a connection the model knows is open), in order, unless the peer reset;
// - peer → server: exactly what the peer sent, in order, unless the connection was closed
//   locally or the peer reset (then a prefix);
// - resets: a peer that half-closed or reset is in the reset queue with 'closed-by-peer'
//   (unless closed locally first); a connection closed locally never is; nothing else is.
// `npm test` runs a bounded number of sequences; `npm run fuzz` runs many more.
import net from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Connection } from '../../src/main/api/connection.js';
import { NetDatagram } from '../../src/main/api/net-datagram.js';
import { PointerToConnection } from '../../src/main/api/pointer-to-connection.js';
import type { ResetReason } from '../../src/shared/reset-reason.js';
import { FrameSplitter, HOST, frame, pollUntil, startServer, type TestServer } from '../helpers/net-harness.js';
import { fuzzRuns } from '../helpers/fuzz-runs.js';

const PEERS = 3;

/** A plain node:net peer whose send framing follows the server's acknowledgements. */
class ModelPeer {
  readonly received: number[] = [];
  ended = false;
  closed = false;
  headerSize: 2 | 4 = 2;
  private readonly splitter: FrameSplitter;
  private constructor(readonly socket: net.Socket) {
    this.splitter = new FrameSplitter(2, (payload) => this.received.push(payload.readUInt32LE(0)));
    socket.on('data', (chunk: Buffer) => this.splitter.push(chunk));
    socket.on('end', () => (this.ended = true));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => {});
  }
  static connect(port: number): Promise<ModelPeer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: HOST, port });
      socket.setNoDelay(true);
      socket.once('connect', () => resolve(new ModelPeer(socket)));
      socket.once('error', reject);
    });
  }
  /** Writes datagrams without waiting for 'drain' (the sizes keep them within socket buffers). */
  send(seqs: number[], size: number): void {
    const body = Buffer.alloc(Math.max(4, size));
    const frames = seqs.map((seq) => {
      body.writeUInt32LE(seq, 0);
      return frame(body, this.headerSize);
    });
    this.socket.write(Buffer.concat(frames));
  }
  destroy(): Promise<void> {
    // resetAndDestroy after end() may never emit 'close': a destroyed socket is done with.
    if (this.closed || this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.destroy();
    });
  }
}

/** What the model knows of one connection. */
interface PeerModel {
  /** The peer's socket is gone (it reset) or has sent FIN. */
  reset: boolean;
  halfClosed: boolean;
  paused: boolean;
  /** closeConnection returned true for it. */
  closedLocally: boolean;
  /** Sequence numbers the peer has sent, in order. */
  sent: number[];
  /** Sequence numbers the server's writer took for it, in order. */
  expected: number[];
}

interface Model {
  peers: PeerModel[];
  headerSize: 2 | 4;
  nextSeq: number;
}

/** The real side: the server, its read loop, and the peers with their connections. */
class Real {
  peers: ModelPeer[] = [];
  conns: Connection[] = [];
  /** What the server read, per peer index. */
  readonly got: number[][] = [];
  readonly resets = new Map<Connection, ResetReason | null>();
  stalled = false;
  private running = true;
  private readonly dg = new NetDatagram();
  private readonly ptr = new PointerToConnection();
  private readonly index = new Map<Connection, number>();
  private loop: Promise<void> | null = null;
  constructor(readonly server: TestServer) {}

  async open(): Promise<void> {
    if (process.env.RINGWIRE_MODEL_DEBUG) console.error('OPEN');
    for (let i = 0; i < PEERS; i++) {
      this.peers.push(await ModelPeer.connect(this.server.port));
      const conn = await this.server.accept();
      this.conns.push(conn);
      this.index.set(conn, i);
      this.got.push([]);
    }
    this.loop = this.run();
  }

  /** The game loop: reads every datagram and reset, one event-loop turn at a time, unless stalled. */
  private async run(): Promise<void> {
    while (this.running) {
      if (!this.stalled) this.poll();
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  poll(): void {
    const { reader, manager } = this.server;
    while (reader.getData(this.dg)) {
      const i = this.index.get(this.dg.getConnection()!);
      if (i === undefined) continue;
      const bytes = this.dg.getMessageView();
      this.got[i].push(bytes.length >= 4 ? (bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24)) >>> 0 : -1);
    }
    while (manager.getResetConnection(this.ptr)) {
      const conn = this.ptr.p()!;
      if (this.index.has(conn)) this.resets.set(conn, conn.getResetReason());
    }
  }

  async close(): Promise<void> {
    this.running = false;
    await this.loop;
    for (const peer of this.peers) await peer.destroy();
    for (const conn of this.conns) this.server.manager.closeConnection(conn);
  }
}

type Cmd = fc.AsyncCommand<Model, Real>;

function payload(seq: number, size: number): NetDatagram {
  const dg = new NetDatagram();
  dg.addUint32(seq);
  if (size > 4) dg.padBytes(size - 4);
  return dg;
}

/** Alive for writing to: the model knows the server will write what send takes. */
function writable(p: PeerModel): boolean {
  return !p.closedLocally && !p.reset && !p.halfClosed;
}

/** `count` sends in one loop (a burst fills the outbound ring and spills to the overflow). */
class ServerSend implements Cmd {
  constructor(
    readonly peer: number,
    readonly count: number,
    readonly size: number,
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    const p = m.peers[this.peer];
    for (let k = 0; k < this.count; k++) {
      const seq = m.nextSeq++;
      const taken = r.server.writer.send(payload(seq, this.size), r.conns[this.peer]);
      if (writable(p)) expect(taken, `send to open connection ${this.peer}`).toBe(true);
      if (p.closedLocally) expect(taken, `send to a connection closed locally`).toBe(false);
      if (taken) p.expected.push(seq);
    }
  }
  toString(): string {
    return `ServerSend(${this.peer}, ${this.count}, ${this.size})`;
  }
}

class Broadcast implements Cmd {
  constructor(
    readonly mask: number,
    readonly size: number,
  ) {}
  check(): boolean {
    return this.mask !== 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    const seq = m.nextSeq++;
    const recipients = r.conns.filter((_, i) => (this.mask & (1 << i)) !== 0);
    // Which recipients broadcast takes is decided now, synchronously: the open ones.
    const open = recipients.map((conn) => r.server.reader.isConnectionOk(conn));
    const count = r.server.writer.broadcast(payload(seq, this.size), recipients);
    expect(count, 'broadcast queues for every open recipient').toBe(open.filter(Boolean).length);
    recipients.forEach((conn, k) => {
      const i = r.conns.indexOf(conn);
      if (writable(m.peers[i])) expect(open[k]).toBe(true);
      if (open[k]) m.peers[i].expected.push(seq);
    });
  }
  toString(): string {
    return `Broadcast(${this.mask}, ${this.size})`;
  }
}

class PeerSend implements Cmd {
  constructor(
    readonly peer: number,
    readonly count: number,
    readonly size: number,
  ) {}
  check(m: Model): boolean {
    return writable(m.peers[this.peer]);
  }
  async run(m: Model, r: Real): Promise<void> {
    const seqs = Array.from({ length: this.count }, () => m.nextSeq++);
    r.peers[this.peer].send(seqs, this.size);
    m.peers[this.peer].sent.push(...seqs);
  }
  toString(): string {
    return `PeerSend(${this.peer}, ${this.count}, ${this.size})`;
  }
}

class ServerClose implements Cmd {
  constructor(readonly peer: number) {}
  check(m: Model): boolean {
    return !m.peers[this.peer].closedLocally;
  }
  async run(m: Model, r: Real): Promise<void> {
    const p = m.peers[this.peer];
    const closed = r.server.manager.closeConnection(r.conns[this.peer]);
    // A peer that has ended may already be in the reset queue (then closeConnection is false).
    if (!p.reset && !p.halfClosed) expect(closed, 'closeConnection of an open connection').toBe(true);
    if (closed) p.closedLocally = true;
  }
  toString(): string {
    return `ServerClose(${this.peer})`;
  }
}

class PeerPause implements Cmd {
  constructor(readonly peer: number) {}
  check(m: Model): boolean {
    return !m.peers[this.peer].paused && !m.peers[this.peer].reset;
  }
  async run(m: Model, r: Real): Promise<void> {
    r.peers[this.peer].socket.pause();
    m.peers[this.peer].paused = true;
  }
  toString(): string {
    return `PeerPause(${this.peer})`;
  }
}

class PeerResume implements Cmd {
  constructor(readonly peer: number) {}
  check(m: Model): boolean {
    return m.peers[this.peer].paused;
  }
  async run(m: Model, r: Real): Promise<void> {
    r.peers[this.peer].socket.resume();
    m.peers[this.peer].paused = false;
  }
  toString(): string {
    return `PeerResume(${this.peer})`;
  }
}

class PeerHalfClose implements Cmd {
  constructor(readonly peer: number) {}
  check(m: Model): boolean {
    const p = m.peers[this.peer];
    return !p.halfClosed && !p.reset;
  }
  async run(m: Model, r: Real): Promise<void> {
    r.peers[this.peer].socket.end();
    m.peers[this.peer].halfClosed = true;
  }
  toString(): string {
    return `PeerHalfClose(${this.peer})`;
  }
}

class PeerReset implements Cmd {
  constructor(readonly peer: number) {}
  check(m: Model): boolean {
    return !m.peers[this.peer].reset;
  }
  async run(m: Model, r: Real): Promise<void> {
    r.peers[this.peer].socket.resetAndDestroy();
    m.peers[this.peer].reset = true;
  }
  toString(): string {
    return `PeerReset(${this.peer})`;
  }
}

class Stall implements Cmd {
  constructor(readonly on: boolean) {}
  check(): boolean {
    return true;
  }
  async run(_m: Model, r: Real): Promise<void> {
    r.stalled = this.on;
  }
  toString(): string {
    return `Stall(${this.on})`;
  }
}

/**
 * The race-free framing switch: the server reads everything the peers sent, changes the
 * framing, acknowledges to each peer that may still send, and each peer sends in the new
 * framing once the acknowledgement has arrived.
 */
class SwitchFraming implements Cmd {
  constructor(readonly headerSize: 2 | 4) {}
  check(m: Model): boolean {
    return m.headerSize !== this.headerSize;
  }
  async run(m: Model, r: Real): Promise<void> {
    r.stalled = false;
    m.peers.forEach((p, i) => {
      if (p.paused) {
        r.peers[i].socket.resume();
        p.paused = false;
      }
    });
    // Nothing sent in the old framing may still be on its way: everything a peer that can
    // send has sent is read, and a peer that ended has its end read (all its data before it).
    const senders = m.peers.map((p, i) => (writable(p) ? i : -1)).filter((i) => i >= 0);
    await pollUntil(
      () =>
        m.peers.every((p, i) => {
          if (p.closedLocally) return true; // a closing connection's input is read and discarded
          if (writable(p)) return r.got[i].length === p.sent.length;
          return r.resets.has(r.conns[i]);
        }),
      { label: 'everything sent before the switch to be read', timeoutMs: 10_000 },
    );
    r.server.reader.setTcpHeaderSize(this.headerSize);
    m.headerSize = this.headerSize;
    for (const i of senders) {
      const seq = m.nextSeq++;
      expect(r.server.writer.send(payload(seq, 4), r.conns[i])).toBe(true);
      m.peers[i].expected.push(seq);
      await pollUntil(() => r.peers[i].received.includes(seq), { label: `the acknowledgement at peer ${i}`, timeoutMs: 10_000 });
      r.peers[i].headerSize = this.headerSize;
    }
    // Peers that cannot be told keep sending nothing (writable() is false for them).
  }
  toString(): string {
    return `SwitchFraming(${this.headerSize})`;
  }
}

const peerArb = fc.integer({ min: 0, max: PEERS - 1 });
const sizeArb = fc.oneof(fc.integer({ min: 4, max: 64 }), fc.integer({ min: 65, max: 3000 }));
const commandArbs = [
  fc.tuple(peerArb, sizeArb).map(([p, s]) => new ServerSend(p, 1, s)),
  fc.tuple(peerArb, fc.integer({ min: 2, max: 60 }), sizeArb).map(([p, c, s]) => new ServerSend(p, c, s)),
  fc.tuple(fc.integer({ min: 1, max: (1 << PEERS) - 1 }), sizeArb).map(([mask, s]) => new Broadcast(mask, s)),
  fc.tuple(peerArb, fc.integer({ min: 1, max: 40 }), sizeArb).map(([p, c, s]) => new PeerSend(p, c, s)),
  peerArb.map((p) => new ServerClose(p)),
  peerArb.map((p) => new PeerPause(p)),
  peerArb.map((p) => new PeerResume(p)),
  peerArb.map((p) => new PeerHalfClose(p)),
  peerArb.map((p) => new PeerReset(p)),
  fc.boolean().map((on) => new Stall(on)),
  fc.constantFrom<2 | 4>(2, 4).map((h) => new SwitchFraming(h)),
];

/** Waits until the real side has caught up with the model, then compares them exactly. */
async function settle(m: Model, r: Real): Promise<void> {
  r.stalled = false;
  m.peers.forEach((p, i) => {
    if (p.paused) r.peers[i].socket.resume();
  });
  const caughtUp = (): string | null => {
    for (let i = 0; i < PEERS; i++) {
      const p = m.peers[i];
      const conn = r.conns[i];
      if (!p.reset && r.peers[i].received.length < p.expected.length) return `peer ${i} to receive ${p.expected.length} datagrams (has ${r.peers[i].received.length})`;
      if (!p.closedLocally && !p.reset && r.got[i].length < p.sent.length) return `the server to read ${p.sent.length} datagrams from peer ${i} (has ${r.got[i].length})`;
      if (!p.closedLocally && (p.reset || p.halfClosed) && !r.resets.has(conn)) return `connection ${i}'s reset`;
      if (p.closedLocally && !p.reset && !r.peers[i].ended) return `peer ${i} to see the server's FIN`;
    }
    return null;
  };
  let waitingFor: string | null = null;
  try {
    await pollUntil(() => (waitingFor = caughtUp()) === null, { label: 'the real side to catch up', timeoutMs: 15_000 });
  } catch {
    throw new Error(`still waiting for ${waitingFor}`);
  }
  for (let i = 0; i < PEERS; i++) {
    const p = m.peers[i];
    const conn = r.conns[i];
    if (!p.reset) expect(r.peers[i].received, `what peer ${i} received`).toEqual(p.expected);
    if (p.closedLocally || p.reset) expect(p.sent.slice(0, r.got[i].length), `what the server read from peer ${i} (a prefix)`).toEqual(r.got[i]);
    else expect(r.got[i], `what the server read from peer ${i}`).toEqual(p.sent);
    if (p.closedLocally) {
      expect(r.resets.has(conn), `connection ${i} closed locally is not queued as a reset`).toBe(false);
      expect(conn.getResetReason()).toBe('closed-locally');
    } else if (p.reset || p.halfClosed) {
      expect(r.resets.get(conn), `connection ${i}'s reset reason`).toBe('closed-by-peer');
    } else {
      expect(r.resets.has(conn), `connection ${i} is not reset`).toBe(false);
    }
  }
}

describe.each([0, 2])('the connection model (%i shards)', (n) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer(n, { manager: { ringCapacity: 4096 } });
  });
  afterAll(() => server.close());

  it('every random sequence of operations ends as the model says', async () => {
    await fc.assert(
      fc.asyncProperty(fc.commands(commandArbs, { maxCommands: 30, size: 'max' }), async (commands) => {
        server.reader.setTcpHeaderSize(2);
        const real = new Real(server);
        await real.open();
        const model: Model = {
          peers: Array.from({ length: PEERS }, () => ({ reset: false, halfClosed: false, paused: false, closedLocally: false, sent: [], expected: [] })),
          headerSize: 2,
          nextSeq: 0,
        };
        try {
          if (process.env.RINGWIRE_MODEL_DEBUG) console.error('RUN', [...commands].map(String).join(' '));
          await fc.asyncModelRun(() => ({ model, real }), commands);
          if (process.env.RINGWIRE_MODEL_DEBUG) console.error('SETTLE');
          await settle(model, real);
          if (process.env.RINGWIRE_MODEL_DEBUG) console.error('CHECKED', model.peers.map((p) => `${p.sent.length}/${p.expected.length}`).join(' '), real.resets.size);
        } finally {
          await real.close();
          if (process.env.RINGWIRE_MODEL_DEBUG) console.error('CLOSED');
        }
      }),
      { numRuns: fuzzRuns(500), endOnFailure: process.env.RINGWIRE_MODEL_DEBUG === '1' },
    );
  });
});
