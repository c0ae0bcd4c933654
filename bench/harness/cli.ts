/**
 * ringwire-bench: drive a Panda3D-framed (or WebSocket) echo server hard and report what
 * it saw. `npx ringwire-bench <workload> [flags]`, `npm run bench -- <workload> [flags]`.
 *
 * Exit status: 0 done; 1 a run failed, a target failed, or a run found integrity faults;
 * 2 a bad command line; 130 interrupted (SIGINT/SIGTERM: every connection, client worker
 * and server the harness started is closed first; a second signal exits at once).
 */
import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { renderHtml } from './html-report.js';
import { outputFile, writeOutput } from './output-file.js';
import { createProgressPrinter, formatComparison, formatCount, formatEnvironment, formatMs, formatRunReport } from './output/console.js';
import type { HarnessReport, ReportEnvironment, RunReport, RunSettings, WorkloadName } from './report.js';
import { integrityFaults } from './stats/integrity-checker.js';
import { type LocalTargetKind, targetTransport } from './targets.js';
import { COMPARE_TARGETS, LOCAL_TARGETS, UDP_COMPARE_TARGETS, WS_COMPARE_TARGETS, runComparison, runOnLocalTarget } from './workloads/local-targets.js';
import { decimal, duration, integer } from './flag-values.js';
import { runCommand } from './run-command.js';
import { AGENT_USAGE, parseAgentCommandLine, runAgentCommand } from './scenario/agent.js';
import { runChildGenerator } from './scenario/generator-link.js';
import { RUN_USAGE, parseRunCommandLine, runScenarioCommand } from './scenario/run-scenario.js';
import { runWorkload } from './workloads/run-workload.js';
import {
  DEFAULT_CLIENT_SHARDS,
  DEFAULT_CONNECT_RATE,
  DEFAULT_GRACE_SECONDS,
  DEFAULT_HEADER_SIZE,
  DEFAULT_HOST,
  DEFAULT_PORT,
  UDP_WORKLOADS,
  UsageError,
  WORKLOADS,
  WORKLOAD_DEFAULTS,
  type WorkloadFlags,
  resolveSettings,
} from './workloads/workload-settings.js';

