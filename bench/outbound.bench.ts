/**
 * Outbound: the other half of the game loop. A 60 Hz tick on the main thread burns 8 ms of
 * CPU, then sends one 100-byte datagram to each of N connected clients. What does sending
 * cost the game loop, does it all arrive, and what does it do to a player's ping?
 *
 *   npm run bench:outbound -- [--connections 500,1000,2000] [--seconds 5] [--warmup 2]
 *       [--servers plain,ringwire0,ringwire2] [--json FILE]
 * which builds dist/ and dist-bench/ and runs `node dist-bench/bench/outbound.bench.js`.
 * `npx tsx bench/outbound.bench.ts …` works too (after npm run build), but the worker shards
 * then inherit tsx's loader and run about 2x slower: use it to try things, not for figures.
 * Needs about 2 × connections + 100 file descriptors per process (ulimit -n).
 *
 * Servers, each measured in this process (the main thread is the game loop):
 * - plain: a single-threaded node:net server whose tick calls socket.write(frame) for every
 *   client, one pre-built 102-byte frame (u16 LE length + payload): the baseline.
 * - ringwire0: ringwire in single-thread mode (`new QueuedConnectionReader(manager, 0)`):
 *   the main thread also writes the sockets.
 * - ringwireN: ringwire with N worker shards.
 * - ringwireN-broadcast: the same, but the tick sends with one `writer.broadcast(dg, clients)`
 *   instead of a `send` per client (issue #11): the figures are then per recipient.
 * ringwire is used through its public API as a ported Panda3D program would: a listener and
 * a reader polled at the start of each tick (accept, resets, getData until empty), and
 * `writer.send(dg, conn)` of one reused Datagram per client, its result ignored (only
 * counted, for the notes). The clients run in a separate process
 * (bench/fixtures/reading-clients.ts): N connections to 127.0.0.1 that only read, counting
 * the frames each receives.
 *
 * Figures, over a window of --seconds after --warmup of sending, window edges taken at tick
 * starts:
 * - main µs/send: (ELU active time − the tick's own 8 ms burns − what the loop costs with no
 *   traffic) / send calls. The no-traffic cost comes from a first row that runs the tick with
 *   no server and no clients (timer wake-ups alone cost 10-17 ms/s of ELU on this VM). It
 *   takes in everything the main thread does for the sends: the calls, ringwire's commits
 *   and wake-ups, and in plain and ringwire0 the sockets' own work outside the calls.
 * - send-call µs/send: the time spent in the tick's send loop (performance.now() around it)
 *   / send calls;
 * - plain/this for both: the plain server's figure over this row's at the same count;
 * - delivered %: frames the clients counted / send calls, over the whole row (warmup, window
 *   and the ping phase below), taken once sending has stopped and the clients have received
 *   everything or made no progress for 2 s;
 * - ticks/s achieved (60 is the target).
 * The notes say what went wrong, if anything: send() calls that returned false, client
 * connections that got fewer frames than the ticks that sent, frames of the wrong length,
 * connections reset or closed by the server, sends the shards never took from their rings.
 *
 * Ping (servers plain and ringwire2, at 1000 connections, or the largest count if 1000 is not
 * measured): after the window the row keeps sending and one extra client connection (not
 * among the N that are sent to) sends a 16-byte ping datagram every 10 ms for 2 s; the
 * server echoes it to that connection. The ping connection has a process of its own (the
 * same fixture with --connections 0): in the readers' process, busy with N sockets, its
 * timer and its reads would wait behind their data events and the figure would measure
 * the client. The plain server echoes from its 'data' handler, as soon as the ping
 * arrives. ringwire also reads at tick start, but for this phase only the main thread
 * additionally polls the reader with setImmediate between ticks (getData, then writer.send
 * of the echo), so an echo does not wait for the next tick. That spins the
 * event loop (ELU 100 %, CPU taken from the shards and the clients on a small machine),
 * which is why it is not done in the measured window, and why the row's main-thread figures
 * come from before it. Then sending stops, the clients drain, and the same ping runs for 2 s
 * with no outbound traffic (the tick still burns, ringwire still polls between ticks). The
 * round trips are timed in the ping process, so its own event-loop delays are included.
 * Reported: the datagrams/s the tick actually sent during each phase, p50, p99 and max of
 * the round trips, pings not echoed within 1 s of the phase's end, and p99 with traffic
 * over p99 without.
 */
import { createRequire } from 'node:module';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { type EventLoopUtilization, performance } from 'node:perf_hooks';
import {
  type Connection,
  ConnectionWriter,
  Datagram,
  NetDatagram,
  PointerToConnection,
  type QueuedConnectionManagerOptions,
} from 'ringwire';
import { ClientProcess, type ClientMessage } from './client-process.js';
import {
  formatCount,
  formatFixed,
  isMainModule,
  netBenchReport,
  openFileLimit,
  printColumns,
  runNetBenchCommand,
  sleep,
  waitFor,
} from './net-table.js';
import { FixedRateLoop } from './fixed-rate-loop.js';
import { RingwireBenchServer } from './ringwire-bench-server.js';

