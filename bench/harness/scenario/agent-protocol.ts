/**
 * What a coordinator (`run FILE --nats URL --agents N`) and its agents (`agent --nats URL`)
 * say to each other over NATS: the subjects, the messages (JSON), and the timings both
 * sides agree on. Every subject starts with PREFIX, so the harness shares a NATS server
 * with anything else.
 *
 *   agent        ringwire-bench.presence                  Presence, every HEARTBEAT_MS
 *   coordinator  ringwire-bench.agent.<agent>.claim       ClaimRequest → ClaimReply (request)
 *   coordinator  ringwire-bench.agent.<agent>.start       StartRequest → StartReply (request)
 *   coordinator  ringwire-bench.agent.<agent>.abort       AbortMessage: end the run early, or release a claim
 *   coordinator  ringwire-bench.run.<run>.alive           (empty), every HEARTBEAT_MS while it holds agents
 *   agent        ringwire-bench.run.<run>.report.<agent>  ReportMessage: a tick a second, then done or failed
 *
 * A run: the coordinator claims idle agents one by one (each claim carries the scenario's
 * source, which the agent loads before it says yes), then sends each its plan and one
 * start time. Either side that hears nothing from the other for VANISH_MS gives up on it:
 * the coordinator counts a silent agent as vanished (its last tick stands), an agent whose
 * coordinator went silent ends its run and waits for the next.
 */
import { randomUUID } from 'node:crypto';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import type { GeneratorPlan, GeneratorResult, GeneratorTick } from './scenario-generator.js';

/** Bumped when a message changes shape; a coordinator ignores agents of another version. */
export const PROTOCOL = 1;

export const PREFIX = 'ringwire-bench';

/** How often agents announce themselves and coordinators say they are alive (ms). */
export const HEARTBEAT_MS = 500;

/** Nothing heard from the other side for this long: it has vanished (ms). */
export const VANISH_MS = 3000;

/**
 * How far ahead of now the coordinator sets the start, so every agent gets it in time (ms).
 * The half second is for the progress line: the coordinator closes a second on each whole
 * second after the run began, and agents that tick half-way between never have a tick
 * land in the wrong second.
 */
export const START_DELAY_MS = 1500;

/** How long a claim may take: the agent writes and loads (compiles) the scenario first (ms). */
export const CLAIM_TIMEOUT_MS = 10_000;

/** How long an agent may take to take its plan (ms). */
export const START_TIMEOUT_MS = 5000;

/** How long closing waits to flush what was published before it gives up on the server (ms). */
export const DRAIN_MS = 2000;

export const PRESENCE_SUBJECT = `${PREFIX}.presence`;

export function agentSubject(agentId: string, verb: 'claim' | 'start' | 'abort'): string {
  return `${PREFIX}.agent.${agentId}.${verb}`;
}

export function aliveSubject(runId: string): string {
  return `${PREFIX}.run.${runId}.alive`;
}

/** `agentId` '*' is the coordinator's subscription to every agent's reports. */
export function reportSubject(runId: string, agentId: string): string {
  return `${PREFIX}.run.${runId}.report.${agentId}`;
}

/** An agent's life, as its presence says it: only an idle agent takes a claim. */
export type AgentPhase = 'idle' | 'loading' | 'ready' | 'running';

export interface Presence {
  protocol: number;
  /** Random, unique per agent process: what subjects address. */
  id: string;
  /** What people read (--name; by default host-pid). */
  name: string;
  host: string;
  phase: AgentPhase;
  /** The run it is claimed for or running, if any. */
  runId: string | null;
  /** The agent's clock (epoch ms) when it sent this: the coordinator learns the offset of its clock. */
  now: number;
}

export interface ClaimRequest {
  runId: string;
  /** Who claims (the coordinator's host), for the agent's log. */
  coordinator: string;
  /** The scenario file's name (its extension says how it loads). */
  fileName: string;
  /** The scenario file's text: agents may be on machines that do not have it. */
  source: string;
}

export type ClaimReply = { ok: true } | { ok: false; busy: boolean; reason: string };

export interface StartRequest {
  runId: string;
  plan: GeneratorPlan;
  /** When to begin, by the agent's own clock (epoch ms): the coordinator has added its offset. */
  startAt: number;
}

export type StartReply = { ok: true } | { ok: false; reason: string };

export interface AbortMessage {
  runId: string;
}

/** Ticks and results travel as data (their metric sets as snapshots; see toWire). */
export type ReportMessage = { type: 'tick'; tick: GeneratorTick } | { type: 'done'; result: GeneratorResult } | { type: 'failed'; message: string };

/** A message's JSON, or null when it is not JSON (anyone may publish on these subjects). */
export function parseMessage<T>(msg: Msg): T | null {
  try {
    return msg.json<T>();
  } catch {
    return null;
  }
}

/**
 * Flushes what was published and closes the connection; a server that is gone (the client
 * reconnecting) is not waited for longer than DRAIN_MS.
 */
export async function closeNats(nc: NatsConnection): Promise<void> {
  if (nc.isClosed()) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([nc.drain().catch(() => {}), new Promise((resolve) => (timer = setTimeout(resolve, DRAIN_MS)))]);
  clearTimeout(timer);
  if (!nc.isClosed()) await nc.close();
}

/** A random id that is a valid subject token. */
export function randomId(): string {
  return randomUUID().replaceAll('-', '').slice(0, 16);
}
