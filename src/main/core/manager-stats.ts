import { StatSlot } from '../../shared/protocol/shard-stats.js';
import type { ResetReason } from '../../shared/reset-reason.js';
import type { ShardHandle } from '../shards/shard-handle.js';
import { ShardState } from '../shards/shard-state.js';
import type { ManagedConnection } from './managed-connection.js';

/** A snapshot of a manager's counters since it started (`QueuedConnectionManager.getStats()`). */
export interface ManagerStats {
  /** Worker shard threads (0 in single-thread mode). */
  workerShards: number;
  /** TCP streams the shards hold now. */
  connections: number;
  /** Datagrams (and their payload bytes) the shards cut from their sockets. */
  datagramsIn: number;
  bytesIn: number;
  /** Datagrams the shards took from the writer (and the bytes, headers included, they wrote). */
  datagramsOut: number;
  bytesOut: number;
  /** Times a socket was paused because its shard's inbound ring was full. */
  pauses: number;
  /**
   * UDP packets dropped: shorter than the checksum header, a checksum that does not match,
   * or (raw mode) empty, which Panda3D never delivers either.
   */
  udpRejected: number;
  /** UDP packets dropped because the inbound ring was full (UDP makes no delivery promise). */
  udpOverflow: number;
  /**
   * UDP packets dropped because their connection was in no reader (before addConnection,
   * after removeConnection) while as many as it holds for a reader were waiting already.
   */
  udpUnread: number;
  /** Clients closed at accept because `maxConnections` were open. */
  rejectedConnections: number;
  /** Clients reset at accept because their address had `maxConnectionsPerAddress` open. */
  rejectedPerAddress: number;
  /** Clients reset at accept because their address opened them faster than `acceptRatePerAddress`. */
  rejectedAcceptRate: number;
  /** Clients reset at accept because the address table was full of addresses with open connections. */
  rejectedAddressTable: number;
  /** Clients reset at accept because no listener listened and their rendezvous held `backlog` clients nobody had taken. */
  rejectedBacklog: number;
  /** Clients reset at accept because every shard held 65,536 TCP streams (its send-backlog table was full). */
  rejectedShardFull: number;
  /** Clients reset at accept because every shard had failed and waited to be replaced. */
  rejectedNoShard: number;
  /** Worker shards that died; each is replaced, after a delay that grows while they keep failing. */
  shardFailures: number;
  /** Client addresses the per-address limits count now (0 when they are off). */
  trackedAddresses: number;
  /** The fullest inbound ring's fill, 0 to 1. */
  inboundRingFill: number;
  /** The fullest outbound ring's fill, 0 to 1. */
  outboundRingFill: number;
  /** Payload bytes waiting on the main thread behind full outbound rings (the send overflow; cut past `shardSendBudget`). */
  sendOverflowBytes: number;
  /** Connections (TCP streams, UDP sockets) that ended, by the reason `Connection.getResetReason()` gives. */
  resets: Readonly<Record<ResetReason, number>>;
  /** TLS handshakes that failed or timed out (each stream reset 'handshake-failed'). */
  tlsHandshakeFailures: number;
  /** WebSocket upgrades refused (400, 403, 404, 426), failed or timed out (each stream reset 'handshake-failed'). */
  websocketUpgradesRejected: number;
  /** WebSocket streams closed with 1002: the peer broke the protocol (unmasked frames, reserved bits, bad opcodes, …). */
  websocketProtocolErrors: number;
  /** WebSocket streams closed with 1007: a text message or close reason that was not UTF-8. */
  websocketInvalidUtf8: number;
  /** Times the main thread rang a parked shard's doorbell: records for it, after it had drained its ring. */
  doorbellWakesToShards: number;
  /** Times a shard rang the main thread's doorbell: records for it while `waitForReaders` waited. */
  doorbellWakesToMain: number;
}

/** Where a shard's run is, as `getShardStats()` reports it (see the design's shard states). */
export type ShardStateName = 'idle' | 'running' | 'parked' | 'stopping' | 'stopped' | 'failed';

/** One shard, as `QueuedConnectionManager.getShardStats()` reports it. */
export interface ShardStats {
  /** Its place in the manager's shards (a replaced shard keeps its index). */
  index: number;
  /** 'running' while its task holds a pool thread; 'parked' when it has drained its rings and let the thread go. */
  state: ShardStateName;
  /** TCP streams it holds. */
  connections: number;
  /** Its inbound ring's fill (shard to main thread), 0 to 1. */
  inboundRingFill: number;
  /** Its outbound ring's fill (main thread to shard), 0 to 1. */
  outboundRingFill: number;
  /** Payload bytes waiting on the main thread because its outbound ring was full. */
  sendOverflowBytes: number;
  /** Bytes sent to its connections and not yet taken by the kernel (the sum of `getSendBacklog` over them). */
  sendBacklogBytes: number;
  /** The largest `getSendBacklog` among its connections. */
  largestSendBacklogBytes: number;
}

const STATE_NAMES: Record<ShardState, ShardStateName> = {
  [ShardState.IDLE]: 'idle',
  [ShardState.RUNNING]: 'running',
  [ShardState.PARKED]: 'parked',
  [ShardState.STOPPING]: 'stopping',
  [ShardState.STOPPED]: 'stopped',
  [ShardState.FAILED]: 'failed',
};