export interface OutboundOptions {
  /** Connection counts to measure (clients sent to; the ping connection comes on top). */
  connections: number[];
  /** Server kinds: 'plain', or 'ringwireN' for N shards (0: single-thread mode). */
  servers: string[];
  /** Measured window per run. */
  seconds: number;
  /** Sending before the window opens. */
  warmupSeconds: number;
  /** Payload bytes per datagram (plus a 2-byte header). */
  payload: number;
  /** Game ticks per second. */
  tickHz: number;
  /** CPU each tick burns before it sends (ms). */
  burnMs: number;
  /** Servers whose rows also measure the ping (those of `servers` only). */
  pingServers: string[];
  /** The connection count at which the ping is measured (the largest measured if absent). */
  pingConnections: number;
  /** Each ping phase (with and without outbound traffic). */
  pingSeconds: number;
  /** Time between pings (ms). */
  pingIntervalMs: number;
  /** Payload bytes per ping datagram (at least 12). */
  pingPayload: number;
  /** Longest wait for the clients to receive everything once sending stops (ms). */
  drainTimeoutMs: number;
}

export const OUTBOUND_DEFAULTS: OutboundOptions = {
  connections: [500, 1000, 2000],
  servers: ['plain', 'ringwire0', 'ringwire2'],
  seconds: 5,
  warmupSeconds: 2,
  payload: 100,
  tickHz: 60,
  burnMs: 8,
  pingServers: ['plain', 'ringwire2'],
  pingConnections: 1000,
  pingSeconds: 2,
  pingIntervalMs: 10,
  pingPayload: 16,
  drainTimeoutMs: 10_000,
};

/** Round trips of one ping phase, ms. */
export interface PingFigures {
  /** Datagrams/s the tick sent to the clients during the phase. */
  outboundPerSec: number;
  sent: number;
  echoed: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface OutboundResult {
  server: string;
  /** What ran: 'node:net', '2 worker shards', 'main-thread shard', or '' for the idle row. */
  mode: string;
  connections: number;
  connected: number;
  windowMs: number;
  /** Send calls during the window. */
  sendsInWindow: number;
  sendsPerSec: number;
  /** ELU active − burn over the window, ms. */
  networkingMs: number;
  /** ELU active − burn, ms per second of window. */
  networkingMsPerSec: number;
  /** (ELU active − burn) / sends, µs. */
  mainUsPerSendWithIdle: number;
  /** The same, less the idle row's loop cost over the window, µs. */
  mainUsPerSend: number;
  /** The main thread's own CPU time over the window less the burns' (ms; NaN off Linux). */
  mainCpuMs: number;
  /** (mainCpuMs − the idle row's over the same time) / sends, µs. */
  mainCpuUsPerSend: number;
  /** CPU time of every other thread of the process (the shards, mostly) over the window, ms. */
  otherCpuMs: number;
  /** (otherCpuMs − the idle row's over the same time) / sends, µs. */
  otherCpuUsPerSend: number;
  /** Time inside the tick's send loop / sends, µs. */
  sendCallUsPerSend: number;
  /** The main thread's CPU time inside the send loop / sends, µs. */
  sendCallCpuUsPerSend: number;
  /** Main-thread event-loop utilization over the window (0..1, includes the burn). */
  utilization: number;
  ticksPerSec: number;
  /** Client process event-loop utilization during the window (0..1). */
  clientLoad: number;
  /** Send calls over the whole row, and the frames the clients counted. */
  sentTotal: number;
  receivedTotal: number;
  /** receivedTotal / sentTotal × 100. */
  deliveredPercent: number;
  /** Ticks that sent: each client should have received this many frames. */
  sendTicks: number;
  /** Fewest and most frames one client connection received. */
  minPerConnection: number;
  maxPerConnection: number;
  /** Client connections that received fewer than sendTicks frames. */
  shortConnections: number;
  /** Frames whose length was not the payload's (a damaged stream). */
  badFrames: number;
  /** Client connections the server closed (seen by the clients). */
  closedByServer: number;
  /** ringwire: send() calls that returned false (nothing sent); plain: 0. */
  sendRefused: number;
  /** Connections the server saw closed or reset, by reason (ringwire) or 'closed' (plain). */
  resets: Record<string, number>;
  /** ringwire: datagrams its shards took from the outbound rings (getStats().datagramsOut). */
  shardDatagramsOut: number;
  /** Ping round trips with the outbound traffic running, and with none (null: not measured). */
  pingSending: PingFigures | null;
  pingQuiet: PingFigures | null;
}

/** A server under test, as the tick uses it. */
interface OutboundServer {
  readonly mode: string;
  readonly port: number;
  /** Client connections taken (the ping connection not included). */
  clients(): number;
  /** The next connection accepted is the ping connection, not a client. */
  expectPing(): void;
  hasPing(): boolean;
  /** At the start of each tick: accept, take resets, read and echo pings (ringwire). */
  poll(): void;
  /** After the burn: one datagram to every client; returns how many send calls it made. */
  sendAll(): number;
  /** Between ticks: poll as often as the loop turns (ringwire), or stop doing so. */
  setFastPoll(on: boolean): void;
  /** Pings echoed so far. */
  readonly echoes: number;
  readonly sendRefused: number;
  readonly resets: Record<string, number>;
  shardDatagramsOut(): number;
  close(): Promise<void>;
}

/** No server at all: the idle row. */
const NO_SERVER: OutboundServer = {
  mode: '',
  port: 0,
  clients: () => 0,
  expectPing: () => {},
  hasPing: () => false,
  poll: () => {},
  sendAll: () => 0,
  setFastPoll: () => {},
  echoes: 0,
  sendRefused: 0,
  resets: {},
  shardDatagramsOut: () => 0,
  close: async () => {},
};

/**
 * The baseline: the simplest single-threaded node:net server. Its tick writes one
 * pre-built frame to every client socket; the ping connection's frames are echoed from its
 * 'data' handler as they arrive.
 */
class PlainBroadcastServer implements OutboundServer {
  readonly mode = 'node:net';
  readonly port: number;
  echoes = 0;
  readonly sendRefused = 0;
  readonly resets: Record<string, number> = {};
  private readonly sockets: net.Socket[] = [];
  private readonly all = new Set<net.Socket>();
  private ping: net.Socket | null = null;
  private pingNext = false;
  private closing = false;

