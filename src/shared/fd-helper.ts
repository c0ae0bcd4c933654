import type { Socket as UdpSocket } from 'node:dgram';
import { createRequire } from 'node:module';
import { Socket } from 'node:net';

/** The native fd helper's functions (native/fd-helper.c). */
export interface FdHelper {
  /** A new close-on-exec descriptor for the same socket; throws with errno's text on failure. */
  dupFd(fd: number): number;
  /** The calling thread's CPU time in ms (CLOCK_THREAD_CPUTIME_ID), for the benchmarks. */
  threadCpuMs(): number;
  /** Sets a socket option Node has no call for (record-kind.ts SocketOption 3…8 − 2); throws with errno's text. */
  setSocketOption(fd: number, option: number, value: number, seconds: number): void;
  /** Reads one back (for tests): SO_LINGER as its seconds, or -1 when off. */
  getSocketOption(fd: number, option: number): number;
  /**
   * A new bound socket (kind 1 TCP, 2 UDP) on an IP literal, with SO_REUSEPORT when asked;
   * throws an Error whose `code` is EADDRINUSE, EACCES, EADDRNOTAVAIL, EAFNOSUPPORT or EBIND.
   */
  bindSocket(kind: 1 | 2, ip: string, port: number, reusePort: boolean): number;
}

let loaded: FdHelper | null | undefined;
let loadError = '';

/**
 * The fd helper built by `npm install`, or null when it is not there (not built, or
 * not a POSIX system); {@link fdHelperError} then says why.
 */
export function loadFdHelper(): FdHelper | null {
  if (loaded !== undefined) return loaded;
  try {
    // Two levels up from both src/shared/ and dist/shared/.
    loaded = createRequire(import.meta.url)('../../native/build/Release/ringwire_fd.node') as FdHelper;
  } catch (error) {
    loaded = null;
    loadError = (error as Error).message;
  }
  return loaded;
}

/** Why {@link loadFdHelper} returned null, or '' when it loaded. */
export function fdHelperError(): string {
  return loadError;
}

/**
 * The OS descriptor of a TCP or UDP socket, or -1 when it has none (not POSIX, or not
 * open). Node keeps it on the socket's internal handle; a UDP socket keeps that handle
 * under its state symbol (its public `_handle` getter is deprecated).
 */
export function socketFd(socket: Socket | UdpSocket): number {
  let handle: { fd?: number } | undefined;
  if (socket instanceof Socket) {
    handle = (socket as unknown as { _handle?: { fd?: number } })._handle;
  } else {
    const state = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
    handle = state ? (socket as unknown as Record<symbol, { handle?: { fd?: number } }>)[state]?.handle : undefined;
  }
  const fd = handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : -1;
}
