/**
 * `ringwire-bench agent --nats URL [--name NAME]`: a load generator on any machine that
 * reaches the NATS server. It announces itself every HEARTBEAT_MS and waits; a coordinator
 * (`run FILE --nats URL --agents N`) claims it with the scenario's source, which it writes
 * into the harness's own directory and loads (received-scenario.ts says why there), then
 * sends its plan and a start time. At that time it runs the plan, reports a tick a second
 * and its result, and waits for the next run. An abort from the coordinator, or the
 * coordinator going silent for VANISH_MS, ends the run early (with its figures sent);
 * Ctrl-C ends the run the same way and stops the agent.
 *
 * The protocol is agent-protocol.ts; the coordinator's side is agent-pool.ts and nats-link.ts.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { connect, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { UsageError } from '../workloads/workload-settings.js';
import {
  type AbortMessage,
  type AgentPhase,
  agentSubject,
  aliveSubject,
  type ClaimReply,
  type ClaimRequest,
  closeNats,
  HEARTBEAT_MS,
  PRESENCE_SUBJECT,
  type Presence,
  PROTOCOL,
  randomId,
  type ReportMessage,
  reportSubject,
  START_DELAY_MS,
  type StartReply,
  type StartRequest,
  VANISH_MS,
} from './agent-protocol.js';
import type { Scenario } from './define-scenario.js';
import { loadScenario } from './load-scenario.js';
import { BuiltIn, type MetricsSnapshot } from './metrics.js';
import { removeReceivedScenario, writeReceivedScenario } from './received-scenario.js';
import { type GeneratorPlan, ScenarioGenerator, toWire } from './scenario-generator.js';

export const AGENT_USAGE = `usage: ringwire-bench agent --nats URL [--name NAME]

A load generator for runs on many machines. It connects to a NATS server, announces
itself, and waits: \`ringwire-bench run FILE --nats URL --agents N\` on any machine
claims N agents, sends each the scenario file and its share of the bots, and starts
them at one time. An agent runs one run at a time, reports its figures every second
and at the end, then waits for the next run. Bots connect to the run's --host and
--port as this machine sees them.

  --nats URL    the NATS server, e.g. nats://10.0.0.5:4222 (reconnects if it goes away)
  --name NAME   how runs name this agent (default: host name and pid)
  -h, --help    this text

Ctrl-C stops the agent; a run in progress ends early and its figures are sent.

exit status: 0 stopped · 1 NATS unreachable · 2 bad usage
`;

export interface AgentCommandLine {
  help: boolean;
  nats: string;
  name: string;
}

export function parseAgentCommandLine(argv: string[]): AgentCommandLine {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: false,
      strict: true,
      options: { help: { type: 'boolean', short: 'h' }, nats: { type: 'string' }, name: { type: 'string' } },
    });
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/^Unknown option '(.*?)'.*$/s, 'unknown flag $1'));
  }
  const { values } = parsed;
  if (values.help) return { help: true } as AgentCommandLine;
  if (values.nats === undefined || values.nats.trim() === '') throw new UsageError('agent needs --nats URL: the NATS server coordinators use (e.g. nats://127.0.0.1:4222)');
  const name = values.name ?? `${os.hostname()}-${process.pid}`;
  if (name.trim() === '' || name.length > 64) throw new UsageError(`--name must be 1 to 64 characters, got ${JSON.stringify(name)}`);
  return { help: false, nats: values.nats.trim(), name: name.trim() };
}

/** A run from its claim to its end. */
interface AgentRun {
  id: string;
  coordinator: string;
  /** The received scenario file (removed at the end). */
  path: string | null;
  scenario: Scenario<unknown, Record<string, unknown>> | null;
  /** Date.now() of the coordinator's last heartbeat. */
  lastAlive: number;
  readonly controller: AbortController;
  aliveSubscription: Subscription | null;
  /** Settles when a started run has sent its result. */
  finished: Promise<void> | null;
}

/** Waits `ms`, or less when `signal` aborts. */
function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

