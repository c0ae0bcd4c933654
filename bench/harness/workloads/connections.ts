import type { RunReport } from '../report.js';
import { readRssBytes } from '../stats/process-memory.js';
import type { LoadRun } from './load-run.js';

/**
 * connections: opens --connections at --connect-rate, holds them for --duration with a
 * light heartbeat (--rate, default 1 datagram a second each, echoed), and reports how
 * many held, the open rate achieved, and, when the target's process is known, the
 * server's memory per connection: its RSS growth from before the first connect to the
 * end of the hold, divided by the connections held.
 */
export async function runConnections(run: LoadRun): Promise<RunReport> {
  const pid = run.target.pid;
  const before = pid === null ? null : readRssBytes(pid);
  // Heartbeats start at once: a connection opened early is not idle while the rest open.
  run.startPaced(run.settings.ratePerConnection);
  const opened = await run.openAll();
  await run.measure();
  const held = run.openConnections();
  const after = pid === null ? null : readRssBytes(pid);
  run.stopSending();
  await run.awaitEchoes();
  return run.report({
    requested: run.settings.connections,
    held,
    acceptPerSecond: opened.seconds > 0 ? opened.opened / opened.seconds : 0,
    serverBytesPerConnection: before === null || after === null || held === 0 ? null : (after - before) / held,
  });
}
