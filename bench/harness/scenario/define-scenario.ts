/**
 * A scenario: what each bot does, how many bots there are over time, and what must hold.
 * A scenario file's default export is `defineScenario({ options, setup?, bot, teardown? })`.
 *
 * ```ts
 * import { defineScenario } from 'ringwire-bench';
 * import { PyDatagram } from 'ringwire';
 *
 * export default defineScenario({
 *   options: { bots: 100, duration: '30s', thresholds: { echo_ms: ['p(99) < 20'] } },
 *   async bot(b) {
 *     await b.connect();
 *     b.onDatagram((it) => b.trend('echo_ms').add(b.now() - it.getFloat64()));
 *     b.every(50, () => {
 *       const dg = new PyDatagram();
 *       dg.addFloat64(b.now());
 *       b.send(dg);
 *     });
 *   },
 * });
 * ```
 */
import type { DatagramIterator, NetDatagram } from 'ringwire';
import type { Datagram, TlsClientOptions } from 'ringwire';
import { parseSeconds, type Thresholds } from './thresholds.js';

/** One stage of a ramp: over `duration`, the number of bots moves linearly to `target`. */
export interface Stage {
  duration: string | number;
  target: number;
}

export interface ScenarioOptions {
  /** Bots held for `duration` (closed-model load). Default 1 without stages or arrivalRate. */
  bots?: number;
  /** How long the run lasts: '30s', '2m', 500ms, or seconds. Default 10 s (the stages' sum with stages). */
  duration?: string | number;
  /** Ramps: the number of bots moves linearly from 0 (or the last target) to each stage's target. */
  stages?: Stage[];
  /** Open model: this many new bots start each second, each living as long as its bot says. */
  arrivalRate?: number;
  /** Most bots alive at once with arrivalRate (default 10 000): past it, arrivals are counted as dropped. */
  maxBots?: number;
  /** Pass/fail rules on the metrics: `{ name: ['p(99) < 50'] }` (see thresholds.ts). */
  thresholds?: Thresholds;
  /** Panda3D's TCP length header: 2 (default) or 4; 0 is raw mode. `--header-size` overrides it. */
  headerSize?: 0 | 2 | 4;
  /** After the run, how long bots' datagrams are still read before the report (default 1 s). */
  gracefulStop?: string | number;
  /**
   * Load before measuring: bots run for this long first, and what they measure meanwhile
   * (connects, JIT, caches filling) is forgotten, errors excepted. Default 0. `--warmup` overrides it.
   */
  warmup?: string | number;
}

/** What `b.connect()` takes. */
export interface ConnectOptions {
  /** UDP with Panda3D's checksum framing instead of TCP. */
  udp?: boolean;
  /**
   * A WebSocket instead of Panda's TCP framing: each datagram one binary message, through
   * ringwire's client side (the upgrade and the framing in its worker shards). `true`
   * connects to `ws://host:port/` (the run's `--ws-path` when it gave one); `{ path, origin }`
   * names the request path and the Origin header. Absent: the run's `--ws` (Panda's
   * framing without it); `false`: no WebSocket whatever the run says. The header size
   * does not frame it, but bounds its size (the run's header size 2: 65535 bytes).
   */
  websocket?: boolean | { path?: string; origin?: string };
  /**
   * TLS under Panda's framing or under the WebSocket (wss://), in ringwire's shards. `true`:
   * the run's trust (`--tls-ca FILE`, `--insecure`; else Node's CAs); an object: node:tls's
   * client options as ringwire takes them (`ca`, `servername`, `rejectUnauthorized`, …;
   * bots whose options have the same content share one TLS context in each shard).
   * Absent: the run's `--tls`; `false`: no TLS.
   */
  tls?: boolean | TlsClientOptions;
  /** The server (default --host and --port). */
  host?: string;
  port?: number;
  /**
   * Give up after this long (ms, default 5000): the connect fails and the bot ends, counted
   * in errors. With WebSocket or TLS the connect resolves when TCP is up (ringwire's client
   * side does not say when its shard has finished the handshake; what the bot sends waits
   * for it there): a handshake that fails later (or takes longer than `timeoutMs` again)
   * resets the connection 'handshake-failed', and the bot is counted in errors as a
   * connect that failed, and ended.
   */
  timeoutMs?: number;
}

/** What `every` takes besides its period. */
export interface EveryOptions {
  /** The first call is due this long from now (ms, ≥ 0); later ones a period apart. Default: one period. */
  delay?: number;
}

/** A timer made by every(), after() or saturate(). */
export interface BotTimer {
  cancel(): void;
}

export interface TrendHandle {
  /** One sample (ms for timings). */
  add(value: number): void;
}
export interface CounterHandle {
  add(n?: number): void;
}
export interface RateHandle {
  add(pass: boolean): void;
}
export interface GaugeHandle {
  set(value: number): void;
}

