import { readFileSync } from 'node:fs';

/**
 * Clock ticks per second of /proc's CPU times: Linux reports them in USER_HZ, which is 100
 * on every architecture Node runs on (sysconf(_SC_CLK_TCK)).
 */
const TICKS_PER_SECOND = 100;

/**
 * The CPU time process `pid` has used so far, user + system, all its threads together
 * (utime + stime in /proc/<pid>/stat), in seconds; null when it cannot be read (no such
 * process, or no /proc: not Linux). The resolution is a tick, 10 ms.
 */
export function readCpuSeconds(pid: number): number | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count from after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 (utime, stime) of the whole line are 12 and 13 after the name.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return null;
  return (utime + stime) / TICKS_PER_SECOND;
}
