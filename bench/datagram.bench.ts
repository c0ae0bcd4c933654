import { fileURLToPath } from 'node:url';
import { Datagram } from '../src/shared/datagram.js';
import { DatagramIterator } from '../src/shared/datagram-iterator.js';
import { type BenchRow, printTable } from './bench-row.js';

/** How long each measurement runs. */
const MEASURE_MS = 1000;
/** How long each loop runs before it is measured, so the JIT has settled. */
const WARMUP_MS = 200;
/** Operations between clock reads. */
const BATCH = 2000;

/** The typical game message every row writes then reads. */
interface Message {
  entityId: number;
  type: number;
  x: number;
  y: number;
  z: number;
  heading: number;
  flags: number;
  name: string;
}

/** Operations/s of `op` over about `ms` milliseconds; `op` returns a number folded into a sink. */
function rate(op: (i: number) => number, ms: number): { opsPerSec: number; sink: number } {
  let sink = 0;
  let count = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < BATCH; i++) sink += op(count + i);
    count += BATCH;
    elapsed = performance.now() - start;
  }
  return { opsPerSec: (count / elapsed) * 1000, sink };
}

/** Warms `op` up, then measures it. */
function measure(op: (i: number) => number): number {
  const warm = rate(op, WARMUP_MS);
  const run = rate(op, MEASURE_MS);
  // Using the sinks keeps the engine from dropping the work as dead code.
  if (Number.isNaN(warm.sink + run.sink)) throw new Error('benchmark produced NaN');
  return run.opsPerSec;
}

/** Datagram write + DatagramIterator read of the message, reusing one of each. */
function datagramRoundTrip(): (i: number) => number {
  const dg = new Datagram();
  const it = new DatagramIterator(dg);
  return (i) => {
    dg.clear();
    dg.addUint32(i >>> 0);
    dg.addUint16(7);
    dg.addFloat32(1.5);
    dg.addFloat32(-2.25);
    dg.addFloat32(10);
    dg.addFloat32(0.75);
    dg.addUint8(3);
    dg.addString('player-42');
    it.assign(dg);
    const entityId = it.getUint32();
    const type = it.getUint16();
    const x = it.getFloat32();
    const y = it.getFloat32();
    const z = it.getFloat32();
    const heading = it.getFloat32();
    const flags = it.getUint8();
    const name = it.getString();
    return entityId + type + x + y + z + heading + flags + name.length;
  };
}

/** Datagram addValue + getValue of the message as one object (msgpack), reusing one of each. */
function datagramValueRoundTrip(): (i: number) => number {
  const dg = new Datagram();
  const it = new DatagramIterator(dg);
  return (i) => {
    dg.clear();
    dg.addValue({ entityId: i >>> 0, type: 7, x: 1.5, y: -2.25, z: 10, heading: 0.75, flags: 3, name: 'player-42' });
    it.assign(dg);
    const m = it.getValue() as Message;
    return m.entityId + m.type + m.x + m.y + m.z + m.heading + m.flags + m.name.length;
  };
}

/** Baseline: a JS object through JSON.stringify + Buffer.from, back with toString + JSON.parse. */
function jsonRoundTrip(): (i: number) => number {
  return (i) => {
    const message: Message = {
      entityId: i >>> 0,
      type: 7,
      x: 1.5,
      y: -2.25,
      z: 10,
      heading: 0.75,
      flags: 3,
      name: 'player-42',
    };
    const bytes = Buffer.from(JSON.stringify(message));
    const m = JSON.parse(bytes.toString('utf8')) as Message;
    return m.entityId + m.type + m.x + m.y + m.z + m.heading + m.flags + m.name.length;
  };
}

/** Baseline: a small Buffer per field joined with Buffer.concat, read back with Buffer's read methods. */
function concatRoundTrip(): (i: number) => number {
  return (i) => {
    const head = Buffer.allocUnsafe(6);
    head.writeUInt32LE(i >>> 0, 0);
    head.writeUInt16LE(7, 4);
    const floats = Buffer.allocUnsafe(16);
    floats.writeFloatLE(1.5, 0);
    floats.writeFloatLE(-2.25, 4);
    floats.writeFloatLE(10, 8);
    floats.writeFloatLE(0.75, 12);
    const flags = Buffer.from([3]);
    const name = Buffer.from('player-42', 'utf8');
    const length = Buffer.allocUnsafe(2);
    length.writeUInt16LE(name.length, 0);
    const bytes = Buffer.concat([head, floats, flags, length, name]);
    let p = 0;
    const entityId = bytes.readUInt32LE(p);
    const type = bytes.readUInt16LE((p += 4));
    const x = bytes.readFloatLE((p += 2));
    const y = bytes.readFloatLE((p += 4));
    const z = bytes.readFloatLE((p += 4));
    const heading = bytes.readFloatLE((p += 4));
    const f = bytes.readUInt8((p += 4));
    const n = bytes.readUInt16LE((p += 1));
    const text = bytes.toString('utf8', p + 2, p + 2 + n);
    return entityId + type + x + y + z + heading + f + text.length;
  };
}

/**
 * Datagram rows: write then read one typical game message (u32 entity id, u16 type, three
 * float32 position, float32 heading, u8 flags, "player-42"), reusing one Datagram and one
 * DatagramIterator, against naive baselines measured in the same run.
 */
export async function benchDatagram(): Promise<BenchRow[]> {
  const typed = measure(datagramRoundTrip());
  const json = measure(jsonRoundTrip());
  const concat = measure(concatRoundTrip());
  const value = measure(datagramValueRoundTrip());
  return [
    {
      name: 'Datagram typed write+read vs JSON',
      opsPerSec: typed,
      baselineOpsPerSec: json,
      ratio: typed / json,
      note: 'baseline: JSON.stringify + Buffer.from, toString + JSON.parse',
    },
    {
      name: 'Datagram typed write+read vs Buffer.concat',
      opsPerSec: typed,
      baselineOpsPerSec: concat,
      ratio: typed / concat,
      note: 'baseline: a Buffer per field, Buffer.concat, Buffer.read*',
    },
    {
      name: 'Datagram addValue+getValue vs JSON',
      opsPerSec: value,
      baselineOpsPerSec: json,
      ratio: value / json,
      note: 'the same message as one msgpack object',
    },
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  printTable('Datagram: write then read one game message (messages/s)', await benchDatagram());
}
