/**
 * How many players the arena holds (#23 point 4): bots of bench/harness/scenarios/arena-bots.ts
 * (join, inputs at 30 Hz, snapshots at 20 Hz) ramped against the ringwire server (2 worker
 * shards) and against its plain node:net twin, in one run, until the server misses its tick
 * (under 59 ticks/s), input_to_state p99 passes 100 ms, or a bot fails.
 *
 *   npm run bench:arena -- [--servers ringwire,plain] [--bots 100,200,400,...] [--duration 10]
 *       [--warmup 3] [--bot-processes 1] [--shards 2] [--json FILE]
 *
 * For each load: one server process per target for the whole ramp (`--stats-json yes`: each
 * second's tick count and every tick's duration), the harness with `--processes N` as its
 * own process tree. Over the measured seconds (all bots joined, the harness past its warm-up):
 *   ticks/s         steps per second the server ran (60 is the aim; skipped steps are missed ticks)
 *   tick p99        p99 of one step's duration: polling the network, stepping every room, the snapshots
 *                   (the plain twin's steps do not read sockets: Node's event loop does that between
 *                   them, so compare the main-thread CPU, which counts both)
 *   main µs/pt      the server's main-thread CPU (/proc/PID/task/PID/stat) per player-tick
 *   proc µs/p·s     the server process's CPU (every thread) per player per second
 *   bots cores      the harness's CPU (its processes, with `time`) over the run, in cores:
 *                   near --bot-processes means the bots themselves are a limit on this machine
 *   input_to_state and snapshot_gap p99 from the bots
 * "held" means ticks/s >= 59, input_to_state p99 <= 100 ms, every bot joined, no errors.
 * The ramp of a target stops at the first load it does not hold; the table says what limited it.
 *
 * Everything shares this machine's cores: the figures are what one machine shows.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

const ROOT = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    servers: { type: 'string', default: 'ringwire,plain' },
    bots: { type: 'string', default: '100,200,400,600,800,1000,1200,1500,2000,2500,3000' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    'bot-processes': { type: 'string', default: '1' },
    shards: { type: 'string', default: '2' },
    json: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0].replace(/^\/\*\*?|^ \* ?/gm, ''));
  process.exit(0);
}
const servers = values.servers.split(',') as ('ringwire' | 'plain')[];
const levels = values.bots.split(',').map(Number);
const duration = Number(values.duration);
const warmup = Number(values.warmup);
const botProcesses = Number(values['bot-processes']);
const TICK_AIM = 59;
const INPUT_P99_LIMIT_MS = 100;
const CLK_TCK = 100; // USER_HZ on Linux
const tmp = mkdtempSync(join(tmpdir(), 'ringwire-arena-bench-'));

/** user + system CPU seconds of a /proc stat file (process or thread). */
function cpuSeconds(path: string): number {
  try {
    const stat = readFileSync(path, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}

interface StatsLine {
  at: number;
  players: number;
  seconds: number;
  ticks: number;
  skipped: number;
  tickUs: number[];
  mainCpu: number;
  procCpu: number;
}

interface Server {
  child: ChildProcess;
  port: number;
  lines: StatsLine[];
  stop(): Promise<void>;
}

async function startServer(kind: 'ringwire' | 'plain'): Promise<Server> {
  const file = kind === 'ringwire' ? 'examples/arena/arena-ringwire-server.ts' : 'examples/arena/arena-plain-server.ts';
  const extra = kind === 'ringwire' ? ['--shards', values.shards] : [];
  const child = spawn(process.execPath, ['--import', 'tsx', file, '--host', '127.0.0.1', '--port', '0', '--stats-json', 'yes', ...extra], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const pid = child.pid!;
  const lines: StatsLine[] = [];
  const port = await new Promise<number>((resolvePort, reject) => {
    child.once('exit', (code) => reject(new Error(`the ${kind} arena exited (${code}) before it listened`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const ready = /^arena server \(.* on [^)]+:(\d+)\) pid \d+$/.exec(line);
      if (ready !== null) resolvePort(Number(ready[1]));
      if (!line.startsWith('stats-json ')) return;
      const s = JSON.parse(line.slice('stats-json '.length)) as Omit<StatsLine, 'at' | 'mainCpu' | 'procCpu'>;
      lines.push({ ...s, at: performance.now(), mainCpu: cpuSeconds(`/proc/${pid}/task/${pid}/stat`), procCpu: cpuSeconds(`/proc/${pid}/stat`) });
    });
  });
  return {
    child,
    port,
    lines,
    async stop() {
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

interface BotsResult {
  startedAt: number;
  endedAt: number;
  code: number | null;
  cpuSeconds: number;
  summary: {
    trends: Record<string, { p50: number | null; p99: number | null; count: number }>;
    counters: Record<string, { count: number; perSecond: number }>;
  };
}

/** Runs the bots under bash's `time` (children included), without blocking this process's event loop. */
function runBots(port: number, bots: number): Promise<BotsResult> {
  const json = join(tmp, `bots-${port}-${bots}.json`);
  const command =
    `node bench/harness/dist/cli.js run bench/harness/scenarios/arena-bots.ts --port ${port} -c ${bots} -d ${duration}s ` +
    `--warmup ${warmup}s --processes ${botProcesses} --quiet --json ${json} > /dev/null`;
  const startedAt = performance.now();
  const child = spawn('bash', ['-c', `TIMEFORMAT='%U %S'; time (${command})`], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolveRun, reject) => {
    child.once('exit', (code) => {
      const times = /(\d+\.\d+) (\d+\.\d+)\s*$/.exec(stderr);
      try {
        const report = JSON.parse(readFileSync(json, 'utf8')) as { summary: BotsResult['summary'] };
        resolveRun({ startedAt, endedAt: performance.now(), code, cpuSeconds: times === null ? Number.NaN : Number(times[1]) + Number(times[2]), summary: report.summary });
      } catch (error) {
        reject(new Error(`the bots' run failed (${code}): ${String(error)}\n${stderr.slice(-2000)}`));
      }
    });
  });
}

interface Row {
  server: string;
  bots: number;
  players: number;
  ticksPerSecond: number;
  skipped: number;
  tickP99Ms: number;
  mainUsPerPlayerTick: number;
  procUsPerPlayerSecond: number;
  botsCores: number;
  inputP99Ms: number;
  gapP99Ms: number;
  errors: number;
  held: boolean;
  limit: string;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function waitForEmpty(server: Server): Promise<void> {
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline) {
    const last = server.lines.at(-1);
    if (last !== undefined && last.players === 0 && last.at > performance.now() - 1500) return;
    await new Promise((done) => server.child.stdout!.once('data', done));
  }
  throw new Error('the arena still had players 30 s after the bots ended');
}

async function measure(kind: 'ringwire' | 'plain', server: Server, bots: number): Promise<Row> {
  const first = server.lines.length;
  const run = await runBots(server.port, bots);
  // The measured seconds: the bots all in, the harness past its warm-up, its run not over.
  const full = server.lines.slice(first).filter((l) => l.players >= bots && l.at <= run.endedAt);
  const window = full.slice(Math.min(warmup, Math.max(0, full.length - 2)));
  const seconds = window.reduce((n, l) => n + l.seconds, 0);
  const ticks = window.reduce((n, l) => n + l.ticks, 0);
  const playerTicks = window.reduce((n, l) => n + l.ticks * l.players, 0);
  const players = window.length === 0 ? 0 : Math.min(...window.map((l) => l.players));
  const before = server.lines[server.lines.indexOf(window[0]) - 1] ?? window[0];
  const last = window.at(-1);
  const mainCpu = last === undefined || before === undefined ? Number.NaN : last.mainCpu - before.mainCpu;
  const procCpu = last === undefined || before === undefined ? Number.NaN : last.procCpu - before.procCpu;
  const tickUs = window.flatMap((l) => l.tickUs).sort((a, b) => a - b);
  const trends = run.summary.trends;
  const errors = run.summary.counters.errors?.count ?? 0;
  const inputP99 = trends.input_to_state?.p99 ?? Number.NaN;
  const ticksPerSecond = seconds > 0 ? ticks / seconds : 0;
  const limits: string[] = [];
  if (window.length === 0) limits.push(`not all ${bots} bots joined`);
  if (ticksPerSecond < TICK_AIM) limits.push(`ticks/s ${ticksPerSecond.toFixed(1)} < ${TICK_AIM}`);
  if (!(inputP99 <= INPUT_P99_LIMIT_MS)) limits.push(`input_to_state p99 ${inputP99.toFixed(0)} ms > ${INPUT_P99_LIMIT_MS}`);
  if (errors > 0) limits.push(`${errors} bot errors`);
  const botsCores = run.cpuSeconds / ((run.endedAt - run.startedAt) / 1000);
  return {
    server: kind === 'ringwire' ? `ringwire-${values.shards}` : 'plain',
    bots,
    players,
    ticksPerSecond,
    skipped: window.reduce((n, l) => n + l.skipped, 0),
    tickP99Ms: percentile(tickUs, 99) / 1000,
    mainUsPerPlayerTick: (mainCpu * 1e6) / playerTicks,
    procUsPerPlayerSecond: (procCpu * 1e6) / seconds / players,
    botsCores,
    inputP99Ms: inputP99,
    gapP99Ms: trends.snapshot_gap?.p99 ?? Number.NaN,
    errors,
    held: limits.length === 0,
    limit: limits.join('; '),
  };
}

const rows: Row[] = [];
const fmt = (n: number, digits = 2): string => (Number.isFinite(n) ? n.toFixed(digits) : '–');
try {
  for (const kind of servers) {
    const server = await startServer(kind);
    try {
      for (const bots of levels) {
        const row = await measure(kind, server, bots);
        rows.push(row);
        process.stderr.write(
          `${row.server} ${bots} bots: ${fmt(row.ticksPerSecond, 1)} ticks/s, tick p99 ${fmt(row.tickP99Ms)} ms, input_to_state p99 ${fmt(row.inputP99Ms, 1)} ms, bots ${fmt(row.botsCores)} cores${row.held ? '' : ` — not held: ${row.limit}`}\n`,
        );
        if (!row.held) break;
        await waitForEmpty(server);
      }
    } finally {
      await server.stop();
    }
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

const header = ['server', 'bots', 'ticks/s', 'skipped', 'tick p99 ms', 'main µs/player-tick', 'proc µs/player/s', 'input_to_state p99 ms', 'snapshot_gap p99 ms', 'bots cores', 'held', 'limit'];
const lines = rows.map((r) => [
  r.server,
  String(r.bots),
  fmt(r.ticksPerSecond, 1),
  String(r.skipped),
  fmt(r.tickP99Ms),
  fmt(r.mainUsPerPlayerTick, 3),
  fmt(r.procUsPerPlayerSecond, 0),
  fmt(r.inputP99Ms, 1),
  fmt(r.gapP99Ms, 1),
  fmt(r.botsCores),
  r.held ? 'yes' : 'no',
  r.limit,
]);
const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
process.stdout.write(`${[header, ...lines].map((l) => l.map((c, i) => (i === l.length - 1 ? c : c.padStart(widths[i]))).join('  ')).join('\n')}\n\n`);
const summary: Record<string, { most: number; limit: string }> = {};
for (const kind of new Set(rows.map((r) => r.server))) {
  const mine = rows.filter((r) => r.server === kind);
  const held = mine.filter((r) => r.held);
  const stop = mine.find((r) => !r.held);
  const most = held.length === 0 ? 0 : Math.max(...held.map((r) => r.bots));
  const limit = stop === undefined ? `none up to ${mine.at(-1)?.bots} bots (raise --bots)` : `${stop.bots} bots: ${stop.limit}`;
  const botsBound = stop !== undefined && stop.botsCores >= 0.85 * botProcesses ? ` (the bots used ${fmt(stop.botsCores)} cores: they may be the limit; try --bot-processes ${botProcesses + 1})` : '';
  summary[kind] = { most, limit };
  process.stdout.write(`${kind}: most players held ${most}; limited at ${limit}${botsBound}\n`);
}
const ringwireMost = rows.some((r) => r.server.startsWith('ringwire')) ? summary[`ringwire-${values.shards}`]?.most : undefined;
const limited = (kind: string): boolean => rows.some((r) => r.server === kind && !r.held);
if (ringwireMost !== undefined && summary.plain !== undefined && summary.plain.most > 0) {
  const ratio = `${(ringwireMost / summary.plain.most).toFixed(2)}×`;
  // A target that held every load has not shown its limit: its ratio is a lower bound, or says nothing.
  const note = !limited('plain') ? ' (plain held every load: raise --bots)' : !limited(`ringwire-${values.shards}`) ? ' or more (ringwire held every load)' : '';
  process.stdout.write(`ringwire / plain: ${ratio} the players${note} (aim: 3×)\n`);
}
if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify({ duration, warmup, botProcesses, levels, rows, summary }, null, 2)}\n`);