/** The counters an agent's log line shows for a run. */
function figures(total: MetricsSnapshot, seconds: number): string {
  const c = (name: string): number => total.counters[name] ?? 0;
  return `${seconds.toFixed(1)} s, ${c(BuiltIn.BOTS_STARTED)} bots, ${c(BuiltIn.DATAGRAMS_SENT)} datagrams sent, ${c(BuiltIn.DATAGRAMS_RECEIVED)} received, ${c(BuiltIn.ERRORS)} errors`;
}

export class Agent {
  /** What subjects address this agent by: random, so two agents never share it. */
  readonly id = randomId();
  private phase: AgentPhase = 'idle';
  private run: AgentRun | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private stopping = false;
  private readonly subscriptions: Subscription[] = [];

  constructor(
    private readonly nc: NatsConnection,
    readonly name: string,
    private readonly log: (line: string) => void,
  ) {}

  /** Subscribes to its subjects and begins to announce itself. */
  start(): void {
    const on = (verb: 'claim' | 'start' | 'abort', handler: (msg: Msg) => void | Promise<void>): void => {
      this.subscriptions.push(
        this.nc.subscribe(agentSubject(this.id, verb), {
          callback: (error, msg) => {
            if (error === null) void Promise.resolve(handler(msg)).catch((e: unknown) => this.log(`${verb} failed: ${(e as Error).message}`));
          },
        }),
      );
    };
    on('claim', (msg) => this.onClaim(msg));
    on('start', (msg) => this.onStart(msg));
    on('abort', (msg) => this.onAbort(msg));
    this.announce();
    this.heartbeat = setInterval(() => {
      this.announce();
      this.watchCoordinator();
    }, HEARTBEAT_MS);
  }

  /** Takes no more runs; a run in progress ends early and sends its figures. Resolves when it has. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeat = null;
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    const run = this.run;
    if (run === null) return;
    if (run.finished !== null) {
      run.controller.abort();
      await run.finished;
    } else {
      this.finish(run, 'released: the agent is stopping');
    }
  }

  private announce(): void {
    if (this.nc.isClosed()) return;
    const presence: Presence = { protocol: PROTOCOL, id: this.id, name: this.name, host: os.hostname(), phase: this.phase, runId: this.run?.id ?? null, now: Date.now() };
    this.nc.publish(PRESENCE_SUBJECT, JSON.stringify(presence));
  }

  private async onClaim(msg: Msg): Promise<void> {
    const reply = (answer: ClaimReply): void => void msg.respond(JSON.stringify(answer));
    const request = msg.json<ClaimRequest>();
    if (this.phase !== 'idle' || this.stopping) {
      reply({ ok: false, busy: true, reason: this.stopping ? 'stopping' : `busy with run ${this.run?.id ?? '?'}` });
      return;
    }
    const run: AgentRun = { id: request.runId, coordinator: request.coordinator, path: null, scenario: null, lastAlive: Date.now(), controller: new AbortController(), aliveSubscription: null, finished: null };
    this.run = run;
    this.phase = 'loading';
    run.aliveSubscription = this.nc.subscribe(aliveSubject(run.id), {
      callback: () => {
        run.lastAlive = Date.now();
      },
    });
    this.log(`run ${run.id}: claimed by ${run.coordinator} for ${request.fileName}`);
    try {
      run.path = writeReceivedScenario(run.id, this.id, request.fileName, request.source);
      run.scenario = await loadScenario(run.path);
    } catch (error) {
      const reason = `could not load ${request.fileName}: ${(error as Error).message}`;
      this.finish(run, reason);
      reply({ ok: false, busy: false, reason });
      return;
    }
    if (this.run !== run) {
      reply({ ok: false, busy: true, reason: 'released while it loaded the scenario' });
      return;
    }
    this.phase = 'ready';
    this.announce();
    reply({ ok: true });
  }

  private onStart(msg: Msg): void {
    const reply = (answer: StartReply): void => void msg.respond(JSON.stringify(answer));
    const request = msg.json<StartRequest>();
    const run = this.run;
    if (run === null || run.id !== request.runId || this.phase !== 'ready') {
      reply({ ok: false, reason: run === null ? 'not claimed (released?)' : `in run ${run.id}, ${this.phase}` });
      return;
    }
    this.phase = 'running';
    reply({ ok: true });
    run.finished = this.execute(run, request.plan, request.startAt);
  }

  private onAbort(msg: Msg): void {
    const { runId } = msg.json<AbortMessage>();
    const run = this.run;
    if (run === null || run.id !== runId) return;
    if (run.finished !== null) run.controller.abort();
    else this.finish(run, 'released by the coordinator');
  }

  /** A coordinator that went silent will not read this run's figures: end it, or release the claim. */
  private watchCoordinator(): void {
    const run = this.run;
    if (run === null || Date.now() - run.lastAlive <= VANISH_MS) return;
    if (run.finished !== null) {
      if (!run.controller.signal.aborted) this.log(`run ${run.id}: the coordinator went silent; ending the run`);
      run.controller.abort();
    } else {
      this.finish(run, 'released: the coordinator went silent');
    }
  }

