/**
 * What the worker modules' unit tests share: a real loopback socket pair (the shard's side
 * paused, as a shard adopts it) and a reader of a real ring's records.
 */
import net from 'node:net';
import { RecordKind } from '../../src/shared/protocol/record-kind.js';
import type { SpscRing } from '../../src/shared/protocol/spsc-ring.js';
import { HOST, onCleanup } from '../helpers/net-harness.js';

/** A connected pair on 127.0.0.1: `shard` is the side a shard would own (paused), `peer` the client. */
export async function socketPair(): Promise<{ shard: net.Socket; peer: net.Socket }> {
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true });
  await new Promise<void>((resolve) => server.listen({ host: HOST, port: 0 }, resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const peer = net.connect({ host: HOST, port: (server.address() as net.AddressInfo).port });
  const shard = await accepted;
  server.close();
  onCleanup(() => {
    shard.destroy();
    peer.destroy();
  });
  shard.on('error', () => {});
  peer.on('error', () => {});
  return { shard, peer };
}

/** One record read from a ring, its payload copied out. */
export interface ReadRecord {
  kind: number;
  id: number;
  aux: number;
  payload: Uint8Array;
}

/** Takes every record the ring holds now, oldest first, and frees their room. */
export function takeRecords(ring: SpscRing): ReadRecord[] {
  const records: ReadRecord[] = [];
  while (ring.next()) {
    records.push({ kind: ring.kind, id: ring.connectionId, aux: ring.aux, payload: ring.bytes.slice(ring.offset, ring.offset + ring.length) });
  }
  ring.release();
  return records;
}

/** The datagrams in inbound DATA and DATA_FRAMES records (aux of DATA_FRAMES: the header size), as arrays of bytes. */
export function datagramsOf(records: readonly ReadRecord[]): number[][] {
  const out: number[][] = [];
  for (const record of records) {
    if (record.kind === RecordKind.DATA) out.push([...record.payload]);
    else if (record.kind === RecordKind.DATA_FRAMES) {
      const header = record.aux;
      const bytes = record.payload;
      for (let at = 0; at < bytes.length;) {
        const length = header === 2 ? bytes[at] | (bytes[at + 1] << 8) : new DataView(bytes.buffer, bytes.byteOffset).getUint32(at, true);
        out.push([...bytes.subarray(at + header, at + header + length)]);
        at += header + length;
      }
    }
  }
  return out;
}

/** Everything `socket` receives, as it comes. */
export function collect(socket: net.Socket): { bytes: () => Buffer; ended: () => boolean } {
  const chunks: Buffer[] = [];
  let ended = false;
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('end', () => (ended = true));
  return { bytes: () => Buffer.concat(chunks), ended: () => ended };
}
