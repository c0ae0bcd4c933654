/**
 * `ringwire-bench run FILE [flags]`: runs a scenario file's bots against a server, in this
 * process, in N generator processes (`--processes N`) or on N agents over NATS
 * (`--nats URL --agents N`), and reports what they measured:
 * a progress line a second, the end table, thresholds (✓/✗; exit status 99 when one
 * fails), `--json`. Options in the file are the defaults; flags override them.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { formatCount, formatMs, table } from '../output/console.js';
import { outputFile, writeOutput } from '../output-file.js';
import { decimal, duration, integer } from '../flag-values.js';
import { UsageError } from '../workloads/workload-settings.js';
import type { ScenarioOptions, Stage } from './define-scenario.js';
import { AgentPool } from './agent-pool.js';
import { ChildLink, type GeneratorLink, LocalLink } from './generator-link.js';
import { loadScenario } from './load-scenario.js';
import { MetricsServer } from './metrics-server.js';
import { BuiltIn, type MetricsSnapshot } from './metrics.js';
import { RunAggregate, type MetricsSummary, type SeriesPoint, summarize } from './run-aggregate.js';
import { type GeneratorPlan, type GeneratorResult, shareOf } from './scenario-generator.js';
import { renderScenarioHtml } from './scenario-html.js';
import { abortingFailure, parseSeconds, parseThresholds, type Threshold, type ThresholdResult } from './thresholds.js';

export const RUN_USAGE = `usage: ringwire-bench run FILE [flags]

Runs the bots of a scenario file (a .ts, .mts, .js or .mjs module whose default export
is defineScenario({ options, setup?, bot, teardown? }), from 'ringwire-bench') against a
server that speaks Panda3D's framing (or WebSocket, TLS: all through ringwire's client
side), and reports what they measured. Options in the file are the defaults; these flags
override them.

target
  --host H              server address (default 127.0.0.1)
  --port N              server port (default 9099)
  --header-size 0|2|4   TCP length header (default: the scenario's headerSize, else 2)
  --ws                  bots whose connect() does not say speak binary WebSocket messages
  --ws-path /PATH       the request path of those WebSockets (default /)
  --tls                 bots whose connect() does not say use TLS (wss:// with --ws)
  --tls-ca FILE         what TLS trusts (--tls, and bots that connect with tls: true): this CA (PEM)
  --insecure            ... or nothing: the server's certificate is not verified

load
  -c, --bots N          bots held for the duration (closed model)
  -d, --duration T      how long: 30s, 1.5m, 500ms (default: the scenario's, else 10s)
  --warmup T            load before measuring, forgotten but for errors (default: the scenario's, else 0)
  --stages LIST         ramp the bots: DURATION:TARGET,… e.g. 30s:100,1m:100,10s:0
  --arrival-rate N      open model: N new bots a second
  --processes N         N generator processes on this machine, each with its share (default 1)
  --client-shards N     worker shards of each generator's ringwire client (default 2)

many machines (ringwire-bench agent --help)
  --nats URL            the NATS server the agents listen on, e.g. nats://10.0.0.5:4222
  --agents N            wait for N agents there, give each its share of the bots and the
                        scenario file, start them at one time, and merge what they measure;
                        an agent that goes silent is reported as vanished, its last figures count
  --agents-timeout T    how long to wait for the agents (default 30s)

pass/fail
  --threshold NAME:EXPR another threshold, e.g. 'echo_ms:p(99) < 50' (repeatable)

output
  --json FILE           every metric (histograms included, mergeable), the thresholds, the series
  --html FILE           a self-contained page: each trend's percentile curve and time series, the rest
  --metrics-port P      serve the live figures at http://127.0.0.1:P/metrics while the run goes
                        (Prometheus text format; 0: a free port, printed)
  --quiet               no progress line
  -h, --help            this text

exit status: 0 ok · 99 a threshold failed · 1 the run failed · 2 bad usage · 130 interrupted
`;

export interface RunCommandLine {
  help: boolean;
  file: string;
  host: string;
  port: number;
  /** --ws (with --ws-path): what bots whose connect() does not say speak; null: Panda's framing. */
  websocket: { path: string } | null;
  /** --tls: bots whose connect() does not say use TLS. */
  tls: boolean;
  /** --tls-ca FILE: the CA that TLS trusts, or null (Node's CAs). */
  tlsCa: string | null;
  /** --insecure: TLS verifies nothing. */
  insecure: boolean;
  headerSize: 0 | 2 | 4 | null;
  bots: number | null;
  durationSeconds: number | null;
  warmupSeconds: number | null;
  stages: Stage[] | null;
  arrivalRate: number | null;
  processes: number;
  clientShards: number;
  nats: string | null;
  agents: number | null;
  agentsTimeoutSeconds: number;
  thresholds: string[];
  json: string | null;
  html: string | null;
  metricsPort: number | null;
  quiet: boolean;
}

