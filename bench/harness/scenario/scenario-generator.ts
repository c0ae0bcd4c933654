/**
 * One load generator: runs a scenario's bots in this process, over ringwire's own client
 * side (one manager, a reader with worker shards, one writer), so one process drives
 * thousands of bots. Many generators (processes, agents) each run their share of a plan;
 * the coordinator merges what they measure.
 *
 * The loop: fire every bot timer that is due (by intended time, lateness recorded in
 * schedule_lag), hand every datagram read to its bot, then sleep in waitForReaders until a
 * datagram comes or the next timer is due (a timer due within SPIN_AHEAD_MS is waited for
 * by turning the event loop instead, with a short nap, as the workloads' loop does).
 * Every CONTROL_MS the load shape is applied (bots started or ended); every second the
 * metrics go to `onTick`.
 */
import { performance } from 'node:perf_hooks';
import {
  type Connection,
  ConnectionWriter,
  type Datagram,
  DatagramIterator,
  NetAddress,
  NetDatagram,
  PointerToConnection,
  QueuedConnectionManager,
  QueuedConnectionReader,
} from 'ringwire';
import type { Bot, BotTimer, ConnectOptions, CounterHandle, GaugeHandle, RateHandle, Scenario, TrendHandle } from './define-scenario.js';
import type { Histogram } from 'hdr-histogram-js';
import { BuiltIn, MetricSet, type MetricsSnapshot, newHistogram, sampleOf } from './metrics.js';
import { TimerHeap, type TimerEntry } from './timer-heap.js';

/** A timer due within this long is waited for by turning the event loop (ms). */
const SPIN_AHEAD_MS = 2;
/** An idle spinning turn naps this long (Atomics.wait), leaving the CPU to the shards (ms). */
const NAP_MS = 0.05;
/** A timer due within this long is not napped for, only turned for (ms). */
const NAP_AHEAD_MS = 1;
/** Longest sleep when nothing is due (ms). */
const MAX_SLEEP_MS = 50;
/** How often the load shape is applied (ms). */
const CONTROL_MS = 100;
/** Most datagrams read per turn before timers get their turn again. */
const READS_PER_TURN = 16_384;
/** Distinct error messages kept (each with its count); more kinds are only counted. */
const MAX_ERROR_KINDS = 20;

const NAP = new Int32Array(new SharedArrayBuffer(4));

/** A ramp's stage, in seconds. */
export interface PlanStage {
  durationSeconds: number;
  target: number;
}

/** What one generator runs: its share of the load and where to aim it. */
export interface GeneratorPlan {
  /** This generator's number and how many there are (bot ids: index + count × k). */
  index: number;
  count: number;
  host: string;
  port: number;
  headerSize: 0 | 2 | 4;
  clientShards: number;
  /** Closed model: bots held for durationSeconds (this generator's share). */
  bots: number;
  durationSeconds: number;
  /** Ramping: this generator's share of each stage's target (durationSeconds is their sum). */
  stages: PlanStage[] | null;
  /** Open model: new bots per second (this generator's share). */
  arrivalRate: number | null;
  maxBots: number;
  gracefulStopSeconds: number;
  /** Load before measuring: what is measured in the first warmupSeconds is forgotten (errors excepted). */
  warmupSeconds: number;
}

/**
 * What a generator reports once a second and at its end. In this process the sets are
 * handed over as they are (`total` is live: the latest state is what counts); across a
 * process boundary they travel as snapshots (see toWire).
 */
export interface GeneratorTick {
  index: number;
  /** Seconds since this generator's bots began. */
  elapsed: number;
  /** Everything measured so far. */
  total: MetricSet | MetricsSnapshot;
  /** The trends of the last second alone (for the time series and the progress line). */
  second: MetricSet | MetricsSnapshot;
  /** Which second of this generator's run the tick closes (1, 2, …); the final result's is its last, partial, one. */
  sequence: number;
  /** What its bots threw, by message, with counts. */
  errors: Record<string, number>;
}

