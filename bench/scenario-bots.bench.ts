/**
 * How many bots one ringwire-bench generator drives: bots at 20 Hz × 64 B against a
 * ringwire echo server (2 shards, its own process), ramped until the generator's
 * scheduling lag p99 passes 1 ms; beside the same bots written by hand on plain node:net
 * (bench/fixtures/plain-bots.ts), and the harness with --processes 2. Each run is measured
 * after a 2 s warm-up for `--duration`. The comparison is the lag at each load: both loops
 * turn the event loop rather than sleep when a call is due within a millisecond or two (a
 * sleep on this VM oversleeps by up to a millisecond), so at 20 Hz × hundreds of bots both
 * keep a core busy whatever they send, and the CPU time of the generator (read with the
 * shell's `time`, children included, shown for the record) cannot price a send.
 *
 *   npm run bench:bots -- [--bots 250,500,1000,2000,4000] [--duration 5s] [--json FILE]
 *
 * Both generators and the server share this machine's cores: the figures are what one
 * machine shows, not what a generator alone could do.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startTarget } from './harness/targets.js';

const ROOT = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    bots: { type: 'string', default: '250,500,1000,2000,4000' },
    duration: { type: 'string', default: '5' },
    json: { type: 'string' },
  },
});
const botCounts = values.bots.split(',').map(Number);
const duration = Number.parseFloat(values.duration);
const WARMUP = 2;
const HZ = 20;
const tmp = mkdtempSync(join(tmpdir(), 'ringwire-bots-bench-'));

interface Measure {
  bots: number;
  lagP99Ms: number;
  cpuSeconds: number;
  sent: number;
}

/** Runs `command` under bash's `time`; returns its stdout and its CPU seconds (user + sys, children included). */
function timed(command: string): { stdout: string; cpu: number } {
  const result = spawnSync('bash', ['-c', `TIMEFORMAT='%U %S'; time (${command})`], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const times = /(\d+\.\d+) (\d+\.\d+)\s*$/.exec(result.stderr);
  if (result.status !== 0 || times === null) throw new Error(`${command} failed (${result.status}):\n${result.stderr.slice(-2000)}`);
  return { stdout: result.stdout, cpu: Number(times[1]) + Number(times[2]) };
}

function harness(port: number, bots: number, processes: number): Measure {
  const json = join(tmp, `h-${bots}-${processes}.json`);
  const { cpu } = timed(
    `node bench/harness/dist/cli.js run bench/fixtures/bots-20hz.ts --port ${port} -c ${bots} -d ${duration}s --warmup ${WARMUP}s --processes ${processes} --quiet --json ${json} > /dev/null`,
  );
  const report = JSON.parse(readFileSync(json, 'utf8')) as {
    summary: { trends: Record<string, { p99: number | null }>; counters: Record<string, { count: number }> };
  };
  return { bots, lagP99Ms: report.summary.trends.schedule_lag.p99 ?? Number.NaN, cpuSeconds: cpu, sent: report.summary.counters.datagrams_sent.count };
}

function plain(port: number, bots: number): Measure {
  const { stdout, cpu } = timed(`node --import tsx bench/fixtures/plain-bots.ts ${port} ${bots} ${WARMUP} ${duration}`);
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as { sent: number; lagP99Ms: number };
  return { bots, lagP99Ms: result.lagP99Ms, cpuSeconds: cpu, sent: result.sent };
}

const target = await startTarget('ringwire-2', { headerSize: 2 });
const rows: { bots: number; harness: Measure; harness2: Measure; plain: Measure }[] = [];
try {
  for (const bots of botCounts) {
    const h = harness(target.port, bots, 1);
    const h2 = harness(target.port, bots, 2);
    const p = plain(target.port, bots);
    const row = { bots, harness: h, harness2: h2, plain: p };
    rows.push(row);
    process.stderr.write(`${bots} bots: harness lag p99 ${h.lagP99Ms.toFixed(2)} ms, ×2 ${h2.lagP99Ms.toFixed(2)} ms, plain ${p.lagP99Ms.toFixed(2)} ms\n`);
  }
} finally {
  await target.stop();
  rmSync(tmp, { recursive: true, force: true });
}

const fmt = (n: number, digits = 2): string => (Number.isFinite(n) ? n.toFixed(digits) : '–');
const header = ['bots', 'datagrams/s', 'harness lag p99 ms', '--processes 2 lag p99 ms', 'plain node:net lag p99 ms', 'harness CPU s', 'plain CPU s'];
const lines = rows.map((r) => [String(r.bots), String(r.bots * HZ), fmt(r.harness.lagP99Ms), fmt(r.harness2.lagP99Ms), fmt(r.plain.lagP99Ms), fmt(r.harness.cpuSeconds, 1), fmt(r.plain.cpuSeconds, 1)]);
const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
process.stdout.write(`${[header, ...lines].map((l) => l.map((c, i) => c.padStart(widths[i])).join('  ')).join('\n')}\n`);
const most = (limitMs: number, pick: (r: (typeof rows)[number]) => number): string => {
  const ok = rows.filter((r) => pick(r) < limitMs);
  return ok.length === 0 ? `none of ${botCounts.join(', ')}` : String(Math.max(...ok.map((r) => r.bots)));
};
for (const limit of [1, 10]) {
  process.stdout.write(
    `most bots with scheduling lag p99 under ${limit} ms: harness ${most(limit, (r) => r.harness.lagP99Ms)}, --processes 2 ${most(limit, (r) => r.harness2.lagP99Ms)}, plain node:net ${most(limit, (r) => r.plain.lagP99Ms)}\n`,
  );
}
if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify({ duration, warmup: WARMUP, hz: HZ, rows }, null, 2)}\n`);
