/**
 * The arena on plain node:net, the baseline: the same game (arena-game.ts), the same
 * simulation, protocol and loop (arena-server-loop.ts); only the transport differs. One
 * thread does everything: Node's event loop reads the sockets between steps and each
 * message goes to the game as it is parsed; a snapshot is framed once into a Buffer and
 * written to each socket of the room. Panda3D's framing: a 2-byte little-endian length,
 * then the datagram.
 *
 *   npm run arena:plain -- [--host 0.0.0.0] [--port 9201] [--duration SECONDS]
 *       [--stats-json yes] [--journal FILE]
 */
import net from 'node:net';
import { Datagram, DatagramIterator } from 'ringwire';
import { choiceFlag, parseFlags, portFlag, secondsFlag, stringFlag } from '../cli-flags.js';
import { ArenaGame, type ArenaTransport } from './arena-game.js';
import { MAX_CLIENT_MESSAGE } from './arena-protocol.js';
import { JournalFile, runArena, type ArenaServer } from './arena-server-loop.js';

const flags = parseFlags('The arena on plain node:net: the same game as arena-ringwire-server.ts, one thread.', {
  host: stringFlag('address to listen on', '0.0.0.0'),
  port: portFlag(9201),
  duration: secondsFlag('drain and stop by itself after this many seconds (default: run until SIGTERM or Ctrl-C)'),
  'stats-json': choiceFlag('also print each second as a JSON line with every tick duration (for the bench)', 'no', ['no', 'yes']),
  journal: stringFlag('write every join, input, leave and reset with its room tick to this file (JSON lines), for a replay', '-'),
});

/** As the ringwire server's setMaxSendBacklog: a slower reader misses snapshots rather than queue them. */
const MAX_SEND_BACKLOG = 256 * 1024;
const HEADER = 2;

/** Sockets the game closed: their 'close' is not an end to report. */
const closedByUs = new WeakSet<net.Socket>();
const sockets = new Set<net.Socket>();

/** The datagram's bytes with Panda's u16 length header, in a Buffer of their own (socket.write keeps it). */
function framed(dg: Datagram): Buffer {
  const view = dg.getMessageView();
  const frame = Buffer.allocUnsafe(HEADER + view.length);
  frame.writeUInt16LE(view.length, 0);
  frame.set(view, HEADER);
  return frame;
}

function write(socket: net.Socket, frame: Buffer): void {
  if (socket.destroyed || socket.writableEnded || socket.writableLength > MAX_SEND_BACKLOG) return;
  socket.write(frame);
}

const transport: ArenaTransport<net.Socket, Set<net.Socket>> = {
  send: (dg, socket) => write(socket, framed(dg)),
  broadcast(dg, group) {
    if (group.size === 0) return;
    const frame = framed(dg);
    for (const socket of group) write(socket, frame);
  },
  newGroup: () => new Set(),
  addToGroup: (group, socket) => void group.add(socket),
  removeFromGroup: (group, socket) => void group.delete(socket),
  close(socket) {
    closedByUs.add(socket);
    socket.end();
  },
};
const journal = flags.journal === '-' ? null : new JournalFile(flags.journal);
const game = new ArenaGame(transport, journal?.write ?? null);

// One datagram and one iterator for every message parsed.
const incoming = new Datagram();
const iterator = new DatagramIterator(incoming);

function deliver(socket: net.Socket, bytes: Uint8Array, offset: number, length: number): void {
  incoming.assign(bytes, offset, length);
  iterator.assign(incoming);
  game.onMessage(socket, iterator);
}

function attach(socket: net.Socket): void {
  sockets.add(socket);
  socket.setNoDelay(true);
  game.onConnect(socket);
  let pending: Buffer | null = null;
  let failed: string | null = null;
  socket.on('data', (chunk: Buffer) => {
    let data = chunk;
    if (pending !== null) {
      data = Buffer.concat([pending, chunk]);
      pending = null;
    }
    let at = 0;
    while (data.length - at >= HEADER) {
      const length = data.readUInt16LE(at);
      if (length > MAX_CLIENT_MESSAGE) {
        // As ringwire's setMaxDatagramSize: the connection ends before the body is read.
        failed = 'oversized-datagram';
        socket.destroy();
        return;
      }
      if (data.length - at - HEADER < length) break;
      deliver(socket, data, at + HEADER, length);
      if (socket.destroyed || closedByUs.has(socket)) return;
      at += HEADER + length;
    }
    if (at < data.length) pending = data.subarray(at);
  });
  socket.on('error', (error: NodeJS.ErrnoException) => {
    // A peer's RST is its way of closing too (ringwire reports both as closed-by-peer).
    failed ??= error.code === 'ECONNRESET' || error.code === 'EPIPE' ? 'closed-by-peer' : 'error';
  });
  socket.on('close', () => {
    sockets.delete(socket);
    if (!closedByUs.has(socket)) game.onReset(socket, failed ?? 'closed-by-peer');
  });
}

const netServer = net.createServer({ noDelay: true }, attach);
netServer.maxConnections = 100_000;
const listening = await new Promise<boolean>((resolve) => {
  netServer.once('error', (error) => {
    console.error(`arena-plain: cannot listen on ${flags.host}:${flags.port}: ${error.message}`);
    resolve(false);
  });
  netServer.listen({ host: flags.host, port: flags.port, backlog: 1000 }, () => resolve(true));
});
if (!listening) process.exit(1);
const address = netServer.address() as net.AddressInfo;

const server: ArenaServer = {
  description: `plain node:net, on ${address.address}:${address.port}`,
  // node:net hands in clients and messages from the event loop, between the steps.
  poll() {},
  stopAccepting() {
    netServer.close();
  },
  async close() {
    // Each socket ends after what was written to it (FIN after the last snapshot).
    const closes: Promise<void>[] = [];
    for (const socket of sockets) {
      closes.push(new Promise((resolve) => socket.once('close', () => resolve())));
      closedByUs.add(socket);
      socket.end();
    }
    // A peer that never reads its last bytes: cut after 5 s, as ringwire's closeLingerMs.
    const cut = setTimeout(() => {
      for (const socket of sockets) socket.destroy();
    }, 5000);
    await Promise.all(closes);
    clearTimeout(cut);
  },
};

await runArena(server, game, { duration: flags.duration, statsJson: flags['stats-json'] === 'yes', supervised: false }, journal);
