import net from 'node:net';
import { canonicalIp } from '../../shared/canonical-ip.js';

/** Why admit() refused a connection. */
export const Refusal = {
  NONE: 0,
  /** The address has maxConnectionsPerAddress open already. */
  PER_ADDRESS: 1,
  /** The address opened connections faster than acceptRatePerAddress allows. */
  ACCEPT_RATE: 2,
  /** The address table is full of addresses with open connections: no room to count a new one. */
  TABLE_FULL: 3,
} as const;
export type Refusal = (typeof Refusal)[keyof typeof Refusal];

export interface AdmissionLimits {
  /** Most open connections per address (0: no limit). */
  maxConnectionsPerAddress: number;
  /** New connections per second per address, a token bucket (0: no limit). */
  acceptRatePerAddress: number;
  /** The bucket's size: connections an address may open at once (0: one second's worth, at least 1). */
  acceptBurstPerAddress: number;
  /** Most addresses counted at a time. */
  addressTableSize: number;
  /** IPv6 clients count by this prefix (one host owns a /64). */
  ipv6PrefixLength: number;
}

/** What the table knows of one address (or IPv6 prefix). */
interface Entry {
  open: number;
  tokens: number;
  /** When the tokens were last topped up (ms, performance.now()). */
  at: number;
}

/** How often idle addresses are forgotten (ms). */
const SWEEP_MS = 1000;

/**
 * Admission control per client address, applied at accept on the main thread before any
 * hand-over (`maxConnectionsPerAddress`, `acceptRatePerAddress`): one hostile address can
 * neither take every slot of `maxConnections` nor make the server hand over a socket per
 * attempt of a connect flood. An IPv4-mapped IPv6 address counts as its IPv4 address; IPv6
 * addresses count by their first `ipv6PrefixLength` bits.
 *
 * Memory is bounded: an address with no open connection and a full bucket is forgotten
 * (swept every second), the table holds at most `addressTableSize` addresses, and when it
 * is full the oldest address without open connections makes room. When every one of
 * them has open connections, a new address is refused at once (TABLE_FULL) rather than
 * admitted uncounted. admit and release take constant time; the sweep walks only the
 * addresses without open connections.
 */
export class AddressAdmission {
  private readonly table = new Map<string, Entry>();
  /** The keys whose entries have no open connection, oldest first: what a full table may drop. */
  private readonly unused = new Set<string>();
  private readonly burst: number;
  private sweepTimer: NodeJS.Timeout | null = null;

  constructor(private readonly limits: AdmissionLimits) {
    this.burst = limits.acceptBurstPerAddress > 0 ? limits.acceptBurstPerAddress : Math.max(1, Math.ceil(limits.acceptRatePerAddress));
  }

  /** True when either limit is on: otherwise nothing is counted at all. */
  get enabled(): boolean {
    return this.limits.maxConnectionsPerAddress > 0 || this.limits.acceptRatePerAddress > 0;
  }

  /** Addresses counted now. */
  get size(): number {
    return this.table.size;
  }

  /** The table key of a peer address: IPv4 as is, IPv4-mapped as IPv4, IPv6 by its prefix. */
  keyOf(address: string | undefined): string {
    const ip = canonicalIp(address ?? '');
    return net.isIPv6(ip) ? ipv6Prefix(ip, this.limits.ipv6PrefixLength) : ip;
  }

  /**
   * Counts a new connection from `key` if the limits allow it (call release(key) when it
   * closes). Returns Refusal.NONE when admitted, else why not.
   */
  admit(key: string, now: number): Refusal {
    const limits = this.limits;
    let entry = this.table.get(key);
    if (entry === undefined) {
      if (this.table.size >= limits.addressTableSize && !this.makeRoom()) return Refusal.TABLE_FULL;
      entry = { open: 0, tokens: this.burst, at: now };
      this.table.set(key, entry);
      this.unused.add(key);
      this.scheduleSweep();
    }
    if (limits.acceptRatePerAddress > 0) {
      entry.tokens = Math.min(this.burst, entry.tokens + ((now - entry.at) * limits.acceptRatePerAddress) / 1000);
      entry.at = now;
      if (entry.tokens < 1) return Refusal.ACCEPT_RATE;
    }
    if (limits.maxConnectionsPerAddress > 0 && entry.open >= limits.maxConnectionsPerAddress) return Refusal.PER_ADDRESS;
    if (limits.acceptRatePerAddress > 0) entry.tokens -= 1;
    if (entry.open++ === 0) this.unused.delete(key);
    return Refusal.NONE;
  }

  /** A connection admitted from `key` has closed. */
  release(key: string): void {
    const entry = this.table.get(key);
    if (entry === undefined || entry.open === 0) return;
    if (--entry.open === 0) this.unused.add(key);
  }

  /** Stops the sweep timer (the manager closed). */
  close(): void {
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
  }

  /** Forgets every address that holds nothing: no open connection, a bucket refilled. */
  sweep(now: number): void {
    for (const key of this.unused) {
      if (this.idle(this.table.get(key)!, now)) {
        this.table.delete(key);
        this.unused.delete(key);
      }
    }
    if (this.table.size === 0) this.close();
  }

  private idle(entry: Entry, now: number): boolean {
    if (entry.open > 0) return false;
    const rate = this.limits.acceptRatePerAddress;
    return rate === 0 || entry.tokens + ((now - entry.at) * rate) / 1000 >= this.burst;
  }

  /**
   * The table is full: drop the oldest address with no open connection (it loses its rate
   * state, if any). False, at once, when every address has open connections.
   */
  private makeRoom(): boolean {
    for (const key of this.unused) {
      this.unused.delete(key);
      this.table.delete(key);
      return true;
    }
    return false;
  }

  private scheduleSweep(): void {
    if (this.sweepTimer !== null) return;
    this.sweepTimer = setInterval(() => this.sweep(performance.now()), SWEEP_MS);
    this.sweepTimer.unref();
  }
}

/** The first `bits` bits of an IPv6 address, as a key ('2001:db8:0:0::/64'). */
export function ipv6Prefix(ip: string, bits: number): string {
  const zone = ip.indexOf('%');
  const text = zone >= 0 ? ip.slice(0, zone) : ip;
  const halves = text.split('::');
  const head = halves[0] === '' ? [] : halves[0].split(':');
  const tail = halves.length > 1 && halves[1] !== '' ? halves[1].split(':') : [];
  const groups = [...head, ...new Array<string>(Math.max(0, 8 - head.length - tail.length)).fill('0'), ...tail].map((g) => parseInt(g, 16) || 0);
  const kept: number[] = [];
  for (let i = 0; i < 8; i++) {
    const from = i * 16;
    const keep = Math.max(0, Math.min(16, bits - from));
    kept.push(keep === 0 ? 0 : groups[i] & (0xffff << (16 - keep)) & 0xffff);
  }
  return `${kept.map((g) => g.toString(16)).join(':')}/${bits}`;
}
