import { describeValue } from '../shared/describe-value.js';
import net from 'node:net';

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
      throw new TypeError(`NetAddress.setHost: host must be a string, got ${describeValue(host)}`);
    }
    checkPort('NetAddress.setHost', port);
    const ip = host === 'localhost' ? '127.0.0.1' : host;
    if (net.isIP(ip) === 0) return false;
    this.port = port;
    this.host = ip;
    return true;
  }

  /** Sets the wildcard address (0.0.0.0) and `port`: "any interface". */
  setAny(port: number): boolean {
    this.port = checkPort('NetAddress.setAny', port);
    this.host = '0.0.0.0';
    return true;
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

  /** True when both addresses hold the same IP and port. */
  equals(other: NetAddress): boolean {
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
    this.host = (host ?? '0.0.0.0').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
    this.port = port ?? 0;
  }
}

/** Validates a TCP/UDP port for `what`; returns it. */
export function checkPort(what: string, port: unknown): number {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`${what}: port must be an integer from 0 to 65535, got ${describeValue(port)}`);
  }
  return port;
}
