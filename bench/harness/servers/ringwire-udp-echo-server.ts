/**
 * ringwire over UDP as a benchmark target: a QueuedConnectionManager with one UDP socket
 * (`openUDPConnection(port)`), a QueuedConnectionReader with `--shards` worker shards (0:
 * single-thread mode; with shards, one shard owns the socket) and a ConnectionWriter,
 * echoing every datagram to its sender unchanged with `writer.send(dg, conn, sender)`.
 * ringwire checks the checksum header of every packet it reads (a bad one is dropped and
 * counted, never echoed) and writes a fresh one on every packet it sends.
 *
 *   node bench/dist/servers/ringwire-udp-echo-server.js [--port 0] [--header-size N] [--shards 2]
 *
 * `--header-size` is accepted so every server takes the same flags; Panda3D's UDP header
 * is always the 2-byte checksum. `openUDPConnection(port)` binds every interface (ringwire
 * has no way to bind UDP to 127.0.0.1 alone), so the port is reachable from the network
 * while the server runs; the harness only ever sends to 127.0.0.1.
 *
 * The loop is ringwire-echo-server.ts's (echo-loop.ts): each turn retries held echoes, then drains the
 * reader (DRAIN_BATCH at a time, for at most TURN_BUDGET_MS), and sleeps in
 * `manager.waitForReaders` when the reader is empty. A datagram the writer
 * refuses (its shard's queue or ring is full) is copied, with its sender, into a FIFO
 * that is retried first thing each turn; while the FIFO holds PENDING_LIMIT or more the
 * loop stops draining, so the shard's inbound ring fills and further packets are dropped
 * there (counted as udpOverflow) — UDP's own way to shed load, not the server's.
 */
import {
  type Connection,
  ConnectionWriter,
  Datagram,
  NetAddress,
  PointerToConnection,
  QueuedConnectionManager,
  QueuedConnectionReader,
} from 'ringwire';
import { startEchoLoop } from './echo-loop.js';
import { announceListening, parseServerOptions, stopOnSignal } from './server-options.js';

const NAME = 'ringwire-udp-echo-server';
/** Held echoes at which the loop stops draining until the writer takes them. */
const PENDING_LIMIT = 4096;

/** An echo the writer refused: its bytes and where it goes. */
interface HeldEcho {
  bytes: Uint8Array;
  to: NetAddress;
}

const options = parseServerOptions(NAME, process.argv.slice(2), true);

const manager = new QueuedConnectionManager();
const reader = new QueuedConnectionReader(manager, options.shards);
const writer = new ConnectionWriter(manager, options.shards);
// The harness reads UDP datagrams of any size, not only Panda3D's 1500 bytes.
writer.setMaxUdpDatagramSize(65_505);

const opened = await manager.openUDPConnection(options.port);
if (opened === null) {
  process.stderr.write(`${NAME}: cannot bind UDP port ${options.port}: ${manager.getLastError()?.message}\n`);
  await manager.close();
  process.exit(1);
}
const socket: Connection = opened;
if (!reader.addConnection(socket)) {
  process.stderr.write(`${NAME}: cannot read the UDP socket\n`);
  await manager.close();
  process.exit(1);
}

/** Echoes the writer refused, oldest first. */
let pending: HeldEcho[] = [];
/** Reused for every send: the visitor's bytes are copied in, then framed into a ring. */
const outgoing = new Datagram();
const resetConnection = new PointerToConnection();

/** The drain visitor: echoes `bytes[offset, offset + length)` to `from`, or holds it. */
function echo(bytes: Uint8Array, offset: number, length: number, conn: Connection, from: NetAddress | null): void {
  if (from === null) return;
  if (pending.length === 0) {
    outgoing.assign(bytes, offset, length);
    // The writer copies the address into its ring at once, so the reader's reused `from` is safe.
    if (writer.send(outgoing, conn, from) || !conn.open) return;
  }
  const to = new NetAddress();
  to.assign(from);
  pending.push({ bytes: bytes.slice(offset, offset + length), to });
}

/** Retries the held echoes in order. */
function flushPending(): void {
  let sent = 0;
  while (sent < pending.length && socket.open) {
    const held = pending[sent];
    outgoing.assign(held.bytes);
    if (!writer.send(outgoing, socket, held.to)) break;
    sent++;
  }
  if (sent === pending.length || !socket.open) pending = [];
  else if (sent > 0) pending.splice(0, sent);
}

function handleResets(): void {
  while (manager.getResetConnection(resetConnection)) {
    if (resetConnection.p() === socket) {
      process.stderr.write(`${NAME}: the UDP socket failed (${socket.getResetReason()})\n`);
      pending = [];
    }
  }
}

announceListening(socket.getAddress().getPort());
const stopLoop = startEchoLoop({
  manager,
  reader,
  echo,
  chores() {
    handleResets();
    if (pending.length > 0) flushPending();
  },
  mayDrain: () => pending.length < PENDING_LIMIT,
  holding: () => pending.length > 0,
});

stopOnSignal(NAME, async () => {
  stopLoop();
  flushPending();
  await manager.close();
});
