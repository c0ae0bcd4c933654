import {
  type DatagramVisitor,
  NetDatagram,
  PointerToConnection,
  QueuedConnectionListener,
  QueuedConnectionManager,
  type QueuedConnectionManagerOptions,
  QueuedConnectionReader,
  type RendezvousOptions,
} from 'ringwire';
import type { CountedServer } from './counted-server.js';

/**
 * ringwire as the network benches run it, the way a Panda3D program does: a manager, a
 * listener on a rendezvous at 127.0.0.1, one reader with `threads` shards (0: single-thread
 * mode). The caller decides when to poll: {@link acceptNew} takes new clients and adds
 * them to the reader; {@link readWithGetData} or {@link readWithDrain} read datagrams.
 */
export class RingwireBenchServer implements CountedServer {
  /** Datagrams read since the server opened. */
  datagrams = 0;
  /** Payload bytes of those datagrams. */
  bytes = 0;
  /** Connections added to the reader. */
  accepted = 0;
  /** Connections reported reset (closed by the peer and so on). */
  resets = 0;
  readonly port: number;
  /** What actually runs: `N worker shards` or `main-thread shard`. */
  readonly mode: string;
  private readonly dg = new NetDatagram();
  private readonly newConnection = new PointerToConnection();
  private readonly resetConnection = new PointerToConnection();
  private readonly visit: DatagramVisitor;

  private constructor(
    readonly manager: QueuedConnectionManager,
    readonly listener: QueuedConnectionListener,
    readonly reader: QueuedConnectionReader,
    port: number,
  ) {
    this.port = port;
    const workers = manager.getNumWorkerShards();
    this.mode = workers > 0 ? `${workers} worker shards` : 'main-thread shard';
    this.visit = (_bytes: Uint8Array, _offset: number, length: number): void => {
      this.datagrams++;
      this.bytes += length;
    };
  }

  /**
   * Opens a manager with `threads` reader shards and a rendezvous on 127.0.0.1, ephemeral
   * port; `rendezvous` options make its streams WebSocket ones (or TLS).
   */
  static async open(threads: number, options: QueuedConnectionManagerOptions = {}, rendezvous: RendezvousOptions = {}): Promise<RingwireBenchServer> {
    if (threads > 0) warnAboutLoaders();
    const manager = new QueuedConnectionManager(options);
    const listener = new QueuedConnectionListener(manager, 0);
    const reader = new QueuedConnectionReader(manager, threads);
    const opened = await manager.openTCPServerRendezvous('127.0.0.1', 0, 4096, rendezvous);
    if (opened === null) {
      await manager.close();
      throw new Error(`ringwire bench server: cannot listen: ${manager.getLastError()?.message ?? 'unknown error'}`);
    }
    listener.addConnection(opened);
    return new RingwireBenchServer(manager, listener, reader, opened.getAddress().getPort());
  }

  /** Connections added to the reader so far. */
  connected(): number {
    return this.accepted;
  }

  /** Adds every newly accepted client to the reader and takes the queued resets (Panda3D's polling tasks). */
  acceptNew(): void {
    const listener = this.listener;
    while (listener.newConnectionAvailable()) {
      if (!listener.getNewConnection(this.newConnection)) break;
      const conn = this.newConnection.p();
      if (conn !== null && this.reader.addConnection(conn)) this.accepted++;
    }
    while (this.manager.getResetConnection(this.resetConnection)) this.resets++;
  }

  /** Reads up to `max` datagrams with getData into one reused NetDatagram; returns how many. */
  readWithGetData(max: number): number {
    const reader = this.reader;
    const dg = this.dg;
    let count = 0;
    let bytes = 0;
    while (count < max && reader.getData(dg)) {
      count++;
      bytes += dg.getLength();
    }
    this.datagrams += count;
    this.bytes += bytes;
    return count;
  }

  /** Reads up to `max` datagrams with drain (no copy); returns how many. */
  readWithDrain(max: number): number {
    return this.reader.drain(this.visit, max);
  }

  /** Closes the manager: sockets, shards and all. */
  async close(): Promise<void> {
    await this.manager.close();
  }
}

let warned = false;

/**
 * Worker shards inherit this process's execArgv: started under tsx (or any --import /
 * --require loader), every shard thread loads the loader too, and under tsx the shards ran
 * about 2x slower in our measurements. The benches are meant to run compiled (npm run
 * bench:net); say so when they are not.
 */
function warnAboutLoaders(): void {
  if (warned) return;
  const loaders = process.execArgv.filter((arg) => /^(--import|--require|-r|--loader|--experimental-loader)(=|$)/.test(arg));
  if (loaders.length === 0) return;
  warned = true;
  console.error(
    `warning: started with ${loaders.join(', ')} (a loader such as tsx): ringwire's worker shards inherit it and run slower ` +
      '(about 2x under tsx). For real figures run the compiled benches: npm run bench:net',
  );
}
