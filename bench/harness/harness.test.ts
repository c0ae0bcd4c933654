/**
 * The harness checks itself: each workload runs briefly against a local ringwire server
 * (reports well formed, nothing lost), the soak workload catches a deliberately faulty
 * server, and the command line writes its JSON report and refuses bad flags. Runs the
 * compiled servers and ringwire's dist/: `npm run build` first.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { HarnessReport } from './report.js';
import { briefSettings, expectIntact, expectLatency, expectRunShape, runAgainst, runCli, withTarget } from './test-helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'ringwire-bench-test-'));

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('workloads against ringwire with 2 shards', () => {
  it('throughput: sends and receives, every echo intact', async () => {
    const settings = briefSettings('throughput', { payloadMin: 64, payloadMax: 256 });
    const report = await runAgainst('ringwire-2', settings);
    expectRunShape(report, settings);
    expectLatency(report);
    expectIntact(report);
    expect(report.connections).toBeNull();
    expect(report.targetKind).toBe('ringwire-2');
    // Received counts the echoes of the window's sends, wherever they arrived: never more.
    expect(report.throughput.receivedDatagrams).toBe(report.throughput.sentDatagrams);
  });

  it('throughput in raw mode (header size 0): counts bytes, no boundaries to check', async () => {
    const settings = briefSettings('throughput', { headerSize: 0, payloadMin: 100, payloadMax: 100 });
    const report = await runAgainst('ringwire-2', settings);
    expectRunShape(report, settings);
    expect(report.latency).toBeNull();
    expect(report.integrity).toBeNull();
  });

  it('latency: paced round trips timed into the histogram, nothing lost', async () => {
    const settings = briefSettings('latency', { connections: 8, ratePerConnection: 100 });
    const report = await runAgainst('ringwire-2', settings);
    expectRunShape(report, settings);
    expectLatency(report);
    expectIntact(report);
    // 8 × 100/s for 1 s: the schedule, not the server, sets the rate.
    expect(report.throughput.sentDatagrams).toBeGreaterThan(500);
    expect(report.throughput.sentDatagrams).toBeLessThan(2000);
    // Counts that add up: the window's datagrams, each echoed once and timed once.
    expect(report.throughput.receivedDatagrams).toBe(report.throughput.sentDatagrams);
    expect(report.latency!.count).toBe(report.throughput.sentDatagrams);
    // The harness started the server, so it read the server's CPU over the window.
    const cpu = report.serverCpu!;
    expect(cpu).not.toBeNull();
    expect(cpu.cpuSeconds).toBeGreaterThanOrEqual(0);
    expect(cpu.cores).toBeCloseTo(cpu.cpuSeconds / report.measuredSeconds, 6);
    expect(cpu.perDatagramUs).toBeCloseTo((cpu.cpuSeconds * 1e6) / report.throughput.receivedDatagrams, 6);
  });

  it('connections: opens, holds and heartbeats them; reads the server RSS', async () => {
    const settings = briefSettings('connections', { connections: 100, connectRate: 1000 });
    const report = await runAgainst('ringwire-2', settings);
    expectRunShape(report, settings);
    expectIntact(report);
    const c = report.connections!;
    expect(c.requested).toBe(100);
    expect(c.held).toBe(100);
    expect(c.acceptPerSecond).toBeGreaterThan(0);
    // The harness started the server, so it knows its pid (RSS may even shrink: any finite number).
    expect(c.serverBytesPerConnection).not.toBeNull();
    expect(Number.isFinite(c.serverBytesPerConnection)).toBe(true);
  });

  it('soak: mixed sizes, every echo back once, in order, intact', async () => {
    const settings = briefSettings('soak', { connections: 10, ratePerConnection: 100, payloadMin: 20, payloadMax: 2000 });
    const report = await runAgainst('ringwire-2', settings);
    expectRunShape(report, settings);
    expectLatency(report);
    expectIntact(report);
  });
});

describe('other targets', () => {
  it('soak catches the faulty server: lost, reordered and duplicated datagrams, and the counts still add up', async () => {
    // 30 × 100/s for 1.5 s ≈ 4500 datagrams: the server drops the 1000th, 2000th, …,
    // swaps the 1500th with the next of its connection, and echoes the 1700th twice.
    const settings = briefSettings('soak', { connections: 30, ratePerConnection: 100, durationSeconds: 1.5, payloadMin: 20, payloadMax: 200 });
    const report = await runAgainst('faulty', settings);
    expect(report.throughput.sentDatagrams).toBeGreaterThan(2000);
    const integrity = report.integrity!;
    expect(integrity.lost).toBeGreaterThan(0);
    expect(integrity.reordered).toBeGreaterThan(0);
    expect(integrity.duplicated).toBeGreaterThan(0);
    expect(integrity.corrupted).toBe(0);
    // A duplicate is neither a second echo nor a second round trip.
    expect(report.throughput.receivedDatagrams).toBeLessThanOrEqual(report.throughput.sentDatagrams);
    expect(report.throughput.receivedDatagrams).toBeLessThan(report.throughput.sentDatagrams); // some were lost
    expect(report.latency!.count).toBeLessThanOrEqual(report.throughput.receivedDatagrams);
    expect(integrity.lost).toBeLessThanOrEqual(report.totals!.sentDatagrams);
  });

  it('latency over WebSocket against the ws server', async () => {
    const settings = briefSettings('latency', { connections: 8, ratePerConnection: 100 });
    const report = await runAgainst('ws', settings);
    expect(report.settings.transport).toBe('ws');
    expectRunShape(report, settings);
    expectLatency(report);
    expectIntact(report);
  });
});

describe('the command line', () => {
  it('runs throughput against a server it is pointed at and writes the JSON report', async () => {
    const file = join(tmp, 'throughput.json');
    const result = await withTarget('ringwire-2', 2, (target) =>
      runCli([
        'throughput',
        '--port',
        String(target.port),
        '--duration',
        '1',
        '--warmup',
        '0',
        '--connections',
        '2',
        '--grace',
        '1',
        '--quiet',
        '--json',
        file,
      ]),
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('datagrams/s');
    expect(result.stdout).toContain('lost 0');
    const report = JSON.parse(readFileSync(file, 'utf8')) as HarnessReport;
    expect(report.kind).toBe('run');
    if (report.kind !== 'run') return;
    expect(report.node).toBe(process.version);
    // Every report names the versions, the machine and the command line.
    expect(report.environment).toMatchObject({ node: process.version, cpuCount: expect.any(Number), command: expect.arrayContaining(['throughput']) });
    expect(report.environment!.ringwire).toMatch(/^\d+\.\d+\.\d+/);
    expect(result.stdout).toMatch(/^ringwire \d+\.\d+\.\d+ · Node v\d+.* · ringwire-bench throughput --port/);
    expect(report.run.targetKind).toBe('external');
    expect(report.run.settings).toMatchObject({ workload: 'throughput', host: '127.0.0.1', connections: 2, durationSeconds: 1 });
    expect(report.run.throughput.receivedDatagrams).toBeGreaterThan(0);
    expect(report.run.integrity).toEqual({ lost: 0, duplicated: 0, reordered: 0, corrupted: 0 });
    // A server the harness did not start: its CPU is not known, and the table says so.
    expect(report.run.serverCpu).toBeNull();
    expect(result.stdout).toContain('unknown (the harness did not start the server)');
  });

  it('--compare runs each target in turn and writes the comparison with its ratios', async () => {
    const json = join(tmp, 'compare.json');
    const html = join(tmp, 'compare.html');
    const result = await runCli(
      // 4 × 500/s: enough work for the servers' CPU to span many 10 ms ticks.
      ['latency', '--compare', '--targets', 'ringwire-2,plain-net', '--duration', '1', '--warmup', '0', '--connections', '4', '--rate-per-connection', '500', '--grace', '1', '--quiet', '--json', json, '--html', html],
      45_000,
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/ringwire-2 .* 1\.00×/);
    expect(result.stdout).toContain('plain-net');
    const report = JSON.parse(readFileSync(json, 'utf8')) as HarnessReport;
    expect(report.kind).toBe('comparison');
    if (report.kind !== 'comparison') return;
    const comparison = report.comparison;
    expect(comparison.baseline).toBe('ringwire-2');
    expect(comparison.runs.map((run) => run.target)).toEqual(['ringwire-2', 'plain-net']);
    expect(comparison.ratios['ringwire-2']).toBe(1);
    expect(comparison.ratios['plain-net']).toBeGreaterThan(0);
    expect(comparison.p99Ratios?.['ringwire-2']).toBe(1);
    // Every target's server CPU per datagram, beside its latency, and its ratio.
    expect(result.stdout).toContain('server µs/dg');
    for (const run of comparison.runs) expect(run.serverCpu?.cpuSeconds).toBeGreaterThanOrEqual(0);
    expect(comparison.cpuRatios?.['ringwire-2']).toBe(1);
    expect(comparison.failures).toBeUndefined();
    expect(readFileSync(html, 'utf8')).toMatch(/^<!doctype html>/i);
  });

  it.each([
    [['latency', '--header-size', '0'], /raw mode/],
    [['throughput', '--payload', '10'], /--payload must be at least 20/],
    [['throughput', '--payload', '100-50'], /--payload/],
    [['throughput', '--payload', '70000'], /2-byte length header/],
    [['throughput', '--connections', '0'], /--connections must be an integer/],
    [['throughput', '--duration', '-1'], /--duration/],
    [['throughput', '--header-size', '3'], /--header-size must be 0, 2 or 4/],
    [['throughput', '--targets', 'nginx'], /unknown target "nginx"/],
    [['throughput', '--targets', 'ringwire-0,ringwire-2'], /add --compare/],
    [['throughput', '--compare', '--host', '10.0.0.1'], /--host/],
    [['throughput', '--bogus'], /^ringwire-bench: unknown flag --bogus\n/],
    [['throughput', '--port'], /--port needs a value/],
    [['latency', '--duration', '10x'], /--duration must be a duration .*\(10, 10s, 1\.5m, 500ms\), got "10x"/],
    [['latency', '-R', '600', '--rate-per-connection', '6'], /give one of them/],
    [['sprint'], /unknown workload "sprint"/],
    [[], /name a workload/],
    [['throughput', '--json', '/no/such/dir/report.json'], /does not exist/],
  ])('refuses %j with exit code 2', async (args, message) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
  });

  it('takes wrk2-style short flags and durations with units: -c, -d 1s, -R (all connections together)', async () => {
    const file = join(tmp, 'short-flags.json');
    const result = await runCli(
      ['latency', '--targets', 'ringwire-0', '-c', '2', '-d', '1s', '-R', '40', '--warmup', '0ms', '--grace', '0.5m', '--quiet', '--json', file],
      45_000,
    );
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(readFileSync(file, 'utf8')) as HarnessReport;
    if (report.kind !== 'run') throw new Error('expected one run');
    expect(report.run.settings).toMatchObject({ connections: 2, durationSeconds: 1, warmupSeconds: 0, graceSeconds: 30, ratePerConnection: 20 });
  });

  it('--version prints the versions', async () => {
    const result = await runCli(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^ringwire-bench \d+\.\d+\.\d+ \(ringwire \d+\.\d+\.\d+, Node v\d+/);
  });

  it('--help prints the usage', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^usage: ringwire-bench <workload>/);
    for (const flag of ['--connections', '--payload', '--duration', '--warmup', '--rate', '--rate-per-connection', '--version', '--connect-rate', '--header-size', '--client-shards', '--ws', '--json', '--html', '--compare', '--targets', '--quiet']) {
      expect(result.stdout).toContain(flag);
    }
  });
});
