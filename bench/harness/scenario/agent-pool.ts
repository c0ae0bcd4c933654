/**
 * The coordinator's side of `run FILE --nats URL --agents N`: connects to NATS, watches
 * agents announce themselves, and claims N idle ones, one request each, the claim carrying
 * the scenario's source (an agent says yes once it has loaded it; a load error there fails
 * the run, as it would here). While it holds agents it says it is alive, so that agents of
 * a coordinator that died release themselves. The claimed agents become NatsLinks, ordered
 * by name, which runScenario runs as it runs child processes.
 *
 * The start time: the first link to start picks now + START_DELAY_MS by this machine's
 * clock, and each agent is given it by its own clock. Each heartbeat says the agent's
 * time when sent; its time minus ours when it arrives is its clock's offset minus the
 * message's delay, so the largest such difference seen is the closest to the offset.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { basename } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { InterruptedError } from '../workloads/run-workload.js';
import {
  agentSubject,
  aliveSubject,
  CLAIM_TIMEOUT_MS,
  type ClaimReply,
  type ClaimRequest,
  closeNats,
  HEARTBEAT_MS,
  parseMessage,
  PRESENCE_SUBJECT,
  type Presence,
  PROTOCOL,
  randomId,
  type ReportMessage,
  reportSubject,
  START_DELAY_MS,
  VANISH_MS,
} from './agent-protocol.js';
import { NatsLink } from './nats-link.js';

export interface AgentPoolOptions {
  /** The NATS server (--nats). */
  url: string;
  /** How many agents to claim (--agents). */
  count: number;
  /** How long to wait for them (--agents-timeout, ms). */
  timeoutMs: number;
  /** The scenario file whose source the agents get. */
  file: string;
  /** The server the bots aim at (--host): a loopback address is each agent's own machine. */
  targetHost: string;
  signal: AbortSignal;
  /** Where the pool says what it does (stderr). */
  log(line: string): void;
}

/** An agent as its heartbeats describe it. */
interface SeenAgent {
  presence: Presence;
  lastSeen: number;
  clockOffsetMs: number;
}

const LOOPBACK = /^(127\.|localhost$|::1$|\[::1\]$)/;

