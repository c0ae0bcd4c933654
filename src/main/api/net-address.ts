import { describeValue } from '../../shared/describe-value.js';
import { canonicalIp } from '../../shared/canonical-ip.js';
import net from 'node:net';
import { ErrorCode, RingwireRangeError, RingwireTypeError } from '../../shared/errors.js';

/** An IP address and port, as Panda3D's NetAddress. */
export class NetAddress {
  private host = '0.0.0.0';
  private port = 0;

  /**
   * Sets an IP address (or 'localhost') and port. Returns false, changing nothing, for any
   * other host name: it cannot be resolved without blocking (openTCPClientConnection and
   * openUDPConnection resolve names). Throws a TypeError for a non-string host, a
   * RangeError for a bad port.
   */
  setHost(host: string, port: number): boolean {
    if (typeof host !== 'string') {
      throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `NetAddress.setHost: host must be a string, got ${describeValue(host)}`);
    }
    checkPort('NetAddress.setHost', port);
    const ip = host === 'localhost' ? '127.0.0.1' : host;
    if (net.isIP(ip) === 0) return false;
    this.port = port;
    this.host = canonicalIp(ip);
    return true;
  }

  /** Sets the wildcard address (0.0.0.0) and `port`: "any interface". */
  setAny(port: number): boolean {
    this.port = checkPort('NetAddress.setAny', port);
    this.host = '0.0.0.0';
    return true;
  }

  /** Sets the IPv4 limited broadcast address (255.255.255.255) and `port`. */
  setBroadcast(port: number): boolean {
    this.port = checkPort('NetAddress.setBroadcast', port);
    this.host = '255.255.255.255';
    return true;
  }

  /** Changes the port alone. */
  setPort(port: number): boolean {
    this.port = checkPort('NetAddress.setPort', port);
    return true;
  }

  /** Resets to 0.0.0.0:0. */
  clear(): void {
    this.host = '0.0.0.0';
    this.port = 0;
  }

  /** True for the wildcard address (0.0.0.0 or ::), whatever the port. */
  isAny(): boolean {
    return this.host === '0.0.0.0' || this.host === '::';
  }

  /**
   * The IPv4 address as Panda3D's deprecated get_ip(): its four bytes in memory order read
   * as a little-endian host's integer, so 127.0.0.1 is 0x0100007F. 0 for an IPv6 address.
   */
  getIp(): number {
    if (!net.isIPv4(this.host)) return 0;
    const [a, b, c, d] = this.host.split('.').map(Number);
    return (a | (b << 8) | (c << 16) | (d << 24)) >>> 0;
  }

  /**
   * Byte `n` (0 to 3, 0 the first dotted octet) of an IPv4 address; 0 for an IPv6 one.
   * Throws a RangeError for another `n`.
   */
  getIpComponent(n: number): number {
    if (!Number.isInteger(n) || n < 0 || n > 3) {
      throw new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `NetAddress.getIpComponent: n must be 0, 1, 2 or 3, got ${describeValue(n)}`);
    }
    return net.isIPv4(this.host) ? Number(this.host.split('.')[n]) : 0;
  }

  /**
   * A hash of the address and port: equal addresses hash alike (for a Map keyed by
   * `toString()`, or a table of your own).
   */
  getHash(): number {
    let hash = 0x811c9dc5;
    const text = this.host;
    for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
    return Math.imul(hash ^ this.port, 0x01000193) >>> 0;
  }

  /** Sets 127.0.0.1 and `port`. */
  setLocalhost(port: number): boolean {
    this.port = checkPort('NetAddress.setLocalhost', port);
    this.host = '127.0.0.1';
    return true;
  }

  /** The IP address as text ('127.0.0.1', '::1'). */
  getIpString(): string {
    return this.host;
  }

  /** The port (0 when unset). */
  getPort(): number {
    return this.port;
  }

  /**
   * True when both addresses hold the same IP and port (Panda3D's `==`; its IPv6 compare
   * has a bug, noted in the README, that this does not copy). An IPv6 address in any
   * spelling equals its canonical form.
   */
  equals(other: NetAddress): boolean {
    if (!(other instanceof NetAddress)) return false;
    return this.host === other.host && this.port === other.port;
  }

  /** 'ip:port', with IPv6 in brackets. */
  toString(): string {
    return net.isIPv6(this.host) ? `[${this.host}]:${this.port}` : `${this.host}:${this.port}`;
  }

  /** Copies another address into this one. */
  assign(other: NetAddress): void {
    this.host = other.host;
    this.port = other.port;
  }

  /** Sets the fields without validation, from a socket's own report. */
  setFromSocket(host: string | undefined, port: number | undefined): void {
    this.host = host === undefined ? '0.0.0.0' : canonicalIp(host);
    this.port = port ?? 0;
  }

  /** @internal Sets text already in canonical form (a UDP sender from the ring): no allocation. */
  _setCanonical(host: string, port: number): void {
    this.host = host;
    this.port = port;
  }
}

/** Validates a TCP/UDP port for `what`; returns it. */
export function checkPort(what: string, port: unknown): number {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `${what}: port must be an integer from 0 to 65535, got ${describeValue(port)}`);
  }
  return port;
}
