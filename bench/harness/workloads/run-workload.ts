import type { RunReport, RunSettings, WorkloadName } from '../report.js';
import { runConnections } from './connections.js';
import { runLatency } from './latency.js';
import { LoadRun, type LoadRunOptions, type WorkloadTarget } from './load-run.js';
import { runSoak } from './soak.js';
import { runThroughput } from './throughput.js';

/** A run ended by its caller's signal (SIGINT): it has no report. */
export class InterruptedError extends Error {
  override name = 'InterruptedError';
}

const RUNNERS: Record<WorkloadName, (run: LoadRun) => Promise<RunReport>> = {
  throughput: runThroughput,
  latency: runLatency,
  connections: runConnections,
  soak: runSoak,
};

/**
 * Runs `settings.workload` against the server at `settings.host`:`settings.port` and
 * resolves its report. Every connection and client worker it opened is closed before it
 * settles. Rejects with InterruptedError when `options.signal` aborted it, and with the
 * cause when no connection could be opened or the client failed.
 */
export async function runWorkload(settings: RunSettings, target: WorkloadTarget, options: LoadRunOptions = {}): Promise<RunReport> {
  const run = new LoadRun(settings, target, options);
  try {
    const report = await RUNNERS[settings.workload](run);
    if (options.signal?.aborted) throw new InterruptedError('interrupted');
    return report;
  } catch (error) {
    if (options.signal?.aborted) throw new InterruptedError('interrupted');
    throw error;
  } finally {
    await run.close();
  }
}
