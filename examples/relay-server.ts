/**
 * ringwire's ready-to-run relay server (`npm start`): it accepts TCP clients and relays
 * every datagram they send — back to the sender (`--mode echo`) or to every client
 * (`--mode broadcast`) — and prints one stats line per second.
 *
 *   npx tsx examples/relay-server.ts [--host 0.0.0.0] [--port 9099] [--shards 2]
 *       [--header-size 0|2|4] [--mode echo|broadcast] [--duration SECONDS] [--processes N]
 *       [--websocket [--websocket-path /PATH]] [--tls-key FILE --tls-cert FILE]
 *
 * `--websocket` serves WebSocket clients instead of Panda-framed TCP (each binary message
 * one datagram); `--tls-key` and `--tls-cert` put TLS under either (wss:// with
 * --websocket). The shards do the handshakes; the loop below sees datagrams either way.
 *
 * With --processes N, N such relays share the port (relay-supervisor.ts).
 *
 * Worker shards load the compiled worker: run `npm run build` first (`npm start` does).
 *
 * How it runs: one loop on the main thread, never blocking. Each turn it takes new
 * clients, handles resets, retries held datagrams, then drains the reader with a visitor
 * that sends each datagram through the writer. When the reader is empty it sleeps in
 * `manager.waitForReaders`, which wakes it as soon as a datagram, a client or a reset
 * comes: an idle relay costs no CPU, and none spins. Only while datagrams are held back
 * does it retry on a 1 ms timer (the wait does not wake when a client catches up).
 *
 * Back-pressure, never a silent drop: `send` never refuses an open connection by itself,
 * so the relay opts into a soft limit (`writer.setMaxSendBacklog`, SEND_BACKLOG_LIMIT
 * per connection). When `send` returns false for a connection that is still open (its
 * client reads more slowly than the others send to it), the datagram is copied into that
 * connection's pending queue and the loop stops draining until every pending datagram is
 * sent. Draining in batches of DRAIN_BATCH bounds each pending queue to DRAIN_BATCH
 * datagrams. Meanwhile nothing is read, the shards' inbound rings fill, the shards pause
 * their sockets and TCP flow control slows the senders. Only datagrams for a connection
 * that has closed are discarded; the final summary counts them as undeliverable.
 */
import { performance } from 'node:perf_hooks';
import {
  ConnectionWriter,
  Datagram,
  PointerToConnection,
  QueuedConnectionListener,
  QueuedConnectionManager,
  QueuedConnectionReader,
  type Connection,
  type RendezvousOptions,
} from '../src/index.js';
import { readFileSync } from 'node:fs';
import { choiceFlag, integerChoiceFlag, integerFlag, parseFlags, portFlag, secondsFlag, stringFlag, switchFlag } from './cli-flags.js';

const flags = parseFlags(
  'ringwire relay: echoes or broadcasts every datagram its clients send.',
  {
    host: stringFlag('address to listen on', '0.0.0.0'),
    port: portFlag(9099),
    shards: integerFlag('worker shards reading the sockets (0: single-thread mode)', 2, 0, 64),
    'header-size': integerChoiceFlag('length header bytes (0: raw mode, no header)', 2, [0, 2, 4]),
    mode: choiceFlag('echo to the sender, or broadcast to every client', 'echo', ['echo', 'broadcast']),
    duration: secondsFlag('stop by itself after this many seconds (default: run until Ctrl-C)'),
    processes: integerFlag('relay processes on the one port, each with its own shards (SO_REUSEPORT, Linux); restarted when they die', 1, 1, 64),
    'reuse-port': choiceFlag('bind with SO_REUSEPORT so that other processes may share the port (--processes sets it)', 'no', ['no', 'yes']),
    'metrics-port': integerFlag(
      'serve Prometheus metrics at http://HOST:P/metrics (0: off; with --processes the supervisor serves them, labelled by process)',
      0,
      0,
      65535,
      '<port>',
    ),
    'metrics-process': integerFlag("(set by --processes) this relay's number: its metrics are labelled with it and go to the supervisor", 0, 0, 64),
    websocket: switchFlag('accept WebSocket clients (each binary message a datagram), upgraded in the shards; with --tls-*, wss://'),
    'websocket-path': stringFlag(
      'with --websocket: the only request path answered (404 otherwise); absent: any',
      '',
      (path) => (path.startsWith('/') ? null : 'must start with /'),
      '<path>',
    ),
    'tls-key': stringFlag('a PEM private key file: terminate TLS in the shards (with --tls-cert)', '', undefined, '<file>'),
    'tls-cert': stringFlag('a PEM certificate (chain) file for --tls-key', '', undefined, '<file>'),
  },
  process.argv.slice(2),
  (values) => {
    if ((values['tls-key'] === '') !== (values['tls-cert'] === '')) return '--tls-key and --tls-cert go together';
    if (values['websocket-path'] !== '' && !values.websocket) return '--websocket-path needs --websocket';
    return null;
  },
);