/** The handle `bot(b)` gets: one bot, its connection, its timers and the run's metrics. */
export interface Bot<State = Record<string, unknown>> {
  /** This bot's number, unique in the run (over every generator). */
  readonly id: number;
  /** The bot's own state, an object to keep what it likes in. */
  readonly state: State;
  /** Milliseconds since the run began (performance.now() based, same clock as every()). */
  now(): number;
  /** Opens the bot's connection. Rejects when it fails (the bot ends, counted in errors). */
  connect(options?: ConnectOptions): Promise<void>;
  /** Sends a datagram on the bot's connection; false when it is not connected (or refused). */
  send(dg: Datagram): boolean;
  /** Called for each datagram the bot receives; the iterator is at its start. */
  onDatagram(handler: (iterator: DatagramIterator, datagram: NetDatagram) => void): void;
  /**
   * Called for each datagram the bot receives with its bytes in place, `bytes[offset,
   * offset + length)`, valid only during the call (copy what you keep): the fastest way to
   * read, with no copy and no allocation (reader.drain's visitor).
   */
  onBytes(handler: (bytes: Uint8Array, offset: number, length: number) => void): void;
  /** Called when the bot's connection ends (the server closed or reset it, or a WebSocket close); the bot ends after. */
  onClose(handler: (reason: string | null) => void): void;
  /**
   * Calls `fn` every `ms`, by intended time: the n-th call is due at start + n × ms. A call
   * that comes late still comes (and its lateness, `lateMs`, is in the schedule_lag trend).
   */
  every(ms: number, fn: (lateMs: number) => void, options?: EveryOptions): BotTimer;
  /** Calls `fn` once, `ms` from now (its lateness is in schedule_lag too). */
  after(ms: number, fn: (lateMs: number) => void): BotTimer;
  /**
   * Calls `fn` on every turn of the generator's loop, as often as it turns (the loop does not
   * sleep while a bot saturates), until the run's duration is over: load as fast as the server
   * takes it. `fn` sends what it may (bounded by its own window) and returns true when it sent
   * and could send more, to be called again in the same turn (up to the turn's budget of
   * sends); anything else means it is done until the next turn.
   */
  saturate(fn: () => boolean | void): BotTimer;
  /**
   * Called once when the run's duration is over and the graceful stop begins: timers and
   * saturate stop, replies are still read. A bot that has all it waits for may close() then;
   * the run ends as soon as every bot has ended (or when the graceful stop is over).
   */
  onStop(handler: () => void): void;
  /** Ends the bot: its timers stop, its connection closes (after what it sent is written). */
  close(): void;
  trend(name: string): TrendHandle;
  counter(name: string): CounterHandle;
  rate(name: string): RateHandle;
  gauge(name: string): GaugeHandle;
  /** Records a check (its pass rate is in the table, and in the `checks` rate); returns `condition`. */
  check(condition: boolean, name: string): boolean;
}

export interface Scenario<Data = unknown, State = Record<string, unknown>> {
  options?: ScenarioOptions;
  /** Runs once per generator before any bot; what it returns is each bot's second argument. */
  setup?: () => Data | Promise<Data>;
  /** Runs once per bot. */
  bot: (b: Bot<State>, data: Data) => void | Promise<void>;
  /** Runs once per generator after the last bot, with setup's data. */
  teardown?: (data: Data) => void | Promise<void>;
}

/** Marks a module's default export as a scenario, with its types; throws a TypeError naming what is wrong. */
export function defineScenario<Data = unknown, State = Record<string, unknown>>(scenario: Scenario<Data, State>): Scenario<Data, State> {
  if (scenario === null || typeof scenario !== 'object') throw new TypeError(`defineScenario: expected { options, setup?, bot, teardown? }, got ${String(scenario)}`);
  if (typeof scenario.bot !== 'function') throw new TypeError('defineScenario: bot must be a function (b) => …');
  for (const key of ['setup', 'teardown'] as const) {
    if (scenario[key] !== undefined && typeof scenario[key] !== 'function') throw new TypeError(`defineScenario: ${key} must be a function`);
  }
  checkOptions(scenario.options ?? {});
  return scenario;
}

const OPTION_KEYS = new Set(['bots', 'duration', 'stages', 'arrivalRate', 'maxBots', 'thresholds', 'headerSize', 'gracefulStop', 'warmup']);

/** Throws a RangeError or TypeError naming the first bad option. */
export function checkOptions(options: ScenarioOptions): void {
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) {
      const hint = key === 'host' || key === 'port' ? ' (the server is given on the command line: --host, --port)' : '';
      throw new TypeError(`scenario option ${key} is unknown${hint} (known: ${[...OPTION_KEYS].join(', ')})`);
    }
  }
  const count = (value: unknown, name: string, min: number): void => {
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value < min)) {
      throw new RangeError(`scenario option ${name} must be a number ≥ ${min}, got ${JSON.stringify(value)}`);
    }
  };
  count(options.bots, 'bots', 0);
  count(options.arrivalRate, 'arrivalRate', 0);
  count(options.maxBots, 'maxBots', 1);
  if (options.duration !== undefined) parseSeconds(options.duration, 'scenario option duration');
  if (options.gracefulStop !== undefined) parseSeconds(options.gracefulStop, 'scenario option gracefulStop');
  if (options.warmup !== undefined) parseSeconds(options.warmup, 'scenario option warmup');
  if (options.headerSize !== undefined && ![0, 2, 4].includes(options.headerSize)) {
    throw new RangeError(`scenario option headerSize must be 0, 2 or 4, got ${JSON.stringify(options.headerSize)}`);
  }
  if (options.stages !== undefined) {
    if (!Array.isArray(options.stages) || options.stages.length === 0) throw new RangeError('scenario option stages must be a non-empty list of { duration, target }');
    options.stages.forEach((stage, i) => {
      parseSeconds(stage?.duration, `stages[${i}].duration`);
      count(stage.target, `stages[${i}].target`, 0);
    });
  }
}
