/**
 * `run --metrics-port P`: while a run goes, http://127.0.0.1:P/metrics serves its figures
 * in Prometheus's text exposition format (version 0.0.4), so a Prometheus that scrapes the
 * game server and the harness lines their timelines up. The figures are the run's merged
 * metrics (every generator's), which the coordinator refreshes once a second.
 *
 *   counter  NAME            ringwire_bench_NAME_total                       counter
 *   gauge    NAME            ringwire_bench_NAME                             gauge
 *   rate     NAME            ringwire_bench_NAME_passes_total,
 *                            ringwire_bench_NAME_samples_total               counters
 *   check    NAME            ringwire_bench_checks_passes_total{check="NAME"},
 *                            ringwire_bench_checks_samples_total{check="NAME"}  counters
 *   trend    NAME            ringwire_bench_NAME{quantile="0.5"|"0.9"|"0.99"},
 *                            ringwire_bench_NAME_sum, ringwire_bench_NAME_count  summary
 *   thresholds               ringwire_bench_threshold_ok{metric,threshold}  1 or 0
 *   the run's clock          ringwire_bench_elapsed_seconds                 gauge
 *
 * A trend's quantiles are over every sample of the run so far (its HDR histogram), in the
 * unit the scenario added (ms for timings). The built-in metrics take the names the server's
 * `ringwire/metrics` uses, so the two line up in one dashboard: bytes_sent and
 * bytes_received are ringwire_bench_sent_bytes_total and ringwire_bench_received_bytes_total
 * (the server's ringwire_received_bytes_total and ringwire_sent_bytes_total), and the
 * built-in trends, in seconds, ringwire_bench_connect_time_seconds and
 * ringwire_bench_schedule_lag_seconds. Names are sanitized to Prometheus's rules
 * (anything but letters, digits and _ becomes _); a metric whose sanitized name another
 * already took is left out, with a comment line that says so.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BuiltIn, MetricSet, summarizeTrend, trendPercentile } from './metrics.js';
import type { ThresholdResult } from './thresholds.js';

/** What the server shows: RunAggregate has these fields, refreshed once a second. */
export interface MetricsView {
  readonly merged: MetricSet;
  readonly results: readonly ThresholdResult[];
  /** Seconds into the run. */
  readonly elapsed: number;
}

/** The Content-Type of Prometheus's text format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const PREFIX = 'ringwire_bench_';

/** The quantiles each trend's summary shows. */
const QUANTILES: readonly number[] = [0.5, 0.9, 0.99];

const BUILT_IN_HELP: Record<string, string> = {
  [BuiltIn.BOTS]: 'Bots running now, over every generator.',
  [BuiltIn.BOTS_STARTED]: 'Bots started.',
  [BuiltIn.BOTS_CONNECTED]: 'Bots whose connect() succeeded.',
  [BuiltIn.DATAGRAMS_SENT]: 'Datagrams the bots sent.',
  [BuiltIn.DATAGRAMS_RECEIVED]: 'Datagrams the bots received.',
  [BuiltIn.BYTES_SENT]: 'Payload bytes the bots sent.',
  [BuiltIn.BYTES_RECEIVED]: 'Payload bytes the bots received.',
  [BuiltIn.ERRORS]: 'Bots that threw or failed to connect (each is ended; the run goes on).',
  [BuiltIn.CONNECT_TIME]: "Each bot's connect time (seconds).",
  [BuiltIn.SCHEDULE_LAG]: 'How late every() and after() calls came, from their intended time (seconds).',
};

/** The built-in metrics whose Prometheus name is not their own: the server's naming, units in the name. */
const BUILT_IN_NAMES: Record<string, string> = {
  [BuiltIn.BYTES_SENT]: `${PREFIX}sent_bytes`,
  [BuiltIn.BYTES_RECEIVED]: `${PREFIX}received_bytes`,
  [BuiltIn.CONNECT_TIME]: `${PREFIX}connect_time_seconds`,
  [BuiltIn.SCHEDULE_LAG]: `${PREFIX}schedule_lag_seconds`,
};

/** The built-in trends, recorded in ms, shown in seconds. */
const SECONDS_TRENDS = new Set<string>([BuiltIn.CONNECT_TIME, BuiltIn.SCHEDULE_LAG]);

/** `name` as a Prometheus metric name: ringwire_bench_ and the name, anything outside [a-zA-Z0-9_] as _. */
export function prometheusName(name: string): string {
  return BUILT_IN_NAMES[name] ?? PREFIX + name.replace(/[^a-zA-Z0-9_]/g, '_');
}

