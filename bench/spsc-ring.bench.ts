import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { SpscRing } from '../src/shared/protocol/spsc-ring.js';
import { type BenchRow, printTable } from './bench-row.js';

const producerFile = new URL('./fixtures/ring-bench-producer.mjs', import.meta.url);

/** Records/s from a producer worker to the main thread through an SpscRing. */
async function ringRate(count: number, size: number): Promise<number> {
  const ring = SpscRing.create(1 << 20);
  const start = performance.now();
  const worker = new Worker(producerFile, { workerData: { mode: 'ring', buffer: ring.buffer, count, size } });
  let received = 0;
  let bytes = 0;
  const visit = (_k: number, _c: number, _a: number, _b: Uint8Array, _o: number, length: number) => {
    bytes += length;
  };
  while (received < count) {
    const n = ring.drain(visit);
    received += n;
    if (n === 0) {
      const wait = ring.waitForData();
      if (wait) await wait;
    }
  }
  const seconds = (performance.now() - start) / 1000;
  await worker.terminate();
  if (bytes !== count * size) throw new Error(`ring bench lost bytes: ${bytes} of ${count * size}`);
  return count / seconds;
}

/** Records/s from a producer worker to the main thread with one postMessage each. */
async function postMessageRate(count: number, size: number): Promise<number> {
  const start = performance.now();
  const worker = new Worker(producerFile, { workerData: { mode: 'post', buffer: null, count, size } });
  await new Promise<void>((resolve) => {
    let received = 0;
    worker.on('message', () => {
      if (++received === count) resolve();
    });
  });
  const seconds = (performance.now() - start) / 1000;
  await worker.terminate();
  return count / seconds;
}

/** The SpscRing cross-thread rows: ring vs postMessage per record, for 16 and 64-byte records. */
export async function benchSpscRing(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const size of [16, 64]) {
    await ringRate(200_000, size); // warm-up: JIT and worker start
    const ring = await ringRate(10_000_000, size);
    const post = await postMessageRate(300_000, size);
    rows.push({
      name: `SpscRing ${size} B records, worker → main`,
      opsPerSec: ring,
      baselineOpsPerSec: post,
      ratio: ring / post,
      note: 'baseline: postMessage per record',
    });
  }
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  printTable('SpscRing cross-thread throughput (records/s)', await benchSpscRing());
}
