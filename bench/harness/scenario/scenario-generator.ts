/**
 * One load generator: runs a scenario's bots in this process, over ringwire's own client
 * side (one manager, a reader with worker shards, one writer), so one process drives
 * thousands of bots, over Panda's TCP framing, UDP, WebSocket or TLS alike (the WebSocket
 * upgrade and framing and the TLS handshake run in the client's shards too). Many generators (processes, agents) each run their share of a plan;
 * the coordinator merges what they measure.
 *
 * The loop: fire every bot timer that is due (by intended time, lateness recorded in
 * schedule_lag), hand every datagram read to its bot, then sleep in waitForReaders until a
 * datagram comes or the next timer is due (a timer due within SPIN_AHEAD_MS is waited for
 * by turning the event loop instead, with a short nap, as the workloads' loop does).
 * Every CONTROL_MS the load shape is applied (bots started or ended); every second the
 * metrics go to `onTick`.
 */
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  type ClientConnectionOptions,
  type Connection,
  ConnectionWriter,
  type Datagram,
  DatagramIterator,
  NetAddress,
  NetDatagram,
  PointerToConnection,
  QueuedConnectionManager,
  QueuedConnectionReader,
  type TlsClientOptions,
  type WebSocketClientOptions,
} from 'ringwire';
import type { Bot, BotTimer, ConnectOptions, CounterHandle, EveryOptions, GaugeHandle, RateHandle, Scenario, TrendHandle } from './define-scenario.js';
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
/** Most datagrams the saturating bots send in one turn, so replies are read in between. */
const SATURATE_SENDS_PER_TURN = 2048;
/** The reset reason of a stream whose TLS handshake or WebSocket upgrade failed. */
const HANDSHAKE_FAILED = 'handshake-failed';

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
  /** Open model: how many bots start in all (null or absent: no bound; they arrive for the whole run). */
  arrivals?: number | null;
  maxBots: number;
  gracefulStopSeconds: number;
  /** Load before measuring: what is measured in the first warmupSeconds is forgotten (errors excepted). */
  warmupSeconds: number;
  /**
   * What `b.connect()` speaks when the bot does not say (the run's --ws, --ws-path and
   * --tls): a WebSocket with its path, and/or TLS. Absent: Panda's TCP framing.
   */
  transport?: { websocket: { path: string } | null; tls: boolean };
  /**
   * What TLS trusts when a bot asks for the run's (`tls: true`, or the run's --tls): a CA's
   * PEM text (--tls-ca) or null for Node's CAs; rejectUnauthorized false (--insecure)
   * verifies nothing. Absent: Node's CAs, verified.
   */
  tlsTrust?: { ca: string | null; rejectUnauthorized: boolean };
}

/**
 * A bot's TLS handshake or WebSocket upgrade failed after its connect had resolved: the
 * stream was reset 'handshake-failed'. Counted in errors, under this name, as a connect
 * that failed.
 */
export class HandshakeError extends Error {
  override name = 'HandshakeError';
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
  /** The run's duration is over (or it was aborted): called before the bots' onStop handlers. */
  onStop?: () => void;
  /** Every bot has ended; called before the client side closes (its stats are still readable). */
  onStopped?: () => void;
}

/** The share of `total` that generator `index` of `count` takes (the first ones take the rest). */
export function shareOf(total: number, index: number, count: number): number {
  const base = Math.floor(total / count);
  return base + (index < total - base * count ? 1 : 0);
}

type BotPhase = 'running' | 'ended';

/** One saturate() call of a bot. */
interface Saturator {
  fn: () => boolean | void;
  owner: BotRuntime;
  cancelled: boolean;
  /** The turn in which it last said it was done (it is not called again in that turn). */
  doneTurn: number;
}

/** One bot: the handle its script gets. */
class BotRuntime implements Bot {
  readonly state: Record<string, unknown> = {};
  phase: BotPhase = 'running';
  conn: Connection | null = null;
  udpTarget: NetAddress | null = null;
  /** What is said when the bot's stream is reset 'handshake-failed' (its TLS handshake or WebSocket upgrade), or null without one. */
  handshakeFailure: string | null = null;
  readonly handlers: ((iterator: DatagramIterator, datagram: NetDatagram) => void)[] = [];
  readonly byteHandlers: ((bytes: Uint8Array, offset: number, length: number) => void)[] = [];
  readonly closeHandlers: ((reason: string | null) => void)[] = [];
  readonly stopHandlers: (() => void)[] = [];
  readonly timers = new Set<TimerEntry>();
  /** The bot's saturate() calls, while they last. */
  readonly saturators = new Set<Saturator>();

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

