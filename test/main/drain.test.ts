import { afterEach, describe, expect, it } from 'vitest';
import { NetDatagram } from '../../src/main/api/net-datagram.js';
import type { Connection } from '../../src/main/api/connection.js';
import { Peer, closeAll, pollUntil, startServer } from '../helpers/net-harness.js';

afterEach(closeAll);

/** `count` 4-byte sequence-numbered datagrams, framed with a u16 header, in one buffer. */
function frames(count: number): Buffer {
  const out = Buffer.alloc(count * 6);
  for (let i = 0; i < count; i++) {
    out.writeUInt16LE(4, i * 6);
    out.writeUInt32LE(i, i * 6 + 2);
  }
  return out;
}

describe.each([0, 2])('reading runs of frames, %i shards', (n) => {
  it('drain with a small max and getData, interleaved, deliver every datagram of every connection in order', async () => {
    const server = await startServer(n);
    const count = 50_000;
    const peers: Peer[] = [];
    const conns: Connection[] = [];
    for (let i = 0; i < 4; i++) {
      peers.push(await Peer.connect(server.port));
      conns.push(await server.accept());
    }
    if (n === 2) expect(new Set(conns.map((c) => c.shard)).size).toBe(2);
    // Large writes: each socket chunk holds thousands of whole frames, sent as runs.
    await Promise.all(peers.map((p) => p.write(frames(count))));
    const next = new Map<Connection, number>(conns.map((c) => [c, 0]));
    let faults = 0;
    const check = (conn: Connection, bytes: Uint8Array, offset: number, length: number): void => {
      const value = bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16) | (bytes[offset + 3] * 2 ** 24);
      if (length !== 4 || value !== next.get(conn)) faults++;
      next.set(conn, (next.get(conn) ?? 0) + 1);
    };
    const visit = (bytes: Uint8Array, offset: number, length: number, conn: Connection): void =>
      check(conn, bytes, offset, length);
    const dg = new NetDatagram();
    let turn = 0;
    await pollUntil(
      () => {
        turn++;
        if (turn % 3 === 0) {
          for (let i = 0; i < 5 && server.reader.getData(dg); i++) {
            check(dg.getConnection()!, dg.getMessage(), 0, dg.getLength());
          }
        } else {
          server.reader.drain(visit, 1 + (turn % 37));
        }
        return faults > 0 || [...next.values()].every((v) => v === count);
      },
      { label: 'every datagram of every connection', timeoutMs: 30_000 },
    );
    expect(faults).toBe(0);
    expect([...next.values()]).toEqual([count, count, count, count]);
  });
});
