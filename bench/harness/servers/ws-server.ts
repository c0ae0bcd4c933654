/**
 * The WebSocket peer of `--compare`: the `ws` package's WebSocketServer, the way most Node
 * game backends run it (no compression), echoing every message back to its sender as it
 * came (binary stays binary). The harness sends the same payloads as binary messages.
 *
 *   node bench/dist/servers/ws-server.js [--port 0] [--header-size N]
 *
 * `--header-size` is accepted so every server takes the same flags; WebSocket messages
 * carry their own framing and it changes nothing. When a client's send buffer passes
 * HIGH_WATER bytes the server stops reading that client until the buffer is written,
 * so a client that does not read cannot grow the server's memory.
 */
import { type WebSocket, WebSocketServer } from 'ws';
import { SERVER_HOST, announceListening, parseServerOptions, stopOnSignal } from './server-options.js';

const NAME = 'ws-server';
/** Bytes waiting to be written to one client before the server stops reading it. */
const HIGH_WATER = 1024 * 1024;

const options = parseServerOptions(NAME, process.argv.slice(2), false);

const server = new WebSocketServer({ host: SERVER_HOST, port: options.port, backlog: 4096, perMessageDeflate: false });

server.on('connection', (socket: WebSocket) => {
  let paused = false;
  const resume = (): void => {
    paused = false;
    socket.resume();
  };
  socket.on('error', () => {});
  socket.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
    if (!paused && socket.bufferedAmount > HIGH_WATER) {
      // Resume once this message (and so everything before it) has been written.
      paused = true;
      socket.pause();
      socket.send(data, { binary: isBinary }, resume);
      return;
    }
    socket.send(data, { binary: isBinary });
  });
});

server.on('error', (error) => {
  process.stderr.write(`${NAME}: cannot listen on ${SERVER_HOST}:${options.port}: ${error.message}\n`);
  process.exit(1);
});
server.on('listening', () => {
  const address = server.address();
  announceListening(address !== null && typeof address === 'object' ? address.port : options.port);
});

stopOnSignal(NAME, async () => {
  // WebSocketServer.close() leaves open clients alone: end them first.
  for (const client of server.clients) client.terminate();
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
});
