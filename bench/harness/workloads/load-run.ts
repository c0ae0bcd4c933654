/**
 * The engine every workload drives: one client with `connections` connections to one
 * target, a loop that sends and polls, and the counters, histograms and checks the report
 * is made of. A workload is a short script of its phases:
 *
 *   await run.openAll();         // connections, at --connect-rate
 *   run.startSaturating();       // or run.startPaced(rate)
 *   await run.measure();         // --warmup, then the measured window of --duration
 *   run.stopSending();
 *   await run.awaitEchoes();     // every echo back, or the grace period over
 *   return run.report();
 *
 * Sending. Saturating (throughput): each turn every connection sends until the writer
 * refuses (counted as a send retry; the same datagram is tried again next turn) or its
 * in-flight window is full. The window (bytes sent and not yet echoed) is the harness's
 * own flow control: ringwire's writer takes datagrams as fast as its shard can copy them
 * and never reports a slow peer, so without a window a server slower than the client
 * would see the client's socket backlog grow until the client's shard resets it.
 * Paced (latency, soak, heartbeats): datagram j of the run (all connections interleaved,
 * connection j mod n) is due at t0 + j / (rate × n). A datagram is stamped with its
 * intended time, not the time it left, and a harness that falls behind sends the missed
 * ones late but with their intended times: a stalled server cannot hide its stall
 * (coordinated omission corrected, as wrk2 does).
 *
 * Waiting. ringwire's clients (TCP and UDP) poll their reader, and sleep in its
 * manager's waitForReaders until an echo comes or the next send is due, whichever is
 * first: an echo is seen when it arrives. A paced send due within SPIN_AHEAD_MS, closer
 * than a timer can aim, is waited for by turning on setImmediate; a turn that found
 * nothing to do first naps NAP_MS (Atomics.wait, ~0.1 ms in practice), so the CPU goes
 * to the server and to the client's shards, not to an empty loop (on a 2-core machine
 * spinning doubled the measured latency). The WebSocket client is told of each message by
 * an event; its loop wakes only to send.
 *
 * What is counted where: the throughput figures count the datagrams sent in the measured
 * window (by send time; paced: the intended one) and, as received, the echoes of those
 * datagrams, whenever they came (within the grace period), so received never exceeds
 * sent; round-trip times are recorded for the same datagrams; the timeline's per-second
 * rates count sends and arrivals in each second; integrity and the
 * report's totals cover every datagram of the run, warm-up and grace period included.
 * Over UDP an echo may never come: the run then waits out the grace period, and what is
 * still missing is counted lost.
 */
import { performance } from 'node:perf_hooks';
import { type ClientSink, type ClientTransport } from '../client/client-transport.js';
import { createClient } from '../client/create-client.js';
import { type OpenOutcome, openConnections } from '../client/open-connections.js';
import type { ConnectionsSummary, ErrorCounts, RunReport, RunSettings, ServerCpu, TargetKind, TimelinePoint } from '../report.js';
import { IntegrityChecker } from '../stats/integrity-checker.js';
import { LatencyRecorder } from '../stats/latency-recorder.js';
import { readCpuSeconds } from '../stats/process-cpu.js';
import { PAYLOAD_HEADER, type PayloadFields, readPayload, writePayload } from '../wire-payload.js';

/** A paced send due within this long is waited for by spinning, not by a timer (ms). */
const SPIN_AHEAD_MS = 1.5;
/**
 * A spinning turn that found nothing to do blocks this long (Atomics.wait) before the
 * next one (ms): the poll stays within ~0.1 ms of an echo, yet leaves the CPU to the
 * server and to the client's own shards, which matters on a small machine.
 */
