import { maxRecordPayload } from '../../shared/protocol/ring-layout.js';
import { describeValue } from '../../shared/describe-value.js';
import { checkReusePortPlatform } from './reuse-port.js';
import { ErrorCode, RingwireRangeError, RingwireTypeError } from '../../shared/errors.js';

/** ringwire's options for a manager; every one has a default. */
export interface QueuedConnectionManagerOptions {
  /** Bytes in each shard ring (inbound and outbound), a power of two. Default 4 MiB. */
  ringCapacity?: number;
  /**
   * Bytes a connection may have queued (sent, not yet taken by the kernel) and still never
   * be cut, however slowly its peer reads. Above it, a peer that takes nothing for
   * `sendStallTimeoutMs` is reset `slow-consumer`. Default 8 MiB.
   */
  sendBacklogLimit?: number;
  /** How long a connection over `sendBacklogLimit` may go with its peer taking nothing (ms). Default 10000. */
  sendStallTimeoutMs?: number;
  /** Bytes queued for one connection past which it is reset `slow-consumer` at once, reading or not. Default 64 MiB. */
  sendBacklogHardLimit?: number;
  /**
   * Bytes one shard's connections may have queued together (and, separately, bytes the
   * main thread may hold for one shard whose ring is full); past it the largest backlogs
   * are reset `slow-consumer` first. Default 256 MiB.
   */
  shardSendBudget?: number;
  /**
   * A closing connection (closeConnection, the peer's FIN, close()) writes everything queued,
   * then FIN; it is cut (RST) only when its peer takes nothing, or does not answer our FIN,
   * for this long (ms). Default 5000.
   */
  closeLingerMs?: number;
  /** close() cuts connections still lingering this long after it began, and ends the shards (ms). Default 5000. */
  shutdownTimeoutMs?: number;
  /** A read connection that completes no datagram for this long is reset as `idle-timeout` (ms). Default 0: never. */
  idleTimeoutMs?: number;
  /**
   * Most accepted TCP streams open at once (clients of this manager's rendezvous; its own
   * client connections and UDP sockets do not count); clients beyond it are closed at once
   * and counted. Default 0: no limit.
   */
  maxConnections?: number;
  /**
   * Most open TCP streams from one client address (IPv6: one prefix of `ipv6PrefixLength`
   * bits); further clients from it are reset at accept and counted. Default 0: no limit.
   */
  maxConnectionsPerAddress?: number;
  /**
   * New connections per second one client address may open (fractions allowed: 0.5 is one
   * every two seconds), a token bucket of `acceptBurstPerAddress`; faster ones are reset at
   * accept and counted. Default 0: no limit.
   */
  acceptRatePerAddress?: number;
  /** Connections an address may open at once under `acceptRatePerAddress`. Default 0: one second's worth (at least 1). */
  acceptBurstPerAddress?: number;
  /** Most client addresses the per-address limits count at a time (idle ones are forgotten). Default 65536. */
  addressTableSize?: number;
  /** IPv6 clients count for the per-address limits by this many leading bits (1 to 128). Default 64. */
  ipv6PrefixLength?: number;
  /**
   * Every TCP rendezvous and UDP socket this manager opens binds with SO_REUSEPORT, so
   * several processes can open the same port and the kernel spreads new connections over
   * them. Linux only (the constructor throws elsewhere). Default false.
   */
  reusePort?: boolean;
}

/** @internal The options with their defaults filled in. */
export type ManagerSettings = Required<QueuedConnectionManagerOptions>;

/** @internal Every option's default: the one list of the options' names. */
export const DEFAULT_OPTIONS: Readonly<ManagerSettings> = Object.freeze({
  ringCapacity: 4 * 1024 * 1024,
  sendBacklogLimit: 8 * 1024 * 1024,
  sendStallTimeoutMs: 10_000,
  sendBacklogHardLimit: 64 * 1024 * 1024,
  shardSendBudget: 256 * 1024 * 1024,
  closeLingerMs: 5000,
  shutdownTimeoutMs: 5000,
  idleTimeoutMs: 0,
  maxConnections: 0,
  maxConnectionsPerAddress: 0,
  acceptRatePerAddress: 0,
  acceptBurstPerAddress: 0,
  addressTableSize: 65_536,
  ipv6PrefixLength: 64,
  reusePort: false,
});

