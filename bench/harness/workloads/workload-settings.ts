/**
 * Each workload's defaults, and the checks that span several flags (a flag's own syntax
 * is checked by the command line). `resolveSettings` turns what was given into the
 * RunSettings a run is made with and the report repeats.
 */
import type { RunSettings, Transport, WorkloadName } from '../report.js';
import { PAYLOAD_HEADER } from '../wire-payload.js';

/** A bad command line: printed with the usage hint, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export const WORKLOADS: readonly WorkloadName[] = ['throughput', 'latency', 'connections', 'soak'];

/**
 * The workloads `--udp` applies to, and why not the others: throughput saturates each
 * connection within a TCP-style in-flight window (UDP has no flow control, so it would
 * measure drops, not echoes); connections holds streams (UDP has none); soak fails on any
 * lost datagram (UDP may lose).
 */
export const UDP_WORKLOADS: readonly WorkloadName[] = ['latency'];
const UDP_REFUSAL: Partial<Record<WorkloadName, string>> = {
  throughput: 'throughput saturates each connection within an in-flight window and UDP has no flow control: it would measure the drops',
  connections: 'connections opens and holds streams and UDP has none',
  soak: 'soak fails on any lost datagram and UDP may lose some',
};

/** The defaults of the flags that differ per workload. */
export interface WorkloadDefaults {
  connections: number;
  payloadMin: number;
  payloadMax: number;
  durationSeconds: number;
  warmupSeconds: number;
  /** Datagrams per second per connection; 0 = as fast as the server accepts. */
  ratePerConnection: number;
}

export const WORKLOAD_DEFAULTS: Readonly<Record<WorkloadName, WorkloadDefaults>> = {
  throughput: { connections: 16, payloadMin: 64, payloadMax: 64, durationSeconds: 10, warmupSeconds: 2, ratePerConnection: 0 },
  latency: { connections: 100, payloadMin: 64, payloadMax: 64, durationSeconds: 10, warmupSeconds: 2, ratePerConnection: 60 },
  connections: { connections: 1000, payloadMin: 32, payloadMax: 32, durationSeconds: 5, warmupSeconds: 0, ratePerConnection: 1 },
  soak: { connections: 100, payloadMin: 20, payloadMax: 1024, durationSeconds: 60, warmupSeconds: 0, ratePerConnection: 30 },
};

/** Defaults shared by every workload. */
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 9099;
export const DEFAULT_CONNECT_RATE = 500;
export const DEFAULT_HEADER_SIZE = 2;
export const DEFAULT_CLIENT_SHARDS = 2;
export const DEFAULT_GRACE_SECONDS = 2;
/** Largest payload with a 4-byte header or over WebSocket (the client's ring holds 2 MiB records). */
export const MAX_PAYLOAD = 1024 * 1024;
/** Largest payload over UDP: one IPv4 packet (65507 bytes) less the 2-byte checksum header. */
export const MAX_UDP_PAYLOAD = 65_505;
/** Most datagrams per second all connections together may be asked to send (paced workloads). */
export const MAX_TOTAL_RATE = 2_000_000;

/** What was given on the command line (undefined: take the default). */
export interface WorkloadFlags {
  host?: string;
  port?: number;
  transport?: Transport;
  headerSize?: 0 | 2 | 4;
  connections?: number;
  payloadMin?: number;
  payloadMax?: number;
  durationSeconds?: number;
  warmupSeconds?: number;
  ratePerConnection?: number;
  /** Datagrams per second over all connections (-R / --rate): divided among them. */
  totalRate?: number;
  connectRate?: number;
  clientShards?: number;
  graceSeconds?: number;
  /** --tls (with --tls-ca FILE, or --insecure). */
  tls?: { caFile: string | null; verify: boolean };
  /** --ws-path. */
  wsPath?: string;
}

