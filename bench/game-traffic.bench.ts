/**
 * Game traffic: many clients, each sending one small datagram per frame, while the main
 * thread runs a 60 Hz game loop that burns 8 ms of CPU per tick. What does networking
 * cost the game loop?
 *
 *   npm run bench:game -- [--connections 500,1000,2000] [--seconds 5] [--warmup 2]
 *       [--servers plain,ringwire0,ringwire2] [--json FILE]
 * which builds dist/ and dist-bench/ and runs `node dist-bench/bench/game-traffic.bench.js`.
 * `npx tsx bench/game-traffic.bench.ts …` works too (after npm run build), but the worker
 * shards then inherit tsx's loader and run about 2x slower: use it to try things, not for
 * figures. Needs about 2 × connections + 100 file descriptors per process (ulimit -n).
 *
 * Servers, each measured in this process (the main thread is the game loop):
 * - plain: a single-threaded node:net server that parses the u16-LE framing in place in
 *   its 'data' handlers (bench/plain-frame-server.ts): the baseline.
 * - ringwire0: ringwire in single-thread mode (the main thread reads the sockets).
 * - ringwireN: ringwire with N worker shards.
 * The clients run in a separate process (bench/fixtures/game-clients.ts): N connections to
 * 127.0.0.1, each sending one 48-byte datagram per write at 60 Hz, spread over the frame.
 *
 * ringwire is polled once per tick, at its start: accept new connections, then getData into
 * one reused NetDatagram until the reader is empty (the realistic Panda3D task). Nothing is
 * polled between ticks: a frame's traffic (2000 × 64-byte records = 128 KiB) is far below
 * the 4 MiB inbound ring, so once per tick delivers everything, and setImmediate polling
 * would keep the loop spinning (ELU 100 %) and take CPU from the shards on a small machine.
 *
 * Figures, over a window of --seconds after --warmup, window edges taken at tick starts:
 * - delivered datagrams/s: counted by getData (ringwire) or the data handlers (plain);
 * - main µs/datagram: (ELU active time − the tick's own 8 ms burns) / datagrams delivered,
 *   and the same less the loop's cost with no traffic (a first row runs the tick with no
 *   server and no clients: timer wake-ups alone cost ~10 ms/s of ELU on this VM);
 * - plain/this: the plain server's main µs/datagram over this row's;
 * - event-loop delay p99: monitorEventLoopDelay at 5 ms resolution, minus that resolution
 *   (the histogram records whole timer intervals); the 8 ms burn alone puts it near 8 ms;
 * - ticks/s achieved (60 is the target).
 * After the window the clients stop and flush, and the bench checks nothing was lost.
 */
