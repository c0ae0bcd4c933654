/**
 * Runs one echo workload (throughput, latency, connections, soak) against one target: the
 * workload's scenario (echo-scenario.ts) on the scenario engine, the one that runs
 * scenario files, with an EchoLedger that turns what the bots counted into the report.
 */
import { readFileSync } from 'node:fs';
import type { RunReport, RunSettings } from '../report.js';
import { HandshakeError, ScenarioGenerator } from '../scenario/scenario-generator.js';
import { readRssBytes } from '../stats/process-memory.js';
import { EchoLedger, type Progress, type WorkloadTarget } from './echo-ledger.js';
import { echoScenario } from './echo-scenario.js';

export type { Phase, Progress, WorkloadTarget } from './echo-ledger.js';

export interface WorkloadRunOptions {
  /** Aborts the run: sending stops, waits end at once, the client closes. */
  signal?: AbortSignal;
  /** Called once a second with the run's progress. */
  onProgress?: (progress: Progress) => void;
}

/** A run ended by its caller's signal (SIGINT): it has no report. */
export class InterruptedError extends Error {
  override name = 'InterruptedError';
}

/**
 * Runs `settings.workload` against the server at `settings.host`:`settings.port` and
 * resolves its report. Every connection and client worker it opened is closed before it
 * settles. Rejects with InterruptedError when `options.signal` aborted it, and with the
 * cause when no connection could be opened or a bot failed.
 */
export async function runWorkload(settings: RunSettings, target: WorkloadTarget, options: WorkloadRunOptions = {}): Promise<RunReport> {
  const signal = options.signal;
  if (signal?.aborted) throw new InterruptedError('interrupted');
  const ledger = new EchoLedger(settings, target, options.onProgress ?? null);
  const connections = settings.workload === 'connections';
  const rssBefore = connections && target.pid !== null ? readRssBytes(target.pid) : null;
  let rssAfter: number | null = null;
  let generator: ScenarioGenerator | null = null;
  const scenario = echoScenario(
    settings,
    ledger,
    (now) => {
      // Every connect has settled: the warm-up and the window are planned from now, and the
      // engine's run ends with the window (a run that opened nothing ends at once).
      const end = ledger.error !== null ? now : ledger.planWindow(now);
      generator!.setEnd(end - generator!.origin);
    },
    // Every connection failed its TLS handshake or WebSocket upgrade: nothing to measure.
    (now) => generator!.setEnd(now - generator!.origin),
  );
  generator = new ScenarioGenerator(
    scenario,
    {
      index: 0,
      count: 1,
      host: settings.host,
      port: settings.port,
      // Over WebSocket the header size frames nothing; 4 lets every payload the harness
      // sends (MAX_PAYLOAD) through the client's writer and reader.
      headerSize: settings.transport === 'tcp' ? settings.headerSize : settings.transport === 'ws' ? 4 : 2,
      clientShards: settings.clientShards,
      // One bot per connection, started at --connect-rate and never replaced: an open model
      // with as many arrivals as connections.
      bots: 0,
      durationSeconds: Infinity,
      stages: null,
      arrivalRate: settings.connectRate,
      arrivals: settings.connections,
      maxBots: settings.connections,
      gracefulStopSeconds: settings.graceSeconds ?? 2,
      warmupSeconds: 0,
      transport: { websocket: settings.transport === 'ws' ? { path: settings.wsPath ?? '/' } : null, tls: settings.tls !== undefined },
      ...(settings.tls === undefined
        ? {}
        : {
            tlsTrust: {
              ca: settings.tls.caFile === null ? null : readFileSync(settings.tls.caFile, 'utf8'),
              rejectUnauthorized: settings.tls.verify,
            },
          }),
    },
    {
      signal,
      onStop: () => {
        ledger.endWindow();
        if (connections && target.pid !== null) rssAfter = readRssBytes(target.pid);
      },
      onStopped: () => {
        if (settings.transport !== 'udp') return;
        const stats = generator!.clientStats();
        ledger.setUdpDrops({ rejected: stats.udpRejected, overflow: stats.udpOverflow });
      },
    },
  );
  let result;
  try {
    result = await generator.run();
  } finally {
    ledger.close();
  }
  if (signal?.aborted) throw new InterruptedError('interrupted');
  if (ledger.error !== null) throw ledger.error;
  // A failed handshake is a connect that failed: the ledger counted it (errors.connectFailed).
  const thrown = Object.keys(result.errors).filter((message) => !message.startsWith(`${HandshakeError.name}:`));
  if (thrown.length > 0) throw new Error(`the ${settings.workload} workload's bots failed: ${thrown.join('; ')}`);
  if (!connections) return ledger.report();
  const summary = ledger.connectionsSummary(null);
  const perConnection = rssBefore === null || rssAfter === null || summary.held === 0 ? null : (rssAfter - rssBefore) / summary.held;
  return ledger.report({ ...summary, serverBytesPerConnection: perConnection });
}
