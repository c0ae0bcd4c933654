/**
 * What a harness run reports: the shapes of `--json FILE`, read by the HTML report.
 * Every figure the console table shows is here; nothing is computed twice.
 */

/** The workloads the harness drives. */
export type WorkloadName = 'throughput' | 'latency' | 'connections' | 'soak';

/** The servers `--compare` starts, or 'external' for a target given by address. */
export type TargetKind =
  | 'ringwire-0'
  | 'ringwire-1'
  | 'ringwire-2'
  | 'plain-net'
  | 'ws'
  | 'ringwire-ws-0'
  | 'ringwire-ws-2'
  | 'faulty'
  | 'ringwire-udp-0'
  | 'ringwire-udp-2'
  | 'plain-udp'
  | 'external';

/**
 * How the harness talks to a target, always through ringwire's client side with worker
 * shards: 'tcp' (Panda3D's length-framed stream), 'ws' (binary WebSocket messages, one per
 * datagram) or 'udp' (one Panda3D UDP packet, a 2-byte checksum header then the payload,
 * per datagram). TLS (RunSettings.tls) goes under 'tcp' or 'ws'.
 */
export type Transport = 'tcp' | 'ws' | 'udp';

/** The settings a run was made with (all flags, resolved). */
export interface RunSettings {
  workload: WorkloadName;
  host: string;
  port: number;
  transport: Transport;
  /** TCP's length header bytes (0: raw mode); UDP and WebSocket ignore it (UDP's checksum header is always 2 bytes). */
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
  /**
   * TLS over the stream (--tls): Panda3D's framing over TLS, or wss:// with transport 'ws';
   * `caFile` is the CA trusted (--tls-ca; null: Node's own CAs), `verify` false with
   * --insecure. Absent for a run without TLS.
   */
  tls?: { caFile: string | null; verify: boolean };
  /** The WebSocket request path (--ws-path), when it is not '/'. */
  wsPath?: string;
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
  /** The percentiles, extremes, mean and standard deviation (ms); null when nothing was measured. */
  minMs: number | null;
  p50Ms: number | null;
  p90Ms: number | null;
  /** k6's headline figure. */
  p95Ms: number | null;
  p99Ms: number | null;
  p999Ms: number | null;
  /** wrk2's last reported percentile. */
  p9999Ms: number | null;
  maxMs: number | null;
  meanMs: number | null;
  stdevMs: number | null;
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

/**
 * What the echo checks found (every count must be 0 against a correct TCP or WebSocket
 * server; over UDP `lost` is what UDP allows and is reported, not a fault).
 */
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

/** Every datagram of the run, warm-up and the grace period included (the throughput figures count the measured window only). */
export interface RunTotals {
  sentDatagrams: number;
  receivedDatagrams: number;
}

/**
 * UDP runs: packets the harness client's own ringwire reader dropped (its
 * `getStats()`). Each is also counted in `integrity.lost`, since its echo never arrived.
 */
export interface UdpDrops {
  /** Echoes shorter than the checksum header or whose checksum did not match: corrupted on the way. */
  rejected: number;
  /** Echoes dropped because the client's inbound ring was full (the client fell behind). */
  overflow: number;
}

/**
 * What serving the measured window cost the server: user + system CPU time of its whole
 * process (every thread), read from /proc when the harness started the server itself.
 */
export interface ServerCpu {
  /** CPU seconds over the measured window. */
  cpuSeconds: number;
  /** cpuSeconds / the datagrams echoed in the window (µs each; each was read and written once); null when none was. */
  perDatagramUs: number | null;
  /** cpuSeconds / the window's length: cores kept busy on average. */
  cores: number;
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
  /** The whole run's datagrams; older reports lack it. */
  totals?: RunTotals;
  /** UDP runs only: the client's own drops. */
  udp?: UdpDrops;
  /** The server's CPU over the window; null when the harness did not start it (or no /proc); older reports lack it. */
  serverCpu?: ServerCpu | null;
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
  /** target → its server CPU per datagram / the baseline's (lower is better), where both are known. */
  cpuRatios?: Record<string, number>;
  /** Targets that could not be measured (failed to start, no connection, …) → why. */
  failures?: Record<string, string>;
}

/** Where and how a report was made; older reports lack it. */
export interface ReportEnvironment {
  /** ringwire's version (the harness's own is the same package's). */
  ringwire: string;
  node: string;
  cpuModel: string;
  cpuCount: number;
  /** `process.platform` and `os.release()`. */
  platform: string;
  /** The command line, as typed after the program's name. */
  command: string[];
}

/** What `--json` writes: one run, or a comparison. */
export type HarnessReport =
  | { kind: 'run'; node: string; environment?: ReportEnvironment; run: RunReport }
  | { kind: 'comparison'; node: string; environment?: ReportEnvironment; comparison: ComparisonReport };
