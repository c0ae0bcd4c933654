import { closeSync } from 'node:fs';

/**
 * Closes a duplicated descriptor that no socket owns: one a shard could not open a socket
 * on, or one whose ADOPT record its shard died before taking. It belongs to no one else
 * (the main thread closed its own copy), so nothing else would ever close it.
 */
export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Already closed: nothing is left to release.
  }
}