const d = WORKLOAD_DEFAULTS;
const USAGE = `usage: ringwire-bench <workload> [flags]
       ringwire-bench run FILE [flags]     run a scenario file's bots (ringwire-bench run --help)
       ringwire-bench agent --nats URL     a load generator for runs over NATS (ringwire-bench agent --help)

A load tester for servers that speak Panda3D's framing (a ringwire server, or any peer).
\`run FILE\` drives a game server with the bots a scenario file scripts. The workloads
below drive an echo server — Panda3D's TCP framing, its UDP packets with --udp, binary
WebSocket messages with --ws, either stream over TLS with --tls — and report throughput,
round-trip latency and correctness; they are built-in scenarios, run by the same engine,
over ringwire's own client side with worker shards. It sends only to 127.0.0.1 unless
--host is given.

workloads (echo servers)
  throughput    every connection sends as fast as the server echoes
                (defaults: ${d.throughput.connections} connections, ${d.throughput.payloadMin} B, ${d.throughput.durationSeconds} s + ${d.throughput.warmupSeconds} s warm-up)
  latency       each connection sends --rate-per-connection datagrams/s; round trips timed from the
                intended send time (coordinated omission corrected) in an HDR histogram
                (defaults: ${d.latency.connections} connections × ${d.latency.ratePerConnection}/s, ${d.latency.payloadMin} B, ${d.latency.durationSeconds} s + ${d.latency.warmupSeconds} s warm-up)
  connections   opens --connections at --connect-rate and holds them with a ${d.connections.ratePerConnection}/s heartbeat;
                reports how many held, the open rate, and the server's memory per
                connection when the harness started the server (--targets)
                (defaults: ${d.connections.connections} connections, hold ${d.connections.durationSeconds} s)
  soak          like latency with mixed payload sizes; every echo is checked: lost,
                duplicated, reordered and corrupted counts must all be zero
                (defaults: ${d.soak.connections} connections × ${d.soak.ratePerConnection}/s, ${d.soak.payloadMin}-${d.soak.payloadMax} B, ${d.soak.durationSeconds} s)

target
  --host H            server address (default ${DEFAULT_HOST}; anything but loopback must be given here)
  --port N            server port (default ${DEFAULT_PORT})
  --ws                speak binary WebSocket messages (one per datagram) instead of Panda3D framing:
                      ws://HOST:PORT/ (wss:// with --tls), through ringwire's client side
  --ws-path /PATH     with --ws: the request path (default /)
  --tls               TLS over the stream: Panda3D framing over TLS, or wss:// with --ws; the
                      server's certificate is verified against Node's CAs unless:
  --tls-ca FILE       with --tls: trust this CA (PEM), e.g. the relay's private one
  --insecure          with --tls: do not verify the server's certificate
  --udp               send each datagram as one Panda3D UDP packet (2-byte checksum header)
                      from one ringwire UDP socket per connection (${UDP_WORKLOADS.join(', ')} only); lost
                      datagrams are reported, not failures (UDP may lose them)
  --header-size 0|2|4 length header bytes (default ${DEFAULT_HEADER_SIZE}, Panda3D's); 0 = raw mode, throughput only
  --targets a,b,…     start these local servers instead: ${LOCAL_TARGETS.join(', ')}
                      (one without --compare: a single run against it)
  --compare           run the workload against each local server in turn (default:
                      ${COMPARE_TARGETS.join(', ')}) and print each one's ratio to ringwire-2;
                      with --udp: ${UDP_COMPARE_TARGETS.join(', ')}, ratios to ringwire-udp-2;
                      with --ws: ${WS_COMPARE_TARGETS.join(', ')} (ringwire-2 over WebSocket, and the
                      ws library's server), ratios to ringwire-ws-2

load
  -c, --connections N connections (1–65535)
  --payload N|MIN-MAX payload bytes per datagram, fixed or a range (at least 20)
  -d, --duration T    measured time (for connections: how long they are held): 10, 10s, 1.5m, 500ms
  --warmup T          load before measuring (same units)
  -R, --rate N        datagrams/s over all connections together, as wrk2's and autocannon's -R
  --rate-per-connection N
                      datagrams/s per connection instead (latency ${d.latency.ratePerConnection}, soak ${d.soak.ratePerConnection}, connections ${d.connections.ratePerConnection}
                      by default; throughput ignores both)
  --connect-rate N    connections opened per second (default ${DEFAULT_CONNECT_RATE})
  --client-shards N   worker shards of the harness's own ringwire client (default ${DEFAULT_CLIENT_SHARDS})
  --grace T           after sending stops, how long to wait for the last echoes (default ${DEFAULT_GRACE_SECONDS} s)

output
  --json FILE         write the report (every figure and the settings) as JSON
  --html FILE         write a self-contained HTML report with charts
  --quiet             no progress line
  -h, --help          this text
  -v, --version       the versions of ringwire-bench, ringwire and Node

exit status: 0 ok · 1 a run or target failed, or integrity faults were found (over UDP: lost
datagrams are not faults; duplicated, reordered or corrupted ones are) · 2 bad usage · 130 interrupted
`;

/** The command line, checked. */
interface CommandLine {
  help: boolean;
  /** --version: print the versions and exit. */
  version: boolean;
  workload: WorkloadName;
  settings: RunSettings;
  /** Local servers to start (--targets, or --compare's default list); empty for an external target. */
  targets: LocalTargetKind[];
  compare: boolean;
  json: string | null;
  html: string | null;
  quiet: boolean;
}

