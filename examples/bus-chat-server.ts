/**
 * Chat rooms that span processes: a ringwire server whose clients join channels and say
 * things in them, with a ChannelBus over NATS carrying each line to the room's members in
 * every process. Run two (or more) on one port with --reuse-port yes, or on different
 * ports or machines, all pointing at one nats-server.
 *
 *   nats-server -a 127.0.0.1 -p 4222 &
 *   npx tsx examples/bus-chat-server.ts --port 9100 --reuse-port yes &
 *   npx tsx examples/bus-chat-server.ts --port 9100 --reuse-port yes &
 *
 * The wire (header size 2): a client sends a datagram of u8 op and string channel — op 1
 * joins the channel, 2 leaves it, 3 says the string that follows. Every member of the
 * channel, in every process, then gets a datagram of string channel, string speaker
 * ("<pid>#<connection id>") and string text.
 */
import { connect } from '@nats-io/transport-node';
import {
  ChannelBus,
  ConnectionWriter,
  Datagram,
  DatagramIterator,
  NetDatagram,
  PointerToConnection,
  QueuedConnectionListener,
  QueuedConnectionManager,
  QueuedConnectionReader,
} from '../src/index.js';
import { choiceFlag, integerFlag, parseFlags, portFlag, stringFlag } from './cli-flags.js';

const flags = parseFlags('ringwire chat: rooms that span processes, over a NATS channel bus.', {
  host: stringFlag('address to listen on', '0.0.0.0'),
  port: portFlag(9100),
  shards: integerFlag('worker shards reading the sockets (0: single-thread mode)', 1, 0, 64),
  nats: stringFlag('the NATS server', 'nats://127.0.0.1:4222'),
  'reuse-port': choiceFlag('bind with SO_REUSEPORT so that other processes may share the port', 'no', ['no', 'yes']),
});

export const Op = { JOIN: 1, LEAVE: 2, SAY: 3 } as const;

const nats = await connect({ servers: flags.nats, maxReconnectAttempts: -1, reconnectTimeWait: 250 }).catch((error: Error) => {
  console.error(`bus-chat-server: cannot reach NATS at ${flags.nats}: ${error.message}`);
  process.exit(1);
});
void (async () => {
  for await (const status of nats.status()) {
    if (status.type === 'disconnect' || status.type === 'reconnect') console.log(`bus ${status.type}`);
  }
})();

const manager = new QueuedConnectionManager({ reusePort: flags['reuse-port'] === 'yes' });
const listener = new QueuedConnectionListener(manager, 0);
const reader = new QueuedConnectionReader(manager, flags.shards);
const writer = new ConnectionWriter(manager, flags.shards);
const bus = new ChannelBus({ nats, writer, prefix: 'chat' });
const rendezvous = await manager.openTCPServerRendezvous(flags.host, flags.port, 1000);
if (rendezvous === null) {
  console.error(`bus-chat-server: cannot listen on ${flags.host}:${flags.port}: ${manager.getLastError()?.message}`);
  process.exit(1);
}
listener.addConnection(rendezvous);

const newConnection = new PointerToConnection();
const dropped = new PointerToConnection();
const incoming = new NetDatagram();
const line = new Datagram();
const stop = new AbortController();

/** One turn: new clients, resets (they leave their channels by themselves), then requests. */
function turn(): void {
  while (listener.getNewConnection(newConnection)) {
    const conn = newConnection.p()!;
    reader.addConnection(conn);
    conn.setNoDelay(true);
  }
  while (manager.getResetConnection(dropped));
  while (reader.getData(incoming)) {
    const from = incoming.getConnection()!;
    try {
      const it = new DatagramIterator(incoming);
      const op = it.getUint8();
      const channel = it.getString();
      if (op === Op.JOIN) bus.subscribe(channel, from);
      else if (op === Op.LEAVE) bus.unsubscribe(channel, from);
      else if (op === Op.SAY) {
        line.clear();
        line.addString(channel);
        line.addString(`${process.pid}#${from.id}`);
        line.addString(it.getString());
        bus.publish(channel, line);
      }
    } catch (error) {
      // A malformed request ends that client, not the server.
      console.error(`bus-chat-server: ${from.toString()}: ${(error as Error).message}`);
      manager.closeConnection(from);
    }
  }
}

async function loop(): Promise<void> {
  while (!stop.signal.aborted) {
    turn();
    await manager.waitForReaders(-1, { signal: stop.signal }).catch(() => false);
  }
}

async function shutdown(why: string): Promise<void> {
  stop.abort();
  bus.close();
  await manager.close();
  await nats.drain().catch(() => {});
  const { published, received } = bus.getCounts();
  console.log(`ringwire chat stopped (${why}): published ${published}, received from other processes ${received}`);
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));

console.log(`ringwire chat on ${rendezvous.getAddress().toString()} — bus ${flags.nats}, pid ${process.pid}`);
void loop();
