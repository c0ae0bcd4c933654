/**
 * The harness over WebSocket and TLS, through ringwire's own client side (its worker shards
 * do the upgrade, the framing and the handshake): the echo workloads with --ws against
 * ringwire's WebSocket echo server, with --ws --tls against a wss:// one and with --tls
 * alone against Panda-framed TCP over TLS (certificates from a test CA, made with openssl);
 * --compare --ws beside the ws library's server; scenario bots that connect with
 * `{ websocket, tls }` or take the run's --ws/--tls; and what a handshake that fails, or
 * a bad combination of flags, says. Real servers on loopback, the compiled command line:
 * `npm run build` first.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testCertificates } from '../../test/helpers/tls-certificate.js';
import type { HarnessReport, RunReport } from './report.js';
import type { ScenarioReport } from './scenario/run-scenario.js';
import { defineScenario, type Scenario } from './scenario/define-scenario.js';
import type { MetricSet } from './scenario/metrics.js';
import { ScenarioGenerator } from './scenario/scenario-generator.js';
import { type RunningTarget, startTarget } from './targets.js';
import { briefSettings, expectIntact, expectLatency, expectRunShape, runAgainst, runCli } from './test-helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'ringwire-bench-wstls-'));
const certs = testCertificates();
const caFile = join(tmp, 'ca.pem');
const keyFile = join(tmp, 'server.key');
const certFile = join(tmp, 'server.pem');
writeFileSync(caFile, certs.ca);
writeFileSync(keyFile, certs.servers[0].key);
writeFileSync(certFile, certs.servers[0].cert);
const tlsServerArgs = ['--tls-key', keyFile, '--tls-cert', certFile];

/** ringwire's echo server, 2 shards: wss:// answering only /echo, and Panda-framed TCP over TLS. */
let wss: RunningTarget;
let tlsTcp: RunningTarget;

beforeAll(async () => {
  [wss, tlsTcp] = await Promise.all([
    startTarget('ringwire-ws-2', { headerSize: 2, serverArgs: [...tlsServerArgs, '--ws-path', '/echo'] }),
    startTarget('ringwire-2', { headerSize: 2, serverArgs: tlsServerArgs }),
  ]);
});

afterAll(async () => {
  await Promise.allSettled([wss?.stop(), tlsTcp?.stop()]);
  rmSync(tmp, { recursive: true, force: true });
});

const BRIEF = ['-c', '4', '-d', '1', '--warmup', '0', '--grace', '1', '--quiet'];
let files = 0;

/** Runs the compiled CLI with --json; resolves its exit status, output and report (null when it wrote none). */
async function bench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; report: HarnessReport | null }> {
  const json = join(tmp, `report-${++files}.json`);
  const result = await runCli([...args, '--json', json], 60_000);
  let report: HarnessReport | null = null;
  try {
    report = JSON.parse(readFileSync(json, 'utf8')) as HarnessReport;
  } catch {
    report = null;
  }
  return { ...result, report };
}

function singleRun(report: HarnessReport | null): RunReport {
  if (report?.kind !== 'run') throw new Error(`expected one run, got ${JSON.stringify(report?.kind)}`);
  return report.run;
}

