import dgram from 'node:dgram';
import net from 'node:net';
import { NO_FAMILY, bindNatively, nodeHasReusePort } from './reuse-port.js';

/** A bound UDP socket, and whether it is an IPv6 one (dual-stack when bound to ::). */
export interface BoundUdp {
  socket: dgram.Socket;
  ipv6: boolean;
}

/**
 * Opens a UDP socket as Panda3D does. On `host` (an IP literal), or with no host on every
 * interface: `::` dual-stack (an IPv6 socket that also hears and sends IPv4), or IPv4
 * alone where the machine has no IPv6, and for broadcast (IPv4 broadcast goes out of an
 * IPv4 socket). With `reusePort`, SO_REUSEPORT: Node's option from 22.12, before that a
 * descriptor the native helper bound. Resolves the socket, or the bind's error.
 */
export async function bindUdp(host: string | undefined, port: number, forBroadcast: boolean, reusePort: boolean): Promise<BoundUdp | Error> {
  const candidates = host !== undefined ? [host] : forBroadcast ? ['0.0.0.0'] : ['::', '0.0.0.0'];
  let last: Error | null = null;
  for (const ip of candidates) {
    const bound = await bindOne(ip, port, reusePort);
    if (!(bound instanceof Error)) return bound;
    last = bound;
    if (!NO_FAMILY.has((bound as NodeJS.ErrnoException).code ?? '')) break;
  }
  return last!;
}

async function bindOne(ip: string, port: number, reusePort: boolean): Promise<BoundUdp | Error> {
  const ipv6 = net.isIPv6(ip);
  const type = ipv6 ? 'udp6' : 'udp4';
  let socket: dgram.Socket;
  let bind: (done: () => void) => void;
  if (reusePort && !nodeHasReusePort()) {
    let fd: number;
    try {
      fd = bindNatively(2, [ip], port).fd;
    } catch (error) {
      return error as Error;
    }
    socket = dgram.createSocket({ type });
    bind = (done) => socket.bind({ fd }, done);
  } else {
    socket = dgram.createSocket({ type, ipv6Only: false, ...(reusePort ? { reusePort: true } : {}) } as dgram.SocketOptions);
    bind = (done) => socket.bind(port, ip, done);
  }
  return new Promise((resolve) => {
    const failed = (error: Error): void => {
      socket.close(); // it owns its descriptor, the helper's one included
      resolve(error);
    };
    socket.once('error', failed);
    bind(() => {
      socket.off('error', failed);
      resolve({ socket, ipv6 });
    });
  });
}