  private constructor(
    private readonly server: net.Server,
    private readonly frame: Buffer,
  ) {
    this.port = (server.address() as net.AddressInfo).port;
    server.on('connection', (socket: net.Socket) => this.attach(socket));
  }

  /** Listens on 127.0.0.1 and an ephemeral port; sends `payload`-byte datagrams. */
  static async open(payload: number): Promise<PlainBroadcastServer> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new PlainBroadcastServer(server, framedPayload(payload));
  }

  clients(): number {
    return this.sockets.length;
  }

  expectPing(): void {
    this.pingNext = true;
  }

  hasPing(): boolean {
    return this.ping !== null;
  }

  poll(): void {}

  sendAll(): number {
    const sockets = this.sockets;
    const frame = this.frame;
    for (let i = 0; i < sockets.length; i++) sockets[i].write(frame);
    return sockets.length;
  }

  setFastPoll(): void {}

  shardDatagramsOut(): number {
    return 0;
  }

  async close(): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.all) socket.destroy();
    await closed;
  }

  private attach(socket: net.Socket): void {
    this.all.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('close', () => {
      this.all.delete(socket);
      const at = this.sockets.indexOf(socket);
      if (at >= 0) this.sockets.splice(at, 1);
      if (!this.closing) this.resets.closed = (this.resets.closed ?? 0) + 1;
    });
    if (!this.pingNext) {
      this.sockets.push(socket);
      return;
    }
    this.pingNext = false;
    this.ping = socket;
    let pending: Buffer | null = null;
    socket.on('data', (chunk: Buffer) => {
      let data = pending === null ? chunk : Buffer.concat([pending, chunk]);
      while (data.length >= 2) {
        const end = 2 + (data[0] | (data[1] << 8));
        if (data.length < end) break;
        socket.write(data.subarray(0, end));
        this.echoes++;
        data = data.subarray(end);
      }
      pending = data.length > 0 ? data : null;
    });
  }
}

/**
 * ringwire as a ported Panda3D server uses it: the bench server's manager, listener and
 * reader (bench/ringwire-bench-server.ts), a ConnectionWriter, and a list of the clients.
 */
class RingwireOutboundServer implements OutboundServer {
  readonly mode: string;
  readonly port: number;
  echoes = 0;
  sendRefused = 0;
  readonly resets: Record<string, number> = {};
  private readonly writer: ConnectionWriter;
  private readonly dg = new Datagram();
  private readonly inbound = new NetDatagram();
  private readonly newConnection = new PointerToConnection();
  private readonly resetConnection = new PointerToConnection();
  private readonly conns: Connection[] = [];
  /** Send with one broadcast per tick instead of a send per client. */
  broadcast = false;
  private ping: Connection | null = null;
  private pingNext = false;
  private fastPoll: NodeJS.Immediate | null = null;
  private readonly pollBetweenTicks = (): void => {
    this.poll();
    this.fastPoll = setImmediate(this.pollBetweenTicks);
  };