describe('the echo workloads over WebSocket and TLS', () => {
  it('latency --ws against ringwire-ws-2 (ringwire with a WebSocket rendezvous, 2 shards): round trips timed, nothing lost', async () => {
    const { code, stdout, stderr, report } = await bench(['latency', '--targets', 'ringwire-ws-2', '--ws', '--rate-per-connection', '100', ...BRIEF]);
    expect(code, stderr).toBe(0);
    const run = singleRun(report);
    expect(run.target).toBe('ringwire-ws-2');
    expect(run.settings.transport).toBe('ws');
    expect(run.settings.tls).toBeUndefined();
    expect(run.throughput.receivedDatagrams).toBeGreaterThan(100);
    expect(run.latency!.count).toBeGreaterThan(100);
    expect(run.latency!.p99Ms).toBeGreaterThan(0);
    expect(run.integrity).toEqual({ lost: 0, duplicated: 0, reordered: 0, corrupted: 0 });
    expect(run.errors).toMatchObject({ connectFailed: 0, resets: 0 });
    expect(run.serverCpu?.cpuSeconds).toBeGreaterThanOrEqual(0);
    expect(stdout).toContain('(WebSocket)');
  });

  it('soak --ws with datagrams up to 70,000 bytes: past a 2-byte header, every echo intact', async () => {
    const settings = briefSettings('soak', { transport: 'ws', connections: 2, ratePerConnection: 20, payloadMin: 20, payloadMax: 70_000 });
    const report = await runAgainst('ringwire-ws-2', settings);
    expectRunShape(report, settings);
    expectLatency(report);
    expectIntact(report);
  });

  it('latency --ws --tls against a wss:// ringwire server, trusting its CA (--tls-ca) or nothing (--insecure)', async () => {
    const target = ['--port', String(wss.port), '--ws', '--ws-path', '/echo', '--tls'];
    const trusted = await bench(['latency', ...target, '--tls-ca', caFile, '--rate-per-connection', '100', ...BRIEF]);
    expect(trusted.code, trusted.stderr).toBe(0);
    const run = singleRun(trusted.report);
    expect(run.settings).toMatchObject({ transport: 'ws', wsPath: '/echo', tls: { caFile, verify: true } });
    expect(run.latency!.count).toBeGreaterThan(100);
    expect(run.integrity).toEqual({ lost: 0, duplicated: 0, reordered: 0, corrupted: 0 });
    expect(run.errors).toMatchObject({ connectFailed: 0, resets: 0 });
    expect(trusted.stdout).toContain(`(WebSocket /echo, TLS (CA ${caFile}))`);

    const insecure = await bench(['latency', ...target, '--insecure', ...BRIEF]);
    expect(insecure.code, insecure.stderr).toBe(0);
    expect(singleRun(insecure.report).settings.tls).toEqual({ caFile: null, verify: false });
    expect(singleRun(insecure.report).throughput.receivedDatagrams).toBeGreaterThan(0);
  });

  it('a handshake that fails says which and what to try: an untrusted certificate, ws:// to a wss:// server, the wrong path', async () => {
    const untrusted = await bench(['latency', '--port', String(wss.port), '--ws', '--ws-path', '/echo', '--tls', ...BRIEF]);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(
      /could not open any connection to 127\.0\.0\.1:\d+ \(ws over TLS\): the TLS handshake or WebSocket upgrade failed: the stream was reset 'handshake-failed' \(.*--tls-ca FILE, or --insecure\)/,
    );
    // In the clear to a TLS server: the server hangs up on the upgrade request.
    const clear = await bench(['latency', '--port', String(wss.port), '--ws', '--ws-path', '/echo', ...BRIEF]);
    expect(clear.code).toBe(1);
    expect(clear.stderr).toMatch(/\(ws\): the WebSocket upgrade failed: the stream was reset 'handshake-failed'/);
    const wrongPath = await bench(['latency', '--port', String(wss.port), '--ws', '--ws-path', '/other', '--tls', '--tls-ca', caFile, ...BRIEF]);
    expect(wrongPath.code).toBe(1);
    expect(wrongPath.stderr).toMatch(/\(ws over TLS\): the TLS handshake or WebSocket upgrade failed/);
  });

  it('soak --tls: Panda-framed TCP over TLS, mixed sizes, every echo back once, in order, intact', async () => {
    const { code, stdout, stderr, report } = await bench(['soak', '--port', String(tlsTcp.port), '--tls', '--tls-ca', caFile, ...BRIEF]);
    expect(code, stderr).toBe(0);
    const run = singleRun(report);
    expect(run.settings).toMatchObject({ transport: 'tcp', tls: { caFile, verify: true } });
    expect(run.throughput.receivedDatagrams).toBeGreaterThan(100);
    expect(run.integrity).toEqual({ lost: 0, duplicated: 0, reordered: 0, corrupted: 0 });
    expect(stdout).toContain(`(tcp, 2-byte header, TLS (CA ${caFile}))`);
  });

  it('--compare --ws runs ringwire-2 over WebSocket and the ws library server, each with its figures and ratios to ringwire-ws-2', async () => {
    const { code, stdout, stderr, report } = await bench(['latency', '--compare', '--ws', '--rate-per-connection', '200', ...BRIEF]);
    expect(code, stderr).toBe(0);
    if (report?.kind !== 'comparison') throw new Error('expected a comparison');
    const comparison = report.comparison;
    expect(comparison.baseline).toBe('ringwire-ws-2');
    expect(comparison.runs.map((run) => run.target)).toEqual(['ringwire-ws-2', 'ws']);
    for (const run of comparison.runs) {
      expect(run.settings.transport).toBe('ws');
      expect(run.throughput.receivedPerSecond).toBeGreaterThan(0);
      expect(run.latency!.p99Ms).toBeGreaterThan(0);
      expect(run.serverCpu?.perDatagramUs).toBeGreaterThan(0);
      expect(run.integrity).toEqual({ lost: 0, duplicated: 0, reordered: 0, corrupted: 0 });
    }
    expect(comparison.ratios['ringwire-ws-2']).toBe(1);
    expect(comparison.ratios.ws).toBeGreaterThan(0);
    expect(comparison.cpuRatios?.ws).toBeGreaterThan(0);
    expect(comparison.failures).toBeUndefined();
    expect(stdout).toContain('ratios to ringwire-ws-2');
    expect(stdout).toMatch(/^\s+ringwire-ws-2\s+[\d,]+\s+[\d,]+.*1\.00×/m);
    expect(stdout).toMatch(/^\s+ws\s+[\d,]+\s+[\d,]+.*×/m);
  });

  it.each([
    [['latency', '--tls-ca', '/dev/null'], /--tls-ca goes with --tls/],
    [['latency', '--insecure'], /--insecure goes with --tls/],
    [['latency', '--tls', '--tls-ca', '/no/such/ca.pem'], /--tls-ca \/no\/such\/ca\.pem: ENOENT/],
    [['latency', '--tls', '--tls-ca', '/dev/null', '--insecure'], /give one of them/],
    [['latency', '--tls', '--udp'], /--udp has none/],
    [['latency', '--ws-path', '/x'], /--ws-path goes with --ws/],
    [['latency', '--ws', '--ws-path', 'x'], /--ws-path must start with \//],
    [['latency', '--compare', '--tls'], /no certificate/],
    [['latency', '--ws', '--targets', 'ringwire-2'], /--ws runs against WebSocket servers .*--targets names ringwire-2/],
  ])('refuses %j with exit code 2', async (args, message) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });
});

