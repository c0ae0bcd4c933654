/**
 * Which WebSocket frame parser the shards use (#26): ringwire's WebSocketFrameDecoder
 * against the `ws` library's Receiver, on the same stream of masked client frames cut into
 * the same random 1–64 KiB socket chunks, each message then copied into a ring-like buffer
 * as a shard copies it into the inbound ring. The Receiver emits a Buffer per message (an
 * allocation, and an unmasked copy) before that copy; the decoder unmasks in place and
 * hands a view. Run with `npm run bench:micro` or directly: `npx tsx bench/websocket-decoder.bench.ts`.
 */
import { pathToFileURL } from 'node:url';
import * as ws from 'ws';
import { DecodeStatus, type FrameSink } from '../src/shared/frame-decoder.js';
import { WebSocketFrameDecoder, type WebSocketControl } from '../src/shared/websocket-frame-decoder.js';
import { printTable, type BenchRow } from './bench-row.js';
import { makeRandom } from './frame-decoder.bench.js';

/** ws's Receiver (a Writable that parses frames and emits 'message'); @types/ws does not declare it. */
const { Receiver } = ws as unknown as {
  Receiver: new (options: { isServer: boolean; binaryType: 'nodebuffer'; maxPayload: number }) => {
    on(event: 'message', listener: (data: Buffer) => void): unknown;
    write(chunk: Buffer): boolean;
  };
};

const STREAM_BYTES = 16 * 1024 * 1024;
const MAX_CHUNK = 64 * 1024;
const PAYLOAD_SIZES = [16, 64, 512];
const MIN_PASSES = 3;
const MIN_MEASURE_MS = 1500;
/** The ring-like buffer each message is copied into (wrapping), as the shard does. */
const RING = new Uint8Array(4 * 1024 * 1024);

class RingSink implements FrameSink {
  count = 0;
  at = 0;
  onDatagram(bytes: Uint8Array, start: number, length: number): boolean {
    if (this.at + length > RING.length) this.at = 0;
    RING.set(bytes.subarray(start, start + length), this.at);
    this.at += length;
    this.count++;
    return true;
  }
}

const control: WebSocketControl = {
  ping() {},
  pong() {},
  close() {},
  fail(code, why) {
    throw new Error(`decoder failed: ${code} ${why}`);
  },
};

/** Masked binary frames of `payloadSize` bytes (a browser's), cut into random chunks. */
function buildStream(payloadSize: number, seed: number): { chunks: Buffer[]; messages: number } {
  const head = payloadSize < 126 ? 2 : 4;
  const frame = head + 4 + payloadSize;
  const messages = Math.floor(STREAM_BYTES / frame);
  const bytes = Buffer.allocUnsafe(messages * frame);
  const random = makeRandom(seed);
  for (let m = 0, at = 0; m < messages; m++, at += frame) {
    bytes[at] = 0x82;
    if (head === 2) bytes[at + 1] = 0x80 | payloadSize;
    else {
      bytes[at + 1] = 0x80 | 126;
      bytes.writeUInt16BE(payloadSize, at + 2);
    }
    const key = (random() * 0x100000000) >>> 0;
    bytes.writeUInt32BE(key, at + head);
    for (let i = 0; i < payloadSize; i++) bytes[at + head + 4 + i] = (m & 0xff) ^ ((key >>> (24 - 8 * (i & 3))) & 0xff);
  }
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length;) {
    const size = 1 + Math.floor(random() * MAX_CHUNK);
    chunks.push(bytes.subarray(i, Math.min(i + size, bytes.length)));
    i += size;
  }
  return { chunks, messages };
}

/** Messages per second over passes of `run` (after one warm-up pass). */
function rate(run: () => number, messages: number): number {
  if (run() !== messages) throw new Error('a warm-up pass lost messages');
  let passes = 0;
  const started = performance.now();
  while (passes < MIN_PASSES || performance.now() - started < MIN_MEASURE_MS) {
    if (run() !== messages) throw new Error('a pass lost messages');
    passes++;
  }
  return (passes * messages * 1000) / (performance.now() - started);
}

export async function benchWebSocketDecoder(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const size of PAYLOAD_SIZES) {
    // Masking is undone in place: each pass gets its own copy of the stream.
    const { chunks, messages } = buildStream(size, 0x5eed + size);
    const fresh = (): Buffer[] => chunks.map((chunk) => Buffer.from(chunk));
    const ours = rate(() => {
      const sink = new RingSink();
      const decoder = new WebSocketFrameDecoder({ role: 'server', maxDatagramSize: 1 << 20, control });
      for (const chunk of fresh()) if (decoder.write(chunk, sink) !== DecodeStatus.NEED_MORE) throw new Error('decoder stopped');
      return sink.count;
    }, messages);
    const theirs = rate(() => {
      const sink = new RingSink();
      const receiver = new Receiver({ isServer: true, binaryType: 'nodebuffer', maxPayload: 1 << 20 });
      receiver.on('message', (data: Buffer) => sink.onDatagram(data, 0, data.length));
      for (const chunk of fresh()) receiver.write(chunk);
      return sink.count;
    }, messages);
    rows.push({
      name: `${size} B messages`,
      opsPerSec: ours,
      baselineOpsPerSec: theirs,
      ratio: ours / theirs,
      note: 'masked client frames, random 1-64 KiB chunks, each message copied into a ring buffer (both sides also copy each pass’s stream)',
    });
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  printTable('WebSocket frames → datagrams (messages/s; baseline: ws Receiver, a Buffer per message)', await benchWebSocketDecoder());
}