  onBytes(handler: (bytes: Uint8Array, offset: number, length: number) => void): void {
    if (typeof handler !== 'function') throw new TypeError('onBytes: expected a function');
    this.byteHandlers.push(handler);
  }

  onClose(handler: (reason: string | null) => void): void {
    if (typeof handler !== 'function') throw new TypeError('onClose: expected a function');
    this.closeHandlers.push(handler);
  }

  every(ms: number, fn: (lateMs: number) => void, options?: EveryOptions): BotTimer {
    const delay = options?.delay;
    if (delay !== undefined && (typeof delay !== 'number' || !Number.isFinite(delay) || delay < 0)) {
      throw new RangeError(`every: options.delay must be a number ≥ 0, got ${String(delay)}`);
    }
    return this.engine.addTimer(this, ms, ms, fn, 'every', delay);
  }

  saturate(fn: () => boolean | void): BotTimer {
    return this.engine.addSaturator(this, fn);
  }

  onStop(handler: () => void): void {
    if (typeof handler !== 'function') throw new TypeError('onStop: expected a function');
    this.stopHandlers.push(handler);
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
  /** Each connected bot by its connection's id (ids are small integers, handed out in order). */
  private readonly byConnectionId: (BotRuntime | undefined)[] = [];
  private readonly datagram = new NetDatagram();
  private readonly iterator: DatagramIterator;
  /** Every saturate() call in force, in the order made; `saturateCursor` is where the next turn begins. */
  private saturators: Saturator[] = [];
  private saturateCursor = 0;
  private saturateTurn = 0;
  /** The TLS options of `tls: true` (the plan's trust), made once: every such bot's connect reads the same content. */
  private readonly runTls: TlsClientOptions;
  /** Host names resolved for UDP bots (each once). */
  private readonly resolved = new Map<string, Promise<string>>();
  /** When the run's duration ends (ms into the run): the plan's, or what setEnd said. */
  private endMs = Infinity;
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
    // Panda's header size is the reader's and the writer's, for every connection: the run's.
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
    const trust = plan.tlsTrust;
    this.runTls = trust === undefined ? {} : { ...(trust.ca === null ? {} : { ca: trust.ca }), rejectUnauthorized: trust.rejectUnauthorized };
  }