  private constructor(
    private readonly base: RingwireBenchServer,
    payload: number,
  ) {
    this.mode = base.mode;
    this.port = base.port;
    this.writer = new ConnectionWriter(base.manager, 0);
    this.dg.appendData(framedPayload(payload).subarray(2));
  }

  /** Opens a ringwire server with `threads` shards (0: single-thread mode). */
  static async open(threads: number, payload: number, options: QueuedConnectionManagerOptions = {}): Promise<RingwireOutboundServer> {
    return new RingwireOutboundServer(await RingwireBenchServer.open(threads, options), payload);
  }

  clients(): number {
    return this.conns.length;
  }

  expectPing(): void {
    this.pingNext = true;
  }

  hasPing(): boolean {
    return this.ping !== null;
  }

  poll(): void {
    const { listener, reader, manager } = this.base;
    while (listener.newConnectionAvailable()) {
      if (!listener.getNewConnection(this.newConnection)) break;
      const conn = this.newConnection.p();
      if (conn === null || !reader.addConnection(conn)) continue;
      if (this.pingNext) {
        this.pingNext = false;
        this.ping = conn;
      } else this.conns.push(conn);
    }
    while (manager.getResetConnection(this.resetConnection)) {
      const conn = this.resetConnection.p();
      const reason = conn?.getResetReason() ?? 'unknown';
      this.resets[reason] = (this.resets[reason] ?? 0) + 1;
      const at = conn === null ? -1 : this.conns.indexOf(conn);
      if (at >= 0) this.conns.splice(at, 1);
    }
    const dg = this.inbound;
    while (reader.getData(dg)) {
      const from = dg.getConnection();
      if (from !== null && from === this.ping) {
        this.writer.send(dg, from);
        this.echoes++;
      }
    }
  }

  sendAll(): number {
    const writer = this.writer;
    const dg = this.dg;
    const conns = this.conns;
    let refused = 0;
    if (this.broadcast) refused = conns.length - writer.broadcast(dg, conns);
    else for (let i = 0; i < conns.length; i++) if (!writer.send(dg, conns[i])) refused++;
    this.sendRefused += refused;
    return conns.length;
  }

  setFastPoll(on: boolean): void {
    if (on && this.fastPoll === null) this.fastPoll = setImmediate(this.pollBetweenTicks);
    if (!on && this.fastPoll !== null) {
      clearImmediate(this.fastPoll);
      this.fastPoll = null;
    }
  }

  shardDatagramsOut(): number {
    return this.base.manager.getStats().datagramsOut;
  }

  async close(): Promise<void> {
    this.setFastPoll(false);
    await this.base.close();
  }
}

/** A u16-LE length header and `payload` bytes of a fixed pattern. */
function framedPayload(payload: number): Buffer {
  const frame = Buffer.alloc(2 + payload);
  frame.writeUInt16LE(payload, 0);
  for (let i = 0; i < payload; i++) frame[2 + i] = i & 0xff;
  return frame;
}

/** The server of `kind` ('idle': none). */
async function openServer(kind: string, options: OutboundOptions): Promise<OutboundServer> {
  if (kind === 'idle') return NO_SERVER;
  if (kind === 'plain') return PlainBroadcastServer.open(options.payload);
  const match = /^ringwire(\d+)(-broadcast)?$/.exec(kind);
  if (match === null) throw new RangeError(`--servers: unknown server ${kind} (plain, ringwire0, ringwire2, ringwire2-broadcast, ...)`);
  const server = await RingwireOutboundServer.open(Number(match[1]), options.payload);
  server.broadcast = match[2] !== undefined;
  return server;
}

/** What the game loop measured at the start of one tick. */
interface Snapshot {
  at: number;
  elu: EventLoopUtilization;
  /** The main thread's on-CPU time so far (ms; NaN where the kernel does not tell). */
  cpuMs: number;
  /** The whole process's CPU time so far, user + system (ms). */
  processCpuMs: number;
  /** Its on-CPU time inside the burns and inside the send loops so far (ms). */
  burnCpuMs: number;
  sendCpuMs: number;
  ticks: number;
  burnMs: number;
  sendMs: number;
  sends: number;
}

/**
 * The game: a self-correcting 60 Hz timer; each tick polls the server, burns the CPU budget
 * in a busy loop whose duration is recorded (and later subtracted from the ELU), then, while
 * `sending`, runs the send loop, timed.
 */
class OutboundLoop extends FixedRateLoop<Snapshot> {
  /** Whether ticks send. */
  sending = false;
  /** Send calls since the loop started, and the ticks that made them. */
  sends = 0;
  sendTicks = 0;
  private burnMs = 0;
  private burnCpuMs = 0;
  private sendCpuMs = 0;
  private sendMs = 0;

  constructor(
    private readonly server: OutboundServer,
    private readonly options: OutboundOptions,
  ) {
    super(options.tickHz);
  }

