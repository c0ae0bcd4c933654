/**
 * The client of the Panda3D manual's "Client-Server Connection" page, ported line by
 * line to ringwire: it connects to examples/panda-server.ts, sends `--count` chat
 * messages, prints every broadcast it receives, and once its own messages have all come
 * back it disconnects and exits 0 (1 when the server is unreachable, goes away, or does
 * not answer within `--timeout` seconds).
 *
 *   npx tsx examples/panda-client.ts [--host 127.0.0.1] [--port 9099] [--count 5]
 */
import {
  ConnectionWriter,
  NetDatagram,
  PointerToConnection,
  PyDatagram,
  PyDatagramIterator,
  QueuedConnectionManager,
  QueuedConnectionReader,
  Task,
  TaskManager,
} from '../src/index.js';
import { integerFlag, parseFlags, portFlag, secondsFlag, stringFlag } from './cli-flags.js';

const flags = parseFlags('The Panda3D manual\'s client-server example: a chat client.', {
  host: stringFlag('server address', '127.0.0.1'),
  port: portFlag(9099),
  count: integerFlag('chat messages to send', 5, 0, 1_000_000),
  interval: integerFlag('milliseconds between messages', 100, 0, 60_000, '<ms>'),
  timeout: secondsFlag('give up when the messages have not all come back by then (default 10)'),
  shards: integerFlag('worker threads that read the socket (0: the main thread, as in the manual)', 0, 0, 64),
});

// The chat protocol, as in panda-server.ts.
/** client → server: addUint8(MSG_CHAT), addString(text) */
const MSG_CHAT = 1;
/** server → every client: addUint8(MSG_BROADCAST), addString(sender address), addString(text) */
const MSG_BROADCAST = 2;

const taskMgr = new TaskManager();

const cManager = new QueuedConnectionManager();
const cReader = new QueuedConnectionReader(cManager, flags.shards);
const cWriter = new ConnectionWriter(cManager, 0);

// ── The manual: "Connecting to the server" ───────────────────────────────────
const port_address = flags.port; // same for client and server
// a valid server URL. You can also use a DNS name
// if the server has one, such as "localhost" or "panda3d.org"
const ip_address = flags.host;
// how long until we give up trying to reach the server?
const timeout_in_miliseconds = 3000; // 3 seconds

// ringwire: opening a connection is asynchronous in Node, hence the await.
const myConnection = await cManager.openTCPClientConnection(ip_address, port_address, timeout_in_miliseconds);
if (myConnection) {
  cReader.addConnection(myConnection); // receive messages from server
} else {
  console.error(`panda-client: cannot connect to ${ip_address}:${port_address}: ${cManager.getLastError()?.message}`);
  await cManager.close();
  process.exit(1);
}
myConnection.setNoDelay(true);
console.log(`connected to ${myConnection.getAddress().toString()}`);

// Our messages carry a tag so we can tell them from other clients' in the broadcasts.
const tag = `client ${process.pid}`;
const waitingFor = new Set<string>();
let sent = 0;
let exitCode = 0;

// ── Polling, as on the server ────────────────────────────────────────────────
taskMgr.add(tskReaderPolling, 'Poll the connection reader', -40);
taskMgr.add(tskResetPolling, 'Poll the reset queue', -38);
taskMgr.doMethodLater(flags.interval / 1000, tskSendChat, 'Send chat');
taskMgr.doMethodLater(flags.timeout ?? 10, tskTimeout, 'Give up');

function tskReaderPolling(taskdata: Task): number {
  while (cReader.dataAvailable()) {
    const datagram = new NetDatagram(); // catch the incoming data in this instance
    if (cReader.getData(datagram)) {
      myProcessDataFunction(datagram);
    }
  }
  return Task.cont;
}

function tskResetPolling(taskdata: Task): number {
  const connPointer = new PointerToConnection();
  if (cManager.getResetConnection(connPointer)) {
    console.error(`panda-client: the server closed the connection (${connPointer.p()!.getResetReason()})`);
    exitCode = 1;
    disconnect();
  }
  return Task.cont;
}

function tskSendChat(taskdata: Task): number {
  if (sent >= flags.count) {
    maybeDone();
    return Task.done;
  }
  sent++;
  const text = `hello ${sent}/${flags.count} from ${tag}`;
  // ── The manual: "Sending data" ──
  const myPyDatagram = new PyDatagram();
  myPyDatagram.addUint8(MSG_CHAT);
  myPyDatagram.addString(text);
  if (cWriter.send(myPyDatagram, myConnection!)) {
    waitingFor.add(text);
    console.log(`sent: ${text}`);
  } else {
    console.error(`panda-client: could not send "${text}"`);
  }
  taskdata.delayTime = flags.interval / 1000;
  return Task.again;
}

function tskTimeout(taskdata: Task): number {
  console.error(`panda-client: ${waitingFor.size} of ${flags.count} messages did not come back in time`);
  exitCode = 1;
  disconnect();
  return Task.done;
}

function myProcessDataFunction(netDatagram: NetDatagram): void {
  const myIterator = new PyDatagramIterator(netDatagram);
  const msgID = myIterator.getUint8();
  if (msgID !== MSG_BROADCAST) {
    console.log(`received unknown message type ${msgID}`);
    return;
  }
  const from = myIterator.getString();
  const text = myIterator.getString();
  console.log(`received from ${from}: ${text}`);
  waitingFor.delete(text);
  maybeDone();
}

function maybeDone(): void {
  if (sent === flags.count && waitingFor.size === 0) disconnect();
}

// ── The manual: "Disconnecting" (the client's side) ──────────────────────────
function disconnect(): void {
  cReader.removeConnection(myConnection!);
  cManager.closeConnection(myConnection!);
  taskMgr.stop();
}

process.on('SIGINT', () => {
  exitCode = 130;
  disconnect();
});

await taskMgr.run({ frameRate: 120 });
// ringwire: flush what was sent, close the socket, stop the worker shards.
await cManager.close();
console.log(exitCode === 0 ? `done: ${flags.count} messages sent and received back` : 'done, with errors');
process.exitCode = exitCode;
