import { ConnectionWriter, type Connection, Datagram } from 'ringwire';
import { type WebSocket, WebSocketServer } from 'ws';
import type { CountedServer } from './counted-server.js';
import { startEchoLoop } from './harness/servers/echo-loop.js';
import { RingwireBenchServer } from './ringwire-bench-server.js';

/**
 * The WebSocket servers bench/websocket.bench.ts measures, in the bench's own process (its
 * main thread is the server's): both count every message that comes, and in echo mode send
 * it back to its sender, binary, unchanged.
 */
export interface WebSocketBenchServer extends CountedServer {
  /** What the game loop calls at the start of each tick (ringwire: take new clients, read with getData); the ws server's messages come as events. */
  poll(): void;
}

/**
 * The `ws` library's WebSocketServer the way most Node game backends run it (no
 * compression), everything on the main thread: its 'message' handler counts, and echoes
 * with socket.send in echo mode.
 */
export class WsLibraryServer implements WebSocketBenchServer {
  readonly mode = 'ws library, main thread';
  datagrams = 0;
  bytes = 0;
  private accepted = 0;
  readonly port: number;

  private constructor(private readonly server: WebSocketServer) {
    const address = server.address();
    this.port = address !== null && typeof address === 'object' ? address.port : 0;
  }

  /** Listens on 127.0.0.1, an ephemeral port. */
  static async open(echo: boolean): Promise<WsLibraryServer> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0, backlog: 4096, perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    const bench = new WsLibraryServer(server);
    server.on('connection', (socket: WebSocket) => {
      bench.accepted++;
      socket.on('error', () => {});
      socket.on('message', (data: Buffer, isBinary: boolean) => {
        bench.datagrams++;
        bench.bytes += data.length;
        if (echo) socket.send(data, { binary: isBinary });
      });
    });
    return bench;
  }

  connected(): number {
    return this.accepted;
  }

  poll(): void {}

  async close(): Promise<void> {
    for (const client of this.server.clients) client.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * ringwire with a WebSocket rendezvous and `threads` shards (the upgrade, the framing and
 * the sockets in the shards). Game mode: the tick polls it (accept, then getData until the
 * reader is empty), as bench/game-traffic.bench.ts does. Echo mode: the harness's echo loop
 * (bench/harness/servers/echo-loop.ts) drains the reader on the main thread and sends each
 * message back, sleeping in waitForReaders when there is nothing to read.
 */
export class RingwireWebSocketServer implements WebSocketBenchServer {
  readonly mode: string;
  readonly port: number;
  private readonly writer: ConnectionWriter;
  private stopLoop: (() => void) | null = null;

  private constructor(
    private readonly rw: RingwireBenchServer,
    threads: number,
  ) {
    this.mode = `${rw.mode}, WebSocket`;
    this.port = rw.port;
    this.writer = new ConnectionWriter(rw.manager, threads);
  }

  static async open(threads: number, echo: boolean): Promise<RingwireWebSocketServer> {
    const rw = await RingwireBenchServer.open(threads, {}, { websocket: true });
    const server = new RingwireWebSocketServer(rw, threads);
    if (echo) server.startEcho();
    return server;
  }

  get datagrams(): number {
    return this.rw.datagrams;
  }

  get bytes(): number {
    return this.rw.bytes;
  }

  connected(): number {
    return this.rw.connected();
  }

  poll(): void {
    this.rw.acceptNew();
    this.rw.readWithGetData(1 << 20);
  }

  private startEcho(): void {
    const rw = this.rw;
    const writer = this.writer;
    const outgoing = new Datagram();
    this.stopLoop = startEchoLoop({
      manager: rw.manager,
      reader: rw.reader,
      echo(bytes: Uint8Array, offset: number, length: number, conn: Connection) {
        rw.datagrams++;
        rw.bytes += length;
        outgoing.assign(bytes, offset, length);
        writer.send(outgoing, conn);
      },
      chores: () => rw.acceptNew(),
      mayDrain: () => true,
      holding: () => false,
    });
  }

  async close(): Promise<void> {
    this.stopLoop?.();
    await this.rw.close();
  }
}
