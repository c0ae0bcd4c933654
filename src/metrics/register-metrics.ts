/**
 * `ringwire/metrics`: Prometheus metrics for a QueuedConnectionManager and a TaskManager,
 * into a prom-client Registry the program passes in (prom-client is an optional peer
 * dependency: install it beside ringwire to use this module).
 *
 * ```ts
 * import { Registry } from 'prom-client';
 * import { registerMetrics } from 'ringwire/metrics';
 *
 * const registry = new Registry();
 * registerMetrics(manager, { registry });       // the network: ringwire_connections_open, …
 * registerMetrics(taskManager, { registry });   // the game loop: ringwire_tick_duration_seconds, …
 * // serve `await registry.metrics()` with `registry.contentType` at GET /metrics
 * ```
 *
 * Every value is read when Prometheus scrapes: a manager's from one `getStats()` call per
 * scrape, a TaskManager's from `getFrameStats()`, so neither the datagram path nor the
 * frame pays for metrics. Names follow Prometheus's rules (the unit in the name, `_total`
 * for counters), with labels where one family has several causes. The families are
 * listed in the README (Metrics for Prometheus).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Metric, Registry } from 'prom-client';
import type { FrameStats, ManagerStats, ResetReason, ShardStateName, ShardStats } from '../index.js';
import { ErrorCode, QueuedConnectionManager, RingwireRangeError, RingwireTypeError, TaskManager } from '../index.js';

export interface MetricsOptions {
  /** The registry the collectors go into (the program's own: ringwire makes none). */
  registry: Registry;
  /** Put before every name (default `ringwire_`). */
  prefix?: string;
  /** Labels every sample carries, e.g. `{ room_server: 'eu-1' }`. */
  labels?: Record<string, string>;
}

/** What registerMetrics returns: its families can be taken out again. */
export interface RegisteredMetrics {
  /** The names it registered. */
  readonly names: readonly string[];
  /** Removes them from the registry (and stops the event loop delay monitor of a TaskManager's). */
  remove(): void;
}

type Labels = Record<string, string>;
interface Sample {
  value: number;
  labels: Labels;
  /** For a histogram's or summary's series: NAME_bucket, NAME_sum, NAME_count. */
  metricName?: string;
}
type Kind = 'counter' | 'gauge' | 'histogram' | 'summary';

/** One family as prom-client's registry reads it: its get() is called at each scrape. */
interface Family {
  name: string;
  help: string;
  type: Kind;
  aggregator: 'sum';
  get(): { name: string; help: string; type: Kind; aggregator: 'sum'; values: Sample[] };
}

/**
 * The event loop delay monitor's timer (ms). It records the whole interval between its
 * ticks, so the delay is what it records less this.
 */
const LOOP_RESOLUTION_MS = 10;

/** What each refusal counter of getStats() is called in `connections_refused_total{reason}`. */
const REFUSALS = {
  max_connections: 'rejectedConnections',
  per_address: 'rejectedPerAddress',
  accept_rate: 'rejectedAcceptRate',
  address_table: 'rejectedAddressTable',
  backlog: 'rejectedBacklog',
  shard_full: 'rejectedShardFull',
  no_shard: 'rejectedNoShard',
} as const satisfies Record<string, keyof ManagerStats>;

/** What each UDP drop counter of getStats() is called in `udp_datagrams_dropped_total{cause}`. */
const UDP_DROPS = {
  checksum: 'udpRejected',
  ring_full: 'udpOverflow',
  unread: 'udpUnread',
} as const satisfies Record<string, keyof ManagerStats>;

/** A family's samples as [extra labels, value] pairs, from one reading. */
type Read<T> = (reading: T) => [Labels, number][];

/** One scrape's reading of a manager. */
interface ManagerReading {
  stats: ManagerStats;
  shards: ShardStats[];
}

const one =
  <K extends keyof ManagerStats>(key: K) =>
  ({ stats }: ManagerReading): [Labels, number][] => [[{}, stats[key] as number]];

