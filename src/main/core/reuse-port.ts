import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { fdHelperError, loadFdHelper } from '../../shared/fd-helper.js';
import { ErrorCode, RingwireError } from '../../shared/errors.js';

/**
 * SO_REUSEPORT for a manager's sockets (`new QueuedConnectionManager({ reusePort: true })`):
 * several processes bind the same port, and the kernel spreads new connections (and UDP
 * flows) over them. Node added `reusePort` to `listen` and `dgram.createSocket` in 22.12
 * and 23.1; before that the native helper creates and binds the socket and Node listens
 * on (or binds to) its fd. Linux only: elsewhere SO_REUSEPORT does not balance.
 */

/** The errors of a machine without the address's family: try the next address. */
export const NO_FAMILY = new Set(['EAFNOSUPPORT', 'EADDRNOTAVAIL', 'EPROTONOSUPPORT']);

/** True when this Node takes `reusePort` itself: 22.12 and later 22.x, 23.1 and later. */
export function nodeHasReusePort(version = process.versions.node): boolean {
  const [major, minor] = version.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/** The way this Node binds with SO_REUSEPORT: its own `reusePort` option, or the native helper. */
export function reusePortPath(version = process.versions.node): 'node' | 'native-helper' {
  return nodeHasReusePort(version) ? 'node' : 'native-helper';
}

/** Throws the manager's construction error where reusePort cannot work. */
export function checkReusePortPlatform(platform = process.platform): void {
  if (platform !== 'linux') {
    throw new RingwireError(
      ErrorCode.UNSUPPORTED_PLATFORM,
      `QueuedConnectionManager option reusePort: SO_REUSEPORT spreads connections over processes on Linux only; this is ${platform}`,
    );
  }
}

/** The IP literals to try for `host`: its address, or every interface ('::', then '0.0.0.0'). */
async function addressesFor(host: string | undefined): Promise<string[]> {
  if (host === undefined || host === '') return ['::', '0.0.0.0'];
  if (net.isIP(host) !== 0) return [host];
  return [(await lookup(host)).address];
}

/** Binds with the helper, trying each address while the machine lacks its family. */
export function bindNatively(kind: 1 | 2, addresses: string[], port: number): { fd: number; ip: string } {
  const helper = loadFdHelper();
  if (helper === null) {
    throw new RingwireError(
      ErrorCode.FD_HELPER_MISSING,
      `reusePort needs the native fd helper on Node ${process.versions.node} (before 22.12), and it is not built: ${fdHelperError()}`,
    );
  }
  let last: Error | null = null;
  for (const ip of addresses) {
    try {
      return { fd: helper.bindSocket(kind, ip, port, true), ip };
    } catch (error) {
      last = error as Error;
      if (!NO_FAMILY.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
    }
  }
  throw last!;
}

/** Listens `server` on `host`:`port` with SO_REUSEPORT; resolves the error, or null once it listens. */
export async function listenReusingPort(
  server: net.Server,
  host: string | undefined,
  port: number,
  backlog: number | undefined,
): Promise<Error | null> {
  let options: net.ListenOptions & { fd?: number; reusePort?: boolean };
  try {
    if (reusePortPath() === 'node') {
      options = { host: host || undefined, port, backlog, reusePort: true };
    } else {
      const { fd } = bindNatively(1, await addressesFor(host), port);
      options = { fd, backlog } as never;
    }
  } catch (error) {
    return error as Error;
  }
  return new Promise<Error | null>((resolve) => {
    server.once('error', resolve);
    server.listen(options, () => {
      server.off('error', resolve);
      resolve(null);
    });
  });
}