const NAP_MS = 0.05;
/** Longest sleep of the loop when nothing is due (ms). */
const MAX_SLEEP_MS = 50;
/** Most datagrams one turn sends, so the echoes are drained in between. */
const SENDS_PER_TURN = 2048;
/** Most datagrams one connection sends per pass of a saturating turn. */
const BURST = 32;
/** In-flight window per connection when saturating: bytes, before the bounds below. */
const WINDOW_BYTES = 64 * 1024;
/** All connections' windows together stay under this (bytes). */
const WINDOW_TOTAL_BYTES = 64 * 1024 * 1024;

/** The target a run is aimed at, as the report names it. */
export interface WorkloadTarget {
  name: string;
  kind: TargetKind;
  /** The server's process id when known (the connections workload reads its RSS). */
  pid: number | null;
}

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

export type Phase = 'opening' | 'warmup' | 'measure' | 'draining' | 'done';

export interface LoadRunOptions {
  /** Aborts the run: sending stops, waits end at once, the client closes. */
  signal?: AbortSignal;
  /** Called once a second with the run's progress. */
  onProgress?: (progress: Progress) => void;
}

type SendMode = 'idle' | 'saturate' | 'paced';

/** The run's totals at one moment (the measured window is the difference of two). */
interface Totals {
  sent: number;
  sentBytes: number;
  received: number;
  receivedBytes: number;
}

/** The counters at the last tick of the once-a-second timer. */
interface Tick {
  at: number;
  sent: number;
  received: number;
  receivedBytes: number;
}