/** Parses and checks `argv`. Throws a UsageError naming the flag and the value. */
function parseCommandLine(argv: string[]): CommandLine {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    throw new UsageError(parseErrorMessage(error as Error & { code?: string }));
  }
  const { values, positionals } = parsed;
  const help = values.help === true;
  if (help || values.version === true) {
    return {
      help,
      version: values.version === true && !help,
      workload: 'throughput',
      settings: resolveSettings('throughput', {}),
      targets: [],
      compare: false,
      json: null,
      html: null,
      quiet: true,
    };
  }
  if (positionals.length === 0) throw new UsageError(`name a workload: ${WORKLOADS.join(', ')}`);
  if (positionals.length > 1) throw new UsageError(`one workload at a time, got ${positionals.map((p) => JSON.stringify(p)).join(' ')}`);
  const workload = positionals[0] as WorkloadName;
  if (!WORKLOADS.includes(workload)) {
    throw new UsageError(`unknown workload ${JSON.stringify(positionals[0])}: expected one of ${WORKLOADS.join(', ')}`);
  }

  const flags: WorkloadFlags = {};
  if (values.host !== undefined) {
    if (values.host.trim() === '') throw new UsageError('--host needs an address');
    flags.host = values.host.trim();
  }
  if (values.port !== undefined) flags.port = integer(values.port, 'port', 1, 65535);
  if (values.ws === true && values.udp === true) throw new UsageError('--ws and --udp each choose the transport: give one of them');
  if (values.ws === true) flags.transport = 'ws';
  if (values.udp === true) flags.transport = 'udp';
  if (values['ws-path'] !== undefined) flags.wsPath = values['ws-path'];
  if (values['tls-ca'] !== undefined || values.insecure === true) {
    if (values.tls !== true) throw new UsageError(`${values.insecure === true ? '--insecure' : '--tls-ca'} goes with --tls`);
    if (values['tls-ca'] !== undefined && values.insecure === true) {
      throw new UsageError('--tls-ca trusts a CA and --insecure verifies nothing: give one of them');
    }
  }
  if (values.tls === true) flags.tls = { caFile: values['tls-ca'] === undefined ? null : readableFile(values['tls-ca'], 'tls-ca'), verify: values.insecure !== true };
  if (values['header-size'] !== undefined) {
    const size = values['header-size'].trim();
    if (size !== '0' && size !== '2' && size !== '4') {
      throw new UsageError(`--header-size must be 0, 2 or 4, got ${JSON.stringify(values['header-size'])}`);
    }
    flags.headerSize = Number(size) as 0 | 2 | 4;
  }
  if (values.connections !== undefined) flags.connections = integer(values.connections, 'connections', 1, 65535);
  if (values.payload !== undefined) {
    const match = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(values.payload);
    if (match === null) throw new UsageError(`--payload must be N or MIN-MAX (bytes), got ${JSON.stringify(values.payload)}`);
    flags.payloadMin = Number(match[1]);
    flags.payloadMax = Number(match[2] ?? match[1]);
  }
  if (values.duration !== undefined) flags.durationSeconds = duration(values.duration, 'duration', 0, 86_400, true);
  if (values.warmup !== undefined) flags.warmupSeconds = duration(values.warmup, 'warmup', 0, 3600);
  if (values.rate !== undefined) flags.totalRate = decimal(values.rate, 'rate', 0, 10_000_000, true);
  if (values['rate-per-connection'] !== undefined) {
    flags.ratePerConnection = decimal(values['rate-per-connection'], 'rate-per-connection', 0, 100_000, true);
  }
  if (values['connect-rate'] !== undefined) flags.connectRate = decimal(values['connect-rate'], 'connect-rate', 0, 100_000, true);
  if (values['client-shards'] !== undefined) flags.clientShards = integer(values['client-shards'], 'client-shards', 0, 64);
  if (values.grace !== undefined) flags.graceSeconds = duration(values.grace, 'grace', 0, 600);

  const compare = values.compare === true;
  let targets: LocalTargetKind[] = [];
  if (values.targets !== undefined) {
    const names = values.targets.split(',').map((name) => name.trim());
    for (const name of names) {
      if (!(LOCAL_TARGETS as readonly string[]).includes(name)) {
        throw new UsageError(`--targets: unknown target ${JSON.stringify(name)}: expected some of ${LOCAL_TARGETS.join(', ')}`);
      }
    }
    if (new Set(names).size !== names.length) throw new UsageError(`--targets names a target twice: ${values.targets}`);
    targets = names as LocalTargetKind[];
    const udp = values.udp === true;
    const misfits = targets.filter((kind) => (targetTransport(kind) === 'udp') !== udp);
    if (misfits.length > 0) {
      throw new UsageError(
        udp
          ? `--udp runs against UDP servers (${UDP_COMPARE_TARGETS.join(', ')}); --targets names ${misfits.join(', ')}`
          : `--targets ${misfits.join(', ')} speak${misfits.length === 1 ? 's' : ''} UDP: add --udp (latency only)`,
      );
    }
    const notWs = values.ws === true ? targets.filter((kind) => targetTransport(kind) !== 'ws') : [];
    if (notWs.length > 0) {
      throw new UsageError(`--ws runs against WebSocket servers (${WS_COMPARE_TARGETS.join(', ')}, ringwire-ws-0); --targets names ${notWs.join(', ')}`);
    }
    if (!compare && targets.length > 1) {
      throw new UsageError(`--targets names ${targets.length} servers: add --compare to run against each, or name one`);
    }
  } else if (compare) {
    targets = [...(values.udp === true ? UDP_COMPARE_TARGETS : values.ws === true ? WS_COMPARE_TARGETS : COMPARE_TARGETS)];
  }
  if (targets.length > 0) {
    if (values.tls === true) {
      throw new UsageError(
        `${compare ? '--compare' : '--targets'} starts its own servers, which have no certificate: --tls runs against a server given by --host/--port (the relay with --tls-key/--tls-cert)`,
      );
    }
    const external = ['host', 'port'].filter((flag) => values[flag as 'host'] !== undefined);
    if (external.length > 0) {
      throw new UsageError(
        `${compare ? '--compare' : '--targets'} starts its own servers on 127.0.0.1 (each with its transport); ${external.map((f) => `--${f}`).join(', ')} name${external.length === 1 ? 's' : ''} an external server: use one or the other`,
      );
    }
  }

  const settings = resolveSettings(workload, flags);
  const json = values.json === undefined ? null : outputFile(values.json, 'json');
  const html = values.html === undefined ? null : outputFile(values.html, 'html');
  return { help, version: false, workload, settings, targets, compare, json, html, quiet: values.quiet === true };
}

