/**
 * The baseline of `--compare --udp`: the UDP echo server a team would write with
 * `node:dgram` on one thread. It checks Panda3D's UDP framing on every packet (a u16 LE
 * checksum, the sum of the payload bytes modulo 65536, then the payload) and sends a good
 * packet back to its sender as it came, header included (the payload is unchanged, so is
 * its checksum). A packet shorter than the header or with a wrong checksum is dropped,
 * as ringwire drops it, and counted; the count goes to stderr when the server stops.
 *
 *   node bench/dist/servers/plain-udp-server.js [--port 0] [--header-size N]
 *
 * `--header-size` is accepted so every server takes the same flags; it changes nothing.
 */
import dgram from 'node:dgram';
import { SERVER_HOST, announceListening, parseServerOptions, stopOnSignal } from './server-options.js';

const NAME = 'plain-udp-server';
/** Panda3D's UDP header: the u16 LE checksum. */
const CHECKSUM_BYTES = 2;

const options = parseServerOptions(NAME, process.argv.slice(2), false);
const socket = dgram.createSocket('udp4');
let rejected = 0;

/** True when `packet` carries Panda3D's checksum header and its payload matches it. */
function framed(packet: Buffer): boolean {
  if (packet.length < CHECKSUM_BYTES) return false;
  let sum = 0;
  for (let i = CHECKSUM_BYTES; i < packet.length; i++) sum += packet[i];
  return (sum & 0xffff) === (packet[0] | (packet[1] << 8));
}

socket.on('message', (packet: Buffer, from: dgram.RemoteInfo) => {
  if (!framed(packet)) {
    rejected++;
    return;
  }
  // Every message gets its own Buffer from node:dgram: it can go back as it is.
  socket.send(packet, from.port, from.address);
});

let bound = false;
socket.on('error', (error) => {
  if (!bound) {
    process.stderr.write(`${NAME}: cannot bind UDP ${SERVER_HOST}:${options.port}: ${error.message}\n`);
    process.exit(1);
  }
  // A failed send loses that one echo (UDP's way); the socket stays open.
  process.stderr.write(`${NAME}: ${error.message}\n`);
});
socket.bind(options.port, SERVER_HOST, () => {
  bound = true;
  announceListening(socket.address().port);
});

stopOnSignal(NAME, async () => {
  if (rejected > 0) process.stderr.write(`${NAME}: dropped ${rejected} packets with a bad checksum header\n`);
  await new Promise<void>((resolve) => socket.close(() => resolve()));
});