/** A promise that resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

export class LoadRun implements ClientSink {
  readonly settings: RunSettings;
  readonly target: WorkloadTarget;
  private readonly client: ClientTransport;
  private readonly n: number;
  /** Raw mode: no datagram boundaries, so only bytes are counted (no payload checks). */
  private readonly raw: boolean;
  private readonly graceMs: number;
  private readonly startedAt = new Date().toISOString();
  private readonly abort = new AbortController();
  private readonly onProgress: ((progress: Progress) => void) | null;
  private readonly external: AbortSignal | null;
  private failure: Error | null = null;

  // ── per connection ────────────────────────────────────────────────────────
  private readonly open: Uint8Array;
  /** Datagrams sent (= the next sequence number). */
  private readonly sent: Float64Array;
  /** Bytes sent and not echoed yet (the saturating window). */
  private readonly inflightBytes: Float64Array;
  /** Units (datagrams; bytes in raw mode) sent and not echoed yet. */
  private readonly pending: Float64Array;
  private openCount = 0;

  // ── totals ────────────────────────────────────────────────────────────────
  private sentDatagrams = 0;
  private sentBytes = 0;
  private receivedDatagrams = 0;
  private receivedBytes = 0;
  /** Units still owed by open connections (see `pending`). */
  private outstanding = 0;
  private readonly errors: ErrorCounts = { connectFailed: 0, resets: 0, sendRetries: 0 };
  private readonly latency: LatencyRecorder | null;
  private readonly integrity: IntegrityChecker | null;
  private readonly fields: PayloadFields = { connection: 0, sequence: 0, intendedMs: 0, intact: false };

  // ── the measured window ───────────────────────────────────────────────────
  private windowStart = Infinity;
  private windowEnd = Infinity;
  /**
   * Datagrams (and bytes) sent in the window, by their send time (paced: the intended one),
   * and those of them echoed, whenever the echo came: the throughput figures, so received
   * can never exceed sent. Raw mode has no boundaries: its echoes are counted by arrival.
   */
  private sentInWindow = 0;
  private sentBytesInWindow = 0;
  private echoedInWindow = 0;
  private echoedBytesInWindow = 0;
  private atStart: Totals = { sent: 0, sentBytes: 0, received: 0, receivedBytes: 0 };
  private atEnd: Totals | null = null;
  /** The server's CPU seconds at the window's start and end (null: unknown). */
  private cpuAtStart: number | null = null;
  private cpuAtEnd: number | null = null;
  private readonly timeline: TimelinePoint[] = [];

  // ── sending ───────────────────────────────────────────────────────────────
  private mode: SendMode = 'idle';
  /** Paced and payload-writing scratch (max payload bytes). */
  private readonly scratch: Uint8Array;
  /** Saturating: a payload whose filler never changes, only its header fields. */
  private template: Uint8Array | null = null;
  private templateView: DataView | null = null;
  /** checksum(template, 20, length) for every length (the filler is fixed, so is its checksum). */
  private templateChecksums: Uint32Array | null = null;
  private windowBytes = 0;
  private cursor = 0;
  private turnNumber = 0;
  private readonly refusedAt: Float64Array;
  private pacedStart = 0;
  private intervalMs = 0;
  private nextEvent = 0;
  private eventConnection = 0;
  /** Paced sends intended at or after this are not made (set by stopSending). */
  private sendUntil = Infinity;
  /** Paced sends still owed after this are given up (ms). */
  private sendDeadline = Infinity;

  // ── the loop ──────────────────────────────────────────────────────────────
  private running = false;
  private immediate: NodeJS.Immediate | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly turnBound: () => void;
  /** The sleep in the client's waitForData in progress (0: none); a wake() voids it. */
  private sleeping = 0;
  private sleeps = 0;
  private readonly napWord = new Int32Array(new SharedArrayBuffer(4));
  private ticker: NodeJS.Timeout | null = null;
  private tick: Tick = { at: 0, sent: 0, received: 0, receivedBytes: 0 };
  private phase: Phase = 'opening';
  private phaseStart = performance.now();
  private phaseSeconds = 0;
  private echoWaiter: (() => void) | null = null;
  private closing: Promise<void> | null = null;

  constructor(settings: RunSettings, target: WorkloadTarget, options: LoadRunOptions = {}) {
    this.settings = settings;
    this.target = target;
    this.n = settings.connections;
    this.raw = settings.transport === 'tcp' && settings.headerSize === 0;
    this.graceMs = (settings.graceSeconds ?? 2) * 1000;
    this.onProgress = options.onProgress ?? null;
    this.external = options.signal ?? null;
    this.open = new Uint8Array(this.n);
    this.sent = new Float64Array(this.n);
    this.inflightBytes = new Float64Array(this.n);
    this.pending = new Float64Array(this.n);
    this.refusedAt = new Float64Array(this.n).fill(-1);
    this.scratch = new Uint8Array(settings.payloadMax);
    this.latency = this.raw ? null : new LatencyRecorder();
    this.integrity = this.raw ? null : new IntegrityChecker(this.n);
    this.turnBound = this.turn.bind(this);
    if (this.external !== null) {
      if (this.external.aborted) this.abort.abort();
      else this.external.addEventListener('abort', this.onExternalAbort);
    }
    this.client = createClient(settings, this);
    this.running = true;
    this.immediate = setImmediate(this.turnBound);
    this.startTicker();
  }

  /** True once the run was aborted (by the caller's signal or by a failure). */
  get aborted(): boolean {
    return this.abort.signal.aborted;
  }

  /** The connections open now. */
  openConnections(): number {
    return this.openCount;
  }

  // ── phases ────────────────────────────────────────────────────────────────

  /**
   * Opens every connection at `settings.connectRate`. Resolves what happened; throws when
   * not a single connection could be opened (with the last connect error).
   */
  async openAll(): Promise<OpenOutcome> {
    this.setPhase('opening', this.n / this.settings.connectRate);
    const outcome = await openConnections(this.client, this.n, this.settings.connectRate, this.abort.signal, (index) => {
      this.open[index] = 1;
      this.openCount++;
    });
    this.errors.connectFailed += outcome.failed;
    this.throwIfFailed();
    if (outcome.opened === 0 && !this.aborted) {
      const why = this.client.lastError()?.message ?? 'no reason given';
      throw new Error(`could not open any connection to ${this.settings.host}:${this.settings.port} (${this.settings.transport}): ${why}`);
    }
    return outcome;
  }

  /** Every connection sends as fast as the server takes it, within its in-flight window. */
  startSaturating(): void {
    const max = this.settings.payloadMax;
    const template = new Uint8Array(max);
    writePayload(template, max, 0, 0, 0);
    // The filler is fixed, so its FNV-1a checksum for each length is computed once.
    const sums = new Uint32Array(max + 1);
    let hash = 0x811c9dc5;
    sums[PAYLOAD_HEADER] = hash >>> 0;
    for (let i = PAYLOAD_HEADER; i < max; i++) {
      hash ^= template[i];
      hash = Math.imul(hash, 0x01000193);
      sums[i + 1] = hash >>> 0;
    }
    this.template = template;
    this.templateView = new DataView(template.buffer);
    this.templateChecksums = sums;
    this.windowBytes = Math.max(4 * max, Math.min(WINDOW_BYTES, Math.floor(WINDOW_TOTAL_BYTES / this.n)));
    this.mode = 'saturate';
    this.wake();
  }

  /** Every connection sends `ratePerConnection` datagrams a second, evenly spread. */
  startPaced(ratePerConnection: number): void {
    this.pacedStart = performance.now();
    this.intervalMs = 1000 / (ratePerConnection * this.n);
    this.nextEvent = 0;
    this.eventConnection = 0;
    this.mode = 'paced';
    this.wake();
  }

  /** The warm-up (not counted), then the measured window. Resolves when it ends (or on abort). */
  async measure(): Promise<void> {
    const signal = this.abort.signal;
    if (this.settings.warmupSeconds > 0) {
      this.setPhase('warmup', this.settings.warmupSeconds);
      await sleep(this.settings.warmupSeconds * 1000, signal);
    }
    this.throwIfFailed();
    if (this.aborted) return;
    const now = performance.now();
    this.windowStart = now;
    this.atStart = this.snapshot();
    this.cpuAtStart = this.target.pid === null ? null : readCpuSeconds(this.target.pid);
    this.setPhase('measure', this.settings.durationSeconds);
    this.startTicker();
    await sleep(this.settings.durationSeconds * 1000, signal);
    this.endWindow();
    this.throwIfFailed();
  }

  /** Stops sending. Paced datagrams already due are still sent (late) within the grace period. */
  stopSending(): void {
    const now = performance.now();
    this.endWindow();
    if (this.mode === 'paced') {
      this.sendUntil = now;
      this.sendDeadline = now + this.graceMs;
    } else {
      this.mode = 'idle';
    }
  }

  /**
   * Waits until every datagram sent on a still-open connection has been echoed, or the
   * grace period (--grace) has passed, or the run is aborted.
   */
  async awaitEchoes(): Promise<void> {
    this.setPhase('draining', this.graceMs / 1000);
    if (!this.aborted && !this.echoesDone()) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.abort.signal.removeEventListener('abort', done);
          this.echoWaiter = null;
          resolve();
        };
        const timer = setTimeout(done, this.graceMs);
        this.abort.signal.addEventListener('abort', done);
        this.echoWaiter = done;
        this.wake();
      });
    }
    this.mode = 'idle';
    this.throwIfFailed();
  }

  /** The run's report; `connections` for the connections workload. Call after awaitEchoes. */
  report(connections: ConnectionsSummary | null = null): RunReport {
    this.setPhase('done', 0);
    const start = this.atStart;
    const end = this.atEnd ?? this.snapshot();
    const measuredSeconds = Number.isFinite(this.windowStart) ? Math.max(0, (Math.min(this.windowEnd, performance.now()) - this.windowStart) / 1000) : 0;
    const per = (value: number): number => (measuredSeconds > 0 ? value / measuredSeconds : 0);
    // Sent in the window, and those datagrams' echoes wherever they arrived. Raw mode has no
    // boundaries: its echoes are the bytes that arrived in the window, in mean-size datagrams.
    const sentDatagrams = this.sentInWindow;
    const sentBytes = this.sentBytesInWindow;
    const meanSize = this.sentDatagrams > 0 ? this.sentBytes / this.sentDatagrams : this.settings.payloadMin;
    const receivedBytes = this.raw ? end.receivedBytes - start.receivedBytes : this.echoedBytesInWindow;
    const receivedDatagrams = this.raw ? Math.round(receivedBytes / meanSize) : this.echoedInWindow;
    return {
      target: this.target.name,
      targetKind: this.target.kind,
      settings: this.settings,
      startedAt: this.startedAt,
      measuredSeconds,
      throughput: {
        sentDatagrams,
        receivedDatagrams,
        sentPerSecond: per(sentDatagrams),
        receivedPerSecond: per(receivedDatagrams),
        sentMBPerSecond: per(sentBytes) / 1e6,
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
      ...(this.client.udpDrops === undefined ? {} : { udp: this.client.udpDrops() }),
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

  /** Stops the loop and the timers and closes the client (its connections and workers). */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.running = false;
      this.mode = 'idle';
      if (this.immediate !== null) clearImmediate(this.immediate);
      if (this.timer !== null) clearTimeout(this.timer);
      if (this.ticker !== null) clearInterval(this.ticker);
      this.immediate = null;
      this.timer = null;
      this.ticker = null;
      this.external?.removeEventListener('abort', this.onExternalAbort);
      this.echoWaiter?.();
      await this.client.close();
    })();
    return this.closing;
  }

  // ── ClientSink ────────────────────────────────────────────────────────────

  onEcho(index: number, bytes: Uint8Array, offset: number, length: number, receivedAt: number): void {
    this.receivedDatagrams++;
    this.receivedBytes += length;
    this.inflightBytes[index] -= length;
    if (this.raw) {
      this.pending[index] -= length;
      if (this.open[index] === 1) this.outstanding -= length;
      return;
    }
    if (this.pending[index] > 0) {
      this.pending[index]--;
      if (this.open[index] === 1) this.outstanding--;
    }
    const fields = this.fields;
    const integrity = this.integrity!;
    if (
      !readPayload(bytes, offset, length, fields) ||
      !fields.intact ||
      fields.connection !== index ||
      fields.sequence >= this.sent[index]
    ) {
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

  onReset(index: number): void {
    if (this.open[index] === 0) return;
    this.open[index] = 0;
    this.openCount--;
    this.outstanding -= this.pending[index];
    this.errors.resets++;
  }

  // ── internals ─────────────────────────────────────────────────────────────

  private readonly onExternalAbort = (): void => {
    this.abort.abort();
    this.wake();
  };

  private fail(error: Error): void {
    this.failure ??= error;
    this.abort.abort();
  }

  private throwIfFailed(): void {
    if (this.failure !== null) throw this.failure;
  }

  private snapshot(): Totals {
    return { sent: this.sentDatagrams, sentBytes: this.sentBytes, received: this.receivedDatagrams, receivedBytes: this.receivedBytes };
  }

  private endWindow(): void {
    if (this.atEnd !== null || !Number.isFinite(this.windowStart)) return;
    const now = performance.now();
    this.windowEnd = now;
    this.atEnd = this.snapshot();
    this.cpuAtEnd = this.target.pid === null ? null : readCpuSeconds(this.target.pid);
    // The last part-second, unless it is too short to be a rate.
    const seconds = (now - this.tick.at) / 1000;
    if (seconds >= 0.5) this.pushPoint(now, seconds);
    this.startTicker();
  }

  private setPhase(phase: Phase, seconds: number): void {
    this.phase = phase;
    this.phaseStart = performance.now();
    this.phaseSeconds = seconds;
  }

  private startTicker(): void {
    if (this.ticker !== null) clearInterval(this.ticker);
    this.tick = this.tickAt(performance.now());
    this.ticker = setInterval(() => this.onTick(), 1000);
  }

  /** Once a second: a timeline point (in the window) and the progress line. */
  private onTick(): void {
    const now = performance.now();
    const seconds = (now - this.tick.at) / 1000;
    if (seconds <= 0) return;
    const sentPerSecond = (this.sentDatagrams - this.tick.sent) / seconds;
    const receivedPerSecond = this.receivedSince(this.tick) / seconds;
    const inWindow = now > this.windowStart && this.atEnd === null;
    const p99 = inWindow ? this.pushPoint(now, seconds) : (this.latency?.takeSecond() ?? null);
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

  /** Adds the timeline point for the `seconds` up to `now`; returns its p99. */
  private pushPoint(now: number, seconds: number): number | null {
    const p99 = this.latency?.takeSecond() ?? null;
    this.timeline.push({
      t: Math.round(now - this.windowStart) / 1000,
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
    const meanSize = this.sentDatagrams > 0 ? this.sentBytes / this.sentDatagrams : this.settings.payloadMin;
    return (this.receivedBytes - tick.receivedBytes) / meanSize;
  }

  private echoesDone(): boolean {
    const caughtUp = this.mode !== 'paced' || this.nextDue() >= this.sendUntil;
    return caughtUp && this.outstanding <= 0;
  }

  private nextDue(): number {
    return this.pacedStart + this.nextEvent * this.intervalMs;
  }

  private wake(): void {
    this.sleeping = 0;
    if (!this.running || this.immediate !== null) return;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.immediate = setImmediate(this.turnBound);
  }

  /** One turn of the loop: poll, send, then schedule the next turn. */
  private turn(): void {
    this.immediate = null;
    this.timer = null;
    if (!this.running) return;
    const now = performance.now();
    const before = this.sentDatagrams;
    let received = 0;
    try {
      if (this.client.polled) received = this.client.poll(now);
      // Stamped after the poll: a turn that handled many echoes first would otherwise stamp
      // its sends early, and their round trips would look shorter than they were.
      if (this.mode === 'saturate') this.sendSaturating(received > 0 ? performance.now() : now);
      else if (this.mode === 'paced') this.sendPaced(now);
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    if (this.echoWaiter !== null && this.echoesDone()) this.echoWaiter();
    this.schedule(now, received === 0 && this.sentDatagrams === before);
  }

  private schedule(now: number, idle: boolean): void {
    const untilDue = this.mode === 'paced' ? this.nextDue() - now : Infinity;
    if (this.client.waitForData !== undefined) {
      this.scheduleWaiting(untilDue, idle);
      return;
    }
    if (this.mode === 'saturate' || untilDue <= SPIN_AHEAD_MS) {
      if (idle && NAP_MS > 0 && untilDue > NAP_MS) Atomics.wait(this.napWord, 0, 0, NAP_MS);
      this.immediate = setImmediate(this.turnBound);
      return;
    }
    const sleep = Math.min(untilDue - SPIN_AHEAD_MS, MAX_SLEEP_MS);
    this.timer = setTimeout(this.turnBound, Math.max(1, Math.floor(sleep)));
  }

  /**
   * The loop of a client that can wait for its echoes (ringwire's, through
   * waitForReaders): it sleeps until an echo comes or the next send is due, whichever is
   * first, so every echo is seen when it arrives. A paced send due within SPIN_AHEAD_MS
   * (closer than a timer can aim) is waited for by turning, with a nap when a turn found
   * nothing. A saturating run keeps turning (with the same nap): a wake costs tens of µs
   * on a VM, and the throughput workload is there to keep the server busy, not to idle.
   */
  private scheduleWaiting(untilDue: number, idle: boolean): void {
    if (this.mode === 'saturate' || untilDue <= SPIN_AHEAD_MS) {
      if (idle && NAP_MS > 0 && untilDue > NAP_MS) Atomics.wait(this.napWord, 0, 0, NAP_MS);
      this.immediate = setImmediate(this.turnBound);
      return;
    }
    const sleepMs = Math.min(untilDue - SPIN_AHEAD_MS, MAX_SLEEP_MS);
    const id = ++this.sleeps;
    this.sleeping = id;
    this.client.waitForData!(sleepMs).then(
      () => {
        if (this.sleeping !== id) return;
        this.sleeping = 0;
        this.turn();
      },
      (error: Error) => this.fail(error),
    );
  }

  /** Sizes vary per datagram within [payloadMin, payloadMax], the same for a given (connection, sequence). */
  private sizeFor(connection: number, sequence: number): number {
    const min = this.settings.payloadMin;
    const span = this.settings.payloadMax - min + 1;
    if (span === 1) return min;
    const mixed = Math.imul(connection + 1, 0x9e3779b1) ^ Math.imul(sequence + 1, 0x85ebca6b);
    return min + (((mixed ^ (mixed >>> 15)) >>> 0) % span);
  }

  private sendSaturating(now: number): void {
    const n = this.n;
    const client = this.client;
    const template = this.template!;
    const view = this.templateView!;
    const sums = this.templateChecksums!;
    const window = this.windowBytes;
    const turnNumber = ++this.turnNumber;
    let budget = SENDS_PER_TURN;
    let progress = true;
    while (progress && budget > 0) {
      progress = false;
      for (let visited = 0; visited < n && budget > 0; visited++) {
        const c = this.cursor;
        this.cursor = c + 1 === n ? 0 : c + 1;
        if (this.open[c] === 0 || this.refusedAt[c] === turnNumber) continue;
        let burst = 0;
        while (burst < BURST && budget > 0) {
          const sequence = this.sent[c];
          const size = this.sizeFor(c, sequence);
          if (this.inflightBytes[c] + size > window) break;
          view.setUint32(0, c, true);
          view.setUint32(4, sequence, true);
          view.setFloat64(8, now, true);
          view.setUint32(16, sums[size], true);
          if (!client.send(c, template, size)) {
            this.errors.sendRetries++;
            this.refusedAt[c] = turnNumber;
            break;
          }
          this.sent[c] = sequence + 1;
          this.counted(c, size, now);
          burst++;
          budget--;
        }
        if (burst > 0) progress = true;
      }
    }
  }

  private sendPaced(now: number): void {
    if (now > this.sendDeadline) {
      // Behind schedule past the grace period: what is still owed is given up.
      this.mode = 'idle';
      return;
    }
    const n = this.n;
    const client = this.client;
    const scratch = this.scratch;
    const limit = Math.min(now, this.sendUntil - 1e-9);
    let budget = SENDS_PER_TURN;
    while (budget > 0) {
      const intended = this.pacedStart + this.nextEvent * this.intervalMs;
      if (intended > limit) break;
      const c = this.eventConnection;
      if (this.open[c] === 1) {
        const sequence = this.sent[c];
        const size = this.sizeFor(c, sequence);
        writePayload(scratch, size, c, sequence, intended);
        if (!client.send(c, scratch, size)) {
          // Retried next turn with the same intended time: later, never dropped.
          this.errors.sendRetries++;
          break;
        }
        this.sent[c] = sequence + 1;
        this.counted(c, size, intended);
        budget--;
      }
      this.nextEvent++;
      this.eventConnection = c + 1 === n ? 0 : c + 1;
    }
    if (this.nextDue() >= this.sendUntil) this.mode = 'idle';
  }

  /** One datagram of `size` bytes sent on connection `c`, stamped `sentAt` (its intended time, when paced). */
  private counted(c: number, size: number, sentAt: number): void {
    this.sentDatagrams++;
    this.sentBytes += size;
    if (sentAt >= this.windowStart && sentAt < this.windowEnd) {
      this.sentInWindow++;
      this.sentBytesInWindow += size;
    }
    this.inflightBytes[c] += size;
    const units = this.raw ? size : 1;
    this.pending[c] += units;
    this.outstanding += units;
  }
}