/** A tick as data, to send to another process. */
export function toWire<T extends GeneratorTick>(tick: T): T {
  return {
    ...tick,
    total: tick.total instanceof MetricSet ? tick.total.snapshot() : tick.total,
    second: tick.second instanceof MetricSet ? tick.second.snapshot() : tick.second,
  };
}

export interface GeneratorResult extends GeneratorTick {
  /** The run was ended early (a signal, or a threshold's abortOnFail). */
  aborted: boolean;
}

export interface GeneratorOptions {
  signal?: AbortSignal;
  onTick?: (tick: GeneratorTick) => void;
}

/** The share of `total` that generator `index` of `count` takes (the first ones take the rest). */
export function shareOf(total: number, index: number, count: number): number {
  const base = Math.floor(total / count);
  return base + (index < total - base * count ? 1 : 0);
}

type BotPhase = 'running' | 'ended';

/** One bot: the handle its script gets. */
class BotRuntime implements Bot {
  readonly state: Record<string, unknown> = {};
  phase: BotPhase = 'running';
  conn: Connection | null = null;
  udpTarget: NetAddress | null = null;
  readonly handlers: ((iterator: DatagramIterator, datagram: NetDatagram) => void)[] = [];
  readonly closeHandlers: ((reason: string | null) => void)[] = [];
  readonly timers = new Set<TimerEntry>();

  constructor(
    readonly id: number,
    private readonly engine: ScenarioGenerator,
  ) {}

  now(): number {
    return performance.now() - this.engine.origin;
  }

  connect(options: ConnectOptions = {}): Promise<void> {
    return this.engine.connectBot(this, options);
  }

  send(dg: Datagram): boolean {
    return this.engine.sendFrom(this, dg);
  }

  onDatagram(handler: (iterator: DatagramIterator, datagram: NetDatagram) => void): void {
    if (typeof handler !== 'function') throw new TypeError('onDatagram: expected a function');
    this.handlers.push(handler);
  }

  onClose(handler: (reason: string | null) => void): void {
    if (typeof handler !== 'function') throw new TypeError('onClose: expected a function');
    this.closeHandlers.push(handler);
  }

  every(ms: number, fn: (lateMs: number) => void): BotTimer {
    return this.engine.addTimer(this, ms, ms, fn, 'every');
  }

  after(ms: number, fn: (lateMs: number) => void): BotTimer {
    return this.engine.addTimer(this, ms, 0, fn, 'after');
  }

  close(): void {
    this.engine.endBot(this);
  }

  trend(name: string): TrendHandle {
    return this.engine.trendHandle(name);
  }

  counter(name: string): CounterHandle {
    return this.engine.counterHandle(name);
  }

  rate(name: string): RateHandle {
    return this.engine.rateHandle(name);
  }

  gauge(name: string): GaugeHandle {
    return this.engine.gaugeHandle(name);
  }

  check(condition: boolean, name: string): boolean {
    this.engine.total.addCheck(String(name), Boolean(condition));
    return Boolean(condition);
  }
}

export class ScenarioGenerator {
  /** Everything measured (the built-in traffic counters are brought up to date at each tick). */
  readonly total = MetricSet.withBuiltIns();
  /** Each trend as it was at the last tick (the next second is the difference). */
  private readonly lastTrends = new Map<string, Histogram>();
  /** Each counter as it was at the last tick. */
  private readonly lastCounters = new Map<string, number>();
  private ticks = 0;
  private sent = 0;
  private sentBytes = 0;
  private received = 0;
  private receivedBytes = 0;
  /** performance.now() when the bots began. */
  origin = 0;
  private readonly manager = new QueuedConnectionManager();
  private readonly reader: QueuedConnectionReader;
  private readonly writer: ConnectionWriter;
  private readonly timers = new TimerHeap();
  private readonly bots: BotRuntime[] = [];
  private readonly byConnection = new Map<Connection, BotRuntime>();
  private readonly datagram = new NetDatagram();
  private readonly iterator: DatagramIterator;
  private readonly resetPointer = new PointerToConnection();
  private readonly trendHandles = new Map<string, TrendHandle>();
  private readonly counterHandles = new Map<string, CounterHandle>();
  private readonly rateHandles = new Map<string, RateHandle>();
  private readonly gaugeHandles = new Map<string, GaugeHandle>();
  private started = 0;
  private alive = 0;
  private stopping = false;
  private data: unknown = undefined;