describe('scenario bots over WebSocket and TLS', () => {
  const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

  async function scenario(file: string, args: string[]): Promise<{ code: number | null; stdout: string; report: ScenarioReport }> {
    const json = join(tmp, `scenario-${++files}.json`);
    const result = await runCli(['run', fixture(file), '--port', String(wss.port), '--quiet', '--json', json, ...args], 60_000);
    try {
      return { code: result.code, stdout: result.stdout, report: JSON.parse(readFileSync(json, 'utf8')) as ScenarioReport };
    } catch {
      throw new Error(`no report (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
    }
  }

  it("b.connect({ websocket: { path }, tls: true }): wss:// with the run's trust (--tls-ca); every echo the bot's own", async () => {
    const { code, stdout, report } = await scenario('wss-bots.ts', ['--tls-ca', caFile]);
    expect(code, stdout).toBe(0);
    const { counters, checks } = report.summary;
    expect(counters.bots_connected.count).toBe(4);
    expect(counters.datagrams_sent.count).toBeGreaterThan(4 * 20);
    expect(counters.echoes.count).toBe(counters.datagrams_sent.count);
    expect(checks['echo is mine'].rate).toBe(1);
    expect(counters.errors.count).toBe(0);
  });

  it("b.connect() takes the run's --ws --ws-path --tls --tls-ca; without the CA each bot is an error that says why", async () => {
    const transport = ['--ws', '--ws-path', '/echo', '--tls'];
    const trusted = await scenario('echo-check.ts', [...transport, '--tls-ca', caFile]);
    expect(trusted.code, trusted.stdout).toBe(0);
    const { counters } = trusted.report.summary;
    expect(counters.echoes.count).toBeGreaterThan(4 * 20);
    expect(counters.echoes.count).toBe(counters.datagrams_sent.count);

    const untrusted = await scenario('echo-check.ts', transport);
    expect(untrusted.code).toBe(99); // errors: count == 0 fails
    // Each bot fails and is replaced (4 are held for the run): every one started fails so.
    const failed = untrusted.report.summary.counters.errors.count;
    expect(failed).toBeGreaterThanOrEqual(4);
    expect(failed).toBeLessThanOrEqual(untrusted.report.summary.counters.bots_started.count);
    expect(untrusted.report.summary.counters.datagrams_received.count).toBe(0);
    expect(Object.keys(untrusted.report.errors)).toHaveLength(1);
    const [message, count] = Object.entries(untrusted.report.errors)[0];
    expect(count).toBe(failed);
    expect(message).toMatch(/^HandshakeError: the TLS handshake or WebSocket upgrade with wss:\/\/127\.0\.0\.1:\d+\/echo failed .*--tls-ca FILE/);
    expect(untrusted.stdout).toContain('HandshakeError');
  });
});

describe('a handshake that never ends', () => {
  it("is bounded by the bot's timeoutMs: reset 'handshake-failed', counted in errors as a failed connect", async () => {
    // A server that takes the connection and never answers the upgrade request.
    const held: net.Socket[] = [];
    const silent = net.createServer((socket) => {
      socket.on('error', () => {});
      held.push(socket);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as net.AddressInfo).port;
    const closes: { reason: string | null; afterMs: number }[] = [];
    const scenario = defineScenario({
      async bot(b) {
        await b.connect({ websocket: true, timeoutMs: 300 });
        const connectedAt = b.now();
        b.onClose((reason) => closes.push({ reason, afterMs: b.now() - connectedAt }));
      },
    });
    try {
      const result = await new ScenarioGenerator(scenario as Scenario<unknown, Record<string, unknown>>, {
        index: 0,
        count: 1,
        host: '127.0.0.1',
        port,
        headerSize: 2,
        clientShards: 1,
        bots: 0,
        durationSeconds: 1.5,
        stages: null,
        arrivalRate: 100,
        arrivals: 1,
        maxBots: 1,
        gracefulStopSeconds: 0,
        warmupSeconds: 0,
      }).run();
      expect(closes).toHaveLength(1);
      expect(closes[0].reason).toBe('handshake-failed');
      // Its own 300 ms, not ringwire's default of 10 s (scheduling slack aside).
      expect(closes[0].afterMs).toBeGreaterThanOrEqual(250);
      expect(closes[0].afterMs).toBeLessThan(1200);
      expect((result.total as MetricSet).counters.get('errors')).toBe(1);
      expect((result.total as MetricSet).counters.get('disconnects') ?? 0).toBe(0);
      expect(Object.keys(result.errors)).toEqual([
        `HandshakeError: the WebSocket upgrade with ws://127.0.0.1:${port}/ failed (the stream was reset 'handshake-failed')`,
      ]);
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
