/**
 * The echo workloads as a scenario: one bot per connection, run by the scenario engine like
 * any scenario file, counting into an EchoLedger. What the four workloads share is here;
 * what tells them apart is their settings (workload-settings.ts) and the send mode:
 *
 * - paced (latency, soak, connections): connection i of n sends `rate` datagrams a second;
 *   its k-th datagram is intended at t0 + (i + k·n) / (rate·n) s, so all connections
 *   together send evenly spread, each stamped with its intended time, not the time it
 *   left. A bot that falls behind sends the missed ones late, with their intended times:
 *   a stalled server cannot hide its stall (coordinated omission corrected, as wrk2 does).
 *   latency and soak begin when every connect has settled; connections paces each bot from
 *   its connect on, so a connection opened early is not idle while the rest open.
 * - saturating (throughput): every bot sends as fast as the server takes it, within its
 *   in-flight window (bytes sent and not yet echoed): the harness's own flow control, since
 *   ringwire's writer takes datagrams as fast as its shard can copy them and never reports a
 *   slow peer; without a window a server slower than the client would see the client's
 *   socket backlog grow until the client's shard resets it.
 *
 * A send the writer refuses is counted (errors.sendRetries) and tried again on the next
 * turn with the same intended time: later, never dropped. When the window is over, each bot
 * ends as soon as every datagram it sent has come back, and the run when all have (or when
 * --grace is over).
 */
import { performance } from 'node:perf_hooks';
import { Datagram } from 'ringwire';
import type { RunSettings } from '../report.js';
import { type Bot, defineScenario, type Scenario } from '../scenario/define-scenario.js';
import { PAYLOAD_HEADER, writePayload } from '../wire-payload.js';
import type { EchoLedger } from './echo-ledger.js';

/** The reset reason of a connection whose TLS handshake or WebSocket upgrade failed: a connect that failed. */
const HANDSHAKE_FAILED = 'handshake-failed';
/** How long one connect may take before it counts as failed (ms). */
export const CONNECT_TIMEOUT_MS = 10_000;
/** Most datagrams one saturating bot sends per call, so the others get their turn. */
const BURST = 32;
/** In-flight window per connection when saturating: bytes, before the bounds below. */
const WINDOW_BYTES = 64 * 1024;
/** All connections' windows together stay under this (bytes). */
const WINDOW_TOTAL_BYTES = 64 * 1024 * 1024;

/** What the workload's runner does when every connect has settled (at `now`, performance.now()). */
export type OnSettled = (now: number) => void;

/**
 * The scenario of `settings.workload`: its bots count into `ledger`; `onSettled` is called
 * once, when the last connect has succeeded or failed; `onFailed` when, after that, no
 * connection is left because every one failed its TLS handshake or WebSocket upgrade.
 */