  constructor(
    private readonly scenario: Scenario<unknown, Record<string, unknown>>,
    private readonly plan: GeneratorPlan,
    private readonly options: GeneratorOptions = {},
  ) {
    this.reader = new QueuedConnectionReader(this.manager, plan.clientShards);
    this.writer = new ConnectionWriter(this.manager, plan.clientShards);
    this.writer.setMaxUdpDatagramSize(65_505);
    if (plan.headerSize === 0) {
      this.reader.setRawMode(true);
      this.writer.setRawMode(true);
    } else {
      this.reader.setTcpHeaderSize(plan.headerSize);
      this.writer.setTcpHeaderSize(plan.headerSize);
    }
    this.iterator = new DatagramIterator(this.datagram);
  }

  /** Runs the plan: setup, the bots over the load shape, the graceful stop, teardown. */
  async run(): Promise<GeneratorResult> {
    const signal = this.options.signal;
    try {
      if (this.scenario.setup) this.data = await this.scenario.setup();
      this.origin = performance.now();
      let nextControl = 0;
      let nextTick = 1000;
      const end = (this.plan.warmupSeconds + this.plan.durationSeconds) * 1000;
      let stopAt = Infinity;
      let warming = this.plan.warmupSeconds > 0;
      const measureFrom = this.plan.warmupSeconds * 1000;
      for (;;) {
        const now = performance.now() - this.origin;
        if (warming && now >= measureFrom) {
          warming = false;
          this.endWarmup();
        }
        if (now >= nextControl && !this.stopping) {
          if (now >= end || signal?.aborted) {
            // The end: no bot starts or is due any more, but connections stay open for the
            // graceful stop, so replies to what was sent are still read; then the bots end.
            this.stopping = true;
            stopAt = now + (signal?.aborted ? 0 : this.plan.gracefulStopSeconds * 1000);
            for (const bot of this.bots) {
              for (const timer of bot.timers) timer.cancelled = true;
              bot.timers.clear();
            }
          } else {
            this.control(now / 1000);
            nextControl = Math.min(now + CONTROL_MS, this.nextArrival(), end);
          }
        }
        this.fireTimers();
        const read = this.readAll();
        this.collectResets();
        if (now >= nextTick) {
          nextTick += 1000;
          this.options.onTick?.(this.tick(now));
        }
        if (this.stopping && (now >= stopAt || signal?.aborted)) break;
        if (read === READS_PER_TURN) continue;
        const due = Math.min(this.timers.nextDue() - this.origin, nextControl, nextTick, stopAt) - (performance.now() - this.origin);
        if (due > SPIN_AHEAD_MS) {
          await this.manager.waitForReaders(Math.min(due - SPIN_AHEAD_MS, MAX_SLEEP_MS) / 1000);
        } else {
          // A nap oversleeps (on a VM, 0.05 ms is 0.15 ms typically and 1 ms at p99): only
          // when the next call is further than that is the CPU given away.
          if (read === 0 && due > NAP_AHEAD_MS) Atomics.wait(NAP, 0, 0, NAP_MS);
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      const elapsed = (performance.now() - this.origin) / 1000;
      for (const bot of [...this.bots]) this.endBot(bot);
      if (this.scenario.teardown) {
        try {
          await this.scenario.teardown(this.data);
        } catch (error) {
          this.noteError(error);
        }
      }
      return { ...this.tick(elapsed * 1000), aborted: signal?.aborted === true };
    } finally {
      await this.manager.close();
    }
  }

  /** The warm-up is over: what it measured is forgotten, but for its errors. */
  private endWarmup(): void {
    this.total.restart([BuiltIn.ERRORS, BuiltIn.BOTS_STARTED, BuiltIn.BOTS_CONNECTED]);
    this.sent = this.sentBytes = this.received = this.receivedBytes = 0;
    for (const [name, count] of this.total.counters) this.lastCounters.set(name, count);
    for (const histogram of this.lastTrends.values()) histogram.reset();
  }

  /** When the next arrival is due (ms into the run), or Infinity without an arrival rate. */
  private nextArrival(): number {
    const rate = this.plan.arrivalRate;
    return rate === null || rate <= 0 ? Infinity : (this.started / rate) * 1000;
  }

  /** The load shape at `t` seconds: start bots up to the target, end the newest past it. */
  private control(t: number): void {
    const plan = this.plan;
    let target: number;
    if (plan.arrivalRate !== null) {
      const due = Math.floor(plan.arrivalRate * t) + (plan.arrivalRate > 0 ? 1 : 0);
      while (this.started < due) {
        if (this.alive >= plan.maxBots) {
          this.total.addCounter('bots_dropped', 1);
          this.started++; // an arrival that found no room is not made up later
          continue;
        }
        this.startBot();
      }
      return;
    }
    if (plan.stages !== null) target = stageTarget(plan.stages, t);
    else target = plan.bots;
    // Bots that ended are replaced, at most once per control turn (a bot that fails at
    // once must not make this loop forever).
    const missing = target - this.alive;
    for (let i = 0; i < missing; i++) this.startBot();
    while (this.alive > target) this.endBot(this.bots[this.bots.length - 1]);
  }

  private startBot(): void {
    const id = this.plan.index + this.plan.count * this.started++;
    const bot = new BotRuntime(id, this);
    this.bots.push(bot);
    this.alive++;
    this.total.addCounter(BuiltIn.BOTS_STARTED, 1);
    this.total.setGauge(BuiltIn.BOTS, this.alive);
    try {
      const result = this.scenario.bot(bot, this.data);
      if (result instanceof Promise) result.catch((error: unknown) => this.botFailed(bot, error));
    } catch (error) {
      this.botFailed(bot, error);
    }
  }

  /** A bot whose script threw: counted in errors, and ended; the run goes on. */
  private botFailed(bot: BotRuntime, error: unknown): void {
    // A bot the run ended (a ramp down, the end of the run) may still be in the middle of a
    // connect or an await: what it throws then is not its fault.
    if (bot.phase === 'ended') return;
    this.noteError(error);
    this.endBot(bot);
  }

  /** Counts an error and keeps its message (the first MAX_ERROR_KINDS kinds, each with its count). */
  private noteError(error: unknown): void {
    this.total.addCounter(BuiltIn.ERRORS, 1);
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    const count = this.errorMessages.get(message);
    if (count !== undefined) this.errorMessages.set(message, count + 1);
    else if (this.errorMessages.size < MAX_ERROR_KINDS) this.errorMessages.set(message, 1);
  }

  /** What bots threw, by message, with how often (the first MAX_ERROR_KINDS kinds). */
  private readonly errorMessages = new Map<string, number>();

  endBot(bot: BotRuntime): void {
    if (bot.phase === 'ended') return;
    bot.phase = 'ended';
    for (const timer of bot.timers) timer.cancelled = true;
    bot.timers.clear();
    if (bot.conn !== null) {
      this.byConnection.delete(bot.conn);
      this.manager.closeConnection(bot.conn);
      bot.conn = null;
    }
    const at = this.bots.indexOf(bot);
    if (at >= 0) this.bots.splice(at, 1);
    this.alive--;
    this.total.setGauge(BuiltIn.BOTS, this.alive);
  }

  async connectBot(bot: BotRuntime, options: ConnectOptions): Promise<void> {
    if (bot.phase === 'ended') throw new Error(`bot ${bot.id} has ended`);
    if (bot.conn !== null) throw new Error(`bot ${bot.id} is connected already`);
    const host = options.host ?? this.plan.host;
    const port = options.port ?? this.plan.port;
    const began = performance.now();
    let conn: Connection | null;
    if (options.udp) {
      conn = await this.manager.openUDPConnection();
      if (conn !== null) {
        const target = new NetAddress();
        if (!target.setHost(host, port)) {
          this.manager.closeConnection(conn);
          throw new Error(`bot ${bot.id}: UDP needs an IP address or localhost, got ${host}`);
        }
        bot.udpTarget = target;
      }
    } else {
      conn = await this.manager.openTCPClientConnection(host, port, options.timeoutMs ?? 5000);
    }
    if (conn === null) throw new Error(`bot ${bot.id} could not connect to ${host}:${port}: ${String(this.manager.getLastError()?.message ?? 'refused')}`);
    if ((bot.phase as BotPhase) === 'ended') {
      this.manager.closeConnection(conn);
      throw new Error(`bot ${bot.id} ended while it connected`);
    }
    if (!options.udp) conn.setNoDelay(true);
    this.reader.addConnection(conn);
    bot.conn = conn;
    this.byConnection.set(conn, bot);
    this.total.addCounter(BuiltIn.BOTS_CONNECTED, 1);
    const ms = performance.now() - began;
    this.total.addTrend(BuiltIn.CONNECT_TIME, ms);
  }

  sendFrom(bot: BotRuntime, dg: Datagram): boolean {
    const conn = bot.conn;
    if (conn === null) return false;
    const sent = bot.udpTarget !== null ? this.writer.send(dg, conn, bot.udpTarget) : this.writer.send(dg, conn);
    if (sent) {
      this.sent++;
      this.sentBytes += dg.getLength();
    }
    return sent;
  }

  addTimer(bot: BotRuntime, delay: number, period: number, fn: (lateMs: number) => void, what: string): BotTimer {
    if (typeof delay !== 'number' || !Number.isFinite(delay) || delay < 0 || (period !== 0 && delay <= 0)) {
      throw new RangeError(`${what}: ms must be a number ${period !== 0 ? '> 0' : '≥ 0'}, got ${String(delay)}`);
    }
    if (typeof fn !== 'function') throw new TypeError(`${what}: expected a function`);
    const entry: TimerEntry = { due: performance.now() + delay, period, fn, owner: bot, cancelled: bot.phase === 'ended' || this.stopping };
    if (!entry.cancelled) {
      bot.timers.add(entry);
      this.timers.push(entry);
    }
    return {
      cancel: () => {
        entry.cancelled = true;
        bot.timers.delete(entry);
      },
    };
  }

  /** Fires every timer due now, in due order; a periodic one is due again a period after its last due time. */
  private fireTimers(): void {
    const now = performance.now();
    const timers = this.timers;
    while (timers.nextDue() <= now) {
      const entry = timers.pop()!;
      if (entry.cancelled) continue;
      const bot = entry.owner as BotRuntime;
      const late = now - entry.due;
      this.total.addTrend(BuiltIn.SCHEDULE_LAG, late);
      if (entry.period !== 0) {
        entry.due += entry.period;
        timers.push(entry);
      } else {
        bot.timers.delete(entry);
      }
      try {
        entry.fn(late);
      } catch (error) {
        this.botFailed(bot, error);
      }
    }
  }

  /** Hands each datagram read to its bot's handlers. Returns how many were read. */
  private readAll(): number {
    const dg = this.datagram;
    let count = 0;
    while (count < READS_PER_TURN && this.reader.getData(dg)) {
      count++;
      const bot = this.byConnection.get(dg.getConnection()!);
      if (bot === undefined) continue;
      this.received++;
      this.receivedBytes += dg.getLength();
      const handlers = bot.handlers;
      for (let i = 0; i < handlers.length && bot.phase === 'running'; i++) {
        this.iterator.assign(dg, 0);
        try {
          handlers[i](this.iterator, dg);
        } catch (error) {
          this.botFailed(bot, error);
        }
      }
    }
    return count;
  }

  /** Connections the server ended: their bots' onClose, then the bots end. */
  private collectResets(): void {
    while (this.manager.getResetConnection(this.resetPointer)) {
      const conn = this.resetPointer.p()!;
      const bot = this.byConnection.get(conn);
      if (bot === undefined) continue;
      this.byConnection.delete(conn);
      bot.conn = null;
      this.total.addCounter('disconnects', 1);
      for (const handler of bot.closeHandlers) {
        try {
          handler(conn.getResetReason());
        } catch (error) {
          this.noteError(error);
        }
      }
      this.endBot(bot);
    }
  }

  /**
   * The metrics now, and the last second's trends: each trend minus its copy of a second
   * ago (so a sample is recorded once, in `total`, on the hot path).
   */
  private tick(nowMs: number): GeneratorTick {
    const counters = this.total.counters;
    counters.set(BuiltIn.DATAGRAMS_SENT, this.sent);
    counters.set(BuiltIn.BYTES_SENT, this.sentBytes);
    counters.set(BuiltIn.DATAGRAMS_RECEIVED, this.received);
    counters.set(BuiltIn.BYTES_RECEIVED, this.receivedBytes);
    const second = new MetricSet();
    // The second's counters: how much each grew since the last tick.
    for (const [name, count] of counters) {
      second.counters.set(name, count - (this.lastCounters.get(name) ?? 0));
      this.lastCounters.set(name, count);
    }
    for (const [name, histogram] of this.total.trends) {
      let last = this.lastTrends.get(name);
      if (last === undefined) {
        last = newHistogram();
        this.lastTrends.set(name, last);
      }
      const delta = second.trend(name);
      delta.add(histogram);
      delta.subtract(last);
      last.reset();
      last.add(histogram);
    }
    return { index: this.plan.index, elapsed: nowMs / 1000, total: this.total, second, sequence: ++this.ticks, errors: Object.fromEntries(this.errorMessages) };
  }

  trendHandle(name: string): TrendHandle {
    let handle = this.trendHandles.get(name);
    if (handle === undefined) {
      const key = String(name);
      this.total.trend(key);
      const histogram = this.total.trend(key);
      handle = { add: (value: number) => histogram.recordValue(sampleOf(value)) };
      this.trendHandles.set(name, handle);
    }
    return handle;
  }

  counterHandle(name: string): CounterHandle {
    let handle = this.counterHandles.get(name);
    if (handle === undefined) {
      const key = String(name);
      if (!this.total.counters.has(key)) this.total.counters.set(key, 0);
      handle = { add: (n = 1) => this.total.addCounter(key, n) };
      this.counterHandles.set(name, handle);
    }
    return handle;
  }

  rateHandle(name: string): RateHandle {
    let handle = this.rateHandles.get(name);
    if (handle === undefined) {
      const key = String(name);
      handle = { add: (pass: boolean) => this.total.addRate(key, Boolean(pass)) };
      this.rateHandles.set(name, handle);
    }
    return handle;
  }

  gaugeHandle(name: string): GaugeHandle {
    let handle = this.gaugeHandles.get(name);
    if (handle === undefined) {
      const key = String(name);
      handle = { set: (value: number) => this.total.setGauge(key, value) };
      this.gaugeHandles.set(name, handle);
    }
    return handle;
  }
}

/** The number of bots stage by stage at `t` seconds: linear from the last target (0 at first). */
export function stageTarget(stages: readonly PlanStage[], t: number): number {
  let from = 0;
  let at = 0;
  for (const stage of stages) {
    if (t < at + stage.durationSeconds) {
      const progress = stage.durationSeconds === 0 ? 1 : (t - at) / stage.durationSeconds;
      return Math.round(from + (stage.target - from) * progress);
    }
    at += stage.durationSeconds;
    from = stage.target;
  }
  return from;
}
