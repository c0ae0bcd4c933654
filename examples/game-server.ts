// A game server's skeleton on ringwire: the README's "Writing a game server", as a file
// (test/examples/game-server.test.ts runs it, and checks that the README shows it whole).
// The arena (examples/arena/) is the same structure grown into a full game.
import {
  type Connection,
  ConnectionGroup,
  ConnectionWriter,
  NetDatagram,
  PointerToConnection,
  PyDatagram,
  PyDatagramIterator,
  QueuedConnectionListener,
  QueuedConnectionManager,
  QueuedConnectionReader,
  Task,
  TaskManager,
} from 'ringwire';
import { serveGameMetrics } from './game-metrics.js';

const PORT = Number(process.env.PORT ?? 9300);
const JOIN = 1; // client → server: string name
const INPUT = 2; // client → server: u32 sequence, i8 direction (-1, 0, 1)
const WELCOME = 10; // server → client: u32 your id
const STATE = 11; // server → client: u32 tick, u8 n, n × (u32 id, f32 x, u32 last input)
const SPEED = 5; // units a second

interface Player {
  id: number;
  name: string;
  x: number;
  direction: number;
  lastInput: number;
}

// The network: worker shards own the sockets; this thread only polls.
const manager = new QueuedConnectionManager();
const listener = new QueuedConnectionListener(manager, 0);
const reader = new QueuedConnectionReader(manager, 2);
const writer = new ConnectionWriter(manager, 2);
reader.setMaxDatagramSize(256); // clients send small messages: a larger one resets its sender
writer.setMaxSendBacklog(256 * 1024); // a client this far behind misses states rather than queueing them

const rendezvous = await manager.openTCPServerRendezvous(PORT, 1000);
if (rendezvous === null) throw manager.getLastError()!;
listener.addConnection(rendezvous);
console.log(`game server on port ${rendezvous.getAddress().getPort()}`);

// Browsers, when WS_PORT is set: the same game over WebSocket (examples/browser-client.html),
// in the same room. The shards do the upgrade and the framing: each message is a datagram.
const browsers = process.env.WS_PORT === undefined ? null : await manager.openTCPServerRendezvous(Number(process.env.WS_PORT), 1000, { websocket: true });
if (browsers !== null) {
  listener.addConnection(browsers);
  console.log(`browsers on ws://localhost:${browsers.getAddress().getPort()}/`);
}

// Per-connection state: the Connection from the listener, from getData() and from the
// reset queue is one and the same object, so it keys a Map.
const players = new Map<Connection, Player>();
const room = new ConnectionGroup();
let nextId = 1;
let tick = 0;

// Made once, reused for every datagram: the poll allocates nothing per message.
const incoming = new NetDatagram();
const iterator = new PyDatagramIterator(incoming);
const outgoing = new PyDatagram();
const newConnection = new PointerToConnection();
const ended = new PointerToConnection();

function forget(conn: Connection): void {
  players.delete(conn);
  room.remove(conn);
}

function handle(conn: Connection): void {
  const type = iterator.getUint8();
  const player = players.get(conn);
  if (type === JOIN && player === undefined) {
    const joined: Player = { id: nextId++, name: iterator.getString(), x: 0, direction: 0, lastInput: 0 };
    players.set(conn, joined);
    room.add(conn);
    outgoing.clear();
    outgoing.addUint8(WELCOME);
    outgoing.addUint32(joined.id);
    writer.send(outgoing, conn); // outgoing may be reused as soon as send returns
  } else if (type === INPUT && player !== undefined) {
    player.lastInput = iterator.getUint32();
    player.direction = Math.sign(iterator.getInt8());
  } else {
    throw new Error(`unexpected message ${type}`);
  }
}

function poll(): void {
  while (listener.getNewConnection(newConnection)) reader.addConnection(newConnection.p()!);
  while (reader.getData(incoming)) {
    const conn = incoming.getConnection()!;
    iterator.assign(incoming);
    try {
      handle(conn);
    } catch {
      // A malformed message (the iterator ran past its end, or a type out of place). A
      // closed connection is not queued as a reset: forget it first.
      forget(conn);
      manager.closeConnection(conn);
    }
  }
  // After the data: a connection's reset comes after its last datagram.
  while (manager.getResetConnection(ended)) forget(ended.p()!);
}

function sendState(): void {
  outgoing.clear();
  outgoing.addUint8(STATE);
  outgoing.addUint32(tick);
  outgoing.addUint8(players.size);
  for (const player of players.values()) {
    outgoing.addUint32(player.id);
    outgoing.addFloat32(player.x);
    outgoing.addUint32(player.lastInput);
  }
  writer.broadcast(outgoing, room); // framed once per shard, sent to every member
}

// The loop: 60 fixed steps a second (dt = 1/60), at most 4 run back to back after a stall.
const taskMgr = new TaskManager();
taskMgr.add(() => {
  poll();
  return Task.cont;
}, 'poll', -10);
taskMgr.add((task) => {
  tick++;
  for (const player of players.values()) player.x += player.direction * SPEED * task.dt;
  if (tick % 3 === 0) sendState(); // 20 states a second
  return Task.cont;
}, 'simulate');

// Prometheus metrics (the README's "Metrics for Prometheus") when METRICS_PORT is set.
const metrics = process.env.METRICS_PORT === undefined ? null : serveGameMetrics(manager, taskMgr, Number(process.env.METRICS_PORT));

// Shutdown: `on`, not `once`, so a second Ctrl-C (or `timeout` signalling the process and
// then its group) cannot kill the drain halfway. stop() lets the step in progress finish.
process.on('SIGINT', () => taskMgr.stop());
process.on('SIGTERM', () => taskMgr.stop());
await taskMgr.run({ fixedRate: 60, maxCatchUpSteps: 4 });

// The drain: stop accepting, take what came in, send the last state, then flush and close.
for (const open of browsers === null ? [rendezvous] : [rendezvous, browsers]) {
  listener.removeConnection(open);
  manager.closeConnection(open);
}
poll();
sendState();
await manager.close(); // writes everything sent, then closes every connection and worker
metrics?.close();
console.log(`game server stopped after ${tick} ticks`);
process.exit(0);