/** `file` when it can be read; a UsageError naming `flag` otherwise. */
function readableFile(file: string, flag: string): string {
  try {
    accessSync(file, constants.R_OK);
  } catch (error) {
    throw new UsageError(`--${flag} ${file}: ${(error as Error).message}`);
  }
  return file;
}

/** node:util's parse errors, said the way the rest of the usage errors are (no stray quoting). */
function parseErrorMessage(error: Error & { code?: string }): string {
  const option = /'(-[^' ]*)/.exec(error.message)?.[1];
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown flag ${option ?? error.message}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /argument missing/.test(error.message) ? `${option ?? 'a flag'} needs a value` : `${option ?? 'a flag'} takes no value`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return error.message;
    default:
      return error.message;
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      ws: { type: 'boolean' },
      'ws-path': { type: 'string' },
      tls: { type: 'boolean' },
      'tls-ca': { type: 'string' },
      insecure: { type: 'boolean' },
      udp: { type: 'boolean' },
      'header-size': { type: 'string' },
      targets: { type: 'string' },
      compare: { type: 'boolean' },
      connections: { type: 'string', short: 'c' },
      payload: { type: 'string' },
      duration: { type: 'string', short: 'd' },
      warmup: { type: 'string' },
      rate: { type: 'string', short: 'R' },
      'rate-per-connection': { type: 'string' },
      'connect-rate': { type: 'string' },
      'client-shards': { type: 'string' },
      grace: { type: 'string' },
      json: { type: 'string' },
      html: { type: 'string' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
}

function hasIntegrityFaults(run: RunReport): boolean {
  return integrityFaults(run) > 0;
}

/** Runs what the command line asks for; 1 when a run or target failed or integrity faults were found. */
function ringwireVersion(): string {
  const require = createRequire(import.meta.url);
  return (require('ringwire/package.json') as { version: string }).version;
}

/** The machine, the versions and the command line, for every report. */
function environment(): ReportEnvironment {
  const cpus = os.cpus();
  return {
    ringwire: ringwireVersion(),
    node: process.version,
    cpuModel: cpus[0]?.model.trim() || 'unknown',
    cpuCount: cpus.length,
    platform: `${process.platform} ${os.release()}`,
    command: process.argv.slice(2),
  };
}

