/**
 * Blast: a few connections writing pre-framed datagrams as fast as the sockets accept.
 * How many datagrams/s can the main thread take in?
 *
 *   npm run bench:blast -- [--sizes 16,64,512] [--seconds 3] [--warmup 1] [--json FILE]
 *       [--modes plain,ringwire2-drain,ringwire2-getData,ringwire0-drain]
 * which builds dist/ and dist-bench/ and runs `node dist-bench/bench/blast.bench.js`.
 * `npx tsx bench/blast.bench.ts …` works too (after npm run build), but the worker shards
 * then inherit tsx's loader and run about 2x slower: use it to try things, not for figures.
 * A mode may end in -idle<N>ms (e.g. ringwire2-drain-idle1ms): after a turn that read
 * nothing the main thread waits N ms instead of spinning, leaving the CPU to the shards.
 *
 * The clients run in a separate process (bench/fixtures/blast-clients.ts): 8 connections to
 * 127.0.0.1, each writing one pre-built 256 KiB buffer of whole frames (u16 LE header +
 * payload) again and again, honouring write() back-pressure. Receivers, in this process:
 * - plain: a single-threaded node:net server parsing the framing in place and counting
 *   (bench/plain-frame-server.ts): the baseline;
 * - ringwireN-drain: ringwire with N shards (0: single-thread mode), the main thread
 *   calling reader.drain(visitor) in a tight setImmediate loop, counting in the visitor;
 * - ringwireN-getData: the same loop reading with getData into one reused NetDatagram.
 * Figures over --seconds after --warmup: datagrams/s and payload MB/s received, the ratio to
 * plain at the same size, and who was busy: the receiving main thread's event-loop
 * utilization (plain) or the share of the window spent in reads that delivered (ringwire),
 * and the client process's utilization. A client near 100 % with a receiver below it
 * means the client, not the receiver, set the pace. After the window the clients stop and
 * flush, and the bench checks every datagram arrived.
 */
import { performance } from 'node:perf_hooks';
import { ClientProcess, offeredPerSec } from './client-process.js';
import type { CountedServer } from './counted-server.js';
import { formatCount, formatFixed, isMainModule, netBenchReport, printColumns, runNetBenchCommand, sleep } from './net-table.js';
import { PlainFrameServer } from './plain-frame-server.js';
import { RingwireBenchServer } from './ringwire-bench-server.js';

export interface BlastOptions {
  /** Payload sizes to measure (bytes, plus a 2-byte header each). */
  sizes: number[];
  /** Receivers: 'plain', 'ringwireN-drain', 'ringwireN-getData'. */
  modes: string[];
  seconds: number;
  warmupSeconds: number;
  connections: number;
  /** Bytes per client write (KiB). */
  writeKiB: number;
}

export const BLAST_DEFAULTS: BlastOptions = {
  sizes: [16, 64, 512],
  modes: ['plain', 'ringwire2-drain', 'ringwire2-getData', 'ringwire0-drain'],
  seconds: 3,
  warmupSeconds: 1,
  connections: 8,
  writeKiB: 256,
};

export interface BlastResult {
  mode: string;
  /** What ran: 'node:net', '2 worker shards', 'main-thread shard'. */
  server: string;
  size: number;
  windowMs: number;
  datagramsPerSec: number;
  /** Payload megabytes (10^6 bytes) per second. */
  megabytesPerSec: number;
  /** Datagrams/s the clients handed to write() during the window. */
  offeredPerSec: number;
  /** This mode's datagrams/s ÷ plain's at the same size. */
  ratioToPlain: number;
  /**
   * How busy the receiving main thread was (0..1): plain, its event-loop utilization;
   * ringwire, the share of the window spent in drain/getData calls that delivered datagrams
   * (in single-thread mode the socket reading comes on top).
   */
  receiverLoad: number;
  /** ringwire: share of loop turns that read nothing (0..1); plain: NaN. */
  emptyTurns: number;
  /** The client process's event-loop utilization during the window (0..1). */
  clientLoad: number;
  sentTotal: number;
  lost: number;
  bytesOk: boolean;
}

/** A receiver: its server counts what arrives; ringwire ones read in a setImmediate loop. */
interface Receiver {
  readonly server: CountedServer;
  /** Loop turns, turns that read nothing, and time inside read calls that delivered (ringwire). */
  turns: number;
  empty: number;
  busyMs: number;
  close(): Promise<void>;
}