/** A flag's value, or null when it was not given. */
function optional<T>(text: string | undefined, parse: (text: string) => T): T | null {
  return text === undefined ? null : parse(text);
}

/** "30s:100,1m:100,10s:0" → stages. */
export function parseStages(text: string): Stage[] {
  return text.split(',').map((part) => {
    const match = /^\s*([\d.]+(?:ms|s|m|h)?)\s*:\s*(\d+)\s*$/.exec(part);
    if (!match) throw new UsageError(`--stages must be DURATION:TARGET,… (e.g. 30s:100,1m:100,10s:0), got ${JSON.stringify(text)}`);
    return { duration: match[1], target: Number(match[2]) };
  });
}

export function parseRunCommandLine(argv: string[]): RunCommandLine {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        host: { type: 'string' },
        port: { type: 'string' },
        'header-size': { type: 'string' },
        ws: { type: 'boolean' },
        'ws-path': { type: 'string' },
        tls: { type: 'boolean' },
        'tls-ca': { type: 'string' },
        insecure: { type: 'boolean' },
        bots: { type: 'string', short: 'c' },
        duration: { type: 'string', short: 'd' },
        warmup: { type: 'string' },
        stages: { type: 'string' },
        'arrival-rate': { type: 'string' },
        processes: { type: 'string' },
        nats: { type: 'string' },
        agents: { type: 'string' },
        'agents-timeout': { type: 'string' },
        'client-shards': { type: 'string' },
        threshold: { type: 'string', multiple: true },
        json: { type: 'string' },
        html: { type: 'string' },
        'metrics-port': { type: 'string' },
        quiet: { type: 'boolean' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/^Unknown option '(.*?)'.*$/s, 'unknown flag $1'));
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true } as RunCommandLine;
  if (positionals.length !== 1) throw new UsageError(`run takes one scenario file, got ${positionals.length === 0 ? 'none' : positionals.join(' ')}`);
  const headerSize = optional(values['header-size'], (text) => integer(text, 'header-size', 0, 4));
  if (headerSize !== null && headerSize !== 0 && headerSize !== 2 && headerSize !== 4) throw new UsageError(`--header-size must be 0, 2 or 4, got ${headerSize}`);
  const shapes = [values.bots !== undefined && '-c/--bots', values.stages !== undefined && '--stages', values['arrival-rate'] !== undefined && '--arrival-rate'].filter(Boolean);
  if (shapes.length > 1) throw new UsageError(`give one load shape, got ${shapes.join(' and ')}`);
  const arrivalRate = optional(values['arrival-rate'], (text) => decimal(text, 'arrival-rate', 0, 1_000_000));
  const agents = optional(values.agents, (text) => integer(text, 'agents', 1, 1024));
  const nats = values.nats?.trim() ?? null;
  if (nats === '') throw new UsageError('--nats needs a URL, e.g. nats://127.0.0.1:4222');
  if (agents !== null && nats === null) throw new UsageError(`--agents ${agents} needs --nats URL: the NATS server the agents listen on`);
  if (nats !== null && agents === null) throw new UsageError(`--nats ${nats} needs --agents N: how many agents to wait for`);
  if (agents !== null && values.processes !== undefined) throw new UsageError(`--processes ${values.processes} forks generators on this machine and --agents ${agents} uses agents: give one of them`);
  if (agents === null && values['agents-timeout'] !== undefined) throw new UsageError('--agents-timeout goes with --nats URL --agents N');
  try {
    parseThresholds(undefined, values.threshold ?? []);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const wsPath = values['ws-path'];
  if (wsPath !== undefined && values.ws !== true) throw new UsageError('--ws-path goes with --ws');
  if (wsPath !== undefined && !wsPath.startsWith('/')) throw new UsageError(`--ws-path must start with /, got ${JSON.stringify(wsPath)}`);
  const tlsCa = values['tls-ca'] ?? null;
  if (tlsCa !== null && values.insecure === true) throw new UsageError('--tls-ca trusts a CA and --insecure verifies nothing: give one of them');
  if (tlsCa !== null) {
    try {
      accessSync(tlsCa, constants.R_OK);
    } catch (error) {
      throw new UsageError(`--tls-ca ${tlsCa}: ${(error as Error).message}`);
    }
  }
  return {
    help: false,
    file: positionals[0],
    host: values.host ?? '127.0.0.1',
    port: optional(values.port, (text) => integer(text, 'port', 1, 65535)) ?? 9099,
    websocket: values.ws === true ? { path: wsPath ?? '/' } : null,
    tls: values.tls === true,
    tlsCa,
    insecure: values.insecure === true,
    headerSize: headerSize as 0 | 2 | 4 | null,
    bots: optional(values.bots, (text) => integer(text, 'bots', 0, 1_000_000)),
    durationSeconds: optional(values.duration, (text) => duration(text, 'duration', 0, 86_400)),
    warmupSeconds: optional(values.warmup, (text) => duration(text, 'warmup', 0, 86_400)),
    stages: values.stages === undefined ? null : parseStages(values.stages),
    arrivalRate,
    processes: optional(values.processes, (text) => integer(text, 'processes', 1, 256)) ?? 1,
    clientShards: optional(values['client-shards'], (text) => integer(text, 'client-shards', 0, 64)) ?? 2,
    nats,
    agents,
    agentsTimeoutSeconds: optional(values['agents-timeout'], (text) => duration(text, 'agents-timeout', 0, 86_400)) ?? 30,
    thresholds: values.threshold ?? [],
    json: values.json === undefined ? null : outputFile(values.json, 'json'),
    html: values.html === undefined ? null : outputFile(values.html, 'html'),
    metricsPort: optional(values['metrics-port'], (text) => integer(text, 'metrics-port', 0, 65535)),
    quiet: values.quiet === true,
  };
}