  protected snapshot(start: number): Snapshot {
    return {
      at: start,
      elu: performance.eventLoopUtilization(),
      cpuMs: threadCpuMs(),
      processCpuMs: processCpuMs(),
      burnCpuMs: this.burnCpuMs,
      sendCpuMs: this.sendCpuMs,
      ticks: this.ticks - 1,
      burnMs: this.burnMs,
      sendMs: this.sendMs,
      sends: this.sends,
    };
  }

  protected work(): number {
    this.server.poll();
    const burnStart = performance.now();
    let now = burnStart;
    const burnCpu = threadCpuMs();
    while (now - burnStart < this.options.burnMs) now = performance.now();
    this.burnMs += now - burnStart;
    this.burnCpuMs += threadCpuMs() - burnCpu;
    if (this.sending) {
      const sendCpu = threadCpuMs();
      this.sends += this.server.sendAll();
      this.sendCpuMs += threadCpuMs() - sendCpu;
      const sent = performance.now();
      this.sendMs += sent - now;
      this.sendTicks++;
      now = sent;
    }
    return now;
  }
}

/** The process's CPU time so far, every thread, user + system (ms). */
function processCpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

/** ringwire's native helper (built by npm install), found beside the package. */
function loadThreadClock(): (() => number) | null {
  try {
    const require = createRequire(import.meta.url);
    const root = dirname(require.resolve('ringwire/package.json'));
    const helper = require(join(root, 'native/build/Release/ringwire_fd.node')) as { threadCpuMs?: () => number };
    return typeof helper.threadCpuMs === 'function' ? helper.threadCpuMs : null;
  } catch {
    return null;
  }
}

const threadClock = loadThreadClock();

/**
 * This thread's CPU time in ms, from the native helper (CLOCK_THREAD_CPUTIME_ID); NaN without
 * it. Event-loop utilization counts the time the loop is busy by the clock, so it also counts
 * the time the OS ran another thread (a woken shard, the client process) on this thread's
 * core; this counts only its own.
 */
export function threadCpuMs(): number {
  return threadClock === null ? NaN : threadClock();
}

/** The connection count the ping is measured at. */
function pingConnections(options: OutboundOptions): number {
  return options.connections.includes(options.pingConnections) ? options.pingConnections : Math.max(...options.connections);
}

/** p50/p99/max of one ping phase's round trips. */
function pingFigures(stopped: ClientMessage, outboundPerSec: number): PingFigures {
  const rtts = (stopped.rtts as number[]).slice().sort((a, b) => a - b);
  const at = (q: number): number => (rtts.length === 0 ? NaN : rtts[Math.min(rtts.length - 1, Math.ceil(q * rtts.length) - 1)]);
  return {
    outboundPerSec,
    sent: stopped.sent as number,
    echoed: rtts.length,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    maxMs: rtts.length === 0 ? NaN : rtts[rtts.length - 1],
  };
}

/** Pings from `pinger` for `seconds`; returns the round trips and what `loop` sent meanwhile. */
async function pingPhase(pinger: ClientProcess, loop: OutboundLoop, seconds: number): Promise<PingFigures> {
  const sends = loop.sends;
  const start = performance.now();
  pinger.send({ type: 'ping-start' });
  await sleep(seconds * 1000);
  const outboundPerSec = ((loop.sends - sends) * 1000) / (performance.now() - start);
  return pingFigures(await pinger.request({ type: 'ping-stop' }, 'ping-stopped', 5000), outboundPerSec);
}

/**
 * Waits until the clients have counted `sent` frames, or made no progress for 2 s, or
 * `timeoutMs` passed; returns their last count.
 */
async function waitForDelivery(client: ClientProcess, sent: number, expected: number, timeoutMs: number): Promise<ClientMessage> {
  const deadline = performance.now() + timeoutMs;
  let count = await client.request({ type: 'count', expected }, 'count', 5000);
  let progressAt = performance.now();
  while ((count.received as number) < sent && performance.now() < deadline && performance.now() - progressAt < 2000) {
    await sleep(100);
    const next = await client.request({ type: 'count', expected }, 'count', 5000);
    if ((next.received as number) > (count.received as number)) progressAt = performance.now();
    count = next;
  }
  return count;
}

