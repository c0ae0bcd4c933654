import type { RunReport } from '../report.js';
import type { LoadRun } from './load-run.js';

/**
 * latency: each connection sends --rate datagrams a second on a fixed schedule, the way
 * game clients send; round trips are timed from each datagram's intended send time
 * (coordinated omission corrected) into an HDR histogram.
 */
export async function runLatency(run: LoadRun): Promise<RunReport> {
  await run.openAll();
  run.startPaced(run.settings.ratePerConnection);
  await run.measure();
  run.stopSending();
  await run.awaitEchoes();
  return run.report();
}