/** Most datagrams one loop turn reads, so timers and I/O get their turn too. */
const MAX_PER_TURN = 1 << 16;

class RingwireReceiver implements Receiver {
  readonly server: CountedServer;
  turns = 0;
  empty = 0;
  /** Time inside read calls that delivered something (ms). */
  busyMs = 0;
  private running = true;
  private readonly turn: () => void;

  constructor(
    private readonly rw: RingwireBenchServer,
    useGetData: boolean,
    /** 0: spin with setImmediate; otherwise wait this long (setTimeout) after a turn that read nothing. */
    private readonly idleWaitMs: number,
  ) {
    this.server = rw;
    this.turn = useGetData ? () => this.step(true) : () => this.step(false);
    setImmediate(this.turn);
  }

  async close(): Promise<void> {
    this.running = false;
    await this.rw.close();
  }

  private step(useGetData: boolean): void {
    const start = performance.now();
    const read = useGetData ? this.rw.readWithGetData(MAX_PER_TURN) : this.rw.readWithDrain(MAX_PER_TURN);
    this.turns++;
    if (read === 0) this.empty++;
    else this.busyMs += performance.now() - start;
    this.rw.acceptNew();
    if (!this.running) return;
    if (read === 0 && this.idleWaitMs > 0) setTimeout(this.turn, this.idleWaitMs);
    else setImmediate(this.turn);
  }
}

async function openReceiver(mode: string): Promise<Receiver> {
  if (mode === 'plain') {
    const plain = await PlainFrameServer.open();
    return { server: plain, turns: 0, empty: 0, busyMs: 0, close: () => plain.close() };
  }
  const match = /^ringwire(\d+)-(drain|getData)(?:-idle(\d+)ms)?$/.exec(mode);
  if (match === null) {
    throw new RangeError(`--modes: unknown mode ${mode} (plain, ringwire2-drain, ringwire2-getData, ringwire0-drain, ringwire2-drain-idle1ms, ...)`);
  }
  return new RingwireReceiver(await RingwireBenchServer.open(Number(match[1])), match[2] === 'getData', Number(match[3] ?? 0));
}

interface Snapshot {
  at: number;
  elu: ReturnType<typeof performance.eventLoopUtilization>;
  datagrams: number;
  bytes: number;
  turns: number;
  empty: number;
  busyMs: number;
}

function snapshot(receiver: Receiver): Snapshot {
  return {
    at: performance.now(),
    elu: performance.eventLoopUtilization(),
    datagrams: receiver.server.datagrams,
    bytes: receiver.server.bytes,
    turns: receiver.turns,
    empty: receiver.empty,
    busyMs: receiver.busyMs,
  };
}

async function runOne(mode: string, size: number, options: BlastOptions): Promise<BlastResult> {
  const receiver = await openReceiver(mode);
  let client: ClientProcess | null = null;
  try {
    client = ClientProcess.start('blast-clients', [
      '--port',
      String(receiver.server.port),
      '--connections',
      String(options.connections),
      '--size',
      String(size),
      '--write-kib',
      String(options.writeKiB),
    ]);
    const hello = await client.next('connected', 30_000);
    const connected = hello.connections as number;
    if (connected < options.connections) throw new Error(`blast: ${connected} of ${options.connections} connected (${String(hello.error)})`);
    await client.startTraffic(mode, () => receiver.server.connected(), connected, options.warmupSeconds);
    const m0 = await client.request({ type: 'mark' }, 'mark', 5000);
    const s0 = snapshot(receiver);
    await sleep(options.seconds * 1000);
    const m1 = await client.request({ type: 'mark' }, 'mark', 5000);
    const s1 = snapshot(receiver);
    const sentTotal = await client.stopTraffic(() => receiver.server.datagrams, 10_000);
    const windowMs = s1.at - s0.at;
    const datagrams = s1.datagrams - s0.datagrams;
    const turns = s1.turns - s0.turns;
    return {
      mode,
      server: receiver.server.mode,
      size,
      windowMs,
      datagramsPerSec: (datagrams * 1000) / windowMs,
      megabytesPerSec: ((s1.bytes - s0.bytes) * 1000) / windowMs / 1e6,
      offeredPerSec: offeredPerSec(m0, m1),
      ratioToPlain: NaN,
      receiverLoad:
        mode === 'plain' ? performance.eventLoopUtilization(s1.elu, s0.elu).utilization : (s1.busyMs - s0.busyMs) / windowMs,
      emptyTurns: turns > 0 ? (s1.empty - s0.empty) / turns : NaN,
      clientLoad: m1.load as number,
      sentTotal,
      lost: sentTotal - receiver.server.datagrams,
      bytesOk: receiver.server.bytes === receiver.server.datagrams * size,
    };
  } finally {
    await client?.close();
    await receiver.close();
  }
}

