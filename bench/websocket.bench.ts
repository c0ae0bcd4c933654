/**
 * WebSocket: ringwire's WebSocket rendezvous (the upgrade, the framing and the sockets in 2
 * worker shards) against the `ws` library's WebSocketServer (everything on the main thread),
 * in the same run, on the same machine. What does a WebSocket message cost the main thread?
 *
 *   npm run bench:websocket -- [--servers ringwire2,ws] [--echo-connections 100]
 *       [--connections 1000] [--seconds 5] [--warmup 2] [--rows echo,game] [--json FILE]
 * which builds dist/ and dist-bench/ and runs `node dist-bench/bench/websocket.bench.js`
 * (`npx tsx bench/websocket.bench.ts …` works too, but the shards then inherit tsx's loader
 * and run slower: use it to try things, not for figures).
 *
 * The servers run in this process (its main thread is the server's); the clients in a
 * separate one (bench/fixtures/ws-clients.ts: node:net sockets upgraded to WebSocket, each
 * send one write of a pre-masked binary message). Two kinds of row, each server in turn:
 *
 * - echo (`--echo-connections`, default 100): every connection keeps 16 messages of 64
 *   bytes in flight and the server sends each one back; nothing else runs on the main
 *   thread. Figures over --seconds after --warmup: messages/s echoed; main µs/msg, the
 *   event loop's active time (performance.eventLoopUtilization) per message, as
 *   game-traffic.bench.ts measures it; main CPU µs/msg, the main thread's own CPU clock
 *   (CLOCK_THREAD_CPUTIME_ID, the native helper, as outbound.bench.ts reads it: the clock's
 *   active time also counts what the OS ran on this core meanwhile, a woken shard or the
 *   clients); CPU µs/msg, the whole server process's user + system time (process.cpuUsage:
 *   the main thread and the shards) per message.
 * - game (`--connections`, default 1000): the game-traffic row over WebSocket. Each client
 *   sends one 48-byte message per frame at 60 Hz; the main thread runs a 60 Hz tick that
 *   burns 8 ms (GameLoop, from game-traffic.bench.ts), polling ringwire once at its start
 *   (accept, then getData until the reader is empty), while the ws server's messages come
 *   as events between ticks. main µs/msg = (event-loop active time − the ticks' burn) /
 *   messages delivered, and the same less the loop's cost with no traffic (a first row runs
 *   the tick alone); main CPU and CPU µs/msg likewise, less the burn's own CPU time (the
 *   main thread's clock across the burn: on a busy machine a burn of 8 ms by the wall
 *   clock is less CPU). Nothing is echoed, as in game-traffic.
 *
 * Ratios are ws ÷ ringwire from the same run: how many times less main-thread time (and
 * CPU) ringwire spends per message; for throughput ringwire ÷ ws. The aim of #26 is ≥10×
 * less main-thread time per message than ws under game traffic. After each row's window
 * the clients stop and flush, and the bench checks that every message arrived.
 */
