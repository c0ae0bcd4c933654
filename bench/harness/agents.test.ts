/**
 * `run FILE --nats URL --agents N` and `agent --nats URL`, as people run them: a real
 * nats-server, the relay example in broadcast mode, two agent processes (in a directory
 * without the scenario file: it reaches them over NATS) and the coordinator, all through
 * the compiled command. What the coordinator merges is checked against what each agent
 * says it measured; an agent killed mid-run is reported as vanished and its last figures
 * still count.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, decodeFromCompressedBase64 } from 'hdr-histogram-js';
import { afterEach, describe, expect, it } from 'vitest';
import { exitOf, killPrograms, startProgram } from '../../test/helpers/example-program.js';
import { startNats, stopNatsServers } from '../../test/helpers/nats-server.js';
import type { ScenarioReport } from './scenario/run-scenario.js';
import { RECEIVED_DIR } from './scenario/received-scenario.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = fileURLToPath(new URL('./dist/cli.js', import.meta.url));
const SCENARIO = 'examples/scenarios/relay-chat.ts';
const DEADLINE_MS = 15_000;

/** A process of the compiled command, with what it printed so far. */
interface CliProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves the first match of `pattern` in stdout + stderr; rejects at the deadline or when the process exits first. */
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
}

const started: CliProcess[] = [];
const scratch: string[] = [];

function startCli(args: string[], cwd = ROOT): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const listeners = new Set<() => void>();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const onData = (chunk: string): void => {
    text += chunk;
    for (const listener of [...listeners]) listener();
  };
  child.stdout!.setEncoding('utf8').on('data', onData);
  child.stderr!.setEncoding('utf8').on('data', onData);
  child.once('exit', () => {
    for (const listener of [...listeners]) listener();
  });
  const cli: CliProcess = {
    child,
    output: () => text,
    exited,
    waitFor(pattern, ms = DEADLINE_MS) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => finish(new Error(`${args[0]} did not print ${pattern} within ${ms} ms:\n${text}`)), ms);
        const finish = (error: Error | null, match?: RegExpMatchArray): void => {
          clearTimeout(timer);
          listeners.delete(check);
          if (error) reject(error);
          else resolve(match!);
        };
        const check = (): void => {
          const match = pattern.exec(text);
          if (match) finish(null, match);
          else if (child.exitCode !== null || child.signalCode !== null) finish(new Error(`${args[0]} exited before printing ${pattern}:\n${text}`));
        };
        listeners.add(check);
        check();
      });
    },
  };
  started.push(cli);
  return cli;
}

async function exitCode(cli: CliProcess, ms = DEADLINE_MS): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      cli.exited,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`did not exit within ${ms} ms:\n${cli.output()}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function tempDir(): string {
  const dir = mkdtempSync(join(os.tmpdir(), 'ringwire-agents-'));
  scratch.push(dir);
  return dir;
}

/** nats-server, the relay in broadcast mode, and two agents started in a directory of their own. */
async function startRig(): Promise<{ url: string; port: number; agents: [CliProcess, CliProcess] }> {
  const nats = await startNats();
  const url = `nats://127.0.0.1:${nats.port}`;
  const relay = startProgram('relay-server.ts', ['--host', '127.0.0.1', '--port', '0', '--mode', 'broadcast', '--shards', '0', '--duration', '60']);
  const away = tempDir();
  const agents: [CliProcess, CliProcess] = [startCli(['agent', '--nats', url, '--name', 'a'], away), startCli(['agent', '--nats', url, '--name', 'b'], away)];
  const [match] = await Promise.all([relay.waitForLine(/ringwire relay on 127\.0\.0\.1:(\d+) /, 20_000), ...agents.map((agent) => agent.waitFor(/waiting for runs/))]);
  return { url, port: Number(match[1]), agents };
}

/** What an agent's log says it measured in its run. */
async function ownFigures(agent: CliProcess): Promise<{ bots: number; sent: number; received: number; errors: number }> {
  const m = await agent.waitFor(/: (?:done|ended early): [\d.]+ s, (\d+) bots, (\d+) datagrams sent, (\d+) received, (\d+) errors/);
  return { bots: Number(m[1]), sent: Number(m[2]), received: Number(m[3]), errors: Number(m[4]) };
}

