/**
 * How far two cores carry: the relay as 1 process against 2 processes behind one port
 * (`npm start -- --processes 2`, SO_REUSEPORT), each process in single-thread mode so that
 * a process is one core's worth of work, driven by the harness (bench/harness/dist/cli.js).
 *
 *   npm run bench:processes -- [--connections 1000,2000] [--duration 10s] [--json FILE]
 *
 * Workloads, each against 1 then 2 processes, in one run so the ratio is same-run:
 * - latency: every connection sends 60 datagrams/s (game traffic); p50/p99 round trip;
 * - throughput: 64 connections send as fast as the server echoes; echoes/s.
 * The harness's client runs on the same two cores (with 1 client shard), so 2 processes
 * do not get two cores to themselves: the ratio is what this machine can show.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

const ROOT = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '1000,2000' },
    duration: { type: 'string', default: '10s' },
    json: { type: 'string' },
  },
});
const connectionCounts = values.connections.split(',').map(Number);

interface Relay {
  child: ChildProcess;
  port: number;
  stop(): Promise<void>;
}

/** Starts the relay with `processes` processes on a port it picks; resolves once all are ready. */
async function startRelay(processes: number): Promise<Relay> {
  const args = ['--import', 'tsx', 'examples/relay-server.ts', '--host', '127.0.0.1', '--port', '0', '--shards', '0'];
  args.push(...(processes > 1 ? ['--processes', String(processes)] : ['--reuse-port', 'yes']));
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  let ready = 0;
  let port = 0;
  await new Promise<void>((done, fail) => {
    const timer = setTimeout(() => fail(new Error('the relay did not start within 30 s')), 30_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /ringwire relay on 127\.0\.0\.1:(\d+) /.exec(line);
      if (match === null) return;
      port = Number(match[1]);
      if (++ready === processes) {
        clearTimeout(timer);
        done();
      }
    });
  });
  return {
    child,
    port,
    async stop() {
      child.kill('SIGINT');
      await exited;
    },
  };
}

interface Row {
  workload: string;
  connections: number;
  processes: number;
  echoedPerSecond: number;
  p50Ms: number | null;
  p99Ms: number | null;
  serverCores: number | null;
}

const scratch = mkdtempSync(join(tmpdir(), 'ringwire-processes-'));

/** Runs the harness against `port`; returns its report's run. */
function harness(workload: string, port: number, connections: number): Promise<Row> {
  const out = join(scratch, `${workload}-${port}-${connections}.json`);
  const args = ['bench/harness/dist/cli.js', workload, '--port', String(port), '-c', String(connections), '-d', values.duration, '--warmup', '2s'];
  args.push('--client-shards', '1', '--quiet', '--json', out);
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    child.once('exit', (code) => {
      if (code !== 0) return fail(new Error(`the harness exited with ${code}`));
      const report = JSON.parse(readFileSync(out, 'utf8')) as {
        run: { throughput: { receivedPerSecond: number }; latency: { p50Ms: number | null; p99Ms: number | null } | null };
      };
      done({
        workload,
        connections,
        processes: 0,
        echoedPerSecond: report.run.throughput.receivedPerSecond,
        p50Ms: report.run.latency?.p50Ms ?? null,
        p99Ms: report.run.latency?.p99Ms ?? null,
        serverCores: null,
      });
    });
  });
}

const rows: Row[] = [];
const plan: [string, number][] = [...connectionCounts.map((c) => ['latency', c] as [string, number]), ['throughput', 64]];
for (const [workload, connections] of plan) {
  for (const processes of [1, 2]) {
    const relay = await startRelay(processes);
    try {
      const row = await harness(workload, relay.port, connections);
      row.processes = processes;
      rows.push(row);
      console.log(
        `${workload.padEnd(10)} ${String(connections).padStart(5)} conns  ${processes} process${processes === 1 ? ' ' : 'es'}  ` +
          `echoed ${Math.round(row.echoedPerSecond).toLocaleString('en-US').padStart(9)}/s` +
          (row.p99Ms === null ? '' : `  p50 ${row.p50Ms!.toFixed(2)} ms  p99 ${row.p99Ms.toFixed(2)} ms`),
      );
    } finally {
      await relay.stop();
    }
  }
  const [one, two] = rows.slice(-2);
  const ratio = workload === 'throughput' ? two.echoedPerSecond / one.echoedPerSecond : one.p99Ms! / two.p99Ms!;
  console.log(`  2 processes / 1: ${workload === 'throughput' ? 'echoes' : 'p99 (1 over 2: above 1 is better)'} ${ratio.toFixed(2)}×`);
}
if (values.json !== undefined) writeFileSync(values.json, JSON.stringify({ command: process.argv.slice(2), rows }, null, 2));
rmSync(scratch, { recursive: true, force: true });