export function echoScenario(settings: RunSettings, ledger: EchoLedger, onSettled: OnSettled, onFailed: OnSettled = () => {}): Scenario {
  const n = settings.connections;
  const paced = settings.ratePerConnection > 0;
  const pacedFromConnect = settings.workload === 'connections';
  const periodMs = paced ? 1000 / settings.ratePerConnection : 0;
  const intervalMs = periodMs / n;
  // One buffer and one datagram for every bot: a send copies them before it returns.
  const scratch = new Uint8Array(settings.payloadMax);
  const outgoing = new Datagram();
  const saturation = paced ? null : new Saturation(settings, n);
  /** Bots connected before the sends begin: each one's start, called when every connect has settled. */
  let waiting: (() => void)[] | null = [];
  let t0 = 0;

  const settled = (): void => {
    const now = performance.now();
    if (!pacedFromConnect) t0 = now;
    const starts = waiting ?? [];
    waiting = null;
    onSettled(now);
    if (ledger.error === null) for (const start of starts) start();
  };

  return defineScenario({
    async bot(b: Bot) {
      const i = b.id;
      if (pacedFromConnect && i === 0) t0 = performance.now();
      ledger.connecting();
      try {
        // WebSocket and TLS: the run's (the plan's transport, from --ws, --ws-path and --tls).
        await b.connect({ udp: settings.transport === 'udp', timeoutMs: CONNECT_TIMEOUT_MS });
      } catch (error) {
        b.close();
        if (ledger.connectFailed(error)) settled();
        return;
      }

      let stopping = false;
      /** Paced datagrams due and not sent yet (the writer refused), and the slot of the next. */
      let owed = 0;
      let slot = 0;
      let retrying = false;
      const finishIfDone = (): void => {
        if (stopping && owed === 0 && ledger.caughtUp(i)) b.close();
      };
      const retry = (): void => {
        retrying = false;
        flush();
        finishIfDone();
      };
      const flush = (): void => {
        while (owed > 0) {
          const intended = t0 + i * intervalMs + slot * periodMs;
          const sequence = ledger.sent[i];
          const size = ledger.sizeFor(i, sequence);
          writePayload(scratch, size, i, sequence, intended);
          outgoing.assign(scratch, 0, size);
          if (!b.send(outgoing)) {
            ledger.refused();
            if (!retrying) {
              retrying = true;
              b.after(0, retry);
            }
            return;
          }
          ledger.counted(i, size, intended);
          slot++;
          owed--;
        }
      };
      const start = (): void => {
        if (saturation !== null) {
          b.saturate(() => saturation.send(b, i, ledger, outgoing));
          return;
        }
        // The first slot at or after now; its time is t0 + i·interval + slot·period.
        const now = performance.now();
        slot = Math.max(0, Math.ceil((now - t0 - i * intervalMs) / periodMs));
        const due = t0 + i * intervalMs + slot * periodMs;
        b.every(
          periodMs,
          () => {
            owed++;
            flush();
          },
          { delay: Math.max(0, due - now) },
        );
      };

      b.onBytes((bytes, offset, length) => {
        ledger.onEcho(i, bytes, offset, length, performance.now());
        if (stopping) finishIfDone();
      });
      b.onClose((reason) => {
        if (reason !== HANDSHAKE_FAILED) ledger.onReset(i);
        else if (ledger.handshakeFailed(i)) onFailed(performance.now());
      });
      b.onStop(() => {
        stopping = true;
        finishIfDone();
      });

      const last = ledger.connected(i);
      if (pacedFromConnect) start();
      else waiting?.push(start);
      if (last) settled();
    },
  });
}

/**
 * The saturating sends: a payload whose filler never changes, only its header fields, with
 * the filler's checksum for every length computed once.
 */
class Saturation {
  private readonly template: Uint8Array;
  private readonly view: DataView;
  private readonly sums: Uint32Array;
  private readonly windowBytes: number;

  constructor(settings: RunSettings, n: number) {
    const max = settings.payloadMax;
    this.template = new Uint8Array(max);
    writePayload(this.template, max, 0, 0, 0);
    this.view = new DataView(this.template.buffer);
    this.sums = new Uint32Array(max + 1);
    let hash = 0x811c9dc5;
    this.sums[PAYLOAD_HEADER] = hash >>> 0;
    for (let i = PAYLOAD_HEADER; i < max; i++) {
      hash ^= this.template[i];
      hash = Math.imul(hash, 0x01000193);
      this.sums[i + 1] = hash >>> 0;
    }
    this.windowBytes = Math.max(4 * max, Math.min(WINDOW_BYTES, Math.floor(WINDOW_TOTAL_BYTES / n)));
  }

  /** Up to BURST datagrams on connection i within its window. True when all went and more may. */
  send(b: Bot, i: number, ledger: EchoLedger, outgoing: Datagram): boolean {
    const now = performance.now();
    const view = this.view;
    for (let burst = 0; burst < BURST; burst++) {
      const sequence = ledger.sent[i];
      const size = ledger.sizeFor(i, sequence);
      if (ledger.inflightBytes[i] + size > this.windowBytes) return false;
      view.setUint32(0, i, true);
      view.setUint32(4, sequence, true);
      view.setFloat64(8, now, true);
      view.setUint32(16, this.sums[size], true);
      outgoing.assign(this.template, 0, size);
      if (!b.send(outgoing)) {
        ledger.refused();
        return false;
      }
      ledger.counted(i, size, now);
    }
    return true;
  }
}
