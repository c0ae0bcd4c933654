/**
 * What a harness run reports: the shapes of `--json FILE`, read by the HTML report.
 * Every figure the console table shows is here; nothing is computed twice.
 */

/** The workloads the harness drives. */
export type WorkloadName = 'throughput' | 'latency' | 'connections' | 'soak';

/** The servers `--compare` starts, or 'external' for a target given by address. */
export type TargetKind = 'ringwire-0' | 'ringwire-1' | 'ringwire-2' | 'plain-net' | 'ws' | 'faulty' | 'external';

/** The settings a run was made with (all flags, resolved). */
export interface RunSettings {
  workload: WorkloadName;
  host: string;
  port: number;
  /** 'tcp' (Panda3D framing through ringwire's client) or 'ws' (binary WebSocket messages). */
  transport: 'tcp' | 'ws';
  headerSize: 0 | 2 | 4;
  connections: number;
  /** Payload bytes: min and max (equal for a fixed size). */
  payloadMin: number;
  payloadMax: number;
  durationSeconds: number;
  warmupSeconds: number;
  /** Datagrams per second per connection (latency, soak); 0 = as fast as the server accepts. */
  ratePerConnection: number;
  /** Connections opened per second (connections workload). */
  connectRate: number;
  /** Shards of the harness's own ringwire client. */
  clientShards: number;
  /** Seconds the run waited, after sending stopped, for the last echoes (--grace); older reports lack it. */
  graceSeconds?: number;
}

/** One sample per second of the measured window. */
export interface TimelinePoint {
  /** Seconds since the measured window began. */
  t: number;
  sentPerSecond: number;
  receivedPerSecond: number;
  /** p99 round-trip time of this second's echoes (ms), or null when none arrived. */
  p99Ms: number | null;
}

export interface LatencySummary {
  /** Round-trips measured. */
  count: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  meanMs: number;
  /** The percentile curve, for the chart: percentile (0–100) → ms. */
  curve: { percentile: number; ms: number }[];
}

export interface ThroughputSummary {
  sentDatagrams: number;
  receivedDatagrams: number;
  sentPerSecond: number;
  receivedPerSecond: number;
  sentMBPerSecond: number;
  receivedMBPerSecond: number;
}

/** What the soak workload found (every count must be 0 against a correct server). */
export interface IntegrityCounts {
  lost: number;
  duplicated: number;
  reordered: number;
  corrupted: number;
}

export interface ErrorCounts {
  /** Connections that could not be opened. */
  connectFailed: number;
  /** Connections the server reset during the run. */
  resets: number;
  /** Sends the client's writer refused (queue full); they were retried, not dropped. */
  sendRetries: number;
}

export interface ConnectionsSummary {
  requested: number;
  held: number;
  /** Connections opened per second, as achieved. */
  acceptPerSecond: number;
  /** Server RSS growth / held connections, when the harness knows the server's pid; else null. */
  serverBytesPerConnection: number | null;
}

/** One workload against one target. */
export interface RunReport {
  /** A name for the target: its kind, or the address for an external one. */
  target: string;
  targetKind: TargetKind;
  settings: RunSettings;
  startedAt: string;
  /** Length of the measured window (s), warm-up excluded. */
  measuredSeconds: number;
  throughput: ThroughputSummary;
  latency: LatencySummary | null;
  integrity: IntegrityCounts | null;
  connections: ConnectionsSummary | null;
  errors: ErrorCounts;
  timeline: TimelinePoint[];
}

/** A `--compare` run: the same workload against several targets, one after the other. */
export interface ComparisonReport {
  workload: WorkloadName;
  /** The run every ratio divides by (ringwire with shards). */
  baseline: string;
  runs: RunReport[];
  /** target → its receivedPerSecond / the baseline's. */
  ratios: Record<string, number>;
  /** latency and soak: target → its p99 round trip / the baseline's (lower is better). */
  p99Ratios?: Record<string, number>;
  /** Targets that could not be measured (failed to start, no connection, …) → why. */
  failures?: Record<string, string>;
}

/** What `--json` writes: one run, or a comparison. */
export type HarnessReport = { kind: 'run'; node: string; run: RunReport } | { kind: 'comparison'; node: string; comparison: ComparisonReport };
