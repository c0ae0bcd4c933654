/**
 * The arena on ringwire (`npm run arena`): an authoritative 60 Hz game server. Worker
 * shards own the sockets; the main thread runs the game loop (arena-server-loop.ts) and,
 * once per step, takes new clients, the datagrams that came in and the connections that
 * ended, without blocking and without allocating per datagram. Each room's snapshot goes
 * out as one `writer.broadcast` to the room's ConnectionGroup.
 *
 *   npm run arena -- [--host 0.0.0.0] [--port 9200] [--shards 2] [--processes N]
 *       [--duration SECONDS] [--stats-json yes] [--journal FILE] [--metrics-port P]
 *
 * The protocol and the rules: examples/arena/README.md. The same game on plain node:net:
 * arena-plain-server.ts.
 */
import {
  ConnectionGroup,
  ConnectionWriter,
  NetDatagram,
  PointerToConnection,
  PyDatagramIterator,
  QueuedConnectionListener,
  QueuedConnectionManager,
  QueuedConnectionReader,
  type Connection,
} from 'ringwire';
import { choiceFlag, integerFlag, parseFlags, portFlag, secondsFlag, stringFlag } from '../cli-flags.js';
import { ArenaGame, type ArenaTransport } from './arena-game.js';
import { MAX_CLIENT_MESSAGE } from './arena-protocol.js';
import { JournalFile, runArena, type ArenaServer } from './arena-server-loop.js';
import { processRegistry, serveMetrics } from '../metrics-endpoint.js';
import { registerMetrics } from 'ringwire/metrics';
import type { Server } from 'node:http';

const flags = parseFlags('The arena, an authoritative 60 Hz game server on ringwire.', {
  host: stringFlag('address to listen on', '0.0.0.0'),
  port: portFlag(9200),
  shards: integerFlag('worker shards owning the sockets (0: single-thread mode)', 2, 0, 64),
  processes: integerFlag('server processes on the one port (SO_REUSEPORT, Linux); rooms live in their process', 1, 1, 64),
  'reuse-port': choiceFlag('bind with SO_REUSEPORT so that other processes may share the port (--processes sets it)', 'no', ['no', 'yes']),
  duration: secondsFlag('drain and stop by itself after this many seconds (default: run until SIGTERM or Ctrl-C)'),
  'stats-json': choiceFlag('also print each second as a JSON line with every tick duration (for the bench)', 'no', ['no', 'yes']),
  journal: stringFlag('write every join, input, leave and reset with its room tick to this file (JSON lines), for a replay', '-'),
  'metrics-port': integerFlag('serve Prometheus metrics (the network, the game loop, the process) at http://HOST:P/metrics (0: off; not with --processes)', 0, 0, 65535, '<port>'),
});

if (flags.processes > 1) {
  const { superviseArena } = await import('./arena-supervisor.js');
  await superviseArena(process.argv[1], process.argv.slice(2), flags.processes, flags.port);
}

/** Slower readers than this (bytes queued) miss snapshots rather than queue them: the next one supersedes it. */
const MAX_SEND_BACKLOG = 256 * 1024;

const manager = new QueuedConnectionManager({ reusePort: flags['reuse-port'] === 'yes' });
const listener = new QueuedConnectionListener(manager, 0);
const reader = new QueuedConnectionReader(manager, flags.shards);
const writer = new ConnectionWriter(manager, flags.shards);
// A client sends small messages only: a larger header resets it ('oversized-datagram') before any body is buffered.
reader.setMaxDatagramSize(MAX_CLIENT_MESSAGE);
writer.setMaxSendBacklog(MAX_SEND_BACKLOG);

const rendezvous = await manager.openTCPServerRendezvous(flags.host, flags.port, 1000);
if (rendezvous === null) {
  console.error(`arena: cannot listen on ${flags.host}:${flags.port}: ${manager.getLastError()?.message}`);
  await manager.close();
  process.exit(1);
}
listener.addConnection(rendezvous);

// Prometheus metrics: ringwire's network and game loop figures and the process's, read at each scrape.
const registry = flags['metrics-port'] === 0 ? null : processRegistry(null);
let metricsServer: Server | null = null;
if (registry !== null) {
  registerMetrics(manager, { registry });
  try {
    metricsServer = await serveMetrics(flags.host, flags['metrics-port'], () => registry.metrics(), registry.contentType);
  } catch (error) {
    console.error(`arena: cannot serve metrics on ${flags.host}:${flags['metrics-port']}: ${(error as Error).message}`);
    await manager.close();
    process.exit(1);
  }
  console.log(`arena metrics on http://${flags.host}:${flags['metrics-port']}/metrics`);
}

const transport: ArenaTransport<Connection, ConnectionGroup> = {
  send: (dg, conn) => void writer.send(dg, conn),
  broadcast: (dg, group) => void writer.broadcast(dg, group),
  newGroup: () => new ConnectionGroup(),
  addToGroup: (group, conn) => void group.add(conn),
  removeFromGroup: (group, conn) => void group.remove(conn),
  // Flushes what was sent, then FIN; a closed connection is not queued as a reset, so the
  // game forgets it before it calls this.
  close: (conn) => void manager.closeConnection(conn),
};
const journal = flags.journal === '-' ? null : new JournalFile(flags.journal);
const game = new ArenaGame(transport, journal?.write ?? null);

// Reused on every poll: getData refills the one NetDatagram, the iterator is pointed at it.
const datagram = new NetDatagram();
const iterator = new PyDatagramIterator(datagram);
const newConnection = new PointerToConnection();
const resetConnection = new PointerToConnection();

const workers = manager.getStats().workerShards;
const server: ArenaServer = {
  description: `ringwire, ${workers > 0 ? `${workers} worker shards` : 'single-thread mode'}, on ${rendezvous.getAddress().toString()}`,
  poll() {
    while (listener.getNewConnection(newConnection)) {
      const conn = newConnection.p()!;
      if (!reader.addConnection(conn)) continue; // already gone
      conn.setNoDelay(true);
      game.onConnect(conn);
    }
    while (reader.getData(datagram)) {
      iterator.assign(datagram);
      game.onMessage(datagram.getConnection()!, iterator);
    }
    // After the data: a connection's reset comes after its last datagram.
    while (manager.getResetConnection(resetConnection)) {
      const conn = resetConnection.p()!;
      game.onReset(conn, conn.getResetReason() ?? 'error');
    }
  },
  stopAccepting() {
    listener.removeConnection(rendezvous);
    manager.closeConnection(rendezvous);
  },
  close: async () => {
    await manager.close();
    metricsServer?.close();
  },
};

await runArena(
  server,
  game,
  {
    duration: flags.duration,
    statsJson: flags['stats-json'] === 'yes',
    supervised: process.env.RINGWIRE_SUPERVISED === '1',
    onTaskManager: registry === null ? undefined : (taskMgr) => void registerMetrics(taskMgr, { registry }),
  },
  journal,
);
