/**
 * The harness's WebSocket client, for the `ws` target: one `ws` WebSocket per connection,
 * each payload one binary message (WebSocket messages carry their own boundaries, so the
 * header size does not apply). Echoes arrive as 'message' events and reach the sink at
 * once, timed when the event fires.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import type { ClientSink, ClientTransport } from './client-transport.js';

/** Bytes a socket may have buffered before send() refuses (retry later). */
const HIGH_WATER = 1024 * 1024;
/** How long close() waits for the closing handshakes before it terminates the sockets (ms). */
const CLOSE_TIMEOUT_MS = 2000;

export interface WsClientOptions {
  host: string;
  port: number;
  /** Connections the run will open. */
  connections: number;
}

export class WsClient implements ClientTransport {
  readonly transport = 'ws' as const;
  readonly polled = false;
  private readonly sockets: (WebSocket | null)[];
  /** Every socket opened, until it has closed (close() waits for them). */
  private readonly live = new Set<WebSocket>();
  private readonly url: string;
  private error: Error | null = null;
  private closing: Promise<void> | null = null;
  /** Sockets corked during this turn's sends; uncorked together in a microtask. */
  private readonly corked: Socket[] = [];
  private readonly uncorkAll = (): void => {
    const corked = this.corked;
    for (let i = 0; i < corked.length; i++) corked[i].uncork();
    corked.length = 0;
  };

  constructor(
    options: WsClientOptions,
    private readonly sink: ClientSink,
  ) {
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    this.url = `ws://${host}:${options.port}/`;
    this.sockets = new Array<WebSocket | null>(options.connections).fill(null);
  }

  connect(index: number, timeoutMs: number): Promise<boolean> {
    if (this.closing !== null) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const socket = new WebSocket(this.url, { perMessageDeflate: false, handshakeTimeout: timeoutMs > 0 ? timeoutMs : undefined });
      this.live.add(socket);
      let opened = false;
      socket.on('open', () => {
        if (this.closing !== null) {
          socket.terminate();
          resolve(false);
          return;
        }
        opened = true;
        this.sockets[index] = socket;
        resolve(true);
      });
      socket.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
        const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : new Uint8Array(data);
        this.sink.onEcho(index, bytes, 0, bytes.length, performance.now());
      });
      socket.on('error', (error: Error) => {
        this.error = error;
      });
      socket.on('close', () => {
        this.live.delete(socket);
        if (!opened) {
          this.error ??= new Error(`connect to ${this.url} failed`);
          resolve(false);
          return;
        }
        if (this.sockets[index] === socket) {
          this.sockets[index] = null;
          if (this.closing === null) this.sink.onReset(index);
        }
      });
    });
  }

  send(index: number, bytes: Uint8Array, length: number): boolean {
    const socket = this.sockets[index];
    if (socket === null || socket.readyState !== WebSocket.OPEN || socket.bufferedAmount > HIGH_WATER) return false;
    // One write (a writev) per socket per turn, not one per message.
    const raw = (socket as unknown as { _socket?: Socket })._socket;
    if (raw !== undefined && raw.writableCorked === 0) {
      raw.cork();
      if (this.corked.push(raw) === 1) queueMicrotask(this.uncorkAll);
    }
    // ws masks a client's message into a new buffer, so `bytes` may be reused at once.
    socket.send(bytes.subarray(0, length), { binary: true });
    return true;
  }

  poll(): number {
    return 0;
  }

  lastError(): Error | null {
    return this.error;
  }

  close(): Promise<void> {
    this.closing ??= this.closeAll();
    return this.closing;
  }

  private async closeAll(): Promise<void> {
    const sockets = [...this.live];
    this.sockets.fill(null);
    const closed = sockets.map(
      (socket) =>
        new Promise<void>((resolve) => {
          if (socket.readyState === WebSocket.CLOSED) {
            resolve();
            return;
          }
          socket.once('close', () => resolve());
          if (socket.readyState === WebSocket.OPEN) socket.close(1000);
          else socket.terminate();
        }),
    );
    const timer = setTimeout(() => {
      for (const socket of sockets) socket.terminate();
    }, CLOSE_TIMEOUT_MS);
    await Promise.all(closed);
    clearTimeout(timer);
  }
}