if (flags.processes > 1) {
  // This process supervises; the relays are its children (relay-supervisor.ts).
  const { superviseRelays } = await import('./relay-supervisor.js');
  await superviseRelays(
    process.argv[1],
    withoutFlags(process.argv.slice(2), ['processes', 'port', 'reuse-port', 'metrics-port']),
    flags.processes,
    flags.port,
    {
      metricsHost: flags.host,
      metricsPort: flags['metrics-port'],
    },
  );
}

/** `argv` without the named flags and their values (`--name value` or `--name=value`). */
function withoutFlags(argv: string[], names: string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '').split('=')[0];
    if (argv[i].startsWith('--') && names.includes(name)) {
      if (!argv[i].includes('=')) i++;
      continue;
    }
    kept.push(argv[i]);
  }
  return kept;
}

/** Datagrams per drain call; also the bound of each connection's pending queue. */
const DRAIN_BATCH = 256;
/** Longest a turn keeps draining before it yields to the event loop (ms). */
const TURN_BUDGET_MS = 4;
const BACKLOG = 1000;
/** Bytes a client may have waiting before the relay holds its datagrams and stops reading. */
const SEND_BACKLOG_LIMIT = 4 * 1024 * 1024;

const headerSize = flags['header-size'];
const broadcastMode = flags.mode === 'broadcast';

const manager = new QueuedConnectionManager({ reusePort: flags['reuse-port'] === 'yes' });
const listener = new QueuedConnectionListener(manager, 0);
let reader: QueuedConnectionReader;
try {
  reader = new QueuedConnectionReader(manager, flags.shards);
} catch (error) {
  console.error(`relay-server: ${(error as Error).message}`);
  process.exit(1);
}
const writer = new ConnectionWriter(manager, flags.shards);
writer.setMaxSendBacklog(SEND_BACKLOG_LIMIT);
if (headerSize === 0) {
  reader.setRawMode(true);
  writer.setRawMode(true);
} else {
  reader.setTcpHeaderSize(headerSize);
  writer.setTcpHeaderSize(headerSize);
}

// WebSocket and TLS are the rendezvous's options: the shards upgrade and decrypt; this
// thread sees datagrams either way.
const transport: RendezvousOptions = {};
if (flags.websocket) transport.websocket = flags['websocket-path'] === '' ? true : { path: flags['websocket-path'] };
if (flags['tls-key'] !== '') {
  try {
    transport.tls = { key: readFileSync(flags['tls-key']), cert: readFileSync(flags['tls-cert']) };
  } catch (error) {
    console.error(`relay-server: ${(error as Error).message}`);
    process.exit(2);
  }
}
let rendezvous: Connection | null;
try {
  rendezvous = await manager.openTCPServerRendezvous(flags.host, flags.port, BACKLOG, transport);
} catch (error) {
  console.error(`relay-server: ${(error as Error).message}`);
  await manager.close();
  process.exit(2);
}
if (rendezvous === null) {
  console.error(`relay-server: cannot listen on ${flags.host}:${flags.port}: ${manager.getLastError()?.message}`);
  await manager.close();
  process.exit(1);
}
listener.addConnection(rendezvous);

// ── metrics ─────────────────────────────────────────────────────────────────

let metricsServer: import('node:http').Server | null = null;
if (flags['metrics-port'] !== 0 || flags['metrics-process'] !== 0) {
  const { answerSupervisor, processRegistry, serveMetrics } = await import('./metrics-endpoint.js');
  const { registerMetrics } = await import('../src/metrics/register-metrics.js');
  const supervised = flags['metrics-process'] !== 0;
  const registry = processRegistry(supervised ? String(flags['metrics-process']) : null);
  registerMetrics(manager, { registry });
  if (supervised) {
    answerSupervisor(registry);
  } else {
    try {
      metricsServer = await serveMetrics(flags.host, flags['metrics-port'], () => registry.metrics(), registry.contentType);
    } catch (error) {
      console.error(`relay-server: cannot serve metrics on ${flags.host}:${flags['metrics-port']}: ${(error as Error).message}`);
      await manager.close();
      process.exit(1);
    }
  }
}

// ── state ───────────────────────────────────────────────────────────────────

