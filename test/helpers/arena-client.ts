// A client of the arena written from examples/arena/README.md's protocol, on plain
// node:net: it frames with Panda's u16 length header, decodes every message the server
// sends into an object and keeps them in order, and notes how the connection ended.
import net from 'node:net';
import { Datagram, DatagramIterator } from 'ringwire';
import {
  MSG_PLAYER_JOINED,
  MSG_PLAYER_LEFT,
  MSG_PLAYER_RESET,
  MSG_REJECTED,
  MSG_SHUTDOWN,
  MSG_SNAPSHOT,
  MSG_WELCOME,
  readSnapshotBody,
  writeInput,
  writeJoin,
  writeLeave,
  type Snapshot,
} from '../../examples/arena/arena-protocol.js';

export type ArenaMessage =
  | { type: 'welcome'; id: number; room: number; tickRate: number; snapshotRate: number; arena: number; radius: number; capacity: number; roster: { id: number; name: string }[] }
  | { type: 'joined'; id: number; name: string }
  | { type: 'left'; id: number }
  | { type: 'reset'; id: number; reason: string }
  | { type: 'snapshot'; snapshot: Snapshot }
  | { type: 'shutdown'; reason: string }
  | { type: 'rejected'; reason: string };

const clients = new Set<ArenaClient>();

/** Destroys every client still open (for afterEach). */
export function destroyArenaClients(): void {
  for (const client of clients) client.socket.destroy();
  clients.clear();
}

function decode(dg: Datagram): ArenaMessage {
  const it = new DatagramIterator(dg);
  const type = it.getUint8();
  switch (type) {
    case MSG_WELCOME: {
      const id = it.getUint32();
      const room = it.getUint32();
      const tickRate = it.getUint16();
      const snapshotRate = it.getUint16();
      const arena = it.getFloat32();
      const radius = it.getFloat32();
      const capacity = it.getUint8();
      const n = it.getUint8();
      const roster = Array.from({ length: n }, () => ({ id: it.getUint32(), name: it.getString() }));
      return { type: 'welcome', id, room, tickRate, snapshotRate, arena, radius, capacity, roster };
    }
    case MSG_PLAYER_JOINED:
      return { type: 'joined', id: it.getUint32(), name: it.getString() };
    case MSG_PLAYER_LEFT:
      return { type: 'left', id: it.getUint32() };
    case MSG_PLAYER_RESET:
      return { type: 'reset', id: it.getUint32(), reason: it.getString() };
    case MSG_SNAPSHOT:
      return { type: 'snapshot', snapshot: readSnapshotBody(it) };
    case MSG_SHUTDOWN:
      return { type: 'shutdown', reason: it.getString() };
    case MSG_REJECTED:
      return { type: 'rejected', reason: it.getString() };
    default:
      throw new Error(`unknown message type ${type}`);
  }
}

export class ArenaClient {
  readonly socket: net.Socket;
  readonly messages: ArenaMessage[] = [];
  /** The server's FIN came (an orderly end). */
  ended = false;
  closed = false;
  hadError = false;
  /** What the client sent, in order, as [seq, dx, dy]. */
  readonly inputs: [number, number, number][] = [];
  private pending = Buffer.alloc(0);
  private readonly waiters = new Set<() => void>();
  private readonly out = new Datagram();

  private constructor(port: number) {
    this.socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    clients.add(this);
    this.socket.on('data', (chunk: Buffer) => {
      let data = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
      while (data.length >= 2 && data.length >= 2 + data.readUInt16LE(0)) {
        const length = data.readUInt16LE(0);
        this.messages.push(decode(new Datagram(data.subarray(2, 2 + length))));
        data = data.subarray(2 + length);
      }
      this.pending = Buffer.from(data);
      this.notify();
    });
    this.socket.on('end', () => {
      this.ended = true;
      this.notify();
    });
    this.socket.on('error', () => {
      this.hadError = true;
    });
    this.socket.on('close', () => {
      this.closed = true;
      clients.delete(this);
      this.notify();
    });
  }

  static async connect(port: number): Promise<ArenaClient> {
    const client = new ArenaClient(port);
    await new Promise<void>((resolve, reject) => {
      client.socket.once('connect', resolve);
      client.socket.once('error', reject);
    });
    return client;
  }

  /** Connects and joins; resolves with the WELCOME. */
  static async join(port: number, name: string): Promise<{ client: ArenaClient; welcome: Extract<ArenaMessage, { type: 'welcome' }> }> {
    const client = await ArenaClient.connect(port);
    client.join(name);
    const welcome = await client.next('welcome');
    return { client, welcome };
  }

  join(name: string): void {
    writeJoin(this.out, name);
    this.write(this.out);
  }

  input(seq: number, dx: number, dy: number): void {
    writeInput(this.out, seq, dx, dy);
    this.inputs.push([seq, dx, dy]);
    this.write(this.out);
  }

  leave(): void {
    writeLeave(this.out);
    this.write(this.out);
  }

  /** Sends `payload` framed, as is. */
  sendRaw(payload: Uint8Array): void {
    const frame = Buffer.alloc(2 + payload.length);
    frame.writeUInt16LE(payload.length, 0);
    frame.set(payload, 2);
    this.socket.write(frame);
  }

  write(dg: Datagram): void {
    this.sendRaw(dg.getMessageView());
  }

  /** The messages of one type received so far. */
  all<T extends ArenaMessage['type']>(type: T): Extract<ArenaMessage, { type: T }>[] {
    return this.messages.filter((m): m is Extract<ArenaMessage, { type: T }> => m.type === type);
  }

  /** The last snapshot received, or null. */
  lastSnapshot(): Snapshot | null {
    const snapshots = this.all('snapshot');
    return snapshots.length === 0 ? null : snapshots[snapshots.length - 1].snapshot;
  }

  /** Resolves with the first message of `type` matching `where` (received already or later); rejects at the deadline. */
  async next<T extends ArenaMessage['type']>(type: T, where: (m: Extract<ArenaMessage, { type: T }>) => boolean = () => true, ms = 10_000): Promise<Extract<ArenaMessage, { type: T }>> {
    let found: Extract<ArenaMessage, { type: T }> | undefined;
    await this.until(() => (found = this.all(type).find(where)) !== undefined, `a ${type} message`, ms);
    return found!;
  }

  /** Resolves once `done()` holds (checked on every arrival and end); rejects at the deadline. */
  until(done: () => boolean, label: string, ms = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!done()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`arena client: ${label} not seen within ${ms} ms (${this.messages.length} messages, ended ${this.ended}, closed ${this.closed})`));
      }, ms);
      this.waiters.add(check);
      check();
    });
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}
