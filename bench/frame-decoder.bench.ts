/**
 * FrameDecoder throughput against the decoder a quick server usually writes: one pending
 * Buffer grown with Buffer.concat per socket chunk, each datagram copied out of it.
 *
 * Each payload size gets a ~16 MiB stream of u16-framed datagrams cut into chunks of
 * 1–64 KiB at random (the sizes socket reads come in), the same chunks for both decoders.
 * Run directly: `npx tsx bench/frame-decoder.bench.ts`.
 */
import { pathToFileURL } from 'node:url';
import { DecodeStatus, FrameDecoder, type FrameSink } from '../src/shared/frame-decoder.js';
import { printTable, type BenchRow } from './bench-row.js';

const STREAM_BYTES = 16 * 1024 * 1024;
const MIN_CHUNK = 1;
const MAX_CHUNK = 64 * 1024;
const PAYLOAD_SIZES = [16, 64, 512];
/** Each side runs at least this many passes and at least this long, after one warm-up pass. */
const MIN_PASSES = 3;
const MIN_MEASURE_MS = 1500;

interface Stream {
  chunks: Buffer[];
  datagrams: number;
  bytes: number;
}

class CountingSink implements FrameSink {
  count = 0;
  payloadBytes = 0;
  onDatagram(_bytes: Uint8Array, _start: number, length: number): boolean {
    this.count++;
    this.payloadBytes += length;
    return true;
  }
}

/** The baseline: correct, simple, and allocating per chunk and per datagram. */
class ConcatDecoder {
  private pending: Buffer = Buffer.alloc(0);
  write(chunk: Buffer, sink: FrameSink): void {
    let pending = Buffer.concat([this.pending, chunk]);
    while (pending.length >= 2) {
      const length = pending.readUInt16LE(0);
      if (pending.length < 2 + length) break;
      const datagram = Buffer.from(pending.subarray(2, 2 + length));
      sink.onDatagram(datagram, 0, length);
      pending = pending.subarray(2 + length);
    }
    this.pending = pending;
  }
}

/** xorshift32: the same chunk sizes on every run, so runs compare. */
export function makeRandom(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

function buildStream(payloadSize: number, seed: number): Stream {
  const frame = payloadSize + 2;
  const datagrams = Math.floor(STREAM_BYTES / frame);
  const bytes = Buffer.allocUnsafe(datagrams * frame);
  for (let d = 0, at = 0; d < datagrams; d++, at += frame) {
    bytes[at] = payloadSize & 0xff;
    bytes[at + 1] = payloadSize >>> 8;
    bytes.fill(d & 0xff, at + 2, at + frame);
  }
  const random = makeRandom(seed);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length;) {
    const size = MIN_CHUNK + Math.floor(random() * (MAX_CHUNK - MIN_CHUNK + 1));
    chunks.push(bytes.subarray(i, Math.min(i + size, bytes.length)));
    i += size;
  }
  return { chunks, datagrams, bytes: bytes.length };
}

function runFrameDecoder(stream: Stream): number {
  const decoder = new FrameDecoder();
  const sink = new CountingSink();
  const start = process.hrtime.bigint();
  for (const chunk of stream.chunks) {
    if (decoder.write(chunk, sink) !== DecodeStatus.NEED_MORE) throw new Error('FrameDecoder did not finish a chunk');
  }
  const ns = Number(process.hrtime.bigint() - start);
  if (sink.count !== stream.datagrams) throw new Error(`FrameDecoder emitted ${sink.count} of ${stream.datagrams}`);
  return ns;
}

function runConcatDecoder(stream: Stream): number {
  const decoder = new ConcatDecoder();
  const sink = new CountingSink();
  const start = process.hrtime.bigint();
  for (const chunk of stream.chunks) decoder.write(chunk, sink);
  const ns = Number(process.hrtime.bigint() - start);
  if (sink.count !== stream.datagrams) throw new Error(`baseline emitted ${sink.count} of ${stream.datagrams}`);
  return ns;
}

/** Warms up once, then returns the mean nanoseconds per pass over the measured passes. */
function measure(run: (stream: Stream) => number, stream: Stream): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  run(stream);
  let total = 0;
  let passes = 0;
  while (passes < MIN_PASSES || total < MIN_MEASURE_MS * 1e6) {
    gc?.();
    total += run(stream);
    passes++;
  }
  return total / passes;
}

/** Returns one row per payload size: datagrams/s of FrameDecoder against the Buffer.concat baseline. */
export async function benchFrameDecoder(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const payloadSize of PAYLOAD_SIZES) {
    const stream = buildStream(payloadSize, 0x9e3779b9 ^ payloadSize);
    const ns = measure(runFrameDecoder, stream);
    const baselineNs = measure(runConcatDecoder, stream);
    const opsPerSec = (stream.datagrams * 1e9) / ns;
    const baselineOpsPerSec = (stream.datagrams * 1e9) / baselineNs;
    const mbps = (stream.bytes * 1e3) / ns;
    const baselineMbps = (stream.bytes * 1e3) / baselineNs;
    rows.push({
      name: `FrameDecoder u16, ${payloadSize} B payloads`,
      opsPerSec,
      baselineOpsPerSec,
      ratio: opsPerSec / baselineOpsPerSec,
      note: `${mbps.toFixed(0)} MB/s vs ${baselineMbps.toFixed(0)} MB/s framed input; ${stream.chunks.length} chunks of 1-64 KiB`,
    });
    // Let the event loop breathe between sizes when run inside a larger harness.
    await new Promise((resolve) => setImmediate(resolve));
  }
  return rows;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printTable('FrameDecoder (datagrams/s; baseline: Buffer.concat per chunk + copy per datagram)', await benchFrameDecoder());
}