/** Clients being read, in the order they connected (broadcast targets). */
const active: Connection[] = [];
/** Datagrams `writer.send` refused for a still-open connection, oldest first. */
const pending = new Map<Connection, Uint8Array[]>();
/** One datagram reused for every send: the visitor's bytes are copied in, then framed out. */
const outgoing = new Datagram();
const newConnection = new PointerToConnection();
const resetConnection = new PointerToConnection();
/** Set when a send was refused this turn: stop draining. */
let stalled = false;
let accepted = 0;
/** Connections that ended, by reset reason. */
const resets = new Map<string, number>();
let undeliverable = 0;
let maxPending = 0;
let shuttingDown = false;
/** Ends the loop's sleep in waitForReaders at shutdown. */
const sleeping = new AbortController();
const sleep = { signal: sleeping.signal };
let turnTimer: NodeJS.Timeout | null = null;
let turnImmediate: NodeJS.Immediate | null = null;
const startedAt = performance.now();

// ── the loop ────────────────────────────────────────────────────────────────

function acceptClients(): void {
  while (listener.getNewConnection(newConnection)) {
    const conn = newConnection.p()!;
    if (!reader.addConnection(conn)) continue; // closed before we got to it
    conn.setNoDelay(true);
    active.push(conn);
    accepted++;
  }
}

function handleResets(): void {
  while (manager.getResetConnection(resetConnection)) {
    const conn = resetConnection.p()!;
    const reason = conn.getResetReason() ?? 'unknown';
    resets.set(reason, (resets.get(reason) ?? 0) + 1);
    const index = active.indexOf(conn);
    if (index >= 0) active.splice(index, 1);
    const queue = pending.get(conn);
    if (queue !== undefined) {
      undeliverable += queue.length;
      pending.delete(conn);
    }
  }
}

/** Sends `bytes[offset, offset + length)` to `target`, or holds it when refused. */
function deliver(bytes: Uint8Array, offset: number, length: number, target: Connection): void {
  const queue = pending.get(target);
  if (queue === undefined) {
    outgoing.assign(bytes, offset, length);
    if (writer.send(outgoing, target)) return;
    if (!target.open) {
      undeliverable++;
      return;
    }
    stalled = true;
    hold(target, bytes.slice(offset, offset + length));
    return;
  }
  // Behind earlier held datagrams: queue, to keep the connection's order.
  if (!target.open) {
    undeliverable++;
    return;
  }
  queue.push(bytes.slice(offset, offset + length));
  if (queue.length > maxPending) maxPending = queue.length;
}

function hold(target: Connection, copy: Uint8Array): void {
  pending.set(target, [copy]);
  if (maxPending < 1) maxPending = 1;
}

/** The drain visitor: the bytes are valid only during the call. */
function relay(bytes: Uint8Array, offset: number, length: number, from: Connection): void {
  if (!broadcastMode) {
    deliver(bytes, offset, length, from);
    return;
  }
  for (let i = 0; i < active.length; i++) deliver(bytes, offset, length, active[i]);
}

/** Retries held datagrams in order. Returns true when every queue is empty. */
function flushPending(): boolean {
  for (const [conn, queue] of pending) {
    if (!conn.open) {
      undeliverable += queue.length;
      pending.delete(conn);
      continue;
    }
    let sent = 0;
    while (sent < queue.length) {
      outgoing.assign(queue[sent]);
      if (!writer.send(outgoing, conn)) break;
      sent++;
    }
    if (sent === queue.length) pending.delete(conn);
    else if (sent > 0) queue.splice(0, sent);
  }
  return pending.size === 0;
}

function turn(): void {
  turnTimer = null;
  turnImmediate = null;
  if (shuttingDown) return;
  acceptClients();
  handleResets();
  let more = false;
  if (flushPending()) {
    stalled = false;
    const deadline = performance.now() + TURN_BUDGET_MS;
    let delivered: number;
    do {
      delivered = reader.drain(relay, DRAIN_BATCH);
    } while (delivered === DRAIN_BATCH && !stalled && performance.now() < deadline);
    more = delivered === DRAIN_BATCH && !stalled;
  }
  if (pending.size > 0) turnTimer = setTimeout(turn, 1);
  else if (more) turnImmediate = setImmediate(turn);
  else manager.waitForReaders(-1, sleep).then(turn, () => {});
}

// ── stats ───────────────────────────────────────────────────────────────────

interface Totals {
  datagramsIn: number;
  bytesIn: number;
  datagramsOut: number;
  bytesOut: number;
  connections: number;
  ringFill: number;
}

function totals(): Totals {
  const stats = manager.getStats();
  // bytesOut counts the length headers the shards wrote; count the ones they read too, so
  // in and out are measured the same way.
  return { ...stats, bytesIn: stats.bytesIn + stats.datagramsIn * headerSize, ringFill: stats.inboundRingFill };
}

