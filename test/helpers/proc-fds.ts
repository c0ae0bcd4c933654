/**
 * This process's sockets as Linux's /proc shows them: what a descriptor refers to, which
 * descriptors refer to a socket (whichever thread owns them: threads share the fd table),
 * and a socket's inode by its ports. For tests that look at the sockets a shard owns.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/** What an open fd refers to (`socket:[inode]`), or null when it is closed. */
export function fdTarget(fd: number): string | null {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null;
  }
}

/** Every descriptor of this process that refers to `target` (`socket:[inode]`). */
export function fdsOf(target: string): number[] {
  return readdirSync('/proc/self/fd')
    .map(Number)
    .filter((fd) => fdTarget(fd) === target);
}

/** The inode of the socket in /proc/net/`table` with these local and remote ports (remote 0: any). */
export function socketInode(table: string, localPort: number, remotePort: number): string | null {
  for (const line of readFileSync(`/proc/net/${table}`, 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10) continue;
    const local = parseInt(fields[1].split(':')[1], 16);
    const remote = parseInt(fields[2].split(':')[1], 16);
    if (local === localPort && (remotePort === 0 || remote === remotePort)) return fields[9];
  }
  return null;
}

/**
 * Bytes the kernel holds unread for the socket in /proc/net/`table` (udp, udp6) bound to
 * `localPort`: its rx_queue. 0 once the socket's owner has read every packet that came.
 */
export function receiveQueue(table: string, localPort: number): number {
  for (const line of readFileSync(`/proc/net/${table}`, 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10) continue;
    if (parseInt(fields[1].split(':')[1], 16) === localPort) return parseInt(fields[4].split(':')[1], 16);
  }
  throw new Error(`receiveQueue: no socket on port ${localPort} in /proc/net/${table}`);
}