  /** Waits for the start time, runs the plan, reports; then the agent is idle again. */
  private async execute(run: AgentRun, plan: GeneratorPlan, startAt: number): Promise<void> {
    const signal = run.controller.signal;
    const report = (message: ReportMessage): void => {
      if (!this.nc.isClosed()) this.nc.publish(reportSubject(run.id, this.id), JSON.stringify(message));
    };
    const wait = startAt - Date.now();
    this.log(`run ${run.id}: generator ${plan.index + 1} of ${plan.count}, ${plan.bots} bots${plan.stages === null ? '' : ' at most, staged'} for ${plan.durationSeconds} s against ${plan.host}:${plan.port}, starting in ${(Math.max(0, wait) / 1000).toFixed(1)} s`);
    // The coordinator corrected the start for this clock's offset; a start far off all the
    // same is not waited for in full (ten times the usual lead at most).
    if (wait > 0) await delay(Math.min(wait, 10 * START_DELAY_MS), signal);
    try {
      const result = toWire(await new ScenarioGenerator(run.scenario!, plan, { signal, onTick: (tick) => report({ type: 'tick', tick: toWire(tick) }) }).run());
      report({ type: 'done', result });
      this.log(`run ${run.id}: ${result.aborted ? 'ended early' : 'done'}: ${figures(result.total as MetricsSnapshot, result.elapsed)}`);
      this.finish(run, null);
    } catch (error) {
      report({ type: 'failed', message: (error as Error).message });
      this.finish(run, `failed: ${(error as Error).message}`);
    }
  }

  /** The run is over (or released): the file goes, the agent is idle and says so at once. */
  private finish(run: AgentRun, why: string | null): void {
    if (this.run !== run) return;
    if (why !== null) this.log(`run ${run.id}: ${why}`);
    run.aliveSubscription?.unsubscribe();
    if (run.path !== null) removeReceivedScenario(run.path);
    this.run = null;
    this.phase = 'idle';
    if (!this.stopping) this.announce();
  }
}

/** The command: connect, serve runs until a signal, stop. */
export async function runAgentCommand(cli: AgentCommandLine, signal: AbortSignal): Promise<number> {
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  let nc: NatsConnection;
  try {
    // An agent outlives NATS outages: it reconnects for as long as it runs.
    nc = await connect({ servers: cli.nats, name: `ringwire-bench agent ${cli.name}`, maxReconnectAttempts: -1 });
  } catch (error) {
    throw new Error(`cannot reach NATS at --nats ${cli.nats}: ${(error as Error).message}`);
  }
  const agent = new Agent(nc, cli.name, log);
  agent.start();
  log(`agent ${cli.name} (${agent.id}) on ${cli.nats}: waiting for runs (Ctrl-C stops it)`);
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') log(`lost NATS at ${cli.nats}; reconnecting`);
      else if (status.type === 'reconnect') log(`NATS at ${cli.nats} is back`);
    }
  })();
  const closed = nc.closed();
  await Promise.race([new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve()))), closed]);
  await agent.stop();
  await closeNats(nc);
  const error = await closed;
  if (error instanceof Error && !signal.aborted) throw new Error(`NATS at --nats ${cli.nats} closed the connection: ${error.message}`);
  return 0;
}