/** A family with one sample per shard, labelled `shard`. */
const perShard =
  (key: 'sendBacklogBytes' | 'largestSendBacklogBytes' | 'sendOverflowBytes') =>
  ({ shards }: ManagerReading): [Labels, number][] =>
    shards.map((shard) => [{ shard: String(shard.index) }, shard[key]]);

const RESET_REASONS: readonly ResetReason[] = [
  'closed-by-peer',
  'closed-locally',
  'oversized-datagram',
  'slow-consumer',
  'idle-timeout',
  'handshake-failed',
  'protocol-error',
  'error',
];
const SHARD_STATES: readonly ShardStateName[] = ['idle', 'running', 'parked', 'stopping', 'stopped', 'failed'];

/** The manager's families: name (after the prefix), type, help, and how to read them. */
const MANAGER: [string, Kind, string, Read<ManagerReading>][] = [
  ['connections_open', 'gauge', 'TCP connections the shards hold now.', one('connections')],
  ['datagrams_received_total', 'counter', 'Datagrams received (cut from TCP streams, or UDP packets accepted).', one('datagramsIn')],
  ['received_bytes_total', 'counter', 'Payload bytes of the datagrams received (length headers not counted).', one('bytesIn')],
  ['datagrams_sent_total', 'counter', 'Datagrams the shards took from the writer (a broadcast counts once per recipient).', one('datagramsOut')],
  ['sent_bytes_total', 'counter', 'Bytes the shards wrote, length headers included.', one('bytesOut')],
  [
    'connections_refused_total',
    'counter',
    'Clients refused at accept, by reason (max_connections, per_address, accept_rate, address_table, backlog, shard_full, no_shard).',
    ({ stats }) => Object.entries(REFUSALS).map(([reason, key]) => [{ reason }, stats[key]]),
  ],
  [
    'udp_datagrams_dropped_total',
    'counter',
    'UDP packets dropped, by cause (checksum: short or a bad checksum; ring_full: the inbound ring was full; unread: no reader held the connection).',
    ({ stats }) => Object.entries(UDP_DROPS).map(([cause, key]) => [{ cause }, stats[key]]),
  ],
  [
    'resets_total',
    'counter',
    'Connections (TCP streams, UDP sockets) that ended, by reason as Connection.getResetReason() gives it (closed-by-peer, closed-locally, oversized-datagram, slow-consumer, idle-timeout, handshake-failed, protocol-error, error).',
    ({ stats }) => RESET_REASONS.map((reason) => [{ reason }, stats.resets[reason]]),
  ],
  ['socket_pauses_total', 'counter', 'Times a socket was paused because its inbound ring was full.', one('pauses')],
  [
    'ring_fill_ratio',
    'gauge',
    "Each shard's rings' fill, 0 to 1: direction inbound (the shard's datagrams for the reader) or outbound (the writer's for the shard).",
    ({ shards }) =>
      shards.flatMap((shard): [Labels, number][] => [
        [{ shard: String(shard.index), direction: 'inbound' }, shard.inboundRingFill],
        [{ shard: String(shard.index), direction: 'outbound' }, shard.outboundRingFill],
      ]),
  ],
  [
    'send_backlog_bytes',
    'gauge',
    "Bytes sent to each shard's connections and not yet taken by the kernel (the sum of getSendBacklog).",
    perShard('sendBacklogBytes'),
  ],
  ['send_backlog_largest_bytes', 'gauge', "The largest getSendBacklog among each shard's connections.", perShard('largestSendBacklogBytes')],
  [
    'send_overflow_bytes',
    'gauge',
    "Payload bytes waiting on the main thread because each shard's outbound ring was full (cut past shardSendBudget).",
    perShard('sendOverflowBytes'),
  ],
  ['worker_shards', 'gauge', 'Worker shard threads (0: single-thread mode).', one('workerShards')],
  [
    'shards',
    'gauge',
    'Shards by state: running (holding a pool thread), parked (drained, the thread let go), idle (not started), stopping, stopped, failed.',
    ({ shards }) => SHARD_STATES.map((state) => [{ state }, shards.filter((shard) => shard.state === state).length]),
  ],
  [
    'handshake_failures_total',
    'counter',
    'Handshakes that failed or timed out, by layer: tls, or websocket (upgrades answered 400, 403, 404 or 426).',
    ({ stats }) => [
      [{ layer: 'tls' }, stats.tlsHandshakeFailures],
      [{ layer: 'websocket' }, stats.websocketUpgradesRejected],
    ],
  ],
  [
    'websocket_protocol_errors_total',
    'counter',
    'WebSocket streams closed for breaking the protocol, by the close code sent: 1002 (protocol error) or 1007 (invalid UTF-8).',
    ({ stats }) => [
      [{ close_code: '1002' }, stats.websocketProtocolErrors],
      [{ close_code: '1007' }, stats.websocketInvalidUtf8],
    ],
  ],
  [
    'doorbell_wakes_total',
    'counter',
    'Doorbell rings between the threads: direction to_shard (records for a shard that had drained its ring and waited) or to_main (records while waitForReaders waited).',
    ({ stats }) => [
      [{ direction: 'to_shard' }, stats.doorbellWakesToShards],
      [{ direction: 'to_main' }, stats.doorbellWakesToMain],
    ],
  ],
  ['shard_failures_total', 'counter', 'Worker shards that died (each is replaced).', one('shardFailures')],
  ['tracked_addresses', 'gauge', 'Client addresses the per-address limits count now (0 unless a per-address limit is set).', one('trackedAddresses')],
];

