import type { RunReport } from '../report.js';
import type { LoadRun } from './load-run.js';

/**
 * throughput: every connection keeps its writer busy, within its in-flight window, for the
 * whole run; the report gives datagrams/s and MB/s sent and received (from the echoes),
 * and the round-trip times under that load.
 */
export async function runThroughput(run: LoadRun): Promise<RunReport> {
  await run.openAll();
  run.startSaturating();
  await run.measure();
  run.stopSending();
  await run.awaitEchoes();
  return run.report();
}