/** The whole run's load, before it is shared out: the file's options under the flags. */
export interface RunShape {
  bots: number;
  durationSeconds: number;
  stages: { durationSeconds: number; target: number }[] | null;
  arrivalRate: number | null;
  maxBots: number;
  headerSize: 0 | 2 | 4;
  gracefulStopSeconds: number;
  warmupSeconds: number;
}

export function runShape(options: ScenarioOptions, cli: Pick<RunCommandLine, 'bots' | 'durationSeconds' | 'warmupSeconds' | 'stages' | 'arrivalRate' | 'headerSize'>): RunShape {
  const stagesSource = cli.stages ?? (cli.bots === null && cli.arrivalRate === null ? (options.stages ?? null) : null);
  const stages = stagesSource === null ? null : stagesSource.map((stage, i) => ({ durationSeconds: parseSeconds(stage.duration, `stages[${i}].duration`), target: stage.target }));
  const arrivalRate = cli.arrivalRate ?? (cli.bots === null && cli.stages === null ? (options.arrivalRate ?? null) : null);
  const stagesSeconds = stages === null ? null : stages.reduce((sum, stage) => sum + stage.durationSeconds, 0);
  const warmupSeconds = cli.warmupSeconds ?? (options.warmup === undefined ? 0 : parseSeconds(options.warmup, 'warmup'));
  if (stages !== null && warmupSeconds > 0) throw new RangeError('a warm-up does not combine with stages: ramp up in a first stage instead (its figures count)');
  return {
    bots: cli.bots ?? options.bots ?? 1,
    durationSeconds: cli.durationSeconds ?? stagesSeconds ?? (options.duration === undefined ? 10 : parseSeconds(options.duration, 'duration')),
    stages,
    arrivalRate,
    maxBots: options.maxBots ?? 10_000,
    headerSize: cli.headerSize ?? options.headerSize ?? 2,
    gracefulStopSeconds: options.gracefulStop === undefined ? 1 : parseSeconds(options.gracefulStop, 'gracefulStop'),
    warmupSeconds,
  };
}

