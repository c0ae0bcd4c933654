/**
 * The books of an echo workload: what each connection sent and had echoed, the measured
 * window, the round trips, the integrity checks, the timeline and the report. The bots of
 * the echo scenario (echo-scenario.ts) send and receive through the scenario engine; this
 * ledger only counts, so the report reads exactly as it did when the workloads had their
 * own loop.
 *
 * The phases: 'opening' (the bots connect at --connect-rate), then the paced or saturating
 * sends begin (the connections workload paces from the first connect), 'warmup' (sent and
 * echoed, not counted), 'measure' (the window of --duration), 'draining' (sending stopped;
 * the last echoes come in, within --grace), 'done'.
 *
 * What is counted where: the throughput figures count the datagrams sent in the measured
 * window (by send time; paced: the intended one) and, as received, the echoes of those
 * datagrams, whenever they came (within the grace period), so received never exceeds
 * sent; round-trip times are recorded for the same datagrams; the timeline's per-second
 * rates count sends and arrivals in each second; integrity and the report's totals cover
 * every datagram of the run, warm-up and grace period included. Over UDP an echo may never
 * come: the run then waits out the grace period, and what is still missing is counted lost.
 */
import { performance } from 'node:perf_hooks';
import type { ConnectionsSummary, ErrorCounts, RunReport, RunSettings, ServerCpu, TargetKind, TimelinePoint, UdpDrops } from '../report.js';
import { IntegrityChecker } from '../stats/integrity-checker.js';
import { LatencyRecorder } from '../stats/latency-recorder.js';
import { readCpuSeconds } from '../stats/process-cpu.js';
import { type PayloadFields, readPayload } from '../wire-payload.js';

/** The target a run is aimed at, as the report names it. */
export interface WorkloadTarget {
  name: string;
  kind: TargetKind;
  /** The server's process id when known (the connections workload reads its RSS). */
  pid: number | null;
}

export type Phase = 'opening' | 'warmup' | 'measure' | 'draining' | 'done';

/** What the progress line shows, once a second. */
export interface Progress {
  target: string;
  workload: RunSettings['workload'];
  phase: Phase;
  /** Seconds into the phase, and the phase's planned length (0 when open-ended). */
  phaseElapsed: number;
  phaseSeconds: number;
  sentPerSecond: number;
  receivedPerSecond: number;
  /** p99 of the last second's round trips (ms), or null. */
  p99Ms: number | null;
  openConnections: number;
}

/** The counters at the last once-a-second tick. */
interface Tick {
  at: number;
  sent: number;
  received: number;
  receivedBytes: number;
}

export class EchoLedger {
  readonly n: number;
  /** Raw mode: no datagram boundaries, so only bytes are counted (no payload checks). */
  readonly raw: boolean;
  private readonly startedAt = new Date().toISOString();
  private readonly fields: PayloadFields = { connection: 0, sequence: 0, intendedMs: 0, intact: false };

  // ── per connection ────────────────────────────────────────────────────────
  /** 1 while connection i is open (connected, not reset). */
  readonly open: Uint8Array;
  /** Datagrams sent on connection i (= its next sequence number). */
  readonly sent: Float64Array;
  /** Bytes sent on connection i and not echoed yet (the saturating window). */
  readonly inflightBytes: Float64Array;
  /** Units (datagrams; bytes in raw mode) sent on connection i and not echoed yet. */
  private readonly pending: Float64Array;
  private openCount = 0;

  // ── opening ───────────────────────────────────────────────────────────────
  private settled = 0;
  private opened = 0;
  private openStart = 0;
  private openSeconds = 0;
  private lastConnectError: string | null = null;

  // ── totals ────────────────────────────────────────────────────────────────
  private sentDatagrams = 0;
  private sentBytes = 0;
  private receivedDatagrams = 0;
  private receivedBytes = 0;
  readonly errors: ErrorCounts = { connectFailed: 0, resets: 0, sendRetries: 0 };
  private readonly latency: LatencyRecorder | null;
  private readonly integrity: IntegrityChecker | null;
  private udp: UdpDrops | undefined;

