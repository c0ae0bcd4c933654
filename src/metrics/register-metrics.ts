/**
 * `ringwire/metrics`: Prometheus metrics for a QueuedConnectionManager, through prom-client
 * (an optional peer dependency: install it beside ringwire to use this module).
 *
 * ```ts
 * import { Registry } from 'prom-client';
 * import { registerMetrics } from 'ringwire/metrics';
 *
 * const registry = new Registry();
 * registerMetrics(manager, { registry });          // ringwire_… metrics
 * // serve `await registry.metrics()` as text/plain at /metrics
 * ```
 *
 * Every value is read when Prometheus scrapes: one `getStats()` call per scrape, shared by
 * all the metrics, so the datagram path pays nothing. Names follow Prometheus's rules (the
 * unit in the name, `_total` for counters), with labels where one family has several causes.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ManagerStats, QueuedConnectionManager } from '../index.js';

export interface MetricsOptions {
  /** The registry the collectors go into (the program's own: ringwire makes none). */
  registry: Registry;
  /** Put before every name (default `ringwire_`). */
  prefix?: string;
  /** Labels every sample carries, e.g. `{ process: '2' }` when several processes share a port. */
  labels?: Record<string, string>;
}

/** What each refusal counter of getStats() is called in `ringwire_connections_refused_total{reason}`. */
const REFUSALS = {
  max_connections: 'rejectedConnections',
  per_address: 'rejectedPerAddress',
  accept_rate: 'rejectedAcceptRate',
  address_table: 'rejectedAddressTable',
  backlog: 'rejectedBacklog',
  shard_full: 'rejectedShardFull',
  no_shard: 'rejectedNoShard',
} as const satisfies Record<string, keyof ManagerStats>;

/** What each UDP drop counter of getStats() is called in `ringwire_udp_datagrams_dropped_total{cause}`. */
const UDP_DROPS = {
  checksum: 'udpRejected',
  ring_full: 'udpOverflow',
  unread: 'udpUnread',
} as const satisfies Record<string, keyof ManagerStats>;

/** One family: a name, its help, and how to read its samples from a stats snapshot. */
interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  /** The label this family varies (none for one sample). */
  label?: string;
  samples: (stats: ManagerStats) => [labelValue: string | null, value: number][];
}

const one =
  (key: keyof ManagerStats) =>
  (stats: ManagerStats): [string | null, number][] => [[null, stats[key]]];

const MANAGER_FAMILIES: Family[] = [
  { name: 'connections_open', help: 'TCP connections the shards hold now.', type: 'gauge', samples: one('connections') },
  { name: 'datagrams_received_total', help: 'Datagrams received (cut from TCP streams, or UDP packets accepted).', type: 'counter', samples: one('datagramsIn') },
  { name: 'received_bytes_total', help: 'Payload bytes of the datagrams received (length headers not counted).', type: 'counter', samples: one('bytesIn') },
  { name: 'datagrams_sent_total', help: 'Datagrams the shards took from the writer.', type: 'counter', samples: one('datagramsOut') },
  { name: 'sent_bytes_total', help: 'Bytes the shards wrote, length headers included.', type: 'counter', samples: one('bytesOut') },
  {
    name: 'connections_refused_total',
    help: 'Clients refused at accept, by reason (max_connections, per_address, accept_rate, address_table, backlog, shard_full, no_shard).',
    type: 'counter',
    label: 'reason',
    samples: (stats) => Object.entries(REFUSALS).map(([reason, key]) => [reason, stats[key]]),
  },
  {
    name: 'udp_datagrams_dropped_total',
    help: 'UDP packets dropped, by cause (checksum: short or bad checksum; ring_full: the inbound ring was full; unread: no reader took the connection).',
    type: 'counter',
    label: 'cause',
    samples: (stats) => Object.entries(UDP_DROPS).map(([cause, key]) => [cause, stats[key]]),
  },
  { name: 'socket_pauses_total', help: 'Times a socket was paused because its inbound ring was full.', type: 'counter', samples: one('pauses') },
  { name: 'inbound_ring_fill_ratio', help: 'The fullest inbound ring, 0 to 1.', type: 'gauge', samples: one('inboundRingFill') },
  { name: 'worker_shards', help: 'Worker shard threads (0: single-thread mode).', type: 'gauge', samples: one('workerShards') },
  { name: 'shard_failures_total', help: 'Worker shards that died (each is replaced).', type: 'counter', samples: one('shardFailures') },
  { name: 'tracked_addresses', help: 'Client addresses the per-address limits count now.', type: 'gauge', samples: one('trackedAddresses') },
];

/**
 * Puts the manager's collectors into `options.registry`. Call it once per manager and
 * registry (a second call throws prom-client's "already registered" error). The manager's
 * values are read at each scrape.
 */
export function registerMetrics(manager: QueuedConnectionManager, options: MetricsOptions): void {
  if (options === null || typeof options !== 'object' || options.registry === undefined) {
    throw new TypeError('registerMetrics: expected { registry } (a prom-client Registry)');
  }
  const prefix = options.prefix ?? 'ringwire_';
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix)) throw new RangeError(`registerMetrics: prefix ${JSON.stringify(prefix)} is not a Prometheus name prefix`);
  const fixed = options.labels ?? {};
  const fixedNames = Object.keys(fixed);
  // One getStats() per scrape: the first collector of a scrape reads, the rest of that
  // scrape (they are collected together, in one synchronous pass) share the reading.
  let snapshot: ManagerStats | null = null;
  const stats = (): ManagerStats => {
    if (snapshot === null) {
      snapshot = manager.getStats();
      queueMicrotask(() => (snapshot = null));
    }
    return snapshot;
  };
  for (const family of MANAGER_FAMILIES) {
    const labelNames = family.label === undefined ? fixedNames : [...fixedNames, family.label];
    const config = { name: prefix + family.name, help: family.help, labelNames, registers: [options.registry] };
    if (family.type === 'counter') {
      new Counter({
        ...config,
        collect(this: Counter<string>) {
          this.reset();
          for (const [value, count] of family.samples(stats())) {
            this.inc(family.label === undefined || value === null ? fixed : { ...fixed, [family.label]: value }, count);
          }
        },
      });
    } else {
      new Gauge({
        ...config,
        collect(this: Gauge<string>) {
          for (const [value, reading] of family.samples(stats())) {
            this.set(family.label === undefined || value === null ? fixed : { ...fixed, [family.label]: value }, reading);
          }
        },
      });
    }
  }
}