  /** Runs the plan: setup, the bots over the load shape, the graceful stop, teardown. */
  async run(): Promise<GeneratorResult> {
    const signal = this.options.signal;
    try {
      if (this.scenario.setup) this.data = await this.scenario.setup();
      this.origin = performance.now();
      let nextControl = 0;
      let nextTick = 1000;
      this.endMs = Math.min(this.endMs, (this.plan.warmupSeconds + this.plan.durationSeconds) * 1000);
      let stopAt = Infinity;
      let warming = this.plan.warmupSeconds > 0;
      const measureFrom = this.plan.warmupSeconds * 1000;
      for (;;) {
        const now = performance.now() - this.origin;
        if (warming && now >= measureFrom) {
          warming = false;
          this.endWarmup();
        }
        if (!this.stopping && (now >= this.endMs || signal?.aborted)) {
          stopAt = now + (signal?.aborted ? 0 : this.plan.gracefulStopSeconds * 1000);
          this.stop(signal?.aborted === true);
        } else if (now >= nextControl && !this.stopping) {
          this.control(now / 1000);
          nextControl = Math.min(now + CONTROL_MS, this.nextArrival());
        }
        this.fireTimers(performance.now());
        const read = this.readAll();
        this.collectResets();
        const sentBefore = this.sent;
        if (this.saturators.length > 0 && !this.stopping) this.runSaturators();
        const sent = this.sent - sentBefore;
        if (now >= nextTick) {
          nextTick += 1000;
          this.options.onTick?.(this.tick(now));
        }
        if (this.stopping && (now >= stopAt || signal?.aborted || this.alive === 0)) break;
        if (read === READS_PER_TURN) continue;
        const saturating = this.saturators.length > 0 && !this.stopping;
        const next = saturating ? 0 : Math.min(this.timers.nextDue() - this.origin, nextControl, this.stopping ? Infinity : this.endMs, nextTick, stopAt);
        const due = next - (performance.now() - this.origin);
        if (due > SPIN_AHEAD_MS) {
          await this.manager.waitForReaders(Math.min(due - SPIN_AHEAD_MS, MAX_SLEEP_MS) / 1000);
        } else {
          // A nap oversleeps (on a VM, 0.05 ms is 0.15 ms typically and 1 ms at p99): only
          // when the next call is further than that is the CPU given away. Saturating bots
          // nap on a turn that neither read nor sent: the CPU goes to the server and the shards.
          if (read === 0 && (saturating ? sent === 0 : due > NAP_AHEAD_MS)) Atomics.wait(NAP, 0, 0, NAP_MS);
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      const elapsed = (performance.now() - this.origin) / 1000;
      for (const bot of [...this.bots]) this.endBot(bot);
      this.options.onStopped?.();
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

  /**
   * Ends the run's duration at `ms` into the run (sooner than the plan's, or for a plan
   * without an end): what a workload that sets its own measured window uses.
   */
  setEnd(ms: number): void {
    this.endMs = Math.min(this.endMs, ms);
  }

  /** The client side's statistics (its manager's getStats()), e.g. the UDP packets it dropped. */
  clientStats(): ReturnType<QueuedConnectionManager['getStats']> {
    return this.manager.getStats();
  }

  /**
   * The duration is over: every timer call intended before the end is still made (late, if
   * the loop is behind: a stall is never hidden), then no bot starts, no timer fires and no
   * bot saturates any more; connections stay open for the graceful stop, so replies to what
   * was sent are still read, and each bot's onStop handlers are called.
   */
  private stop(aborted: boolean): void {
    if (!aborted && Number.isFinite(this.endMs)) this.fireTimers(this.origin + this.endMs);
    this.stopping = true;
    for (const bot of this.bots) {
      for (const timer of bot.timers) timer.cancelled = true;
      bot.timers.clear();
      for (const saturator of bot.saturators) saturator.cancelled = true;
      bot.saturators.clear();
    }
    this.saturators = [];
    this.options.onStop?.();
    for (const bot of [...this.bots]) {
      for (const handler of bot.stopHandlers) {
        if (bot.phase === 'ended') break;
        try {
          handler();
        } catch (error) {
          this.botFailed(bot, error);
        }
      }
    }
  }

  /**
   * Calls the saturating bots round the list, from where the last turn stopped, until none
   * asks to go on or the turn's budget of sends is spent.
   */
  private runSaturators(): void {
    const start = this.sent;
    let list = this.saturators;
    if (list.some((saturator) => saturator.cancelled)) {
      list = this.saturators = list.filter((saturator) => !saturator.cancelled);
    }
    const count = list.length;
    const turn = ++this.saturateTurn;
    let progress = true;
    while (progress && count > 0 && this.sent - start < SATURATE_SENDS_PER_TURN) {
      progress = false;
      for (let visited = 0; visited < count && this.sent - start < SATURATE_SENDS_PER_TURN; visited++) {
        const at = this.saturateCursor >= count ? 0 : this.saturateCursor;
        this.saturateCursor = at + 1;
        const saturator = list[at];
        if (saturator.cancelled || saturator.doneTurn === turn) continue;
        try {
          if (saturator.fn() === true) progress = true;
          else saturator.doneTurn = turn;
        } catch (error) {
          this.botFailed(saturator.owner, error);
        }
      }
    }
  }

  addSaturator(bot: BotRuntime, fn: () => boolean | void): BotTimer {
    if (typeof fn !== 'function') throw new TypeError('saturate: expected a function');
    const saturator: Saturator = { fn, owner: bot, cancelled: bot.phase === 'ended' || this.stopping, doneTurn: 0 };
    if (!saturator.cancelled) {
      bot.saturators.add(saturator);
      this.saturators.push(saturator);
    }
    return {
      cancel: () => {
        saturator.cancelled = true;
        bot.saturators.delete(saturator);
      },
    };
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
    const arrivals = this.plan.arrivals ?? null;
    if (rate === null || rate <= 0 || (arrivals !== null && this.started >= arrivals)) return Infinity;
    return (this.started / rate) * 1000;
  }

  /** The load shape at `t` seconds: start bots up to the target, end the newest past it. */
  private control(t: number): void {
    const plan = this.plan;
    let target: number;
    if (plan.arrivalRate !== null) {
      let due = Math.floor(plan.arrivalRate * t) + (plan.arrivalRate > 0 ? 1 : 0);
      if (plan.arrivals != null) due = Math.min(due, plan.arrivals);
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
    for (const saturator of bot.saturators) saturator.cancelled = true;
    bot.saturators.clear();
    if (bot.conn !== null) {
      this.byConnectionId[bot.conn.id] = undefined;
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
    if ('headerSize' in options) {
      throw new TypeError(`bot ${bot.id}: connect takes no headerSize: Panda's header size is the run's (the scenario's options.headerSize, or --header-size)`);
    }
    const host = options.host ?? this.plan.host;
    const port = options.port ?? this.plan.port;
    const began = performance.now();
    let conn: Connection | null;
    if (options.udp) {
      if ((options.websocket !== undefined && options.websocket !== false) || (options.tls !== undefined && options.tls !== false)) {
        throw new TypeError(`bot ${bot.id}: connect takes udp, or websocket and tls (streams), not both`);
      }
      // Panda3D's way: an ephemeral port on the server's side of the stack (IPv4 or IPv6),
      // and the server's address given to every send.
      const target = new NetAddress();
      if (!target.setHost(host, port)) target.setHost(await this.resolve(host), port);
      conn = await this.manager.openUDPConnection(target.getIpString().includes(':') ? '::' : '0.0.0.0', 0);
      bot.udpTarget = target;
    } else {
      const transport = this.streamTransport(bot, options);
      bot.handshakeFailure = transport === undefined ? null : this.handshakeFailure(transport, host, port);
      try {
        conn = await this.manager.connectTCP(host, port, options.timeoutMs ?? 5000, transport);
      } catch (error) {
        throw new Error(`bot ${bot.id} could not connect to ${host}:${port}: ${(error as Error).message}`, { cause: error });
      }
    }
    if (conn === null) throw new Error(`bot ${bot.id} could not connect to ${host}:${port}: ${String(this.manager.getLastError()?.message ?? 'refused')}`);
    if ((bot.phase as BotPhase) === 'ended') {
      this.manager.closeConnection(conn);
      throw new Error(`bot ${bot.id} ended while it connected`);
    }
    if (!options.udp) conn.setNoDelay(true);
    this.reader.addConnection(conn);
    bot.conn = conn;
    this.byConnectionId[conn.id] = bot;
    this.total.addCounter(BuiltIn.BOTS_CONNECTED, 1);
    const ms = performance.now() - began;
    this.total.addTrend(BuiltIn.CONNECT_TIME, ms);
  }

  /** An IP address for `host` (resolved once per name). */
  private resolve(host: string): Promise<string> {
    if (net.isIP(host) !== 0) return Promise.resolve(host);
    let ip = this.resolved.get(host);
    if (ip === undefined) {
      ip = lookup(host).then((found) => found.address);
      this.resolved.set(host, ip);
    }
    return ip;
  }

  /**
   * The options of a bot's stream: its own `websocket` and `tls`, or the run's where it says
   * nothing (the plan's transport); undefined for Panda's plain TCP framing.
   */
  private streamTransport(bot: BotRuntime, options: ConnectOptions): ClientConnectionOptions | undefined {
    const run = this.plan.transport;
    let websocket: WebSocketClientOptions | null = null;
    const ws = options.websocket;
    if (ws === undefined) websocket = run?.websocket ?? null;
    else if (ws === true) websocket = { path: run?.websocket?.path ?? '/' };
    else if (ws !== false) {
      if (ws === null || typeof ws !== 'object') throw new TypeError(`bot ${bot.id}: connect's websocket must be a boolean or { path, origin }, got ${String(ws)}`);
      websocket = { path: ws.path ?? '/', ...(ws.origin === undefined ? {} : { origin: ws.origin }) };
    }
    if (websocket !== null && !websocket.path!.startsWith('/')) websocket.path = `/${websocket.path}`;
    let tls: TlsClientOptions | null = null;
    const given = options.tls;
    if (given === undefined) tls = run?.tls === true ? this.runTls : null;
    else if (given === true) tls = this.runTls;
    else if (given !== false) {
      if (given === null || typeof given !== 'object') throw new TypeError(`bot ${bot.id}: connect's tls must be a boolean or node:tls's client options, got ${String(given)}`);
      tls = given;
    }
    if (websocket === null && tls === null) return undefined;
    // The bot's timeout bounds its handshake too (in the shard, after the connect resolved);
    // 0, no limit for the connect, leaves ringwire's own bound on the handshake (10 s).
    const timeoutMs = options.timeoutMs ?? 5000;
    return {
      ...(websocket === null ? {} : { websocket }),
      ...(tls === null ? {} : { tls }),
      ...(timeoutMs > 0 ? { handshakeTimeoutMs: Math.ceil(timeoutMs) } : {}),
    };
  }

  /**
   * What is said when a stream with `transport` to host:port is reset 'handshake-failed':
   * 'the TLS handshake with 127.0.0.1:9099 failed (…)', with what to try when the run's
   * trust verified the certificate.
   */
  private handshakeFailure(transport: ClientConnectionOptions, host: string, port: number): string {
    const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    const ws = transport.websocket !== undefined && transport.websocket !== false;
    const tls = transport.tls !== undefined;
    const path = ws && typeof transport.websocket === 'object' ? (transport.websocket.path ?? '/') : '/';
    const what = ws && tls ? `the TLS handshake or WebSocket upgrade with wss://${address}${path}` : ws ? `the WebSocket upgrade with ws://${address}${path}` : `the TLS handshake with ${address}`;
    const hint =
      transport.tls === this.runTls && this.runTls.rejectUnauthorized !== false
        ? `; a server with a private CA's certificate needs --tls-ca FILE (or --insecure)`
        : '';
    return `${what} failed (the stream was reset '${HANDSHAKE_FAILED}')${hint}`;
  }

  /** The bot's connection ended without the bot asking: its onClose handlers, then it ends. */
  private botClosed(bot: BotRuntime, reason: string | null): void {
    for (const handler of bot.closeHandlers) {
      try {
        handler(reason);
      } catch (error) {
        this.noteError(error);
      }
    }
    this.endBot(bot);
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

  /**
   * A timer: first due `delay` from now, then every `period` (0: once). Timers made during
   * the graceful stop still fire (a bot may wait for a reply with a timeout then).
   */
  addTimer(bot: BotRuntime, ms: number, period: number, fn: (lateMs: number) => void, what: string, delay = ms): BotTimer {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || (period !== 0 && ms <= 0)) {
      throw new RangeError(`${what}: ms must be a number ${period !== 0 ? '> 0' : '≥ 0'}, got ${String(ms)}`);
    }
    if (typeof fn !== 'function') throw new TypeError(`${what}: expected a function`);
    const entry: TimerEntry = { due: performance.now() + delay, period, fn, owner: bot, cancelled: bot.phase === 'ended' };
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

  /**
   * Fires every timer due by `until`, in due order (lateness measured from now); a periodic
   * one is due again a period after its last due time.
   */
  private fireTimers(until: number): void {
    const now = performance.now();
    const timers = this.timers;
    while (timers.nextDue() <= until) {
      const entry = timers.pop()!;
      if (entry.cancelled) continue;
      const bot = entry.owner as BotRuntime;
      const late = Math.max(0, now - entry.due);
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
    return this.reader.drain(this.visit, READS_PER_TURN);
  }

  /**
   * One datagram read (reader.drain's visitor: the bytes in place, valid during the call):
   * to the bot's byte handlers as they are, and to its datagram handlers in a NetDatagram.
   */
  private readonly visit = (bytes: Uint8Array, offset: number, length: number, conn: Connection, from: NetAddress | null): void => {
    const bot = this.byConnectionId[conn.id];
    if (bot === undefined) return;
    this.received++;
    this.receivedBytes += length;
    const byteHandlers = bot.byteHandlers;
    for (let i = 0; i < byteHandlers.length && bot.phase === 'running'; i++) {
      try {
        byteHandlers[i](bytes, offset, length);
      } catch (error) {
        this.botFailed(bot, error);
      }
    }
    const handlers = bot.handlers;
    if (handlers.length === 0) return;
    const dg = this.datagram;
    dg.assign(bytes, offset, length);
    dg.setConnection(conn);
    if (from !== null) dg.setAddress(from);
    for (let i = 0; i < handlers.length && bot.phase === 'running'; i++) {
      this.iterator.assign(dg, 0);
      try {
        handlers[i](this.iterator, dg);
      } catch (error) {
        this.botFailed(bot, error);
      }
    }
  };

  /** Connections the server ended: their bots' onClose, then the bots end. */
  private collectResets(): void {
    while (this.manager.getResetConnection(this.resetPointer)) {
      const conn = this.resetPointer.p()!;
      const bot = this.byConnectionId[conn.id];
      if (bot === undefined || bot.conn !== conn) continue;
      this.byConnectionId[conn.id] = undefined;
      bot.conn = null;
      const reason = conn.getResetReason();
      if (reason === HANDSHAKE_FAILED && bot.handshakeFailure !== null) {
        // The connect resolved when TCP was up; the shard's handshake failed after: a
        // connect that failed, not a disconnect.
        this.noteError(new HandshakeError(bot.handshakeFailure));
      } else {
        this.total.addCounter('disconnects', 1);
      }
      this.botClosed(bot, reason);
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
