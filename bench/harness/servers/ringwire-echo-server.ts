/**
 * ringwire as a benchmark target: a QueuedConnectionManager with a listener on
 * 127.0.0.1, a QueuedConnectionReader with `--shards` worker shards (0: single-thread
 * mode) and a ConnectionWriter, echoing every datagram back to its sender unchanged.
 *
 *   node bench/dist/servers/ringwire-echo-server.js [--port 0] [--header-size 0|2|4] [--shards 2]
 *       [--websocket] [--ws-path /PATH] [--tls-key FILE --tls-cert FILE]
 *
 * Header size 0 puts the reader and the writer in raw mode (each socket read is one
 * datagram, echoed as it came). `--websocket` makes the rendezvous a WebSocket one (each
 * binary message a datagram, each echo one binary message; the upgrade and the framing in
 * the shards), `--tls-key`/`--tls-cert` terminate TLS in the shards: both together, wss://.
 * Over WebSocket the header size only bounds the datagram size (2: 65535 bytes; 4: 2 MiB).
 *
 * The loop (echo-loop.ts), on the main thread, never blocks: each turn takes new clients, handles
 * resets, retries held datagrams, then drains the reader (DRAIN_BATCH at a time, for at
 * most TURN_BUDGET_MS) with a visitor that copies each datagram into one reused Datagram
 * and sends it. When the reader is empty it sleeps in `manager.waitForReaders` until a
 * datagram, a client or a reset comes: an idle server costs no CPU, and none spins.
 *
 * Never a drop: `send` never refuses an open connection by itself, so the server opts
 * into a soft limit (`writer.setMaxSendBacklog`, SEND_BACKLOG_LIMIT per connection); when
 * `writer.send` refuses a datagram for an open connection (its client is behind by that
 * much), the datagram is copied into that connection's pending
 * queue, and every later one for it queues behind, to keep the order; the queues are
 * retried first thing each turn. When a queue passes PENDING_LIMIT the loop stops
 * draining until that queue is empty: the shards' inbound rings fill, the shards stop
 * reading, and TCP flow control slows the clients. Only datagrams for a connection that
 * has closed are discarded (there is nobody to echo them to).
 */
import {
  type Connection,
  ConnectionWriter,
  Datagram,
  PointerToConnection,
  QueuedConnectionListener,
  QueuedConnectionManager,
  QueuedConnectionReader,
  type RendezvousOptions,
} from 'ringwire';
import { startEchoLoop } from './echo-loop.js';
import { SERVER_HOST, announceListening, parseServerOptions, stopOnSignal } from './server-options.js';

const NAME = 'ringwire-echo-server';
/** A pending queue this long stops draining until it is empty (it holds at most this + one drain batch). */
const PENDING_LIMIT = 1024;
const BACKLOG = 4096;
/** Bytes a client may have waiting before its echoes are held and the server stops reading. */
const SEND_BACKLOG_LIMIT = 4 * 1024 * 1024;

const options = parseServerOptions(NAME, process.argv.slice(2), { shards: true, transport: true });

const manager = new QueuedConnectionManager();
const listener = new QueuedConnectionListener(manager, 0);
const reader = new QueuedConnectionReader(manager, options.shards);
const writer = new ConnectionWriter(manager, options.shards);
writer.setMaxSendBacklog(SEND_BACKLOG_LIMIT);
if (options.headerSize === 0) {
  reader.setRawMode(true);
  writer.setRawMode(true);
} else {
  reader.setTcpHeaderSize(options.headerSize);
  writer.setTcpHeaderSize(options.headerSize);
}

const transport: RendezvousOptions = {};
if (options.websocket !== null) transport.websocket = options.websocket.path === null ? true : { path: options.websocket.path };
if (options.tls !== null) transport.tls = options.tls;
const rendezvous = await manager.openTCPServerRendezvous(SERVER_HOST, options.port, BACKLOG, transport);
if (rendezvous === null) {
  process.stderr.write(`${NAME}: cannot listen on ${SERVER_HOST}:${options.port}: ${manager.getLastError()?.message}\n`);
  await manager.close();
  process.exit(1);
}
listener.addConnection(rendezvous);

/** Datagrams the writer refused for a still-open connection, oldest first. */
const pending = new Map<Connection, Uint8Array[]>();
/** Connections whose pending queue passed PENDING_LIMIT: no draining until they are empty. */
const choked = new Set<Connection>();
/** Reused for every send: the visitor's bytes are copied in, then framed into a ring. */
const outgoing = new Datagram();
const newConnection = new PointerToConnection();
const resetConnection = new PointerToConnection();

function acceptClients(): void {
  while (listener.getNewConnection(newConnection)) {
    const conn = newConnection.p();
    if (conn === null || !reader.addConnection(conn)) continue;
    conn.setNoDelay(true);
  }
}

function handleResets(): void {
  while (manager.getResetConnection(resetConnection)) {
    const conn = resetConnection.p();
    if (conn !== null) {
      pending.delete(conn);
      choked.delete(conn);
    }
  }
}

/** The drain visitor: echoes `bytes[offset, offset + length)` to `conn`, or queues it. */
function echo(bytes: Uint8Array, offset: number, length: number, conn: Connection): void {
  const queue = pending.get(conn);
  if (queue === undefined) {
    outgoing.assign(bytes, offset, length);
    if (writer.send(outgoing, conn) || !conn.open) return;
    pending.set(conn, [bytes.slice(offset, offset + length)]);
    return;
  }
  if (!conn.open) return;
  queue.push(bytes.slice(offset, offset + length));
  if (queue.length >= PENDING_LIMIT) choked.add(conn);
}

/** Retries the held datagrams in order; a queue that empties unchokes its connection. */
function flushPending(): void {
  for (const [conn, queue] of pending) {
    let sent = 0;
    while (sent < queue.length && conn.open) {
      outgoing.assign(queue[sent]);
      if (!writer.send(outgoing, conn)) break;
      sent++;
    }
    if (sent === queue.length || !conn.open) {
      pending.delete(conn);
      choked.delete(conn);
    } else if (sent > 0) {
      queue.splice(0, sent);
    }
  }
}

announceListening(rendezvous.getAddress().getPort());
const stopLoop = startEchoLoop({
  manager,
  reader,
  echo,
  chores() {
    acceptClients();
    handleResets();
    if (pending.size > 0) flushPending();
  },
  mayDrain: () => choked.size === 0,
  holding: () => pending.size > 0,
});

stopOnSignal(NAME, async () => {
  stopLoop();
  listener.removeConnection(rendezvous);
  manager.closeConnection(rendezvous);
  handleResets();
  flushPending();
  await manager.close();
});