/** Runs every mode at every size; prints one line per run as it goes. */
export async function runBlast(options: BlastOptions): Promise<BlastResult[]> {
  const results: BlastResult[] = [];
  for (const size of options.sizes) {
    let plain: BlastResult | undefined;
    for (const mode of options.modes) {
      const result = await runOne(mode, size, options);
      if (mode === 'plain') plain = result;
      if (plain !== undefined) result.ratioToPlain = result.datagramsPerSec / plain.datagramsPerSec;
      results.push(result);
      console.error(
        `  ${mode} ${size} B: ${formatCount(result.datagramsPerSec)} dg/s, ${formatFixed(result.megabytesPerSec, 0)} MB/s, lost ${result.lost}`,
      );
    }
  }
  return results;
}

/** Prints the results as one table. */
export function printBlast(results: BlastResult[], options: BlastOptions): void {
  const rows = results.map((r) => {
    const notes: string[] = [];
    if (r.mode !== 'plain') notes.push(r.server);
    if (r.lost !== 0) notes.push(`LOST ${r.lost}`);
    if (!r.bytesOk) notes.push('BYTE COUNT MISMATCH');
    if (r.mode === 'plain' && r.receiverLoad < 0.9 && r.clientLoad > 0.9) notes.push('client-bound');
    return [
      r.mode,
      String(r.size),
      formatCount(r.offeredPerSec),
      formatCount(r.datagramsPerSec),
      formatFixed(r.megabytesPerSec, 0),
      Number.isFinite(r.ratioToPlain) ? `${formatFixed(r.ratioToPlain, 2)}x` : '',
      r.mode === 'plain' ? `ELU ${formatFixed(r.receiverLoad * 100, 0)}%` : `read ${formatFixed(r.receiverLoad * 100, 0)}%`,
      `${formatFixed(r.clientLoad * 100, 0)}%`,
      notes.join('; '),
    ];
  });
  printColumns(
    `Blast: ${options.connections} connections writing ${options.writeKiB} KiB batches of framed datagrams (window ${options.seconds} s)`,
    ['receiver', 'size B', 'client dg/s', 'received dg/s', 'MB/s', 'vs plain', 'receiver', 'client', 'notes'],
    rows,
    1,
    [
      'client dg/s: datagrams the client process handed to write(); MB/s: payload bytes received;',
      'receiver: plain server main-thread event-loop utilization, or the share of the window the ringwire main thread',
      'spent in drain/getData calls that delivered (low: it waited on the shards); client: its event-loop utilization.'
    ],
  );
}

/** A generous bound on how long runBlast may take (s), for a watchdog. */
export function blastBudgetSeconds(options: BlastOptions): number {
  return 30 + options.sizes.length * options.modes.length * (options.seconds + options.warmupSeconds + 60);
}

/** Everything measured and every setting, for --json. */
export function blastReport(options: BlastOptions, results: BlastResult[]): object {
  return netBenchReport('blast', options, results);
}

if (isMainModule(import.meta.url)) {
  await runNetBenchCommand({
    name: 'blast bench',
    defaults: BLAST_DEFAULTS,
    countsFlag: 'sizes',
    setCounts(options, sizes, text) {
      if (sizes.some((size) => size > 0xffff)) throw new RangeError(`--sizes: a u16 header carries at most 65535 bytes, got ${text}`);
      options.sizes = sizes;
    },
    kindsFlag: 'modes',
    setKinds(options, modes) {
      options.modes = modes;
    },
    budgetSeconds: blastBudgetSeconds,
    run: runBlast,
    print: printBlast,
    report: blastReport,
  });
}
