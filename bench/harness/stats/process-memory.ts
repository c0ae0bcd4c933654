import { readFileSync } from 'node:fs';

/**
 * The resident set size of process `pid` in bytes (VmRSS in /proc/<pid>/status), or null
 * when it cannot be read (no such process, or no /proc: not Linux).
 */
export function readRssBytes(pid: number): number | null {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return match === null ? null : Number(match[1]) * 1024;
}
