/**
 * `/metrics` for the examples' servers (the relay's and the arena's `--metrics-port P`):
 * ringwire's metrics (`ringwire/metrics`) and
 * the process's CPU time and memory under their standard names (process_cpu_seconds_total,
 * process_resident_memory_bytes), in Prometheus's text format. (prom-client's default
 * metrics are left out: `promtool check metrics` faults three of their names.)
 *
 * With `--processes N` the supervisor serves the port: at each scrape it asks every relay
 * process for its metrics over their IPC channel and answers with all of them, each
 * sample labelled `process="1"` … `process="N"`. Labelled, not summed: SO_REUSEPORT spreads
 * clients by a hash, so one process can hold more than the rest, and a full ring or a slow
 * tick is one process's, which a sum would hide; a dashboard sums with `sum without
 * (process)` where it wants the whole.
 */
import { createServer, type Server } from 'node:http';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';

/** One process's metrics, as getMetricsAsJSON() gives them. */
type ProcessMetrics = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** How long the supervisor waits for one process's metrics before it leaves that process out (ms). */
const PROCESS_REPLY_MS = 2000;

/** The message a supervisor sends for a process's metrics, and the answer's. */
const ASK = 'ringwire-metrics?';
const ANSWER = 'ringwire-metrics';

/**
 * A registry with the process's CPU and memory, every sample labelled `process` when one is
 * given; the server adds its own (registerMetrics(manager), registerMetrics(taskManager)).
 */
export function processRegistry(processLabel: string | null): Registry {
  const registry = new Registry();
  const labels = processLabel === null ? {} : { process: processLabel };
  registry.setDefaultLabels(labels);
  new Counter({
    name: 'process_cpu_seconds_total',
    help: 'User and system CPU time of the whole process (every thread), in seconds.',
    registers: [registry],
    collect(this: Counter) {
      const { user, system } = process.cpuUsage();
      this.reset();
      this.inc((user + system) / 1e6);
    },
  });
  new Gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory of the process, in bytes.',
    registers: [registry],
    collect(this: Gauge) {
      this.set(process.memoryUsage.rss());
    },
  });
  return registry;
}

/** Serves `metrics()` at GET /metrics on host:port; resolves the listening server. */
export function serveMetrics(host: string, port: number, metrics: () => Promise<string>, contentType: string): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at /metrics\n');
      return;
    }
    metrics().then(
      (text) => response.writeHead(200, { 'content-type': contentType }).end(text),
      (error: Error) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`${error.message}\n`),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** In a supervised relay: answers the supervisor's requests for `registry`'s metrics. */
export function answerSupervisor(registry: Registry): void {
  process.on('message', (message: unknown) => {
    if (message !== ASK) return;
    registry.getMetricsAsJSON().then(
      (metrics) => process.send?.({ type: ANSWER, metrics }),
      () => process.send?.({ type: ANSWER, metrics: [] }),
    );
  });
}

/** A process the supervisor can ask: its IPC side. */
export interface MetricsSource {
  send(message: unknown): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

/** In the supervisor: every live process's metrics, each labelled by its process. */
export async function gatherMetrics(sources: MetricsSource[]): Promise<string> {
  const answers = await Promise.all(
    sources.map(
      (source) =>
        new Promise<ProcessMetrics | null>((resolve) => {
          const timer = setTimeout(() => done(null), PROCESS_REPLY_MS);
          const listen = (message: unknown): void => {
            const answer = message as { type?: string; metrics?: ProcessMetrics };
            if (answer?.type === ANSWER) done(answer.metrics ?? []);
          };
          const done = (metrics: ProcessMetrics | null): void => {
            clearTimeout(timer);
            source.off('message', listen);
            resolve(metrics);
          };
          source.on('message', listen);
          try {
            if (!source.send(ASK)) done(null);
          } catch {
            done(null);
          }
        }),
    ),
  );
  // Samples with different `process` labels stay apart: aggregate() sums only equal label sets.
  return AggregatorRegistry.aggregate(answers.filter((metrics): metrics is ProcessMetrics => metrics !== null)).metrics();
}