/** Where a run's bots go and how they connect when they do not say: the same for every generator. */
export interface RunTarget {
  host: string;
  port: number;
  clientShards: number;
  transport?: GeneratorPlan['transport'];
  tlsTrust?: GeneratorPlan['tlsTrust'];
}

/** The run's target from its command line (the CA file read: its text travels in the plans). */
export function runTarget(cli: Pick<RunCommandLine, 'host' | 'port' | 'clientShards' | 'websocket' | 'tls' | 'tlsCa' | 'insecure'>): RunTarget {
  const target: RunTarget = { host: cli.host, port: cli.port, clientShards: cli.clientShards };
  if (cli.websocket !== null || cli.tls) target.transport = { websocket: cli.websocket, tls: cli.tls };
  if (cli.tlsCa !== null || cli.insecure) {
    target.tlsTrust = { ca: cli.tlsCa === null ? null : readFileSync(cli.tlsCa, 'utf8'), rejectUnauthorized: !cli.insecure };
  }
  return target;
}

/** Generator `index` of `count`'s share of `shape`. */
export function planFor(shape: RunShape, target: RunTarget, index: number, count: number): GeneratorPlan {
  return {
    ...(target.transport === undefined ? {} : { transport: target.transport }),
    ...(target.tlsTrust === undefined ? {} : { tlsTrust: target.tlsTrust }),
    index,
    count,
    host: target.host,
    port: target.port,
    clientShards: target.clientShards,
    headerSize: shape.headerSize,
    bots: shareOf(shape.bots, index, count),
    durationSeconds: shape.durationSeconds,
    stages: shape.stages === null ? null : shape.stages.map((stage) => ({ durationSeconds: stage.durationSeconds, target: shareOf(stage.target, index, count) })),
    arrivalRate: shape.arrivalRate === null ? null : shape.arrivalRate / count,
    maxBots: Math.max(1, shareOf(shape.maxBots, index, count)),
    gracefulStopSeconds: shape.gracefulStopSeconds,
    warmupSeconds: shape.warmupSeconds,
  };
}

/** What --json holds. */
export interface ScenarioReport {
  kind: 'scenario';
  scenario: string;
  generators: number;
  /** Generators that vanished before their report (their last figures are counted). */
  vanished: string[];
  durationSeconds: number;
  shape: RunShape;
  interrupted: boolean;
  abortedBy: ThresholdResult | null;
  summary: MetricsSummary;
  thresholds: ThresholdResult[];
  /** What the bots threw, by message (the first 20 kinds per generator), with counts. */
  errors: Record<string, number>;
  series: SeriesPoint[];
  /** Each generator's final metrics, histograms included: runs can be merged or compared later. */
  metrics: MetricsSnapshot[];
}

/** The progress line: elapsed, bots, datagrams/s each way, each trend's p99 so far, checks, thresholds. */
export function formatScenarioProgress(point: SeriesPoint, aggregate: RunAggregate): string {
  const parts = [`${point.t.toFixed(0)}s`, `bots ${formatCount(point.bots)}`, `sent ${formatCount(point.sentPerSecond)}/s`, `recv ${formatCount(point.receivedPerSecond)}/s`];
  const summary = summarize(aggregate.merged, aggregate.elapsed);
  for (const [name, trend] of Object.entries(summary.trends)) {
    if (name === BuiltIn.CONNECT_TIME || trend.count === 0) continue;
    parts.push(`${name} p99 ${formatMs(trend.p99)}`);
  }
  const checks = summary.checks[BuiltIn.CHECKS];
  if (checks !== undefined && checks.rate !== null) parts.push(`checks ${(checks.rate * 100).toFixed(2)}%`);
  const errors = summary.counters[BuiltIn.ERRORS]?.count ?? 0;
  if (errors > 0) parts.push(`errors ${formatCount(errors)}`);
  if (aggregate.results.length > 0) {
    const failing = aggregate.results.filter((result) => !result.ok).length;
    parts.push(`thresholds ✓${aggregate.results.length - failing} ✗${failing}`);
  }
  return parts.join('  ');
}