async function runBench(cli: CommandLine, signal: AbortSignal): Promise<number> {
  if (cli.version) {
    // The package's own package.json: beside the sources (bench/harness/), one up from dist/.
    const bench = (createRequire(import.meta.url)(import.meta.url.endsWith('.ts') ? './package.json' : '../package.json') as { version: string }).version;
    process.stdout.write(`ringwire-bench ${bench} (ringwire ${ringwireVersion()}, Node ${process.version})\n`);
    return 0;
  }
  const env = environment();
  process.stdout.write(`${formatEnvironment(env)}\n\n`);
  const progress = createProgressPrinter(process.stderr, cli.quiet);
  const options = { signal, onProgress: progress.update };

  try {
    let report: HarnessReport;
    let failed = false;
    if (cli.compare) {
      const comparison = await runComparison(cli.targets, cli.settings, {
        ...options,
        onTargetDone: (kind, outcome) => {
          progress.end();
          if (cli.quiet) return;
          if (outcome instanceof Error) {
            process.stderr.write(`${kind}: failed: ${outcome.message.split('\n')[0]}\n`);
          } else {
            const p99 = outcome.latency === null ? '' : `, p99 ${formatMs(outcome.latency.p99Ms)} ms`;
            process.stderr.write(`${kind}: received ${formatCount(outcome.throughput.receivedPerSecond)}/s${p99}\n`);
          }
        },
      });
      progress.end();
      process.stdout.write(`${formatComparison(comparison)}\n`);
      failed = comparison.failures !== undefined || comparison.runs.some(hasIntegrityFaults);
      report = { kind: 'comparison', node: process.version, environment: env, comparison };
    } else {
      const run =
        cli.targets.length === 1
          ? await runOnLocalTarget(cli.targets[0], cli.settings, options)
          : await runWorkload(cli.settings, { name: `${cli.settings.host}:${cli.settings.port}`, kind: 'external', pid: null }, options);
      progress.end();
      process.stdout.write(`${formatRunReport(run)}\n`);
      failed = hasIntegrityFaults(run);
      report = { kind: 'run', node: process.version, environment: env, run };
    }
    if (cli.json !== null) writeOutput(cli.json, `${JSON.stringify(report, null, 2)}\n`, 'report', cli.quiet);
    if (cli.html !== null) writeOutput(cli.html, renderHtml(report), 'HTML report', cli.quiet);
    return failed ? 1 : 0;
  } catch (error) {
    progress.end();
    throw error;
  }
}

const argv = process.argv.slice(2);
if (argv[0] === 'run') {
  runCommand(
    {
      name: 'ringwire-bench run',
      usage: RUN_USAGE,
      helpHint: 'run ringwire-bench run --help for the flags',
      closing: 'ending the run; the summary of what was measured follows',
      failurePrefix: '',
      strayHandleNote: 'a handle was left open after the run; exiting',
      parse: parseRunCommandLine,
      run: runScenarioCommand,
    },
    argv.slice(1),
  );
} else if (argv[0] === 'agent') {
  runCommand(
    {
      name: 'ringwire-bench agent',
      usage: AGENT_USAGE,
      helpHint: 'run ringwire-bench agent --help for the flags',
      closing: 'stopping the agent; a run in progress ends early and sends its figures',
      failurePrefix: '',
      strayHandleNote: 'a handle was left open after the agent stopped; exiting',
      parse: parseAgentCommandLine,
      run: runAgentCommand,
    },
    argv.slice(1),
  );
} else if (argv[0] === 'generator') {
  // A generator process of `run --processes N` (not for people: it takes its plan over IPC).
  void runChildGenerator().then((code) => {
    process.exitCode = code;
  });
} else {
  runCommand(
    {
      name: 'ringwire-bench',
      usage: USAGE,
      helpHint: 'run ringwire-bench --help for the flags',
      closing: 'closing connections and stopping servers',
      failurePrefix: '',
      strayHandleNote: 'a handle was left open after the run; exiting',
      parse: parseCommandLine,
      run: runBench,
    },
    argv,
  );
}
