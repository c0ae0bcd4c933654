import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { listenReusingPort } from './reuse-port.js';
import { ErrorCode, RingwireError } from '../../shared/errors.js';

/**
 * The main thread's sockets before a shard takes them: a TCP rendezvous listening, a
 * client connecting, a UDP host looked up (udp-bind.ts binds). Each resolves the socket or
 * the error that stopped it; none keeps state of its own.
 */

/**
 * Listens for TCP clients on `host`:`port` (`backlog` 0 or undefined: Node's default).
 * Sockets it accepts stay paused: nothing may be read on this thread, or it would be lost
 * when the socket moves to a shard.
 */
export async function listenTcp(
  host: string | undefined,
  port: number,
  backlog: number | undefined,
  reusePort: boolean,
): Promise<net.Server | Error> {
  // allowHalfOpen: a peer's FIN must not end our side before the shard has written its replies.
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true });
  const error = reusePort
    ? await listenReusingPort(server, host, port, backlog || undefined)
    : await new Promise<Error | null>((resolve) => {
        server.once('error', resolve);
        server.listen({ host, port, backlog: backlog || undefined }, () => {
          server.off('error', resolve);
          resolve(null);
        });
      });
  return error ?? server;
}

/**
 * Connects to `host`:`port`, paused, within `timeoutMs` (0: no limit). The socket is in
 * `connecting` until it settles, so a manager that closes meanwhile can destroy it.
 */
export async function connectTcp(host: string, port: number, timeoutMs: number, connecting: Set<net.Socket>): Promise<net.Socket | Error> {
  const socket = net.connect({ host, port, allowHalfOpen: true });
  // Paused before it connects: nothing may be read on the main thread, or it would be
  // lost when the socket moves to a shard.
  socket.pause();
  connecting.add(socket);
  const outcome = await new Promise<Error | null>((resolve) => {
    let timer: NodeJS.Timeout | null = null;
    const settle = (result: Error | null): void => {
      if (timer) clearTimeout(timer);
      resolve(result);
    };
    if (timeoutMs > 0) {
      timer = setTimeout(
        () => settle(new RingwireError(ErrorCode.CONNECT_TIMEOUT, `connect to ${host}:${port} timed out after ${timeoutMs} ms`)),
        timeoutMs,
      );
    }
    socket.once('connect', () => settle(null));
    socket.once('error', settle);
    socket.once('close', () => settle(new RingwireError(ErrorCode.MANAGER_CLOSED, `connect to ${host}:${port} aborted: the manager closed`)));
  });
  connecting.delete(socket);
  if (outcome !== null) {
    socket.destroy();
    return outcome;
  }
  socket.removeAllListeners();
  return socket;
}

/** The IP literal to bind a UDP socket to for `host`: undefined for every interface, a host name looked up. */
export async function udpHost(host: string): Promise<string | undefined | Error> {
  if (host === '') return undefined;
  if (net.isIP(host) !== 0) return host;
  try {
    return (await lookup(host)).address;
  } catch (error) {
    return error as Error;
  }
}