function percent(rate: number | null): string {
  return rate === null ? '–' : `${(rate * 100).toFixed(2)} %`;
}

/** The end table: trends, counters, rates and checks, gauges, thresholds. */
export function formatScenarioReport(report: ScenarioReport): string {
  const { summary } = report;
  const lines: string[] = [];
  const vanished = report.vanished.length > 0 ? ` (${report.vanished.join(', ')} vanished: last figures counted)` : '';
  lines.push(`scenario ${report.scenario} · ${report.generators} generator${report.generators === 1 ? '' : 's'}${vanished} · ${report.durationSeconds.toFixed(1)} s${report.interrupted ? ' · interrupted' : ''}`);
  const trendRows = [['trend', 'count', 'min', 'p50', 'p90', 'p95', 'p99', 'p99.9', 'max']];
  for (const [name, t] of Object.entries(summary.trends)) {
    trendRows.push([name, formatCount(t.count), formatMs(t.min), formatMs(t.p50), formatMs(t.p90), formatMs(t.p95), formatMs(t.p99), formatMs(t.p999), formatMs(t.max)]);
  }
  lines.push('', table(trendRows));
  const counterRows = [['counter', 'total', 'per second']];
  for (const [name, c] of Object.entries(summary.counters)) counterRows.push([name, formatCount(c.count), formatCount(c.perSecond)]);
  lines.push('', table(counterRows));
  const rateRows = [['rate', 'share', 'true', 'of']];
  for (const [name, r] of Object.entries(summary.rates)) rateRows.push([name, percent(r.rate), formatCount(r.passes), formatCount(r.total)]);
  for (const [name, r] of Object.entries(summary.checks)) rateRows.push([name === BuiltIn.CHECKS ? 'checks (all)' : `check: ${name}`, percent(r.rate), formatCount(r.passes), formatCount(r.total)]);
  if (rateRows.length > 1) lines.push('', table(rateRows));
  const gaugeRows = [['gauge', 'last', 'min', 'max']];
  for (const [name, g] of Object.entries(summary.gauges)) gaugeRows.push([name, formatCount(g.value), formatCount(g.min), formatCount(g.max)]);
  lines.push('', table(gaugeRows));
  const errorKinds = Object.entries(report.errors ?? {}).sort((a, b) => b[1] - a[1]);
  if (errorKinds.length > 0) {
    lines.push('', '  errors (what the bots threw)');
    for (const [message, count] of errorKinds.slice(0, 10)) lines.push(`  ${formatCount(count).padStart(8)} × ${message}`);
    if (errorKinds.length > 10) lines.push(`  … and ${errorKinds.length - 10} more kinds (--json has them)`);
  }
  if (report.thresholds.length > 0) {
    lines.push('', '  thresholds');
    for (const result of report.thresholds) {
      const actual = result.actual === null ? (result.note ?? 'no data') : formatMs(result.actual);
      lines.push(`  ${result.ok ? '✓' : '✗'} ${result.metric}: ${result.source}  (${actual})`);
    }
  }
  if (report.abortedBy !== null) lines.push(`  run ended early: ${report.abortedBy.metric}: ${report.abortedBy.source} failed (abortOnFail)`);
  return lines.join('\n');
}