/** Runs one server kind at one connection count (0 connections and kind 'idle': the tick alone). */
async function runOne(kind: string, connections: number, withPing: boolean, options: OutboundOptions): Promise<OutboundResult> {
  const server = await openServer(kind, options);
  const loop = new OutboundLoop(server, options);
  loop.start();
  let client: ClientProcess | null = null;
  let pinger: ClientProcess | null = null;
  try {
    let connected = 0;
    let clientLoad = 0;
    let count: ClientMessage = { type: 'count', received: 0, min: 0, max: 0, short: 0, badFrames: 0, closed: 0 };
    let pingSending: PingFigures | null = null;
    let pingQuiet: PingFigures | null = null;
    let before: Snapshot;
    let after: Snapshot;
    if (kind === 'idle') {
      await sleep(500);
      before = await loop.snapshotAtNextTick();
      await sleep(options.seconds * 1000);
      after = await loop.snapshotAtNextTick();
    } else {
      const fixtureArgs = (clients: number): string[] => [
        '--port',
        String(server.port),
        '--connections',
        String(clients),
        '--payload',
        String(options.payload),
        '--ping-payload',
        String(options.pingPayload),
        '--ping-ms',
        String(options.pingIntervalMs),
      ];
      client = ClientProcess.start('reading-clients', fixtureArgs(connections));
      const hello = await client.next('connected', 60_000);
      connected = hello.connections as number;
      if (connected < connections) {
        console.error(`  ${kind} ${connections}: only ${connected} connected (${String(hello.failed)} failed: ${String(hello.error)})`);
      }
      if (!(await waitFor(() => server.clients() >= connected, 10_000))) {
        throw new Error(`${kind}: the server saw ${server.clients()} of ${connected} connections`);
      }
      if (withPing) {
        pinger = ClientProcess.start('reading-clients', fixtureArgs(0));
        await pinger.next('connected', 10_000);
        server.expectPing();
        const ping = await pinger.request({ type: 'ping-connect' }, 'ping-connected', 10_000);
        if (ping.ok !== true) throw new Error(`${kind}: the ping connection failed: ${String(ping.error)}`);
        if (!(await waitFor(() => server.hasPing(), 10_000))) throw new Error(`${kind}: the server never took the ping connection`);
      }
      loop.sending = true;
      await sleep(options.warmupSeconds * 1000);
      const [s0] = await Promise.all([loop.snapshotAtNextTick(), client.request({ type: 'mark' }, 'mark', 5000)]);
      await sleep(options.seconds * 1000);
      const [s1, m1] = await Promise.all([loop.snapshotAtNextTick(), client.request({ type: 'mark' }, 'mark', 5000)]);
      before = s0;
      after = s1;
      clientLoad = m1.load as number;
      if (pinger !== null) {
        server.setFastPoll(true);
        pingSending = await pingPhase(pinger, loop, options.pingSeconds);
      }
      loop.sending = false;
      count = await waitForDelivery(client, loop.sends, loop.sendTicks, options.drainTimeoutMs);
      if (pinger !== null) {
        pingQuiet = await pingPhase(pinger, loop, options.pingSeconds);
        server.setFastPoll(false);
      }
    }
    const windowMs = after.at - before.at;
    const elu = performance.eventLoopUtilization(after.elu, before.elu);
    const burn = after.burnMs - before.burnMs;
    const sends = after.sends - before.sends;
    const networkingMs = elu.active - burn;
    const cpuMs = after.cpuMs - before.cpuMs - (after.burnCpuMs - before.burnCpuMs);
    const otherCpuMs = after.processCpuMs - before.processCpuMs - (after.cpuMs - before.cpuMs);
    const received = count.received as number;
    return {
      server: kind,
      mode: server.mode,
      connections,
      connected,
      windowMs,
      sendsInWindow: sends,
      sendsPerSec: (sends * 1000) / windowMs,
      networkingMs,
      networkingMsPerSec: (networkingMs * 1000) / windowMs,
      mainUsPerSendWithIdle: sends > 0 ? (networkingMs * 1000) / sends : NaN,
      mainUsPerSend: NaN,
      mainCpuMs: cpuMs,
      mainCpuUsPerSend: NaN,
      otherCpuMs,
      otherCpuUsPerSend: NaN,
      sendCallUsPerSend: sends > 0 ? ((after.sendMs - before.sendMs) * 1000) / sends : NaN,
      sendCallCpuUsPerSend: sends > 0 ? ((after.sendCpuMs - before.sendCpuMs) * 1000) / sends : NaN,
      utilization: elu.utilization,
      ticksPerSec: ((after.ticks - before.ticks) * 1000) / windowMs,
      clientLoad,
      sentTotal: loop.sends,
      receivedTotal: received,
      deliveredPercent: loop.sends > 0 ? (received * 100) / loop.sends : NaN,
      sendTicks: loop.sendTicks,
      minPerConnection: count.min as number,
      maxPerConnection: count.max as number,
      shortConnections: count.short as number,
      badFrames: count.badFrames as number,
      closedByServer: count.closed as number,
      sendRefused: server.sendRefused,
      resets: { ...server.resets },
      shardDatagramsOut: server.shardDatagramsOut(),
      pingSending,
      pingQuiet,
    };
  } finally {
    await pinger?.close();
    await client?.close();
    loop.stop();
    await server.close();
  }
}