import { type EventLoopUtilization, monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { ClientProcess, type ClientMessage } from './client-process.js';
import type { CountedServer } from './counted-server.js';
import { GAME_TRAFFIC_DEFAULTS, GameLoop, type GameTrafficOptions, type Snapshot } from './game-traffic.bench.js';
import {
  formatCount,
  formatFixed,
  isMainModule,
  netBenchReport,
  openFileLimit,
  parseIntegerList,
  parsePositive,
  printColumns,
  sleep,
  startWatchdog,
  writeJsonReport,
} from './net-table.js';
import { threadCpuMs } from './outbound.bench.js';
import { RingwireWebSocketServer, type WebSocketBenchServer, WsLibraryServer } from './websocket-servers.js';

export type WebSocketRow = 'echo' | 'game';

export interface WebSocketBenchOptions {
  /** 'ringwireN' (N shards; 0: single-thread mode) and 'ws'. */
  servers: string[];
  rows: WebSocketRow[];
  /** Connections of the echo rows. */
  echoConnections: number;
  /** Client counts of the game rows. */
  connections: number[];
  seconds: number;
  warmupSeconds: number;
  /** Echo rows: payload bytes per message, and messages in flight per connection. */
  echoPayload: number;
  echoWindow: number;
  /** Game rows: payload bytes, messages per connection per second, the tick and its burn. */
  payload: number;
  rate: number;
  tickHz: number;
  burnMs: number;
  delayResolutionMs: number;
  clientStepMs: number;
}

export const WEBSOCKET_DEFAULTS: WebSocketBenchOptions = {
  servers: ['ringwire2', 'ws'],
  rows: ['echo', 'game'],
  echoConnections: 100,
  connections: [1000],
  seconds: 5,
  warmupSeconds: 2,
  echoPayload: 64,
  echoWindow: 16,
  payload: GAME_TRAFFIC_DEFAULTS.payload,
  rate: GAME_TRAFFIC_DEFAULTS.rate,
  tickHz: GAME_TRAFFIC_DEFAULTS.tickHz,
  burnMs: GAME_TRAFFIC_DEFAULTS.burnMs,
  delayResolutionMs: GAME_TRAFFIC_DEFAULTS.delayResolutionMs,
  clientStepMs: GAME_TRAFFIC_DEFAULTS.clientStepMs,
};

export interface WebSocketBenchResult {
  row: WebSocketRow | 'idle';
  server: string;
  /** What ran: '2 worker shards, WebSocket', 'ws library, main thread', or '' for the idle row. */
  mode: string;
  connections: number;
  connected: number;
  /** Messages/s the clients wrote during the window (their clock). */
  offeredPerSec: number;
  /** Messages/s the server received (and, in echo rows, sent back). */
  messagesPerSec: number;
  windowMs: number;
  messagesInWindow: number;
  /** Event-loop active time over the window (less the ticks' burn in game rows), ms. */
  mainMs: number;
  mainUsPerMessage: number;
  /** Game rows: the same less the idle row's loop cost over the window, µs. */
  mainUsPerMessageLessIdle: number;
  /** The main thread's own CPU time over the window (less the burn's in game rows), ms; NaN without the native helper. */
  mainCpuMs: number;
  mainCpuUsPerMessage: number;
  /** The process's user + system CPU over the window (less the burn's in game rows), ms. */
  cpuMs: number;
  cpuUsPerMessage: number;
  cpuUsPerMessageLessIdle: number;
  /** Main-thread event-loop utilization over the window (0..1; includes the burn). */
  utilization: number;
  /** Game rows: event-loop delay p99 (ms, resolution subtracted) and ticks/s. */
  delayP99Ms: number;
  ticksPerSec: number;
  /** The client process's event-loop utilization during the window (0..1). */
  clientLoad: number;
  clientSkipped: number;
  /** Messages the clients sent in all, and how many the server never counted. */
  sentTotal: number;
  lost: number;
  bytesOk: boolean;
}

/** Opens `kind` ('ws' or 'ringwireN'), echoing or not. */
async function openServer(kind: string, echo: boolean): Promise<WebSocketBenchServer> {
  if (kind === 'ws') return WsLibraryServer.open(echo);
  const match = /^ringwire(\d+)$/.exec(kind);
  if (match === null) throw new RangeError(`--servers: unknown server ${kind} (ringwire2, ringwire0, ws)`);
  return RingwireWebSocketServer.open(Number(match[1]), echo);
}

/** The figures the window edges take outside a game loop. */
interface Edge {
  at: number;
  elu: EventLoopUtilization;
  cpu: NodeJS.CpuUsage;
  threadCpuMs: number;
  messages: number;
}

function edge(server: CountedServer): Edge {
  return {
    at: performance.now(),
    elu: performance.eventLoopUtilization(),
    cpu: process.cpuUsage(),
    threadCpuMs: threadCpuMs(),
    messages: server.datagrams,
  };
}

/** CPU ms between two process.cpuUsage() readings (all threads). */
function cpuMsBetween(before: NodeJS.CpuUsage, after: NodeJS.CpuUsage): number {
  return (after.user - before.user + after.system - before.system) / 1000;
}

/** The clients for `server`: started, connected and upgraded; throws when none could be. */
async function startClients(server: CountedServer, kind: string, args: string[]): Promise<{ client: ClientProcess; connected: number }> {
  const client = ClientProcess.start('ws-clients', ['--port', String(server.port), ...args]);
  const hello = await client.next('connected', 60_000);
  const connected = hello.connections as number;
  if (connected === 0) {
    await client.close();
    throw new Error(`${kind}: no client could connect (${String(hello.failed)} failed: ${String(hello.error)})`);
  }
  if (hello.failed !== 0) console.error(`  ${kind}: only ${connected} connected (${String(hello.failed)} failed: ${String(hello.error)})`);
  return { client, connected };
}

function offeredBetween(m0: ClientMessage, m1: ClientMessage): number {
  return (((m1.sent as number) - (m0.sent as number)) * 1000) / ((m1.at as number) - (m0.at as number));
}

/** One echo row: `kind` echoing for `connections` clients that keep a window in flight. */
async function runEcho(kind: string, options: WebSocketBenchOptions): Promise<WebSocketBenchResult> {
  const server = await openServer(kind, true);
  let client: ClientProcess | null = null;
  try {
    const started = await startClients(server, kind, [
      '--mode',
      'echo',
      '--connections',
      String(options.echoConnections),
      '--payload',
      String(options.echoPayload),
      '--window',
      String(options.echoWindow),
    ]);
    client = started.client;
    await client.startTraffic(kind, () => server.connected(), started.connected, options.warmupSeconds);
    const [e0, m0] = [edge(server), await client.request({ type: 'mark' }, 'mark', 5000)];
    await sleep(options.seconds * 1000);
    const [e1, m1] = [edge(server), await client.request({ type: 'mark' }, 'mark', 5000)];
    const sentTotal = await client.stopTraffic(() => server.datagrams, 5000);
    // The last echoes may still be on their way back: wait (5 s at most) until the clients
    // have them all, so only what never comes counts as lost.
    let stopped = await client.request({ type: 'mark' }, 'mark', 5000);
    for (const deadline = Date.now() + 5000; (stopped.received as number) < sentTotal && Date.now() < deadline; ) {
      await sleep(20);
      stopped = await client.request({ type: 'mark' }, 'mark', 5000);
    }
    const elu = performance.eventLoopUtilization(e1.elu, e0.elu);
    const windowMs = e1.at - e0.at;
    const messages = e1.messages - e0.messages;
    const cpuMs = cpuMsBetween(e0.cpu, e1.cpu);
    const mainCpuMs = e1.threadCpuMs - e0.threadCpuMs;
    return {
      row: 'echo',
      server: kind,
      mode: server.mode,
      connections: options.echoConnections,
      connected: started.connected,
      offeredPerSec: offeredBetween(m0, m1),
      messagesPerSec: (messages * 1000) / windowMs,
      windowMs,
      messagesInWindow: messages,
      mainMs: elu.active,
      mainUsPerMessage: messages > 0 ? (elu.active * 1000) / messages : NaN,
      mainUsPerMessageLessIdle: NaN,
      mainCpuMs,
      mainCpuUsPerMessage: messages > 0 ? (mainCpuMs * 1000) / messages : NaN,
      cpuMs,
      cpuUsPerMessage: messages > 0 ? (cpuMs * 1000) / messages : NaN,
      cpuUsPerMessageLessIdle: NaN,
      utilization: elu.utilization,
      delayP99Ms: NaN,
      ticksPerSec: NaN,
      clientLoad: m1.load as number,
      clientSkipped: 0,
      sentTotal,
      // Every message sent reached the server, and (the clients' count) came back.
      lost: sentTotal - server.datagrams + (sentTotal - (stopped.received as number)),
      bytesOk: server.bytes === server.datagrams * options.echoPayload,
    };
  } finally {
    await client?.close();
    await server.close();
  }
}

/** The GameLoop's options from this bench's. */
function loopOptions(options: WebSocketBenchOptions): GameTrafficOptions {
  return {
    ...GAME_TRAFFIC_DEFAULTS,
    seconds: options.seconds,
    warmupSeconds: options.warmupSeconds,
    tickHz: options.tickHz,
    burnMs: options.burnMs,
    delayResolutionMs: options.delayResolutionMs,
  };
}

/**
 * The game loop with the main thread's CPU clock read around each tick and each poll: the
 * burn's own CPU time is the tick's less the poll's (what is subtracted from the thread's
 * and the process's CPU; by the wall clock a burn on a busy machine is less CPU).
 */
class ClockedGameLoop extends GameLoop {
  tickCpuMs = 0;
  readonly clocks: { pollCpuMs: number };

  constructor(server: CountedServer, poll: () => void, options: GameTrafficOptions, delay: ReturnType<typeof monitorEventLoopDelay>) {
    const clocks = { pollCpuMs: 0 };
    super(
      server,
      () => {
        const cpu = threadCpuMs();
        poll();
        clocks.pollCpuMs += threadCpuMs() - cpu;
      },
      options,
      delay,
    );
    this.clocks = clocks;
  }

  /** CPU ms the burns took so far (NaN without the native helper). */
  get burnCpuMs(): number {
    return this.tickCpuMs - this.clocks.pollCpuMs;
  }

  protected override work(start: number): number {
    const cpu = threadCpuMs();
    const now = super.work(start);
    this.tickCpuMs += threadCpuMs() - cpu;
    return now;
  }
}

/** What the game row reads right after a snapshot's tick: the clocks the snapshot has not. */
interface Clocks {
  cpu: NodeJS.CpuUsage;
  threadCpuMs: number;
  burnCpuMs: number;
}

function clocks(loop: ClockedGameLoop): Clocks {
  return { cpu: process.cpuUsage(), threadCpuMs: threadCpuMs(), burnCpuMs: loop.burnCpuMs };
}

/** No server: the idle row. */
const NO_SERVER: WebSocketBenchServer = { mode: '', port: 0, datagrams: 0, bytes: 0, connected: () => 0, poll: () => {}, close: async () => {} };

/** One game row (kind 'idle': the tick alone, for `seconds`). */
async function runGame(kind: string, connections: number, options: WebSocketBenchOptions): Promise<WebSocketBenchResult> {
  const server = kind === 'idle' ? NO_SERVER : await openServer(kind, false);
  const delay = monitorEventLoopDelay({ resolution: options.delayResolutionMs });
  delay.enable();
  const loop = new ClockedGameLoop(server, () => server.poll(), loopOptions(options), delay);
  loop.start();
  let client: ClientProcess | null = null;
  try {
    let connected = 0;
    let offeredPerSec = 0;
    let clientLoad = 0;
    let clientSkipped = 0;
    let sentTotal = 0;
    let before: Snapshot;
    let after: Snapshot;
    let c0: Clocks;
    let c1: Clocks;
    if (kind === 'idle') {
      await sleep(500);
      before = await loop.snapshotAtNextTick();
      c0 = clocks(loop);
      await sleep(options.seconds * 1000);
      after = await loop.snapshotAtNextTick();
      c1 = clocks(loop);
    } else {
      const started = await startClients(server, kind, [
        '--mode',
        'game',
        '--connections',
        String(connections),
        '--payload',
        String(options.payload),
        '--rate',
        String(options.rate),
        '--step-ms',
        String(options.clientStepMs),
      ]);
      client = started.client;
      connected = started.connected;
      await client.startTraffic(kind, () => server.connected(), connected, options.warmupSeconds);
      const [s0, m0] = await Promise.all([loop.snapshotAtNextTick(), client.request({ type: 'mark' }, 'mark', 5000)]);
      c0 = clocks(loop);
      await sleep(options.seconds * 1000);
      const [s1, m1] = await Promise.all([loop.snapshotAtNextTick(), client.request({ type: 'mark' }, 'mark', 5000)]);
      c1 = clocks(loop);
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
    const messages = after.delivered - before.delivered;
    const mainMs = elu.active - burn;
    // The burn's CPU by the thread's clock; without the native helper, by the wall clock.
    const burnCpu = Number.isFinite(c1.burnCpuMs) ? c1.burnCpuMs - c0.burnCpuMs : burn;
    const mainCpuMs = c1.threadCpuMs - c0.threadCpuMs - burnCpu;
    const cpuMs = cpuMsBetween(c0.cpu, c1.cpu) - burnCpu;
    return {
      row: kind === 'idle' ? 'idle' : 'game',
      server: kind,
      mode: server.mode,
      connections,
      connected,
      offeredPerSec,
      messagesPerSec: (messages * 1000) / windowMs,
      windowMs,
      messagesInWindow: messages,
      mainMs,
      mainUsPerMessage: messages > 0 ? (mainMs * 1000) / messages : NaN,
      mainUsPerMessageLessIdle: NaN,
      mainCpuMs,
      mainCpuUsPerMessage: messages > 0 ? (mainCpuMs * 1000) / messages : NaN,
      cpuMs,
      cpuUsPerMessage: messages > 0 ? (cpuMs * 1000) / messages : NaN,
      cpuUsPerMessageLessIdle: NaN,
      utilization: elu.utilization,
      delayP99Ms: after.delayP99Ms,
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

/** Runs the rows: echo for each server, then the idle tick and game for each count and server. */
export async function runWebSocketBench(options: WebSocketBenchOptions): Promise<WebSocketBenchResult[]> {
  const results: WebSocketBenchResult[] = [];
  const needed = Math.max(options.echoConnections, ...options.connections) + 256;
  const limit = openFileLimit();
  if (limit < needed)
    console.error(`warning: ulimit -n is ${limit}; ${needed} open files are needed per process (raise it: ulimit -n ${needed * 2})`);
  const say = (r: WebSocketBenchResult): void =>
    console.error(
      `  ${r.row} ${r.server} ${r.connections}: ${formatCount(r.messagesPerSec)} msg/s, main ${formatFixed(r.mainUsPerMessage, 3)} µs/msg, ` +
        `CPU ${formatFixed(r.cpuUsPerMessage, 3)} µs/msg${r.row === 'game' ? `, ${formatFixed(r.ticksPerSec, 1)} ticks/s` : ''}, lost ${r.lost}`,
    );
  if (options.rows.includes('echo')) {
    for (const kind of options.servers) {
      const result = await runEcho(kind, options);
      results.push(result);
      say(result);
    }
  }
  if (options.rows.includes('game')) {
    const idle = await runGame('idle', 0, { ...options, seconds: Math.min(options.seconds, 3) });
    results.push(idle);
    const idleMainPerMs = idle.mainMs / idle.windowMs;
    const idleCpuPerMs = idle.cpuMs / idle.windowMs;
    console.error(
      `  idle tick: ${formatFixed(idleMainPerMs * 1000, 2)} ms/s of event loop and ${formatFixed(idleCpuPerMs * 1000, 2)} ms/s of CPU besides the burn`,
    );
    if (!Number.isFinite(idle.mainCpuMs))
      console.error('  warning: the native helper is not built (npm install): no main-thread CPU clock; the burn is taken by the wall clock');
    for (const connections of options.connections) {
      for (const kind of options.servers) {
        const result = await runGame(kind, connections, options);
        result.mainUsPerMessageLessIdle = ((result.mainMs - idleMainPerMs * result.windowMs) * 1000) / result.messagesInWindow;
        result.cpuUsPerMessageLessIdle = ((result.cpuMs - idleCpuPerMs * result.windowMs) * 1000) / result.messagesInWindow;
        results.push(result);
        say(result);
      }
    }
  }
  return results;
}

/** `a / b` as '12.3x', or '' when either is missing. */
function times(a: number, b: number): string {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${formatFixed(a / b, 1)}x` : '';
}

function notes(r: WebSocketBenchResult): string {
  const out: string[] = [r.mode];
  if (r.connected < r.connections) out.push(`only ${r.connected} connected`);
  if (r.clientSkipped > 0) out.push(`clients behind: ${formatCount(r.clientSkipped)} sends skipped`);
  if (r.clientLoad > 0.9) out.push(`client ELU ${formatFixed(r.clientLoad * 100, 0)}%: the clients may set the pace`);
  if (r.lost !== 0) out.push(`LOST ${r.lost}`);
  if (!r.bytesOk) out.push('BYTE COUNT MISMATCH');
  return out.join('; ');
}

/** Prints the echo table, the game table (each with its ws ÷ ringwire ratios) and the aim. */
export function printWebSocketBench(results: WebSocketBenchResult[], options: WebSocketBenchOptions): void {
  const wsOf = (r: WebSocketBenchResult): WebSocketBenchResult | undefined =>
    results.find((other) => other.server === 'ws' && other.row === r.row && other.connections === r.connections);
  const echo = results.filter((r) => r.row === 'echo');
  if (echo.length > 0) {
    printColumns(
      `WebSocket echo: ${options.echoConnections} connections × ${options.echoWindow} messages of ${options.echoPayload} B in flight, the server sends each back (window ${options.seconds} s)`,
      [
        'server',
        'conns',
        'messages/s',
        'this/ws',
        'main µs/msg',
        'ws/this',
        'main CPU µs/msg',
        'ws/this',
        'CPU µs/msg',
        'ws/this',
        'main ELU',
        'notes',
      ],
      echo.map((r) => {
        const ws = r.server === 'ws' ? undefined : wsOf(r);
        return [
          r.server,
          String(r.connections),
          formatCount(r.messagesPerSec),
          ws === undefined ? '' : times(r.messagesPerSec, ws.messagesPerSec),
          formatFixed(r.mainUsPerMessage, 3),
          ws === undefined ? '' : times(ws.mainUsPerMessage, r.mainUsPerMessage),
          formatFixed(r.mainCpuUsPerMessage, 3),
          ws === undefined ? '' : times(ws.mainCpuUsPerMessage, r.mainCpuUsPerMessage),
          formatFixed(r.cpuUsPerMessage, 3),
          ws === undefined ? '' : times(ws.cpuUsPerMessage, r.cpuUsPerMessage),
          `${formatFixed(r.utilization * 100, 0)}%`,
          notes(r),
        ];
      }),
      1,
      [
        'main µs/msg = event-loop active time / messages echoed (the main thread does nothing else); main CPU = the main',
        "thread's own CPU clock / messages; CPU µs/msg = the server process's user + system time (every thread: ringwire's shards",
        "too) / messages; ws/this = the ws server's figure ÷ this row's (how many times less); this/ws = this row's messages/s ÷",
        "the ws server's. Clients and server share the machine's cores.",
      ],
    );
  }
  const game = results.filter((r) => r.row === 'game' || r.row === 'idle');
  if (game.length > 0) {
    printColumns(
      `WebSocket game traffic: ${options.payload}-byte messages at ${options.rate} Hz per client, the main thread runs a ${options.tickHz} Hz tick burning ${options.burnMs} ms (window ${options.seconds} s)`,
      [
        'server',
        'conns',
        'offered msg/s',
        'delivered msg/s',
        'main µs/msg',
        '- idle loop',
        'ws/this',
        'main CPU µs/msg',
        'ws/this',
        'CPU µs/msg',
        '- idle',
        'ws/this',
        'loop delay p99 ms',
        'ticks/s',
        'notes',
      ],
      game.map((r) => {
        if (r.row === 'idle') {
          const perSecond = (ms: number): string => formatFixed((ms / r.windowMs) * 1000, 2);
          return [
            'no traffic',
            '0',
            '0',
            '0',
            '',
            '',
            '',
            '',
            '',
            '',
            '',
            '',
            formatFixed(r.delayP99Ms, 2),
            formatFixed(r.ticksPerSec, 1),
            `tick alone, besides the burn: ${perSecond(r.mainMs)} ms/s of event loop, ${perSecond(r.mainCpuMs)} ms/s of main CPU, ${perSecond(r.cpuMs)} ms/s of CPU`,
          ];
        }
        const ws = r.server === 'ws' ? undefined : wsOf(r);
        return [
          r.server,
          String(r.connections),
          formatCount(r.offeredPerSec),
          formatCount(r.messagesPerSec),
          formatFixed(r.mainUsPerMessage, 3),
          formatFixed(r.mainUsPerMessageLessIdle, 3),
          ws === undefined ? '' : times(ws.mainUsPerMessage, r.mainUsPerMessage),
          formatFixed(r.mainCpuUsPerMessage, 3),
          ws === undefined ? '' : times(ws.mainCpuUsPerMessage, r.mainCpuUsPerMessage),
          formatFixed(r.cpuUsPerMessage, 3),
          formatFixed(r.cpuUsPerMessageLessIdle, 3),
          ws === undefined ? '' : times(ws.cpuUsPerMessage, r.cpuUsPerMessage),
          formatFixed(r.delayP99Ms, 2),
          formatFixed(r.ticksPerSec, 1),
          notes(r),
        ];
      }),
      1,
      [
        "main µs/msg = (event-loop active time − the ticks' burn) / messages delivered to the main thread; main CPU µs/msg = (the",
        "main thread's CPU clock − the burn's) / messages; CPU µs/msg = (the process's user + system time − the burn's CPU) /",
        'messages; - idle = less what the tick costs with no traffic (first row);',
        `ws/this = the ws server's figure ÷ this row's. Loop delay: monitorEventLoopDelay (resolution ${options.delayResolutionMs} ms, subtracted).`,
      ],
    );
    for (const r of results.filter((row) => row.row === 'game' && row.server !== 'ws')) {
      const ws = wsOf(r);
      if (ws === undefined) continue;
      const ratio = ws.mainUsPerMessage / r.mainUsPerMessage;
      console.log(
        `aim (#26): ≥10× less main-thread time per message than ws under game traffic: ${r.server} at ${r.connections} clients ${formatFixed(ratio, 1)}× — ${ratio >= 10 ? 'met' : 'not met'} in this run`,
      );
    }
  }
}

/** A generous bound on how long the bench may take (s), for a watchdog. */
export function webSocketBudgetSeconds(options: WebSocketBenchOptions): number {
  const runs = options.servers.length * ((options.rows.includes('echo') ? 1 : 0) + (options.rows.includes('game') ? options.connections.length : 0));
  return 60 + runs * (options.seconds + options.warmupSeconds + 90);
}

/** Parses the command line over WEBSOCKET_DEFAULTS; throws a RangeError naming a bad flag. */
export function parseWebSocketBenchArgs(argv: string[]): { options: WebSocketBenchOptions; json: string | null } {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      servers: { type: 'string' },
      rows: { type: 'string' },
      'echo-connections': { type: 'string' },
      connections: { type: 'string' },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      json: { type: 'string' },
    },
  });
  const options: WebSocketBenchOptions = { ...WEBSOCKET_DEFAULTS };
  if (values.servers !== undefined) {
    options.servers = values.servers.split(',').map((s) => s.trim());
    for (const kind of options.servers) {
      if (kind !== 'ws' && !/^ringwire\d+$/.test(kind)) throw new RangeError(`--servers: unknown server ${kind} (ringwire2, ringwire0, ws)`);
    }
  }
  if (values.rows !== undefined) {
    const rows = values.rows.split(',').map((s) => s.trim());
    for (const row of rows) if (row !== 'echo' && row !== 'game') throw new RangeError(`--rows: unknown row ${row} (echo, game)`);
    options.rows = rows as WebSocketRow[];
  }
  if (values['echo-connections'] !== undefined) options.echoConnections = parseIntegerList('echo-connections', values['echo-connections'])[0];
  if (values.connections !== undefined) options.connections = parseIntegerList('connections', values.connections);
  if (values.seconds !== undefined) options.seconds = parsePositive('seconds', values.seconds);
  if (values.warmup !== undefined) options.warmupSeconds = parsePositive('warmup', values.warmup);
  return { options, json: values.json ?? null };
}

if (isMainModule(import.meta.url)) {
  const { options, json } = parseWebSocketBenchArgs(process.argv.slice(2));
  startWatchdog(webSocketBudgetSeconds(options), 'websocket bench');
  const results = await runWebSocketBench(options);
  printWebSocketBench(results, options);
  if (json !== null) writeJsonReport(json, netBenchReport('websocket', options, results));
}
