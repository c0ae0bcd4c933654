// Framing changes (setTcpHeaderSize, setRawMode, setMaxDatagramSize) on connections already
// read: every byte is framed by the settings in force when the shard received it; a
// datagram that straddles the change keeps the framing it began with (#21 point 1).
import { afterEach, describe, expect, it } from 'vitest';
import { NetDatagram } from '../../src/main/api/net-datagram.js';
import { PointerToConnection } from '../../src/main/api/pointer-to-connection.js';
import type { Connection } from '../../src/main/api/connection.js';
import { Peer, closeAll, frame, pollUntil, startServer, type TestServer } from '../helpers/net-harness.js';

afterEach(closeAll);

/**
 * The race-free switch: the server acknowledges after changing its framing, and the peer
 * sends in the new framing only once it has the acknowledgement. The shard applies the
 * change before it writes the acknowledgement (one ring carries both, in order).
 */
async function acknowledge(server: TestServer, conn: Connection, peer: Peer): Promise<void> {
  const seen = peer.receivedBytes;
  const ack = new NetDatagram();
  ack.addUint8(1);
  server.writer.send(ack, conn);
  await pollUntil(() => peer.receivedBytes > seen, { label: 'the acknowledgement' });
}

/** Polls until the reader has handed out `count` datagrams in all; returns their bytes. */
async function readDatagrams(server: TestServer, count: number, label: string): Promise<number[][]> {
  const got: number[][] = [];
  const dg = new NetDatagram();
  const reset = new PointerToConnection();
  await pollUntil(
    () => {
      while (got.length < count && server.reader.getData(dg)) got.push([...dg.getMessage()]);
      if (server.manager.getResetConnection(reset)) throw new Error(`${label}: reset ${reset.p()!.getResetReason()}`);
      return got.length >= count;
    },
    { label, timeoutMs: 10_000 },
  );
  return got;
}

describe.each([0, 2])('framing changes by stream position (%i shards)', (n) => {
  it('4 → 2 with a datagram part-way in: it ends with 4, the next header-2 datagram is read as such', async () => {
    const server = await startServer(n, { headerSize: 4 });
    const peer = await Peer.connect(server.port, { headerSize: 0 });
    const conn = await server.accept();
    const partial = frame([1, 2, 3, 4, 5, 6], 4);
    // One write: the switch request and the first bytes of the next datagram reach the shard together.
    await peer.write(Buffer.concat([frame([0xaa], 4), partial.subarray(0, 6)]));
    expect(await readDatagrams(server, 1, 'the switch request')).toEqual([[0xaa]]);
    server.reader.setTcpHeaderSize(2);
    await acknowledge(server, conn, peer);
    await peer.write(Buffer.concat([partial.subarray(6), frame([7, 7], 2), frame([8], 2)]));
    expect(await readDatagrams(server, 3, 'the rest')).toEqual([[1, 2, 3, 4, 5, 6], [7, 7], [8]]);
  });

  it('2 → 4 and framed → raw with a datagram part-way in frame nothing wrongly', async () => {
    const server = await startServer(n);
    const peer = await Peer.connect(server.port, { headerSize: 0 });
    const conn = await server.accept();
    const partial = frame([9, 9, 9], 2);
    await peer.write(Buffer.concat([frame([0xbb], 2), partial.subarray(0, 3)]));
    expect(await readDatagrams(server, 1, 'the first switch request')).toEqual([[0xbb]]);
    server.reader.setTcpHeaderSize(4);
    await acknowledge(server, conn, peer);
    const second = frame([5, 5, 5, 5], 4);
    await peer.write(Buffer.concat([partial.subarray(3), frame([0xcc], 4), second.subarray(0, 2)]));
    expect(await readDatagrams(server, 2, 'header 4')).toEqual([[9, 9, 9], [0xcc]]);
    server.reader.setRawMode(true);
    await acknowledge(server, conn, peer);
    await peer.write(Buffer.concat([second.subarray(2), Buffer.from('raw bytes')]));
    const got = await readDatagrams(server, 1, 'the header-4 datagram');
    expect(got).toEqual([[5, 5, 5, 5]]);
    const raw: number[] = [];
    const dg = new NetDatagram();
    await pollUntil(
      () => {
        while (server.reader.getData(dg)) raw.push(...dg.getMessage());
        return raw.length >= 9;
      },
      { label: 'the raw bytes' },
    );
    expect(Buffer.from(raw).toString()).toBe('raw bytes');
  });

  it('a raised setMaxDatagramSize reads the next header with the new limit', async () => {
    const server = await startServer(n);
    server.reader.setMaxDatagramSize(100);
    const peer = await Peer.connect(server.port, { headerSize: 0 });
    const conn = await server.accept();
    const straddling = frame(new Uint8Array(50).fill(3), 2);
    await peer.write(Buffer.concat([frame([0xdd], 2), straddling.subarray(0, 20)]));
    expect(await readDatagrams(server, 1, 'the raise request')).toEqual([[0xdd]]);
    server.reader.setMaxDatagramSize(3000);
    await acknowledge(server, conn, peer);
    await peer.write(Buffer.concat([straddling.subarray(20), frame(new Uint8Array(2000).fill(4), 2)]));
    const got = await readDatagrams(server, 2, 'the straddling and the large datagram');
    expect(got.map((d) => d.length)).toEqual([50, 2000]);
    expect(got[1].every((b) => b === 4)).toBe(true);
  });

  it('datagrams held for a full ring before the change keep their framing; those sent after the acknowledgement take the new one', async () => {
    const server = await startServer(n, { manager: { ringCapacity: 4096 } });
    const peer = await Peer.connect(server.port);
    const conn = await server.accept();
    // 400 header-2 datagrams in one write (5.6 KB: more than the ring holds), the first of them the switch request.
    const before = Array.from({ length: 400 }, (_, i) => frame([i & 0xff, i >> 8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 2));
    await peer.write(Buffer.concat(before));
    const first = await readDatagrams(server, 1, 'the switch request');
    expect(first[0].slice(0, 2)).toEqual([0, 0]);
    server.reader.setTcpHeaderSize(4);
    const rest = await readDatagrams(server, 399, 'the 399 held header-2 datagrams');
    rest.forEach((d, i) => expect(d.slice(0, 2)).toEqual([(i + 1) & 0xff, (i + 1) >> 8]));
    await acknowledge(server, conn, peer);
    await peer.write(Buffer.concat([frame([0xee, 1], 4), frame([0xee, 2], 4)]));
    expect(await readDatagrams(server, 2, 'the header-4 datagrams')).toEqual([[0xee, 1], [0xee, 2]]);
  });
});
