/**
 * The foundation's micro-benchmarks, each beside a naive baseline measured in the same run:
 *   npm run bench:micro                 # prints four tables
 *   npm run bench:micro -- --json out.json
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type BenchRow, printTable } from './bench-row.js';
import { benchDatagram } from './datagram.bench.js';
import { benchFrameDecoder } from './frame-decoder.bench.js';
import { benchSpscRing } from './spsc-ring.bench.js';
import { benchWebSocketDecoder } from './websocket-decoder.bench.js';

const { values } = parseArgs({ options: { json: { type: 'string' } } });
const results: Record<string, BenchRow[]> = {};

results.frameDecoder = await benchFrameDecoder();
printTable('FrameDecoder (datagrams/s; baseline: Buffer.concat per chunk + copy per datagram)', results.frameDecoder);
results.spscRing = await benchSpscRing();
printTable('SpscRing cross-thread (records/s; baseline: postMessage per record)', results.spscRing);
results.datagram = await benchDatagram();
printTable('Datagram write + read of a game message (messages/s)', results.datagram);
results.websocketDecoder = await benchWebSocketDecoder();
printTable('WebSocket frames → datagrams (messages/s; baseline: ws Receiver, a Buffer per message)', results.websocketDecoder);

if (values.json) {
  writeFileSync(
    values.json,
    JSON.stringify({ node: process.version, date: new Date().toISOString(), results }, null, 2),
  );
  console.log(`\nwrote ${values.json}`);
}