import { type EventLoopUtilization, type IntervalHistogram, monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { ClientProcess, offeredPerSec as offeredBetween } from './client-process.js';
import type { CountedServer } from './counted-server.js';
import {
  formatCount,
  formatFixed,
  isMainModule,
  netBenchReport,
  openFileLimit,
  printColumns,
  runNetBenchCommand,
  sleep,
} from './net-table.js';
import { FixedRateLoop } from './fixed-rate-loop.js';
import { PlainFrameServer } from './plain-frame-server.js';
import { RingwireBenchServer } from './ringwire-bench-server.js';

export interface GameTrafficOptions {
  /** Connection counts to measure. */
  connections: number[];
  /** Server kinds: 'plain', or 'ringwireN' for N shards (0: single-thread mode). */
  servers: string[];
  /** Measured window per run. */
  seconds: number;
  /** Traffic before the window opens. */
  warmupSeconds: number;
  /** Datagrams per connection per second. */
  rate: number;
  /** Payload bytes per datagram (plus a 2-byte header). */
  payload: number;
  /** Game ticks per second. */
  tickHz: number;
  /** CPU each tick burns (ms). */
  burnMs: number;
  /** monitorEventLoopDelay resolution (ms). */
  delayResolutionMs: number;
  /** How often the clients' send timer runs (ms). */
  clientStepMs: number;
}

export const GAME_TRAFFIC_DEFAULTS: GameTrafficOptions = {
  connections: [500, 1000, 2000],
  servers: ['plain', 'ringwire0', 'ringwire2'],
  seconds: 5,
  warmupSeconds: 2,
  rate: 60,
  payload: 48,
  tickHz: 60,
  burnMs: 8,
  delayResolutionMs: 5,
  clientStepMs: 1,
};

export interface GameTrafficResult {
  server: string;
  /** What ran: 'node:net', '2 worker shards', 'main-thread shard', or '' for the idle row. */
  mode: string;
  connections: number;
  connected: number;
  /** connections × rate. */
  nominalPerSec: number;
  /** Datagrams/s the clients wrote during the window (their clock). */
  offeredPerSec: number;
  deliveredPerSec: number;
  windowMs: number;
  /** Datagrams delivered during the window. */
  datagramsInWindow: number;
  /** ELU active − burn over the window, ms. */
  networkingMs: number;
  /** (ELU active − burn) / datagrams, µs. */
  mainUsPerDatagram: number;
  /** The same, less the idle row's loop overhead (timer wake-ups and such) over the window, µs. */
  mainUsPerDatagramLessIdle: number;
  /** Time inside the tick's poll (accept + getData loop) / datagrams, µs (ringwire only). */
  pollUsPerDatagram: number;
  /** ELU active − burn, ms per second of window. */
  networkingMsPerSec: number;
  /** Main-thread event-loop utilization over the window (0..1, includes the burn). */
  utilization: number;
  delayP50Ms: number;
  delayP99Ms: number;
  delayMaxMs: number;
  ticksPerSec: number;
  /** Client process event-loop utilization during the window (0..1). */
  clientLoad: number;
  /** Sends the clients skipped because they fell more than a frame behind. */
  clientSkipped: number;
  /** Datagrams the clients sent in all, and how many never reached the main thread. */
  sentTotal: number;
  lost: number;
  bytesOk: boolean;
}

/** A server and what the game loop calls at the start of each tick. */
interface GameServer {
  readonly server: CountedServer;
  readonly poll: () => void;
}

/** No server at all: the idle row. */
const NO_SERVER: CountedServer = {
  mode: '',
  port: 0,
  datagrams: 0,
  bytes: 0,
  connected: () => 0,
  close: async () => {},
};

/** The server of `kind` ('idle': none), each with its tick's poll. */
async function openServer(kind: string): Promise<GameServer> {
  if (kind === 'idle') return { server: NO_SERVER, poll: () => {} };
  if (kind === 'plain') return { server: await PlainFrameServer.open(), poll: () => {} };
  const match = /^ringwire(\d+)$/.exec(kind);
  if (match === null) throw new RangeError(`--servers: unknown server ${kind} (plain, ringwire0, ringwire2, ...)`);
  const server = await RingwireBenchServer.open(Number(match[1]));
  return {
    server,
    poll: () => {
      server.acceptNew();
      server.readWithGetData(1 << 20);
    },
  };
}

/** What the game loop measured at the start of one tick. */
export interface Snapshot {
  at: number;
  elu: EventLoopUtilization;
  ticks: number;
  burnMs: number;
  pollMs: number;
  delivered: number;
  bytes: number;
  delayP50Ms: number;
  delayP99Ms: number;
  delayMaxMs: number;
}

/**
 * The game: a self-correcting 60 Hz timer; each tick polls the server, then burns the CPU
 * budget in a busy loop whose duration is recorded (and later subtracted from the ELU).
 * The WebSocket bench (websocket.bench.ts) runs the same loop.
 */
export class GameLoop extends FixedRateLoop<Snapshot> {
  private burnMs = 0;
  private pollMs = 0;

  constructor(
    private readonly server: CountedServer,
    private readonly poll: () => void,
    private readonly options: GameTrafficOptions,
    private readonly delay: IntervalHistogram,
  ) {
    super(options.tickHz);
  }

  /** The delay histogram restarts with each snapshot. */
  protected snapshot(start: number): Snapshot {
    const resolution = this.options.delayResolutionMs;
    const delayMs = (ns: number): number => Math.max(0, ns / 1e6 - resolution);
    const snapshot: Snapshot = {
      at: start,
      elu: performance.eventLoopUtilization(),
      ticks: this.ticks - 1,
      burnMs: this.burnMs,
      pollMs: this.pollMs,
      delivered: this.server.datagrams,
      bytes: this.server.bytes,
      delayP50Ms: delayMs(this.delay.percentile(50)),
      delayP99Ms: delayMs(this.delay.percentile(99)),
      delayMaxMs: delayMs(this.delay.max),
    };
    this.delay.reset();
    return snapshot;
  }

  protected work(start: number): number {
    this.poll();
    const burnStart = performance.now();
    this.pollMs += burnStart - start;
    let now = burnStart;
    while (now - burnStart < this.options.burnMs) now = performance.now();
    this.burnMs += now - burnStart;
    return now;
  }
}

/** Runs one server kind at one connection count (0 connections and kind 'idle': the tick alone). */
async function runOne(kind: string, connections: number, options: GameTrafficOptions): Promise<GameTrafficResult> {
  const { server, poll } = await openServer(kind);
  const delay = monitorEventLoopDelay({ resolution: options.delayResolutionMs });
  delay.enable();
  const loop = new GameLoop(server, poll, options, delay);
  loop.start();
  let client: ClientProcess | null = null;
  try {
    let connected = 0;
    let clientSkipped = 0;
    let clientLoad = 0;
    let offeredPerSec = 0;
    let sentTotal = 0;
    let before: Snapshot;
    let after: Snapshot;
    if (kind === 'idle') {
      await sleep(500);
      before = await loop.snapshotAtNextTick();
      await sleep(options.seconds * 1000);
      after = await loop.snapshotAtNextTick();
    } else {
      client = ClientProcess.start('game-clients', [
        '--port',
        String(server.port),
        '--connections',
        String(connections),
        '--rate',
        String(options.rate),
        '--payload',
        String(options.payload),
        '--step-ms',
        String(options.clientStepMs),
      ]);
      const hello = await client.next('connected', 60_000);
      connected = hello.connections as number;
      if (connected < connections) {
        console.error(`  ${kind} ${connections}: only ${connected} connected (${String(hello.failed)} failed: ${String(hello.error)})`);
      }
      await client.startTraffic(kind, () => server.connected(), connected, options.warmupSeconds);
      const [s0, m0] = await Promise.all([loop.snapshotAtNextTick(), client.request({ type: 'mark' }, 'mark', 5000)]);
      await sleep(options.seconds * 1000);
      const [s1, m1] = await Promise.all([loop.snapshotAtNextTick(), client.request({ type: 'mark' }, 'mark', 5000)]);
      before = s0;
      after = s1;
      offeredPerSec = offeredBetween(m0, m1);
      clientSkipped = (m1.skipped as number) - (m0.skipped as number);
      clientLoad = m1.load as number;
      sentTotal = await client.stopTraffic(() => server.datagrams, 5000);
    }
    const windowMs = after.at - before.at;
    const elu = performance.eventLoopUtilization(after.elu, before.elu);
    const burn = after.burnMs - before.burnMs;
    const delivered = after.delivered - before.delivered;
    const networkingMs = elu.active - burn;
    return {
      server: kind,
      mode: server.mode,
      connections,
      connected,
      nominalPerSec: connections * options.rate,
      offeredPerSec,
      deliveredPerSec: (delivered * 1000) / windowMs,
      windowMs,
      datagramsInWindow: delivered,
      networkingMs,
      mainUsPerDatagram: delivered > 0 ? (networkingMs * 1000) / delivered : NaN,
      mainUsPerDatagramLessIdle: NaN,
      pollUsPerDatagram: delivered > 0 && kind.startsWith('ringwire') ? ((after.pollMs - before.pollMs) * 1000) / delivered : NaN,
      networkingMsPerSec: (networkingMs * 1000) / windowMs,
      utilization: elu.utilization,
      delayP50Ms: after.delayP50Ms,
      delayP99Ms: after.delayP99Ms,
      delayMaxMs: after.delayMaxMs,
      ticksPerSec: ((after.ticks - before.ticks) * 1000) / windowMs,
      clientLoad,
      clientSkipped,
      sentTotal,
      lost: sentTotal - server.datagrams,
      bytesOk: server.bytes === server.datagrams * options.payload,
    };
  } finally {
    await client?.close();
    loop.stop();
    delay.disable();
    await server.close();
  }
}

/** Runs every server at every connection count; prints one line per run as it goes. */
export async function runGameTraffic(options: GameTrafficOptions): Promise<GameTrafficResult[]> {
  const results: GameTrafficResult[] = [];
  const needed = Math.max(...options.connections) + 256;
  const limit = openFileLimit();
  if (limit < needed) {
    console.error(`warning: ulimit -n is ${limit}; ${needed} open files are needed per process (raise it: ulimit -n ${needed * 2})`);
  }
  const idle = await runOne('idle', 0, { ...options, seconds: Math.min(options.seconds, 3) });
  results.push(idle);
  console.error(`  idle tick: ${formatFixed(idle.networkingMsPerSec, 2)} ms/s besides the burn, ${formatFixed(idle.ticksPerSec, 1)} ticks/s`);
  for (const connections of options.connections) {
    for (const kind of options.servers) {
      const result = await runOne(kind, connections, options);
      const idleMs = (idle.networkingMsPerSec * result.windowMs) / 1000;
      result.mainUsPerDatagramLessIdle = ((result.networkingMs - idleMs) * 1000) / result.datagramsInWindow;
      results.push(result);
      console.error(
        `  ${kind} ${connections}: ${formatCount(result.deliveredPerSec)} dg/s, ${formatFixed(result.mainUsPerDatagram, 3)} µs/dg, ` +
          `p99 ${formatFixed(result.delayP99Ms, 1)} ms, ${formatFixed(result.ticksPerSec, 1)} ticks/s, lost ${result.lost}`,
      );
    }
  }
  return results;
}

/** Prints the results as one table. */
export function printGameTraffic(results: GameTrafficResult[], options: GameTrafficOptions): void {
  const plain = new Map<number, GameTrafficResult>();
  for (const r of results) if (r.server === 'plain') plain.set(r.connections, r);
  const rows = results.map((r) => {
    const base = plain.get(r.connections);
    const notes: string[] = [];
    if (r.mode !== '' && r.mode !== 'node:net') notes.push(r.mode);
    if (r.server === 'idle') notes.push(`tick alone: ${formatFixed(r.networkingMsPerSec, 2)} ms/s besides the burn`);
    if (r.connected < r.connections) notes.push(`only ${r.connected} connected`);
    if (r.clientSkipped > 0) {
      notes.push(`clients behind: ${formatCount(r.clientSkipped)} sends skipped, client ELU ${formatFixed(r.clientLoad * 100, 0)}%`);
    }
    if (r.lost !== 0) notes.push(`LOST ${r.lost}`);
    if (!r.bytesOk) notes.push('BYTE COUNT MISMATCH');
    if (r.server.startsWith('ringwire')) notes.push(`poll ${formatFixed(r.pollUsPerDatagram, 3)} µs/dg`);
    return [
      r.server === 'idle' ? 'no traffic' : r.server,
      String(r.connections),
      formatCount(r.server === 'idle' ? 0 : r.offeredPerSec),
      formatCount(r.deliveredPerSec),
      formatFixed(r.mainUsPerDatagram, 3),
      formatFixed(r.mainUsPerDatagramLessIdle, 3),
      base !== undefined && r !== base ? `${formatFixed(base.mainUsPerDatagram / r.mainUsPerDatagram, 1)}x` : '',
      formatFixed(r.delayP99Ms, 2),
      formatFixed(r.ticksPerSec, 1),
      notes.join('; '),
    ];
  });
  printColumns(
    `Game traffic: ${options.payload}-byte datagrams at ${options.rate} Hz per connection, ` +
      `main thread runs a ${options.tickHz} Hz tick burning ${options.burnMs} ms (window ${options.seconds} s)`,
    ['server', 'conns', 'offered dg/s', 'delivered dg/s', 'main µs/dg', '- idle loop', 'plain/this', 'loop delay p99 ms', 'ticks/s', 'notes'],
    rows,
    1,
    [
      'main µs/dg = (event-loop active time − the tick\'s own burn) / datagrams delivered to the main thread; - idle loop:',
      'the same less what the loop costs with no traffic at all (first row: timer wake-ups, the delay monitor);',
      'plain/this = plain server main µs/dg ÷ this row\'s at the same connection count (how many times less main-thread',
      `time); loop delay from monitorEventLoopDelay (resolution ${options.delayResolutionMs} ms, subtracted): the ${options.burnMs} ms burn alone puts p99 near ${options.burnMs} ms;`,
      'poll = time inside the tick\'s accept + getData loop / datagrams; clients behind = the client process could not keep the',
      'schedule (CPU-starved), so offered < connections × rate.',
    ],
  );
}

/** A generous bound on how long runGameTraffic may take (s), for a watchdog. */
export function gameTrafficBudgetSeconds(options: GameTrafficOptions): number {
  const runs = options.connections.length * options.servers.length;
  return 30 + runs * (options.seconds + options.warmupSeconds + 90);
}

/** Everything measured and every setting, for --json. */
export function gameTrafficReport(options: GameTrafficOptions, results: GameTrafficResult[]): object {
  return netBenchReport('game-traffic', options, results);
}

if (isMainModule(import.meta.url)) {
  await runNetBenchCommand({
    name: 'game-traffic bench',
    defaults: GAME_TRAFFIC_DEFAULTS,
    countsFlag: 'connections',
    setCounts(options, connections) {
      options.connections = connections;
    },
    kindsFlag: 'servers',
    setKinds(options, servers) {
      options.servers = servers;
    },
    budgetSeconds: gameTrafficBudgetSeconds,
    run: runGameTraffic,
    print: printGameTraffic,
    report: gameTrafficReport,
  });
}