/** The settings of a `workload` run from `flags` and the defaults. Throws a UsageError for a bad combination. */
export function resolveSettings(workload: WorkloadName, flags: WorkloadFlags): RunSettings {
  const defaults = WORKLOAD_DEFAULTS[workload];
  if (defaults === undefined) {
    throw new UsageError(`unknown workload ${JSON.stringify(workload)}: expected one of ${WORKLOADS.join(', ')}`);
  }
  const transport = flags.transport ?? 'tcp';
  if (transport === 'udp') {
    if (!UDP_WORKLOADS.includes(workload)) {
      throw new UsageError(`--udp applies to the ${UDP_WORKLOADS.join(', ')} workload only: ${UDP_REFUSAL[workload] ?? `${workload} does not support it`}`);
    }
    if (flags.headerSize !== undefined) {
      throw new UsageError("--header-size sets TCP's length header; --udp always sends Panda3D's 2-byte checksum header: drop one of them");
    }
  }
  if (flags.tls !== undefined && transport === 'udp') {
    throw new UsageError('--tls runs over a stream (Panda3D framing, or WebSocket with --ws); --udp has none: drop one of them');
  }
  if (flags.wsPath !== undefined && transport !== 'ws') throw new UsageError('--ws-path goes with --ws');
  if (flags.wsPath !== undefined && !flags.wsPath.startsWith('/')) throw new UsageError(`--ws-path must start with /, got ${JSON.stringify(flags.wsPath)}`);
  const headerSize = flags.headerSize ?? DEFAULT_HEADER_SIZE;
  if (headerSize === 0 && workload !== 'throughput' && transport === 'tcp') {
    throw new UsageError(
      `--header-size 0 (raw mode) has no datagram boundaries, so the ${workload} workload cannot match echoes to datagrams; use 2 or 4 (raw mode suits throughput only)`,
    );
  }
  const payloadMin = flags.payloadMin ?? defaults.payloadMin;
  const payloadMax = flags.payloadMax ?? (flags.payloadMin ?? defaults.payloadMax);
  if (payloadMin < PAYLOAD_HEADER || payloadMax < payloadMin) {
    throw new UsageError(`--payload must be at least ${PAYLOAD_HEADER} bytes (min ≤ max), got ${payloadMin}-${payloadMax}`);
  }
  const u16 = transport === 'tcp' && headerSize === 2;
  const limit = transport === 'udp' ? MAX_UDP_PAYLOAD : u16 ? 0xffff : MAX_PAYLOAD;
  if (payloadMax > limit) {
    const what = transport === 'udp' ? 'one UDP packet with its checksum header' : u16 ? "a 2-byte length header (Panda3D's default)" : 'the harness';
    throw new UsageError(`--payload ${payloadMax} does not fit ${what}: at most ${limit} bytes${u16 ? '; use --header-size 4 for larger datagrams' : ''}`);
  }
  const connections = flags.connections ?? defaults.connections;
  if (flags.totalRate !== undefined && flags.ratePerConnection !== undefined) {
    throw new UsageError('--rate (all connections together) and --rate-per-connection both set the rate: give one of them');
  }
  const given = flags.totalRate !== undefined ? flags.totalRate / connections : flags.ratePerConnection;
  const ratePerConnection = workload === 'throughput' ? 0 : (given ?? defaults.ratePerConnection);
  if (ratePerConnection * connections > MAX_TOTAL_RATE) {
    throw new UsageError(
      `${ratePerConnection} datagrams/s × ${connections} connections asks for ${ratePerConnection * connections} datagrams/s; the harness paces at most ${MAX_TOTAL_RATE}`,
    );
  }
  const settings: RunSettings = {
    workload,
    host: flags.host ?? DEFAULT_HOST,
    port: flags.port ?? DEFAULT_PORT,
    transport,
    headerSize,
    connections,
    payloadMin,
    payloadMax,
    durationSeconds: flags.durationSeconds ?? defaults.durationSeconds,
    warmupSeconds: flags.warmupSeconds ?? defaults.warmupSeconds,
    ratePerConnection,
    connectRate: flags.connectRate ?? DEFAULT_CONNECT_RATE,
    clientShards: flags.clientShards ?? DEFAULT_CLIENT_SHARDS,
    graceSeconds: flags.graceSeconds ?? DEFAULT_GRACE_SECONDS,
  };
  // Only when given, so a report without them has the fields it always had.
  if (flags.tls !== undefined) settings.tls = { ...flags.tls };
  if (flags.wsPath !== undefined && flags.wsPath !== '/') settings.wsPath = flags.wsPath;
  return settings;
}
