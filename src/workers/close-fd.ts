import { closeSync } from 'node:fs';

/**
 * Closes a duplicated descriptor no socket could be opened on. It belongs to this shard
 * alone (the main thread closed its own copy), so nothing else would ever close it.
 */
export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Already closed: nothing is left to release.
  }
}