function rate(count: number): string {
  if (count >= 1e6) return `${(count / 1e6).toFixed(2)}M`;
  if (count >= 1e3) return `${(count / 1e3).toFixed(1)}k`;
  return count.toFixed(0);
}

/** Bytes in decimal units, as the harness reports them (MB = 10^6 bytes). */
function bytes(count: number): string {
  if (count >= 1e6) return `${(count / 1e6).toFixed(1)} MB`;
  if (count >= 1e3) return `${(count / 1e3).toFixed(1)} kB`;
  return `${count.toFixed(0)} B`;
}

let last = totals();
let lastAt = performance.now();

function printStats(): void {
  const now = performance.now();
  const current = totals();
  const seconds = (now - lastAt) / 1000 || 1;
  const per = (key: keyof Totals): number => (current[key] - last[key]) / seconds;
  const held = pending.size === 0 ? '' : `  pending ${[...pending.values()].reduce((n, q) => n + q.length, 0)}`;
  console.log(
    `stats ${((now - startedAt) / 1000).toFixed(0).padStart(4)}s  conns ${current.connections}` +
      `  in ${rate(per('datagramsIn'))} dg/s ${bytes(per('bytesIn'))}/s` +
      `  out ${rate(per('datagramsOut'))} dg/s ${bytes(per('bytesOut'))}/s` +
      `  ring ${(current.ringFill * 100).toFixed(1)}%${held}`,
  );
  last = current;
  lastAt = now;
}

// ── start and stop ──────────────────────────────────────────────────────────

function threadingLine(): string {
  const workers = manager.getStats().workerShards;
  if (workers > 0) return `${workers} worker shard${workers === 1 ? '' : 's'}`;
  if (flags.shards === 0) return 'single-thread mode';
  return `single-thread mode (the native fd helper is unavailable; ${flags.shards} shards asked for)`;
}

async function shutdown(why: string): Promise<void> {
  if (shuttingDown) {
    console.log(`${why} again: exiting now`);
    process.exit(1);
  }
  shuttingDown = true;
  sleeping.abort();
  if (turnTimer !== null) clearTimeout(turnTimer);
  if (turnImmediate !== null) clearImmediate(turnImmediate);
  clearInterval(statsTimer);
  if (durationTimer !== null) clearTimeout(durationTimer);
  // Stop accepting, give held datagrams one last chance, then flush and close everything.
  listener.removeConnection(rendezvous!);
  manager.closeConnection(rendezvous!);
  handleResets();
  flushPending();
  for (const queue of pending.values()) undeliverable += queue.length;
  pending.clear();
  await manager.close();
  metricsServer?.close();
  const sum = totals();
  const seconds = (performance.now() - startedAt) / 1000;
  console.log(
    `ringwire relay stopped (${why}) after ${seconds.toFixed(1)} s: ${accepted} connections, ` +
      `in ${sum.datagramsIn} datagrams / ${bytes(sum.bytesIn)}, out ${sum.datagramsOut} datagrams / ${bytes(sum.bytesOut)}, ` +
      `${undeliverable} undeliverable (connection closed), most held for one connection ${maxPending}; ` +
      `resets: ${resets.size === 0 ? 'none' : [...resets].map(([reason, n]) => `${reason} ${n}`).join(', ')}`,
  );
  process.exit(0);
}

const statsTimer = setInterval(printStats, 1000);
const durationTimer = flags.duration === undefined ? null : setTimeout(() => void shutdown(`--duration ${flags.duration}`), flags.duration * 1000);
if (process.env.RINGWIRE_SUPERVISED === '1') {
  // Under --processes: Ctrl-C reaches the whole process group, and the supervisor answers
  // it with SIGTERM; a supervisor that dies closes our IPC channel.
  process.on('SIGINT', () => {});
  process.on('disconnect', () => void shutdown('the supervisor is gone'));
} else {
  process.on('SIGINT', () => void shutdown('SIGINT'));
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));

console.log(
  `ringwire relay on ${rendezvous.getAddress().toString()} — ${threadingLine()}, header ${headerSize}${headerSize === 0 ? ' (raw)' : ''}, ${flags.mode}` +
    `${flags['reuse-port'] === 'yes' ? ', port shared (SO_REUSEPORT)' : ''}` +
    `${transport.websocket === undefined ? '' : transport.tls === undefined ? ', WebSocket (ws://)' : ', WebSocket over TLS (wss://)'}` +
    `${transport.websocket === undefined && transport.tls !== undefined ? ', TLS' : ''}, pid ${process.pid}` +
    `${metricsServer === null ? '' : `, metrics on http://${flags.host}:${(metricsServer.address() as import('node:net').AddressInfo).port}/metrics`}`,
);
turnImmediate = setImmediate(turn);