/** Runs the scenario over `links`, one plan each; the aggregate judges the thresholds. */
export async function runScenario(
  file: string,
  shape: RunShape,
  thresholds: readonly Threshold[],
  links: readonly GeneratorLink[],
  target: RunTarget,
  signal: AbortSignal,
  onSecond?: (point: SeriesPoint, aggregate: RunAggregate) => void,
): Promise<ScenarioReport> {
  const aggregate = new RunAggregate(thresholds, links.length);
  const controller = new AbortController();
  const onAbort = (): void => controller.abort();
  signal.addEventListener('abort', onAbort);
  let abortedBy: ThresholdResult | null = null;
  const closed = (points: SeriesPoint[]): void => {
    for (const point of points) {
      onSecond?.(point, aggregate);
      const failure = abortingFailure(thresholds, aggregate.results, aggregate.elapsed);
      if (failure !== null && abortedBy === null) {
        abortedBy = failure;
        controller.abort();
      }
    }
  };
  const vanished: string[] = [];
  try {
    await Promise.all(
      links.map(async (link, index) => {
        try {
          const result = await link.run(planFor(shape, target, index, links.length), { onTick: (tick) => closed(aggregate.add(tick)), signal: controller.signal });
          if (result === null) {
            vanished.push(link.name);
            closed(aggregate.finish(index));
          } else {
            closed(aggregate.add(result, true));
          }
        } catch (error) {
          controller.abort();
          throw error;
        }
      }),
    );
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  aggregate.end();
  return {
    kind: 'scenario',
    scenario: file,
    generators: links.length,
    vanished,
    durationSeconds: aggregate.elapsed,
    shape,
    interrupted: signal.aborted,
    abortedBy,
    summary: summarize(aggregate.merged, aggregate.elapsed),
    thresholds: aggregate.results,
    errors: aggregate.errors,
    series: aggregate.series,
    metrics: aggregate.snapshots(),
  };
}

/** --nats URL --agents N: the agents, claimed (agent-pool.ts). */
function claimAgents(cli: RunCommandLine, signal: AbortSignal): Promise<AgentPool> {
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  return AgentPool.claim({ url: cli.nats!, count: cli.agents!, timeoutMs: cli.agentsTimeoutSeconds * 1000, file: cli.file, targetHost: cli.host, signal, log });
}

/** The command: parse, load, run, print, write, and the exit status. */
export async function runScenarioCommand(cli: RunCommandLine, signal: AbortSignal): Promise<number> {
  const scenario = await loadScenario(cli.file);
  const options = scenario.options ?? {};
  const shape = runShape(options, cli);
  const thresholds = parseThresholds(options.thresholds, cli.thresholds);
  const target = runTarget(cli);
  const pool = cli.agents === null ? null : await claimAgents(cli, signal);
  const links: GeneratorLink[] =
    pool !== null ? pool.links : cli.processes === 1 ? [new LocalLink(cli.file)] : Array.from({ length: cli.processes }, (_, i) => new ChildLink(cli.file, i));
  const tty = process.stderr.isTTY === true;
  const metricsServer = cli.metricsPort === null ? null : await MetricsServer.start(cli.metricsPort);
  // With port 0 this line is the only way to learn the port: --quiet keeps it.
  if (metricsServer !== null && (!cli.quiet || cli.metricsPort === 0)) process.stderr.write(`metrics at ${metricsServer.url}\n`);
  let report: ScenarioReport;
  try {
    report = await runScenario(cli.file, shape, thresholds, links, target, signal, (point, aggregate) => {
      metricsServer?.publish(aggregate);
      if (cli.quiet) return;
      const line = formatScenarioProgress(point, aggregate);
      process.stderr.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
    });
  } finally {
    await metricsServer?.close();
    await pool?.close();
  }
  if (tty && !cli.quiet) process.stderr.write('\n');
  process.stdout.write(`${formatScenarioReport(report)}\n`);
  if (cli.json !== null) writeOutput(cli.json, `${JSON.stringify(report, null, 2)}\n`, 'report', cli.quiet);
  if (cli.html !== null) writeOutput(cli.html, renderScenarioHtml(report), 'HTML report', cli.quiet);
  if (report.thresholds.some((result) => !result.ok)) return 99;
  return signal.aborted ? 130 : 0;
}