  // ── the measured window ───────────────────────────────────────────────────
  /** performance.now() when the window begins and ends (Infinity until known). */
  windowStart = Infinity;
  windowEnd = Infinity;
  private sentInWindow = 0;
  private sentBytesInWindow = 0;
  private echoedInWindow = 0;
  private echoedBytesInWindow = 0;
  private receivedBytesAtStart = 0;
  private receivedBytesAtEnd: number | null = null;
  private cpuAtStart: number | null = null;
  private cpuAtEnd: number | null = null;
  private heldAtEnd = 0;
  private readonly timeline: TimelinePoint[] = [];
  private tick: Tick = { at: performance.now(), sent: 0, received: 0, receivedBytes: 0 };
  private phase: Phase = 'opening';
  private phaseStart = performance.now();
  private phaseSeconds = 0;
  private failure: Error | null = null;
  private ticker: NodeJS.Timeout | null = null;
  private windowTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly settings: RunSettings,
    readonly target: WorkloadTarget,
    private readonly onProgress: ((progress: Progress) => void) | null,
  ) {
    this.n = settings.connections;
    this.raw = settings.transport === 'tcp' && settings.headerSize === 0;
    this.open = new Uint8Array(this.n);
    this.sent = new Float64Array(this.n);
    this.inflightBytes = new Float64Array(this.n);
    this.pending = new Float64Array(this.n);
    this.latency = this.raw ? null : new LatencyRecorder();
    this.integrity = this.raw ? null : new IntegrityChecker(this.n);
    this.setPhase('opening', this.n / settings.connectRate);
    this.startTicker();
  }

  /** Stops the ledger's timers (the run is over). */
  close(): void {
    if (this.ticker !== null) clearInterval(this.ticker);
    if (this.windowTimer !== null) clearTimeout(this.windowTimer);
    this.ticker = this.windowTimer = null;
  }

  /** The first error that ends the run (no connection could be opened), or null. */
  get error(): Error | null {
    return this.failure;
  }

  /** The connections open now. */
  openConnections(): number {
    return this.openCount;
  }

  // ── opening ───────────────────────────────────────────────────────────────

  /** Connection i is being opened (the first one starts the opening's clock). */
  connecting(): void {
    if (this.openStart === 0) this.openStart = performance.now();
  }

  /** Connection i opened. Returns true when it was the last connect to settle. */
  connected(i: number): boolean {
    this.open[i] = 1;
    this.openCount++;
    this.opened++;
    return this.settle();
  }

  /** Connection i could not be opened. Returns true when it was the last connect to settle. */
  connectFailed(error: unknown): boolean {
    this.errors.connectFailed++;
    this.lastConnectError = error instanceof Error ? error.message : String(error);
    return this.settle();
  }

  /**
   * Connection i, open, was reset 'handshake-failed' (its TLS handshake or WebSocket
   * upgrade): a connect that failed after all. Returns true when every connect has settled
   * and none is left that got through (the run has failed: `error` says why).
   */
  handshakeFailed(i: number): boolean {
    if (this.open[i] === 0) return false;
    this.open[i] = 0;
    this.openCount--;
    this.opened--;
    this.errors.connectFailed++;
    const s = this.settings;
    const tls = s.tls !== undefined;
    const what = s.transport === 'ws' ? (tls ? 'TLS handshake or WebSocket upgrade' : 'WebSocket upgrade') : 'TLS handshake';
    const hint = tls && s.tls!.verify && s.tls!.caFile === null ? " (a server whose certificate a private CA signed needs --tls-ca FILE, or --insecure)" : '';
    this.lastConnectError = `the ${what} failed: the stream was reset 'handshake-failed'${hint}`;
    if (this.settled < this.n || this.opened > 0) return false;
    this.failure ??= new Error(`could not open any connection to ${s.host}:${s.port} (${describeTransport(s)}): ${this.lastConnectError}`);
    return true;
  }

  private settle(): boolean {
    if (++this.settled < this.n) return false;
    this.openSeconds = (performance.now() - this.openStart) / 1000;
    if (this.opened === 0) {
      const s = this.settings;
      this.failure ??= new Error(`could not open any connection to ${s.host}:${s.port} (${describeTransport(s)}): ${this.lastConnectError ?? 'no reason given'}`);
    }
    return true;
  }

  /** What the connections workload reports of the opening. */
  connectionsSummary(serverBytesPerConnection: number | null): ConnectionsSummary {
    return {
      requested: this.settings.connections,
      held: this.heldAtEnd,
      acceptPerSecond: this.openSeconds > 0 ? this.opened / this.openSeconds : 0,
      serverBytesPerConnection,
    };
  }

  // ── the window ────────────────────────────────────────────────────────────

  /**
   * Every connect has settled, at `now`: the warm-up begins, and the window after it.
   * Returns when the window ends (performance.now() ms).
   */
  planWindow(now: number): number {
    const s = this.settings;
    this.windowStart = now + s.warmupSeconds * 1000;
    this.windowEnd = this.windowStart + s.durationSeconds * 1000;
    if (s.warmupSeconds > 0) {
      this.setPhase('warmup', s.warmupSeconds);
      this.windowTimer = setTimeout(() => this.beginWindow(), Math.max(0, this.windowStart - performance.now()));
    } else {
      this.beginWindow();
    }
    return this.windowEnd;
  }

  /** The measured window begins: the server's CPU is read, the timeline's seconds count from now. */
  private beginWindow(): void {
    this.windowTimer = null;
    if (this.phase !== 'opening' && this.phase !== 'warmup') return;
    this.receivedBytesAtStart = this.receivedBytes;
    this.cpuAtStart = this.target.pid === null ? null : readCpuSeconds(this.target.pid);
    this.setPhase('measure', this.settings.durationSeconds);
    this.startTicker();
  }

  private startTicker(): void {
    if (this.ticker !== null) clearInterval(this.ticker);
    this.tick = this.tickAt(performance.now());
    this.ticker = setInterval(() => this.onTick(), 1000);
  }

  /** Sending has stopped (the window is over, or the run was ended): the draining begins. */
  endWindow(): void {
    if (this.receivedBytesAtEnd !== null) return;
    const now = performance.now();
    if (this.windowTimer !== null) {
      clearTimeout(this.windowTimer);
      this.windowTimer = null;
      if (now >= this.windowStart) this.beginWindow();
    }
    if (this.phase === 'measure') {
      this.windowEnd = Math.min(this.windowEnd, now);
      this.receivedBytesAtEnd = this.receivedBytes;
      this.cpuAtEnd = this.target.pid === null ? null : readCpuSeconds(this.target.pid);
      // The last part-second, unless it is too short to be a rate.
      const seconds = (now - this.tick.at) / 1000;
      if (seconds >= 0.5) this.pushPoint(now, seconds);
    } else {
      // Ended before the window began: nothing was measured.
      this.windowStart = this.windowEnd = Infinity;
    }
    this.heldAtEnd = this.openCount;
    this.setPhase('draining', this.settings.graceSeconds ?? 2);
    this.startTicker();
  }

  /** The client's UDP drops, read before it closes. */
  setUdpDrops(drops: UdpDrops): void {
    this.udp = drops;
  }

  // ── traffic ───────────────────────────────────────────────────────────────

  /** Sizes vary per datagram within [payloadMin, payloadMax], the same for a given (connection, sequence). */
  sizeFor(connection: number, sequence: number): number {
    const min = this.settings.payloadMin;
    const span = this.settings.payloadMax - min + 1;
    if (span === 1) return min;
    const mixed = Math.imul(connection + 1, 0x9e3779b1) ^ Math.imul(sequence + 1, 0x85ebca6b);
    return min + (((mixed ^ (mixed >>> 15)) >>> 0) % span);
  }

  /** One datagram of `size` bytes sent on connection `c`, stamped `sentAt` (its intended time, when paced). */
  counted(c: number, size: number, sentAt: number): void {
    this.sent[c]++;
    this.sentDatagrams++;
    this.sentBytes += size;
    if (sentAt >= this.windowStart && sentAt < this.windowEnd) {
      this.sentInWindow++;
      this.sentBytesInWindow += size;
    }
    this.inflightBytes[c] += size;
    this.pending[c] += this.raw ? size : 1;
  }

  /** A send the writer refused (it is tried again later, never dropped). */
  refused(): void {
    this.errors.sendRetries++;
  }

  /** Connection `c` has had every datagram it sent echoed. */
  caughtUp(c: number): boolean {
    return this.pending[c] <= 0;
  }

  /** One datagram (an echo) on connection `index`: `bytes[offset, offset + length)`, seen at `receivedAt`. */
  onEcho(index: number, bytes: Uint8Array, offset: number, length: number, receivedAt: number): void {
    this.receivedDatagrams++;
    this.receivedBytes += length;
    this.inflightBytes[index] -= length;
    if (this.raw) {
      this.pending[index] -= length;
      return;
    }
    if (this.pending[index] > 0) this.pending[index]--;
    const fields = this.fields;
    const integrity = this.integrity!;
    if (!readPayload(bytes, offset, length, fields) || !fields.intact || fields.connection !== index || fields.sequence >= this.sent[index]) {
      integrity.corrupt();
      return;
    }
    const first = integrity.accept(index, fields.sequence);
    const intended = fields.intendedMs;
    const inWindow = intended >= this.windowStart && intended < this.windowEnd;
    if (inWindow && first) {
      this.echoedInWindow++;
      this.echoedBytesInWindow += length;
    }
    // A duplicate is a fault, not a second round trip: only first echoes are timed, so the
    // round trips never outnumber the datagrams sent.
    if (first) this.latency!.record(receivedAt - intended, inWindow);
  }

  /** The server closed or reset connection `index`. */
  onReset(index: number): void {
    if (this.open[index] === 0) return;
    this.open[index] = 0;
    this.openCount--;
    this.errors.resets++;
  }

  // ── once a second ─────────────────────────────────────────────────────────

  /** A timeline point (in the window) and the progress line. */
  private onTick(): void {
    const now = performance.now();
    const seconds = (now - this.tick.at) / 1000;
    if (seconds <= 0) return;
    const sentPerSecond = (this.sentDatagrams - this.tick.sent) / seconds;
    const receivedPerSecond = this.receivedSince(this.tick) / seconds;
    const p99 = this.phase === 'measure' ? this.pushPoint(now, seconds) : (this.latency?.takeSecond() ?? null);
    this.tick = this.tickAt(now);
    this.onProgress?.({
      target: this.target.name,
      workload: this.settings.workload,
      phase: this.phase,
      phaseElapsed: (now - this.phaseStart) / 1000,
      phaseSeconds: this.phaseSeconds,
      sentPerSecond,
      receivedPerSecond,
      p99Ms: p99,
      openConnections: this.openCount,
    });
  }

  private pushPoint(now: number, seconds: number): number | null {
    const p99 = this.latency?.takeSecond() ?? null;
    this.timeline.push({
      // A second that ends a little after the window (the engine stops on its next turn) is the window's last.
      t: Math.round(Math.min(now, this.windowEnd) - this.windowStart) / 1000,
      sentPerSecond: (this.sentDatagrams - this.tick.sent) / seconds,
      receivedPerSecond: this.receivedSince(this.tick) / seconds,
      p99Ms: p99,
    });
    return p99;
  }

  private tickAt(now: number): Tick {
    return { at: now, sent: this.sentDatagrams, received: this.receivedDatagrams, receivedBytes: this.receivedBytes };
  }

  /** Datagrams received since `tick` (raw mode: estimated from the bytes). */
  private receivedSince(tick: Tick): number {
    if (!this.raw) return this.receivedDatagrams - tick.received;
    return (this.receivedBytes - tick.receivedBytes) / this.meanSize();
  }

  private meanSize(): number {
    return this.sentDatagrams > 0 ? this.sentBytes / this.sentDatagrams : this.settings.payloadMin;
  }

  private setPhase(phase: Phase, seconds: number): void {
    this.phase = phase;
    this.phaseStart = performance.now();
    this.phaseSeconds = seconds;
  }

  // ── the report ────────────────────────────────────────────────────────────

  /** The run's report; `connections` for the connections workload. */
  report(connections: ConnectionsSummary | null = null): RunReport {
    this.setPhase('done', 0);
    const measured = Number.isFinite(this.windowStart) && Number.isFinite(this.windowEnd);
    const measuredSeconds = measured ? Math.max(0, (this.windowEnd - this.windowStart) / 1000) : 0;
    const per = (value: number): number => (measuredSeconds > 0 ? value / measuredSeconds : 0);
    // Sent in the window, and those datagrams' echoes wherever they arrived. Raw mode has no
    // boundaries: its echoes are the bytes that arrived in the window, in mean-size datagrams.
    const meanSize = this.meanSize();
    const receivedBytes = this.raw ? (this.receivedBytesAtEnd ?? this.receivedBytes) - this.receivedBytesAtStart : this.echoedBytesInWindow;
    const receivedDatagrams = this.raw ? Math.round(receivedBytes / meanSize) : this.echoedInWindow;
    return {
      target: this.target.name,
      targetKind: this.target.kind,
      settings: this.settings,
      startedAt: this.startedAt,
      measuredSeconds,
      throughput: {
        sentDatagrams: this.sentInWindow,
        receivedDatagrams,
        sentPerSecond: per(this.sentInWindow),
        receivedPerSecond: per(receivedDatagrams),
        sentMBPerSecond: per(this.sentBytesInWindow) / 1e6,
        receivedMBPerSecond: per(receivedBytes) / 1e6,
      },
      latency: this.latency === null ? null : this.latency.summary(),
      integrity: this.integrity === null ? null : this.integrity.counts(this.sent),
      connections,
      errors: { ...this.errors },
      timeline: this.timeline.slice(),
      totals: {
        sentDatagrams: this.sentDatagrams,
        receivedDatagrams: this.raw ? Math.round(this.receivedBytes / meanSize) : this.receivedDatagrams,
      },
      ...(this.udp === undefined ? {} : { udp: this.udp }),
      serverCpu: this.serverCpu(measuredSeconds, receivedDatagrams),
    };
  }

  private serverCpu(measuredSeconds: number, echoed: number): ServerCpu | null {
    if (this.cpuAtStart === null || this.cpuAtEnd === null || measuredSeconds <= 0) return null;
    const cpuSeconds = Math.max(0, this.cpuAtEnd - this.cpuAtStart);
    return {
      cpuSeconds,
      perDatagramUs: echoed > 0 ? (cpuSeconds * 1e6) / echoed : null,
      cores: cpuSeconds / measuredSeconds,
    };
  }
}

/** The run's transport in a message: 'tcp', 'ws', 'udp', 'tcp over TLS', 'ws over TLS'. */
function describeTransport(settings: RunSettings): string {
  return settings.tls === undefined ? settings.transport : `${settings.transport} over TLS`;
}