/** The histograms of `name` in every generator's snapshot, added up independently of the harness's merge. */
function addedHistogram(report: ScenarioReport, name: string) {
  const histograms = report.metrics.map((metrics) => decodeFromCompressedBase64(metrics.trends[name], 32, false));
  const sum = build({ bitBucketSize: 32, autoResize: true, numberOfSignificantValueDigits: 3 });
  for (const histogram of histograms) sum.add(histogram);
  return { sum, counts: histograms.map((h) => h.totalCount) };
}

/**
 * The scenario's checks and error count pass, and the exit status says what the thresholds
 * say (its latency thresholds are the example's own: a machine busy with other work may
 * miss them, and then the status must be 99).
 */
function expectChecksPass(report: ScenarioReport, code: number | null): void {
  expect(report.summary.checks.checks.rate).toBe(1);
  for (const metric of ['checks', 'errors']) expect(report.thresholds.filter((result) => result.metric === metric && !result.ok)).toEqual([]);
  expect(code).toBe(report.thresholds.every((result) => result.ok) ? 0 : 99);
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

afterEach(async () => {
  for (const cli of started.splice(0)) {
    if (cli.child.exitCode === null && cli.child.signalCode === null) {
      cli.child.kill('SIGKILL');
      await cli.exited;
    }
  }
  await killPrograms();
  await stopNatsServers();
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('agents over NATS', () => {
  it('two agents share the bots, start together, and the coordinator merges exactly what each measured', async () => {
    const { url, port, agents } = await startRig();
    const json = join(tempDir(), 'report.json');
    const coordinator = startCli(['run', SCENARIO, '--port', String(port), '-c', '6', '-d', '3s', '--nats', url, '--agents', '2', '--agents-timeout', '10s', '--json', json]);
    const code = await exitCode(coordinator);
    expect(coordinator.output()).toMatch(/2 agents: a, b; starting in 1.5 s/);

    const report = JSON.parse(readFileSync(json, 'utf8')) as ScenarioReport;
    expect(report.generators).toBe(2);
    expect(report.vanished).toEqual([]);
    expectChecksPass(report, code);

    // Each agent took its share (3 bots) and says what it measured; the merge is their sum.
    const own = await Promise.all(agents.map(ownFigures));
    expect(own.map((figures) => figures.bots)).toEqual([3, 3]);
    const counters = report.summary.counters;
    expect(counters.datagrams_sent.count).toBe(own[0].sent + own[1].sent);
    expect(counters.datagrams_received.count).toBe(own[0].received + own[1].received);
    expect(counters.bots_started.count).toBe(6);
    expect(counters.errors.count).toBe(0);
    expect(own.every((figures) => figures.sent > 0 && figures.received > 0)).toBe(true);
    const bySent = (list: { sent: number }[]) => list.map((x) => x.sent).sort((x, y) => x - y);
    expect(bySent(report.metrics.map((m) => ({ sent: m.counters.datagrams_sent })))).toEqual(bySent(own));

    // Histograms merged exactly: the merged trend is every agent's samples added together.
    const { sum, counts } = addedHistogram(report, 'own_line_ms');
    expect(counts.every((count) => count > 0)).toBe(true);
    expect(report.summary.trends.own_line_ms.count).toBe(sum.totalCount);
    expect(report.summary.trends.own_line_ms.p99).toBe(sum.getValueAtPercentile(99) / 1000);

    // Ctrl-C stops an idle agent, and a finished run leaves no received scenario behind.
    const runId = /run ([0-9a-f]{16}): claimed/.exec(agents[0].output())![1];
    for (const agent of agents) agent.child.kill('SIGINT');
    expect(await Promise.all(agents.map((agent) => exitCode(agent)))).toEqual([0, 0]);
    expect(readdirSync(RECEIVED_DIR).filter((name) => name.startsWith(runId))).toEqual([]);
  });

  it('an agent killed mid-run is reported as vanished; the run ends with what the other measured and its last tick', async () => {
    const { url, port, agents } = await startRig();
    const json = join(tempDir(), 'report.json');
    const coordinator = startCli(['run', SCENARIO, '--port', String(port), '-c', '6', '-d', '5s', '--nats', url, '--agents', '2', '--json', json]);
    // Both agents' ticks have come in for two seconds: b dies with figures on record.
    await coordinator.waitFor(/^[3-9]s\s+bots 6 /m);
    agents[1].child.kill('SIGKILL');
    const code = await exitCode(coordinator);
    expect(coordinator.output()).toMatch(/agent b went silent \(nothing for 3 s\); its last figures stand/);
    expect(coordinator.output()).toMatch(/2 generators \(agent b vanished: last figures counted\)/);

    const report = JSON.parse(readFileSync(json, 'utf8')) as ScenarioReport;
    expect(report.vanished).toEqual(['agent b']);
    expect(report.metrics).toHaveLength(2);
    const survivor = await ownFigures(agents[0]);
    expect(survivor.bots).toBe(3);
    const sent = report.metrics.map((m) => m.counters.datagrams_sent);
    expect(sent).toContain(survivor.sent);
    const lastTickOfB = sent[0] === survivor.sent ? sent[1] : sent[0];
    expect(lastTickOfB).toBeGreaterThan(0);
    expect(report.summary.counters.datagrams_sent.count).toBe(survivor.sent + lastTickOfB);
    expectChecksPass(report, code);

    // The killed agent left its copy of the scenario (the survivor removed its own): the
    // source it ran came over NATS, written inside the harness's directory.
    const runId = /run ([0-9a-f]{16}): claimed/.exec(agents[0].output())![1];
    const left = readdirSync(RECEIVED_DIR).filter((name) => name.startsWith(runId));
    expect(left).toHaveLength(1);
    expect(readFileSync(join(RECEIVED_DIR, left[0]), 'utf8')).toBe(readFileSync(join(ROOT, SCENARIO), 'utf8'));
    rmSync(join(RECEIVED_DIR, left[0]));
  });

  it('agents whose coordinator died end its run, and the next coordinator has them', async () => {
    const { url, port, agents } = await startRig();
    const first = startCli(['run', SCENARIO, '--port', String(port), '-c', '4', '-d', '30s', '--nats', url, '--agents', '2']);
    await first.waitFor(/^[1-9]s\s+bots 4 /m);
    first.child.kill('SIGKILL');
    await Promise.all(agents.map((agent) => agent.waitFor(/the coordinator went silent; ending the run\n.*: ended early: [\d.]+ s, 2 bots/)));

    const json = join(tempDir(), 'report.json');
    const next = startCli(['run', SCENARIO, '--port', String(port), '-c', '4', '-d', '1s', '--nats', url, '--agents', '2', '--agents-timeout', '5s', '--json', json]);
    const code = await exitCode(next);
    const report = JSON.parse(readFileSync(json, 'utf8')) as ScenarioReport;
    expect(report.vanished).toEqual([]);
    expect(report.summary.counters.bots_started.count).toBe(4);
    expect(code).toBe(report.thresholds.every((result) => result.ok) ? 0 : 99);
  });

  it('says which flag to change when the agents do not come, and checks the flags before it waits', async () => {
    const nats = await startNats();
    const url = `nats://127.0.0.1:${nats.port}`;
    const alone = startCli(['agent', '--nats', url, '--name', 'lonely']);
    await alone.waitFor(/waiting for runs/);
    const coordinator = startCli(['run', SCENARIO, '--nats', url, '--agents', '2', '--agents-timeout', '3s']);
    expect(await exitCode(coordinator)).toBe(1);
    expect(coordinator.output()).toMatch(
      new RegExp(`--agents-timeout: waited 3 s for --agents 2 on --nats ${url.replaceAll('.', '\\.')}: 1 joined \\(lonely\\)\\. Start agents with`),
    );
    // The claim was released: the agent is idle again, and a run of one agent may have it.
    await alone.waitFor(/released by the coordinator|released: the coordinator went silent/);

    const usage = [
      [['--agents', '2'], /--agents 2 needs --nats URL/],
      [['--nats', url], /needs --agents N/],
      [['--nats', url, '--agents', '2', '--processes', '2'], /--processes 2 forks generators on this machine and --agents 2 uses agents: give one of them/],
      [['--nats', url, '--agents', '0'], /--agents must be an integer from 1 to 1024, got "0"/],
    ] as const;
    for (const [flags, message] of usage) {
      const bad = startCli(['run', SCENARIO, ...flags]);
      expect(await exitCode(bad)).toBe(2);
      expect(bad.output()).toMatch(message);
    }
    const noNats = startCli(['agent']);
    expect(await exitCode(noNats)).toBe(2);
    expect(noNats.output()).toMatch(/agent needs --nats URL/);
    const closed = `nats://127.0.0.1:${await closedPort()}`;
    const unreachable = startCli(['agent', '--nats', closed, '--name', 'x']);
    expect(await exitCode(unreachable)).toBe(1);
    expect(unreachable.output()).toContain(`cannot reach NATS at --nats ${closed}`);
  });
});