/**
 * Puts `target`'s collectors into `options.registry`: a QueuedConnectionManager's network
 * figures, or a TaskManager's game loop (frame durations, overruns, the frame rate, the
 * event loop's delay). Once per target and registry: a name registered twice throws
 * prom-client's "already been registered" error. Throws a TypeError for anything else.
 */
export function registerMetrics(target: QueuedConnectionManager | TaskManager, options: MetricsOptions): RegisteredMetrics {
  if (options === null || typeof options !== 'object' || options.registry === undefined || typeof options.registry.registerMetric !== 'function') {
    throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, 'registerMetrics: expected { registry } (a prom-client Registry)');
  }
  const prefix = options.prefix ?? 'ringwire_';
  if (typeof prefix !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix)) {
    throw new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `registerMetrics: prefix ${JSON.stringify(prefix)} is not a Prometheus name prefix`);
  }
  const fixed: Labels = { ...(options.labels ?? {}) };
  let families: Family[];
  let stop = (): void => {};
  if (target instanceof QueuedConnectionManager) {
    families = managerFamilies(target, prefix, fixed);
  } else if (target instanceof TaskManager) {
    const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    loop.enable();
    stop = () => loop.disable();
    families = taskFamilies(target, loop, prefix, fixed);
  } else {
    throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, 'registerMetrics: expected a QueuedConnectionManager or a TaskManager');
  }
  const registered: string[] = [];
  try {
    for (const family of families) {
      options.registry.registerMetric(family as unknown as Metric);
      registered.push(family.name);
    }
  } catch (error) {
    for (const name of registered) options.registry.removeSingleMetric(name);
    stop();
    throw error;
  }
  return {
    names: registered,
    remove() {
      for (const name of registered) {
        if (options.registry.getSingleMetric(name) !== undefined) options.registry.removeSingleMetric(name);
      }
      stop();
    },
  };
}

/** A family read from `read()` at each scrape. */
function family<T>(name: string, type: Kind, help: string, fixed: Labels, reading: () => T, read: Read<T>): Family {
  return {
    name,
    help,
    type,
    aggregator: 'sum',
    get() {
      const values = read(reading()).map(([labels, value]) => ({ value, labels: { ...fixed, ...labels } }));
      return { name, help, type, aggregator: 'sum', values };
    },
  };
}

