/**
 * The server of the Panda3D manual's "Client-Server Connection" page, ported line by line
 * to ringwire. Each block keeps the manual's names (cManager, cListener, cReader, cWriter,
 * activeConnections, tskListenerPolling, tskReaderPolling) so it reads side by side with
 * the Python.
 *
 * What the manual leaves to the reader is filled in with a tiny chat protocol: a client
 * sends MSG_CHAT, the server broadcasts it to every client (the sender too) as
 * MSG_BROADCAST. Clients that disconnect are dropped through the manager's reset queue.
 * Ctrl-C (SIGINT) or SIGTERM runs the manual's "Disconnecting" steps and exits 0.
 *
 *   npx tsx examples/panda-server.ts [--host 0.0.0.0] [--port 9099] [--shards 0]
 *
 * The manual creates its QueuedConnectionReader with 0 threads (the program polls every
 * socket itself); ringwire can instead read the sockets in `--shards N` worker threads
 * (build first: `npm run build`), with no change to the polling code.
 */
import {
  ConnectionWriter,
  NetAddress,
  NetDatagram,
  PointerToConnection,
  PyDatagram,
  PyDatagramIterator,
  QueuedConnectionListener,
  QueuedConnectionManager,
  QueuedConnectionReader,
  Task,
  TaskManager,
  type Connection,
} from '../src/index.js';
import { integerFlag, parseFlags, portFlag, stringFlag } from './cli-flags.js';

const flags = parseFlags('The Panda3D manual\'s client-server example: a chat server that broadcasts every message.', {
  host: stringFlag('address to listen on', '0.0.0.0'),
  port: portFlag(9099),
  shards: integerFlag('worker threads that read the sockets (0: the main thread, as in the manual)', 0, 0, 64),
  'frame-rate': integerFlag('task manager frames per second (Panda3D: ClockObject MLimited)', 120, 1, 10000),
});

// The chat protocol: a message type, then its fields.
/** client → server: addUint8(MSG_CHAT), addString(text) */
const MSG_CHAT = 1;
/** server → every client: addUint8(MSG_BROADCAST), addString(sender address), addString(text) */
const MSG_BROADCAST = 2;

// Panda3D's ShowBase makes taskMgr; here it is made by hand.
const taskMgr = new TaskManager();

// ── The manual: "Connection managers, listeners, readers and writers" ─────────
const cManager = new QueuedConnectionManager();
const cListener = new QueuedConnectionListener(cManager, 0);
const cReader = new QueuedConnectionReader(cManager, flags.shards);
const cWriter = new ConnectionWriter(cManager, 0);

let activeConnections: Connection[] = []; // We'll want to keep track of these later

// ── The manual: "Starting the server" ────────────────────────────────────────
const port_address = flags.port; // No-other TCP/IP services are using this port
const backlog = 1000; // If we ignore 1,000 connection attempts, something is wrong!
// ringwire: opening a rendezvous is asynchronous in Node, hence the await.
const tcpSocket = await cManager.openTCPServerRendezvous(flags.host, port_address, backlog);
if (!tcpSocket) {
  console.error(`panda-server: cannot listen on ${flags.host}:${port_address}: ${cManager.getLastError()?.message}`);
  await cManager.close();
  process.exit(1);
}

cListener.addConnection(tcpSocket);

// ── The manual: "Polling for connections and data" ───────────────────────────
taskMgr.add(tskListenerPolling, 'Poll the connection listener', -39);
taskMgr.add(tskReaderPolling, 'Poll the connection reader', -40);
// ringwire: the manual leaves resets out; without this task, gone clients stay listed.
taskMgr.add(tskResetPolling, 'Poll the reset queue', -38);