/** Runs every server at every connection count; prints one line per run as it goes. */
export async function runOutbound(options: OutboundOptions): Promise<OutboundResult[]> {
  const results: OutboundResult[] = [];
  const needed = Math.max(...options.connections) + 256;
  const limit = openFileLimit();
  if (limit < needed) {
    console.error(`warning: ulimit -n is ${limit}; ${needed} open files are needed per process (raise it: ulimit -n ${needed * 2})`);
  }
  const idle = await runOne('idle', 0, false, { ...options, seconds: Math.min(options.seconds, 3) });
  results.push(idle);
  console.error(`  idle tick: ${formatFixed(idle.networkingMsPerSec, 2)} ms/s besides the burn, ${formatFixed(idle.ticksPerSec, 1)} ticks/s`);
  const pingAt = pingConnections(options);
  for (const connections of options.connections) {
    for (const kind of options.servers) {
      const withPing = connections === pingAt && options.pingServers.includes(kind);
      const result = await runOne(kind, connections, withPing, options);
      const idleMs = (idle.networkingMsPerSec * result.windowMs) / 1000;
      result.mainUsPerSend = ((result.networkingMs - idleMs) * 1000) / result.sendsInWindow;
      const idleCpuMs = (idle.mainCpuMs * result.windowMs) / idle.windowMs;
      result.mainCpuUsPerSend = ((result.mainCpuMs - idleCpuMs) * 1000) / result.sendsInWindow;
      const idleOtherMs = (idle.otherCpuMs * result.windowMs) / idle.windowMs;
      result.otherCpuUsPerSend = ((result.otherCpuMs - idleOtherMs) * 1000) / result.sendsInWindow;
      results.push(result);
      const ping =
        result.pingSending !== null && result.pingQuiet !== null
          ? `, ping p99 ${formatFixed(result.pingSending.p99Ms, 2)} ms sending / ${formatFixed(result.pingQuiet.p99Ms, 2)} ms quiet`
          : '';
      console.error(
        `  ${kind} ${connections}: ${formatFixed(result.mainUsPerSend, 3)} µs/send main, ${formatFixed(result.mainCpuUsPerSend, 3)} µs/send main CPU, ` +
          `${formatFixed(result.sendCallUsPerSend, 3)} µs in send (${formatFixed(result.sendCallCpuUsPerSend, 3)} CPU), ` +
          `delivered ${formatFixed(result.deliveredPercent, 2)} %, ${formatFixed(result.ticksPerSec, 1)} ticks/s${ping}`,
      );
    }
  }
  return results;
}

/** "reason n, reason n" of a reset count, or ''. */
function describeResets(resets: Record<string, number>): string {
  return Object.entries(resets)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
}

