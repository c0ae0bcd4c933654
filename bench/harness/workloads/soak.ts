import type { RunReport } from '../report.js';
import type { LoadRun } from './load-run.js';

/**
 * soak: a long paced run with mixed payload sizes where every echo is verified: per
 * connection each sequence number must come back exactly once, in order, with its
 * checksum intact. After sending stops the run waits the grace period (--grace) for the
 * last echoes; the report counts lost, duplicated, reordered and corrupted datagrams,
 * all zero against a correct server.
 */
export async function runSoak(run: LoadRun): Promise<RunReport> {
  await run.openAll();
  run.startPaced(run.settings.ratePerConnection);
  await run.measure();
  run.stopSending();
  await run.awaitEchoes();
  return run.report();
}