function tskListenerPolling(taskdata: Task): number {
  // The manual checks once per frame with `if`; `while` takes every client waiting.
  while (cListener.newConnectionAvailable()) {
    const rendezvous = new PointerToConnection();
    const netAddress = new NetAddress();
    const newConnectionPtr = new PointerToConnection();

    if (cListener.getNewConnection(rendezvous, netAddress, newConnectionPtr)) {
      const newConnection = newConnectionPtr.p()!;
      activeConnections.push(newConnection); // Remember connection
      cReader.addConnection(newConnection); // Begin reading connection
      console.log(`client ${netAddress.toString()} connected (${activeConnections.length} online)`);
    }
  }
  return Task.cont;
}

function tskReaderPolling(taskdata: Task): number {
  // The manual reads one datagram per frame with `if`; `while` empties the queue.
  while (cReader.dataAvailable()) {
    const datagram = new NetDatagram(); // catch the incoming data in this instance
    // Check the return value; if we were threaded, someone else could have
    // snagged this data before we did
    if (cReader.getData(datagram)) {
      myProcessDataFunction(datagram);
    }
  }
  return Task.cont;
}

function tskResetPolling(taskdata: Task): number {
  while (cManager.resetConnectionAvailable()) {
    const connPointer = new PointerToConnection();
    if (cManager.getResetConnection(connPointer)) {
      const connection = connPointer.p()!;
      activeConnections = activeConnections.filter((c) => c !== connection);
      cReader.removeConnection(connection);
      cManager.closeConnection(connection);
      console.log(
        `client ${connection.getAddress().toString()} left: ${connection.getResetReason()} (${activeConnections.length} online)`,
      );
    }
  }
  return Task.cont;
}

// ── The manual: "Processing the data" (left to the reader; here, the chat) ──
function myProcessDataFunction(netDatagram: NetDatagram): void {
  const sender = netDatagram.getConnection()!;
  const myIterator = new PyDatagramIterator(netDatagram);
  try {
    const msgID = myIterator.getUint8();
    if (msgID !== MSG_CHAT) {
      console.log(`client ${sender.getAddress().toString()} sent unknown message type ${msgID}; ignored`);
      return;
    }
    const text = myIterator.getString();
    console.log(`${sender.getAddress().toString()}: ${text}`);
    broadcast(myNewPyDatagram(sender.getAddress().toString(), text));
  } catch (error) {
    // A malformed datagram from one client must not stop the server.
    console.log(`client ${sender.getAddress().toString()} sent a malformed message: ${(error as Error).message}`);
  }
}

function myNewPyDatagram(from: string, text: string): PyDatagram {
  // Send a test message
  const myPyDatagram = new PyDatagram();
  myPyDatagram.addUint8(MSG_BROADCAST);
  myPyDatagram.addString(from);
  myPyDatagram.addString(text);
  return myPyDatagram;
}

// ── The manual: "Sending data" — broadcast to every active connection ────────
function broadcast(datagram: PyDatagram): void {
  for (const aClient of activeConnections) {
    if (!cWriter.send(datagram, aClient)) {
      console.log(`could not send to ${aClient.getAddress().toString()} (closed, or its queue is full)`);
    }
  }
}

// ── The manual: "Disconnecting" ──────────────────────────────────────────────
let closing = false;
async function shutdown(signal: string): Promise<void> {
  if (closing) {
    console.log(`${signal} again: exiting now`);
    process.exit(1);
  }
  closing = true;
  console.log(`${signal}: closing`);
  // terminate connection to all clients
  for (const aClient of activeConnections) {
    cReader.removeConnection(aClient);
  }
  activeConnections = [];
  // close down our listener
  cManager.closeConnection(tcpSocket!);
  taskMgr.stop();
  // ringwire: flush what was sent, close the sockets and stop the worker shards.
  await cManager.close();
  console.log('panda-server closed');
}

process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));

console.log(
  `panda-server listening on ${tcpSocket.getAddress().toString()} — ` +
    (flags.shards === 0 ? 'reading on the main thread' : `${flags.shards} worker shards`),
);

// ShowBase's run(): frames until shutdown() stops the task manager.
await taskMgr.run({ frameRate: flags['frame-rate'] });