/** @internal The counters the manager keeps itself, not the shards. */
export type ManagerCounters = Pick<
  ManagerStats,
  | 'rejectedConnections'
  | 'rejectedPerAddress'
  | 'rejectedAcceptRate'
  | 'rejectedAddressTable'
  | 'rejectedBacklog'
  | 'rejectedShardFull'
  | 'rejectedNoShard'
  | 'trackedAddresses'
  | 'shardFailures'
  | 'resets'
>;

/** @internal Sums the shards' stats blocks into one snapshot. */
export function collectStats(shards: readonly ShardHandle[], counters: ManagerCounters): ManagerStats {
  // Every field written out, in one literal: spreading `counters` in here made each call a
  // dictionary-mode object and getStats() cost ~20 µs instead of ~0.2 µs.
  const sum: ManagerStats = {
    rejectedConnections: counters.rejectedConnections,
    rejectedPerAddress: counters.rejectedPerAddress,
    rejectedAcceptRate: counters.rejectedAcceptRate,
    rejectedAddressTable: counters.rejectedAddressTable,
    rejectedBacklog: counters.rejectedBacklog,
    rejectedShardFull: counters.rejectedShardFull,
    rejectedNoShard: counters.rejectedNoShard,
    trackedAddresses: counters.trackedAddresses,
    shardFailures: counters.shardFailures,
    resets: { ...counters.resets },
    workerShards: shards.length > 0 && shards[0].localSockets === null ? shards.length : 0,
    connections: 0,
    datagramsIn: 0,
    bytesIn: 0,
    datagramsOut: 0,
    bytesOut: 0,
    pauses: 0,
    udpRejected: 0,
    udpOverflow: 0,
    udpUnread: 0,
    inboundRingFill: 0,
    outboundRingFill: 0,
    sendOverflowBytes: 0,
    tlsHandshakeFailures: 0,
    websocketUpgradesRejected: 0,
    websocketProtocolErrors: 0,
    websocketInvalidUtf8: 0,
    doorbellWakesToShards: 0,
    doorbellWakesToMain: 0,
  };
  for (const shard of shards) {
    const stats = shard.stats;
    sum.connections += stats[StatSlot.CONNECTIONS];
    sum.datagramsIn += stats[StatSlot.DATAGRAMS_IN];
    sum.bytesIn += stats[StatSlot.BYTES_IN];
    sum.datagramsOut += stats[StatSlot.DATAGRAMS_OUT];
    sum.bytesOut += stats[StatSlot.BYTES_OUT];
    sum.pauses += stats[StatSlot.PAUSES];
    sum.udpRejected += stats[StatSlot.UDP_REJECTED];
    sum.udpOverflow += stats[StatSlot.UDP_OVERFLOW];
    sum.udpUnread += stats[StatSlot.UDP_UNREAD];
    sum.tlsHandshakeFailures += stats[StatSlot.TLS_FAILURES];
    sum.websocketUpgradesRejected += stats[StatSlot.UPGRADES_REJECTED];
    sum.websocketProtocolErrors += stats[StatSlot.WS_PROTOCOL_ERRORS];
    sum.websocketInvalidUtf8 += stats[StatSlot.WS_INVALID_UTF8];
    sum.inboundRingFill = Math.max(sum.inboundRingFill, shard.inbound.usedBytes() / shard.inbound.capacity);
    sum.outboundRingFill = Math.max(sum.outboundRingFill, shard.outbound.usedBytes() / shard.outbound.capacity);
    sum.sendOverflowBytes += shard.overflowBytes();
    sum.doorbellWakesToShards += shard.wakesToShard;
    sum.doorbellWakesToMain += shard.wakesToMain;
  }
  return sum;
}

/**
 * @internal Each shard's figures, its connections' send backlogs among them: one pass over
 * `connections` (the cost grows with them, unlike collectStats').
 */
export function collectShardStats(shards: readonly ShardHandle[], connections: Iterable<ManagedConnection>): ShardStats[] {
  const out: ShardStats[] = shards.map((shard) => ({
    index: shard.index,
    state: STATE_NAMES[shard.state],
    connections: shard.stats[StatSlot.CONNECTIONS],
    inboundRingFill: shard.inbound.usedBytes() / shard.inbound.capacity,
    outboundRingFill: shard.outbound.usedBytes() / shard.outbound.capacity,
    sendOverflowBytes: shard.overflowBytes(),
    sendBacklogBytes: 0,
    largestSendBacklogBytes: 0,
  }));
  const byShard = new Map<ShardHandle, ShardStats>();
  shards.forEach((shard, i) => byShard.set(shard, out[i]));
  for (const conn of connections) {
    if (conn.kind !== 'tcp' || conn.shard === null) continue;
    const entry = byShard.get(conn.shard);
    if (entry === undefined) continue;
    const backlog = conn.shard.sendBacklog(conn);
    entry.sendBacklogBytes += backlog;
    if (backlog > entry.largestSendBacklogBytes) entry.largestSendBacklogBytes = backlog;
  }
  return out;
}