function managerFamilies(manager: QueuedConnectionManager, prefix: string, fixed: Labels): Family[] {
  // One getStats() and getShardStats() per scrape: the first family of a scrape reads, the rest of that scrape
  // (the registry reads them together, in one synchronous pass) share the reading.
  let snapshot: ManagerReading | null = null;
  const stats = (): ManagerReading => {
    if (snapshot === null) {
      snapshot = { stats: manager.getStats(), shards: manager.getShardStats() };
      queueMicrotask(() => (snapshot = null));
    }
    return snapshot;
  };
  return MANAGER.map(([name, type, help, read]) => family(prefix + name, type, help, fixed, stats, read));
}

function taskFamilies(tasks: TaskManager, loop: ReturnType<typeof monitorEventLoopDelay>, prefix: string, fixed: Labels): Family[] {
  let snapshot: FrameStats | null = null;
  const frames = (): FrameStats => {
    if (snapshot === null) {
      snapshot = tasks.getFrameStats();
      queueMicrotask(() => (snapshot = null));
    }
    return snapshot;
  };
  // The frame rate since the previous scrape (the first: since registration).
  let lastFrames = tasks.getFrameStats().frames;
  let lastAt = performance.now();
  const frameRate = (): number => {
    const now = performance.now();
    const count = frames().frames;
    const rate = now > lastAt ? ((count - lastFrames) * 1000) / (now - lastAt) : 0;
    lastFrames = count;
    lastAt = now;
    return rate;
  };
  const tick = prefix + 'tick_duration_seconds';
  const tickHelp = 'How long each frame took to run its tasks, in seconds.';
  const delay = prefix + 'event_loop_delay_seconds';
  const delayHelp =
    "The event loop's delay (a 10 ms timer's lateness), in seconds: quantiles since the previous scrape, _sum and _count since registration.";
  // The delay's quantiles are the last scrape's window; its _sum and _count only grow.
  let delayCount = 0;
  let delaySum = 0;
  return [
    {
      name: tick,
      help: tickHelp,
      type: 'histogram',
      aggregator: 'sum',
      get() {
        const stats = frames();
        const values: Sample[] = stats.bucketBounds.map((bound, i) => ({
          metricName: `${tick}_bucket`,
          value: stats.bucketCounts[i],
          labels: { ...fixed, le: String(bound) },
        }));
        values.push({ metricName: `${tick}_bucket`, value: stats.frames, labels: { ...fixed, le: '+Inf' } });
        values.push({ metricName: `${tick}_sum`, value: stats.durationSeconds, labels: { ...fixed } });
        values.push({ metricName: `${tick}_count`, value: stats.frames, labels: { ...fixed } });
        return { name: tick, help: tickHelp, type: 'histogram', aggregator: 'sum', values };
      },
    },
    family(
      prefix + 'ticks_overrun_total',
      'counter',
      'Frames whose tasks took longer than the run’s frame (1 / fixedRate or 1 / frameRate).',
      fixed,
      frames,
      (s) => [[{}, s.overruns]],
    ),
    family(prefix + 'frames_total', 'counter', 'Frames run.', fixed, frames, (s) => [[{}, s.frames]]),
    family(prefix + 'frame_rate', 'gauge', 'Frames per second achieved since the previous scrape.', fixed, frameRate, (rate) => [[{}, rate]]),
    {
      name: delay,
      help: delayHelp,
      type: 'summary',
      aggregator: 'sum',
      get() {
        const count = loop.count;
        const late = (ns: number): number => Math.max(0, ns / 1e9 - LOOP_RESOLUTION_MS / 1000);
        const at = (percentile: number): number => (count === 0 ? 0 : late(loop.percentile(percentile)));
        delayCount += count;
        delaySum += count === 0 ? 0 : late(loop.mean) * count;
        const values: Sample[] = [
          { value: at(50), labels: { ...fixed, quantile: '0.5' } },
          { value: at(99), labels: { ...fixed, quantile: '0.99' } },
          { value: count === 0 ? 0 : late(loop.max), labels: { ...fixed, quantile: '1' } },
          { metricName: `${delay}_sum`, value: delaySum, labels: { ...fixed } },
          { metricName: `${delay}_count`, value: delayCount, labels: { ...fixed } },
        ];
        loop.reset();
        return { name: delay, help: delayHelp, type: 'summary', aggregator: 'sum', values };
      },
    },
  ];
}