/** Options that may be fractional (a rate of one connection every two seconds is 0.5). */
const FRACTIONAL_OPTIONS = new Set<string>(['acceptRatePerAddress']);

/**
 * @internal
 * Checks a manager's options and fills in the defaults. Throws a TypeError for an unknown
 * option or one of the wrong type, a RangeError naming an option out of its range.
 */
export function resolveOptions(options: QueuedConnectionManagerOptions): ManagerSettings {
  if (typeof options !== 'object' || options === null) {
    throw new RingwireTypeError(ErrorCode.INVALID_OPTION, `QueuedConnectionManager: options must be an object, got ${describeValue(options)}`);
  }
  const unknown = Object.keys(options).filter((key) => !(key in DEFAULT_OPTIONS));
  if (unknown.length > 0) {
    throw new RingwireTypeError(
      ErrorCode.INVALID_OPTION,
      `QueuedConnectionManager: unknown option${unknown.length === 1 ? '' : 's'} ${unknown.map((key) => JSON.stringify(key)).join(', ')} (known: ${Object.keys(DEFAULT_OPTIONS).join(', ')})`,
    );
  }
  const settings: Record<string, number | boolean> = { ...DEFAULT_OPTIONS };
  for (const key of Object.keys(DEFAULT_OPTIONS) as (keyof ManagerSettings)[]) {
    const value = options[key];
    if (value === undefined) continue;
    if (typeof DEFAULT_OPTIONS[key] === 'boolean') {
      if (typeof value !== 'boolean')
        throw new RingwireTypeError(ErrorCode.INVALID_OPTION, `QueuedConnectionManager option ${key} must be a boolean, got ${describeValue(value)}`);
    } else if (FRACTIONAL_OPTIONS.has(key)) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        throw new RingwireRangeError(
          ErrorCode.INVALID_OPTION,
          `QueuedConnectionManager option ${key} must be a non-negative number, got ${describeValue(value)}`,
        );
      }
    } else if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      throw new RingwireRangeError(
        ErrorCode.INVALID_OPTION,
        `QueuedConnectionManager option ${key} must be a non-negative integer, got ${describeValue(value)}`,
      );
    }
    settings[key] = value;
  }
  const resolved = settings as unknown as ManagerSettings;
  if (resolved.reusePort) checkReusePortPlatform();
  const { ipv6PrefixLength, addressTableSize } = resolved;
  if (ipv6PrefixLength < 1 || ipv6PrefixLength > 128) {
    throw new RingwireRangeError(
      ErrorCode.INVALID_OPTION,
      `QueuedConnectionManager option ipv6PrefixLength must be an integer from 1 to 128, got ${ipv6PrefixLength}`,
    );
  }
  if (addressTableSize < 1)
    throw new RingwireRangeError(
      ErrorCode.INVALID_OPTION,
      `QueuedConnectionManager option addressTableSize must be at least 1, got ${addressTableSize}`,
    );
  const ring = resolved.ringCapacity;
  if (ring < 4096 || ring > 1 << 30 || (ring & (ring - 1)) !== 0) {
    throw new RingwireRangeError(
      ErrorCode.INVALID_OPTION,
      `QueuedConnectionManager option ringCapacity must be a power of two from 4096 to 2^30, got ${ring}`,
    );
  }
  const { sendBacklogLimit, sendBacklogHardLimit } = resolved;
  if (sendBacklogHardLimit < sendBacklogLimit) {
    throw new RingwireRangeError(
      ErrorCode.INVALID_OPTION,
      `QueuedConnectionManager option sendBacklogHardLimit (${sendBacklogHardLimit}) must be at least sendBacklogLimit (${sendBacklogLimit})`,
    );
  }
  // One datagram as large as a ring record carries must not reset its connection by itself.
  if (sendBacklogHardLimit < maxRecordPayload(ring)) {
    throw new RingwireRangeError(
      ErrorCode.INVALID_OPTION,
      `QueuedConnectionManager option sendBacklogHardLimit (${sendBacklogHardLimit}) must be at least the largest datagram a ${ring}-byte ring carries (${maxRecordPayload(ring)} bytes): lower ringCapacity or raise the limit`,
    );
  }
  return resolved;
}