export class AgentPool {
  readonly runId = randomId();
  /** The claimed agents, in name order (index i runs plan i), once claim() has resolved. */
  readonly links: NatsLink[] = [];
  private readonly seen = new Map<string, SeenAgent>();
  private readonly claimed = new Map<string, SeenAgent>();
  private readonly pending = new Set<string>();
  private readonly linkById = new Map<string, NatsLink>();
  private readonly otherVersions = new Set<string>();
  private failure: Error | null = null;
  private alive: NodeJS.Timeout | null = null;
  private wake: () => void = () => {};
  private startAtMs: number | null = null;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly options: AgentPoolOptions,
  ) {}

  /**
   * Connects to NATS and claims `count` agents. Throws an Error that names the flag when
   * NATS cannot be reached or the agents do not come in time, an agent's load error, or an
   * InterruptedError on `signal`.
   */
  static async claim(options: AgentPoolOptions): Promise<AgentPool> {
    let nc: NatsConnection;
    try {
      nc = await connect({ servers: options.url, name: `ringwire-bench coordinator on ${os.hostname()}` });
    } catch (error) {
      throw new Error(`cannot reach NATS at --nats ${options.url}: ${(error as Error).message}`);
    }
    const pool = new AgentPool(nc, options);
    try {
      await pool.gather();
      return pool;
    } catch (error) {
      await pool.close();
      throw error;
    }
  }

  /** The run's start by this machine's clock, picked when the first agent is started. */
  private startAt(): number {
    this.startAtMs ??= Date.now() + START_DELAY_MS;
    return this.startAtMs;
  }

  private async gather(): Promise<void> {
    const { nc, options } = this;
    const source = readFileSync(options.file, 'utf8');
    nc.subscribe(PRESENCE_SUBJECT, {
      callback: (error, msg) => {
        const presence = error === null ? parseMessage<Presence>(msg) : null;
        if (presence !== null) this.onPresence(presence);
      },
    });
    nc.subscribe(reportSubject(this.runId, '*'), {
      callback: (error, msg) => {
        const report = error === null ? parseMessage<ReportMessage>(msg) : null;
        if (report !== null) this.linkById.get(msg.subject.slice(msg.subject.lastIndexOf('.') + 1))?.receive(report);
      },
    });
    const sayAlive = (): void => {
      if (!nc.isClosed()) nc.publish(aliveSubject(this.runId));
    };
    sayAlive();
    this.alive = setInterval(sayAlive, HEARTBEAT_MS);
    options.log(`waiting for ${options.count} agent${options.count === 1 ? '' : 's'} on ${options.url} (at most ${options.timeoutMs / 1000} s)`);
    const deadline = Date.now() + options.timeoutMs;
    for (;;) {
      if (options.signal.aborted) throw new InterruptedError('interrupted while waiting for agents');
      if (this.failure !== null) throw this.failure;
      const now = Date.now();
      for (const [id, agent] of this.claimed) {
        if (now - agent.lastSeen <= VANISH_MS) continue;
        this.claimed.delete(id);
        options.log(`agent ${agent.presence.name} went silent before the start; waiting for another`);
      }
      if (this.claimed.size === options.count) break;
      if (now >= deadline) throw this.timeoutError();
      for (const agent of this.seen.values()) {
        if (this.claimed.size + this.pending.size >= options.count) break;
        const { id, phase } = agent.presence;
        if (phase === 'idle' && !this.claimed.has(id) && !this.pending.has(id) && now - agent.lastSeen <= VANISH_MS) this.offer(agent, source);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(deadline - now, HEARTBEAT_MS));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const chosen = [...this.claimed.values()].sort((a, b) => a.presence.name.localeCompare(b.presence.name) || a.presence.id.localeCompare(b.presence.id));
    const names = new Set<string>();
    for (const agent of chosen) {
      const { id, name, host } = agent.presence;
      // Two agents given the same --name stay apart in the report.
      const unique = names.has(name) ? `${name}#${id.slice(0, 6)}` : name;
      names.add(unique);
      const link = new NatsLink({ nc, runId: this.runId, agentId: id, agentName: unique, startAt: () => this.startAt() + agent.clockOffsetMs, log: options.log });
      this.links.push(link);
      this.linkById.set(id, link);
      if (LOOPBACK.test(options.targetHost) && host !== os.hostname()) {
        options.log(`note: --host ${options.targetHost} is each agent's own machine; agent ${unique} runs on ${host}`);
      }
    }
    options.log(`${chosen.length} agent${chosen.length === 1 ? '' : 's'}: ${this.links.map((link) => link.name.slice('agent '.length)).join(', ')}; starting in ${START_DELAY_MS / 1000} s`);
  }

  private onPresence(presence: Presence): void {
    if (presence.protocol !== PROTOCOL) {
      this.otherVersions.add(presence.id);
      return;
    }
    const now = Date.now();
    const sample = presence.now - now;
    const known = this.seen.get(presence.id);
    const agent: SeenAgent = { presence, lastSeen: now, clockOffsetMs: known === undefined ? sample : Math.max(known.clockOffsetMs, sample) };
    this.seen.set(presence.id, agent);
    if (this.claimed.has(presence.id)) this.claimed.set(presence.id, agent);
    this.linkById.get(presence.id)?.heard();
    if (known === undefined || known.presence.phase !== presence.phase) this.wake();
  }

  /** Claims `agent` for this run: it loads the scenario and says yes, or is busy, or cannot load it. */
  private offer(agent: SeenAgent, source: string): void {
    const { id, name, host } = agent.presence;
    this.pending.add(id);
    const request: ClaimRequest = { runId: this.runId, coordinator: os.hostname(), fileName: basename(this.options.file), source };
    this.nc
      .request(agentSubject(id, 'claim'), JSON.stringify(request), { timeout: CLAIM_TIMEOUT_MS })
      .then(
        (msg) => {
          const reply = parseMessage<ClaimReply>(msg);
          if (reply === null) return;
          if (reply.ok) {
            this.claimed.set(id, this.seen.get(id) ?? agent);
            this.options.log(`agent ${name} (${host}) joined: ${this.claimed.size} of ${this.options.count}`);
          } else if (!reply.busy) {
            this.failure = new Error(`agent ${name} (${host}): ${reply.reason}`);
          }
        },
        // An agent that does not answer is gone or busy: its heartbeats say which.
        () => {},
      )
      .finally(() => {
        this.pending.delete(id);
        this.wake();
      });
  }

  private timeoutError(): Error {
    const { count, url, timeoutMs } = this.options;
    const now = Date.now();
    const present = [...this.seen.values()].filter((agent) => now - agent.lastSeen <= VANISH_MS);
    const joined = [...this.claimed.values()].map((agent) => agent.presence.name);
    const busy = present.filter((agent) => !this.claimed.has(agent.presence.id) && agent.presence.phase !== 'idle').length;
    const parts = [`${joined.length} joined${joined.length > 0 ? ` (${joined.join(', ')})` : ''}`];
    if (busy > 0) parts.push(`${busy} busy with another run`);
    if (this.otherVersions.size > 0) parts.push(`${this.otherVersions.size} of another ringwire-bench version ignored`);
    return new Error(
      `--agents-timeout: waited ${timeoutMs / 1000} s for --agents ${count} on --nats ${url}: ${parts.join(', ')}. Start agents with \`ringwire-bench agent --nats ${url}\`, or ask for fewer`,
    );
  }

  /** Releases every agent whose part is not over, stops saying it is alive, and closes the connection. */
  async close(): Promise<void> {
    if (this.alive !== null) clearInterval(this.alive);
    this.alive = null;
    if (this.nc.isClosed()) return;
    for (const link of this.links) if (!link.ended) link.abort();
    for (const id of [...this.claimed.keys(), ...this.pending]) {
      if (!this.linkById.has(id)) this.nc.publish(agentSubject(id, 'abort'), JSON.stringify({ runId: this.runId }));
    }
    await closeNats(this.nc);
  }
}
