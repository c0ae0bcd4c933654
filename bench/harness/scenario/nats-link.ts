/**
 * A generator that is an agent on another machine (or this one), over NATS: the
 * coordinator's side of one claimed agent (agent-pool.ts claims it; agent.ts is the other
 * end). `run` sends the agent its plan and the run's start time, passes on its ticks, and
 * resolves its result, or null when the agent vanished: nothing heard from it (heartbeat
 * or report) for VANISH_MS, or it could not be reached to take its plan. Its last tick
 * then stands for what it measured, as with a child process that died.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { type AbortMessage, agentSubject, HEARTBEAT_MS, parseMessage, type ReportMessage, START_TIMEOUT_MS, type StartReply, type StartRequest, VANISH_MS } from './agent-protocol.js';
import type { GeneratorLink, LinkHooks } from './generator-link.js';
import type { GeneratorPlan, GeneratorResult } from './scenario-generator.js';

export interface NatsLinkOptions {
  nc: NatsConnection;
  runId: string;
  agentId: string;
  agentName: string;
  /** The run's start time by the agent's clock (epoch ms): the same instant for every agent. */
  startAt(): number;
  /** Where notes about the agent go (stderr). */
  log(line: string): void;
}

/** claimed → running → ended (its result came, it failed, or it vanished). */
type LinkState = 'claimed' | 'running' | 'ended';

export class NatsLink implements GeneratorLink {
  readonly name: string;
  readonly agentId: string;
  private state: LinkState = 'claimed';
  private lastHeard = Date.now();
  private hooks: LinkHooks | null = null;
  private settle: (result: GeneratorResult | null, error?: Error) => void = () => {};

  constructor(private readonly options: NatsLinkOptions) {
    this.name = `agent ${options.agentName}`;
    this.agentId = options.agentId;
  }

  /** True once the agent's part is over (reported, failed or vanished). */
  get ended(): boolean {
    return this.state === 'ended';
  }

  /** The agent was heard from (a heartbeat). */
  heard(): void {
    this.lastHeard = Date.now();
  }

  /** A report from the agent: a tick, its result, or its failure. */
  receive(message: ReportMessage): void {
    this.heard();
    if (this.state !== 'running') return;
    if (message.type === 'tick') this.hooks!.onTick(message.tick);
    else if (message.type === 'done') this.settle(message.result);
    else this.settle(null, new Error(`${this.name}: ${message.message}`));
  }

  /** Asks the agent to end its run early (it still sends its result), or to drop its claim. */
  abort(): void {
    if (this.options.nc.isClosed()) return;
    this.options.nc.publish(agentSubject(this.agentId, 'abort'), JSON.stringify({ runId: this.options.runId } satisfies AbortMessage));
  }

  run(plan: GeneratorPlan, hooks: LinkHooks): Promise<GeneratorResult | null> {
    if (this.state !== 'claimed') return Promise.reject(new Error(`${this.name} runs one plan per claim`));
    const { nc, log } = this.options;
    return new Promise((resolve, reject) => {
      this.state = 'running';
      this.hooks = hooks;
      this.lastHeard = Date.now();
      const onAbort = (): void => this.abort();
      const watch = setInterval(() => {
        if (Date.now() - this.lastHeard <= VANISH_MS) return;
        log(`ringwire-bench: ${this.name} went silent (nothing for ${VANISH_MS / 1000} s); its last figures stand`);
        this.settle(null);
      }, HEARTBEAT_MS);
      this.settle = (result, error) => {
        if (this.state === 'ended') return;
        this.state = 'ended';
        clearInterval(watch);
        hooks.signal.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve(result);
      };
      hooks.signal.addEventListener('abort', onAbort);
      const request: StartRequest = { runId: this.options.runId, plan, startAt: this.options.startAt() };
      nc.request(agentSubject(this.agentId, 'start'), JSON.stringify(request), { timeout: START_TIMEOUT_MS }).then(
        (msg) => {
          const reply = parseMessage<StartReply>(msg) ?? { ok: false, reason: 'its reply was not JSON' };
          if (!reply.ok) this.settle(null, new Error(`${this.name} refused its plan: ${reply.reason}`));
          else if (hooks.signal.aborted) onAbort();
        },
        (error: Error) => {
          log(`ringwire-bench: ${this.name} did not take its plan (${error.message}); counted as vanished`);
          this.settle(null);
        },
      );
    });
  }
}