/** A sample value: NaN, +Inf and -Inf as Prometheus writes them. */
function sampleValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function labelValue(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function helpText(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function labels(pairs: Record<string, string>): string {
  const entries = Object.entries(pairs);
  return entries.length === 0 ? '' : `{${entries.map(([key, value]) => `${key}="${labelValue(value)}"`).join(',')}}`;
}

/** Builds the exposition text, one metric family at a time, refusing a name used twice. */
class Exposition {
  private readonly lines: string[] = [];
  private readonly taken = new Set<string>();

  /**
   * Starts a family of `type` named `name`, whose samples will use `sampleNames`; false
   * (and a comment line) when one of those names is already taken.
   */
  family(name: string, type: 'counter' | 'gauge' | 'summary', help: string, sampleNames: readonly string[], what: string): boolean {
    const clash = sampleNames.find((sample) => this.taken.has(sample));
    if (clash !== undefined) {
      this.lines.push(`# ringwire-bench: ${helpText(what)} left out: the name ${clash} is taken`);
      return false;
    }
    for (const sample of sampleNames) this.taken.add(sample);
    this.lines.push(`# HELP ${name} ${helpText(help)}`, `# TYPE ${name} ${type}`);
    return true;
  }

  sample(name: string, value: number, pairs: Record<string, string> = {}): void {
    this.lines.push(`${name}${labels(pairs)} ${sampleValue(value)}`);
  }

  text(): string {
    return `${this.lines.join('\n')}\n`;
  }
}

/** The exposition (text format 0.0.4) of `view`. */
export function prometheusText(view: MetricsView): string {
  const out = new Exposition();
  const { merged } = view;

  // The harness's own families first, so that no scenario metric can take their names.
  const elapsed = `${PREFIX}elapsed_seconds`;
  out.family(elapsed, 'gauge', 'Seconds into the run.', [elapsed], 'elapsed_seconds');
  out.sample(elapsed, view.elapsed);
  const thresholdOk = `${PREFIX}threshold_ok`;
  out.family(thresholdOk, 'gauge', 'Each threshold: 1 while it holds, 0 while it fails (or its metric has no data).', [thresholdOk], 'threshold_ok');
  for (const result of view.results) out.sample(thresholdOk, result.ok ? 1 : 0, { metric: result.metric, threshold: result.source });
  const checkPasses = `${PREFIX}checks_passes_total`;
  const checkSamples = `${PREFIX}checks_samples_total`;
  out.family(checkPasses, 'counter', 'Each check: the times it passed.', [checkPasses], 'checks');
  for (const [name, value] of merged.checks) out.sample(checkPasses, value.passes, { check: name });
  out.family(checkSamples, 'counter', 'Each check: the times it was made.', [checkSamples], 'checks');
  for (const [name, value] of merged.checks) out.sample(checkSamples, value.total, { check: name });

  for (const [name, count] of merged.counters) {
    const family = `${prometheusName(name).replace(/_total$/, '')}_total`;
    if (out.family(family, 'counter', BUILT_IN_HELP[name] ?? `Counter ${name} of the scenario.`, [family], `counter ${name}`)) out.sample(family, count);
  }
  for (const [name, gauge] of merged.gauges) {
    const family = prometheusName(name);
    const help = BUILT_IN_HELP[name] ?? `Gauge ${name} of the scenario: its last value, added up over the generators.`;
    if (out.family(family, 'gauge', help, [family], `gauge ${name}`)) out.sample(family, gauge.value);
  }
  for (const [name, rate] of merged.rates) {
    const base = prometheusName(name);
    const passes = `${base}_passes_total`;
    const samples = `${base}_samples_total`;
    // Both or neither: half a rate would mislead.
    if (!out.family(passes, 'counter', `Rate ${name} of the scenario: samples that were true.`, [passes, samples], `rate ${name}`)) continue;
    out.sample(passes, rate.passes);
    out.family(samples, 'counter', `Rate ${name} of the scenario: every sample.`, [], `rate ${name}`); // its name was reserved above
    out.sample(samples, rate.total);
  }
  for (const [name, histogram] of merged.trends) {
    const family = prometheusName(name);
    const help = BUILT_IN_HELP[name] ?? `Trend ${name} of the scenario, as added (ms for timings); quantiles over the whole run.`;
    if (!out.family(family, 'summary', help, [family, `${family}_sum`, `${family}_count`], `trend ${name}`)) continue;
    const scale = SECONDS_TRENDS.has(name) ? 1 / 1000 : 1;
    // No sample yet: NaN quantiles, as Prometheus's client libraries write them.
    for (const quantile of QUANTILES) out.sample(family, (trendPercentile(histogram, quantile * 100) ?? Number.NaN) * scale, { quantile: String(quantile) });
    const { count, avg } = summarizeTrend(histogram);
    out.sample(`${family}_sum`, avg === null ? 0 : avg * count * scale);
    out.sample(`${family}_count`, count);
  }
  return out.text();
}

/** The HTTP server of `--metrics-port`: GET /metrics. */
export class MetricsServer {
  private view: MetricsView = { merged: MetricSet.withBuiltIns(), results: [], elapsed: 0 };

  private constructor(private readonly server: Server) {}

  /**
   * Listens on `host`:`port` (0: any free port). Rejects with an Error that names the
   * port when it cannot (in use, not allowed).
   */
  static start(port: number, host = '127.0.0.1'): Promise<MetricsServer> {
    if (!Number.isSafeInteger(port) || port < 0 || port > 65535) throw new RangeError(`MetricsServer.start: port must be an integer from 0 to 65535, got ${port}`);
    return new Promise((resolve, reject) => {
      let metrics: MetricsServer | null = null;
      const server = createServer((request, response) => metrics?.respond(request, response));
      metrics = new MetricsServer(server);
      server.once('error', (error) => reject(new Error(`--metrics-port ${port}: cannot listen on ${host}:${port}: ${error.message}`)));
      server.listen({ port, host }, () => resolve(metrics));
    });
  }

  /** The address of /metrics. */
  get url(): string {
    const address = this.server.address() as AddressInfo;
    return `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}/metrics`;
  }

  /** What /metrics shows from now on (read at each scrape: the aggregate refreshes its fields). */
  publish(view: MetricsView): void {
    this.view = view;
  }

  /** Stops listening and ends open connections (a scraper's keep-alive too). */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private respond(request: IncomingMessage, response: ServerResponse): void {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('ringwire-bench serves /metrics\n');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('GET /metrics\n');
      return;
    }
    const body = prometheusText(this.view);
    response.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'content-length': Buffer.byteLength(body) });
    response.end(request.method === 'HEAD' ? undefined : body);
  }
}