/** Prints the results as two tables: the send costs, then the ping round trips. */
export function printOutbound(results: OutboundResult[], options: OutboundOptions): void {
  const plain = new Map<number, OutboundResult>();
  for (const r of results) if (r.server === 'plain') plain.set(r.connections, r);
  const ratio = (base: number | undefined, value: number): string =>
    base === undefined ? '' : `${formatFixed(base / value, 1)}x`;
  const rows = results.map((r) => {
    const base = plain.get(r.connections);
    const other = base !== undefined && r !== base ? base : undefined;
    const notes: string[] = [];
    if (r.mode !== '' && r.mode !== 'node:net') notes.push(r.mode);
    if (r.server === 'idle') notes.push(`tick alone: ${formatFixed(r.networkingMsPerSec, 2)} ms/s besides the burn`);
    if (r.server !== 'idle' && r.connected < r.connections) notes.push(`only ${r.connected} connected`);
    if (r.sendRefused > 0) notes.push(`send() refused ${formatCount(r.sendRefused)}`);
    if (r.shortConnections > 0) {
      notes.push(`${r.shortConnections} conns short (per conn ${formatCount(r.minPerConnection)}-${formatCount(r.maxPerConnection)} of ${formatCount(r.sendTicks)})`);
    }
    const resets = describeResets(r.resets);
    if (resets !== '') notes.push(`server saw resets: ${resets}`);
    if (r.closedByServer > 0) notes.push(`${r.closedByServer} client conns closed by the server`);
    if (r.badFrames > 0) notes.push(`${formatCount(r.badFrames)} BAD FRAMES`);
    if (r.server.startsWith('ringwire') && r.shardDatagramsOut < r.sentTotal - r.sendRefused) {
      notes.push(`shards took ${formatCount(r.shardDatagramsOut)} of ${formatCount(r.sentTotal - r.sendRefused)} accepted sends`);
    }
    if (r.clientLoad > 0.9) notes.push(`client ELU ${formatFixed(r.clientLoad * 100, 0)}%`);
    const idle = r.server === 'idle';
    return [
      idle ? 'no traffic' : r.server,
      String(r.connections),
      formatCount(r.sendsPerSec),
      idle ? '' : formatFixed(r.deliveredPercent, 2),
      formatFixed(r.mainUsPerSend, 3),
      other === undefined ? '' : ratio(other.mainUsPerSend, r.mainUsPerSend),
      formatFixed(r.mainCpuUsPerSend, 3),
      other === undefined ? '' : ratio(other.mainCpuUsPerSend, r.mainCpuUsPerSend),
      formatFixed(r.sendCallUsPerSend, 3),
      formatFixed(r.sendCallCpuUsPerSend, 3),
      other === undefined ? '' : ratio(other.sendCallCpuUsPerSend, r.sendCallCpuUsPerSend),
      idle || r.server === 'plain' ? '' : formatFixed(r.otherCpuUsPerSend, 3),
      formatFixed(r.ticksPerSec, 1),
      notes.join('; '),
    ];
  });
  printColumns(
    `Outbound: a ${options.tickHz} Hz tick burns ${options.burnMs} ms, then sends one ${options.payload}-byte datagram to every client ` +
      `(window ${options.seconds} s)`,
    ['server', 'conns', 'sends/s', 'delivered %', 'main µs/send', 'plain/this', 'main CPU µs/send', 'plain/this', 'send-call µs/send', 'send-call CPU µs', 'plain/this', 'shard CPU µs/send', 'ticks/s', 'notes'],
    rows,
    1,
    [
      'main µs/send = (event-loop active time − the tick\'s own burn − the loop\'s cost with no traffic, first row) / send calls:',
      'everything the main thread did for the sends, by the clock; main CPU µs/send = the same from the main thread\'s own',
      'CPU time (CLOCK_THREAD_CPUTIME_ID through the native helper, burns measured the same way), which leaves out time the OS gave its core to',
      'another thread; send-call µs/send = time inside the tick\'s send loop / send calls, by the clock and in CPU time',
      '(two clock reads per tick are in it: well under 0.01 µs per send at 500 sends);',
      'plain/this = the plain server\'s figure ÷ this row\'s at the same count (how many times less main-thread time);',
      'shard CPU µs/send = CPU time of the process\'s other threads (the shards, mostly) less the idle row\'s, / sends;',
      'a -broadcast row sends with one writer.broadcast(dg, clients) per tick: its "sends" are recipients.',
      'delivered % = frames the clients counted / send calls, over the whole row once sending stopped and the clients drained.',
    ],
  );
  const pingRows: string[][] = [];
  for (const r of results) {
    if (r.pingSending === null || r.pingQuiet === null) continue;
    for (const p of [r.pingSending, r.pingQuiet]) {
      pingRows.push([
        r.server,
        String(r.connections),
        p.outboundPerSec > 0 ? formatCount(p.outboundPerSec) : 'none',
        formatCount(p.sent),
        formatFixed(p.p50Ms, 2),
        formatFixed(p.p99Ms, 2),
        formatFixed(p.maxMs, 2),
        String(p.sent - p.echoed),
        p === r.pingSending ? `${formatFixed(r.pingSending.p99Ms / r.pingQuiet.p99Ms, 1)}x` : '',
      ]);
    }
  }
  if (pingRows.length === 0) return;
  printColumns(
    `Ping round trip: one more connection pings every ${options.pingIntervalMs} ms (${options.pingPayload} B), the server echoes it ` +
      `(${options.pingSeconds} s per phase)`,
    ['server', 'conns', 'outbound dg/s', 'pings', 'p50 ms', 'p99 ms', 'max ms', 'lost', 'p99 vs none'],
    pingRows,
    2,
    [
      'outbound dg/s = what the tick sent to the clients during the phase (the ping connection is not sent to);',
      'timed in the ping connection\'s own process; plain echoes from its \'data\' handler, ringwire polls the reader with setImmediate',
      'between ticks (and at each tick start) in these phases only; the tick still burns its 8 ms in both phases.',
    ],
  );
}

/** A generous bound on how long runOutbound may take (s), for a watchdog. */
export function outboundBudgetSeconds(options: OutboundOptions): number {
  const runs = options.connections.length * options.servers.length;
  const pingRuns = options.servers.filter((s) => options.pingServers.includes(s)).length;
  return 30 + runs * (options.seconds + options.warmupSeconds + 90) + pingRuns * (2 * options.pingSeconds + 30);
}

/** Everything measured and every setting, for --json. */
export function outboundReport(options: OutboundOptions, results: OutboundResult[]): object {
  return netBenchReport('outbound', options, results);
}

if (isMainModule(import.meta.url)) {
  await runNetBenchCommand({
    name: 'outbound bench',
    defaults: OUTBOUND_DEFAULTS,
    countsFlag: 'connections',
    setCounts(options, connections) {
      options.connections = connections;
    },
    kindsFlag: 'servers',
    setKinds(options, servers) {
      options.servers = servers;
    },
    budgetSeconds: outboundBudgetSeconds,
    run: runOutbound,
    print: printOutbound,
    report: outboundReport,
  });
}
