/**
 * Wire compatibility with Panda3D, checked against a peer written with plain node:net and
 * hand-built frames: the u16 little-endian length header (default), the u32 header
 * (setTcpHeaderSize(4)), and raw mode (no header, no boundaries).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Datagram } from '../../src/shared/datagram.js';
import { DatagramIterator } from '../../src/shared/datagram-iterator.js';
import { NetDatagram } from '../../src/main/api/net-datagram.js';
import type { QueuedConnectionReader } from '../../src/main/api/queued-connection-reader.js';
import { Peer, Rng, closeAll, frame, pollUntil, startServer, yieldTurn } from '../helpers/net-harness.js';

/** Polls `reader` until `count` datagrams arrived; returns copies of their bytes. */
async function receive(reader: QueuedConnectionReader, count: number, label: string): Promise<number[][]> {
  const out: number[][] = [];
  const dg = new NetDatagram();
  await pollUntil(
    () => {
      while (reader.getData(dg)) out.push(Array.from(dg.getMessage()));
      return out.length >= count;
    },
    { label },
  );
  return out;
}

function sample(): Datagram {
  const dg = new Datagram();
  dg.addUint16(0x1234);
  dg.addString('hi');
  return dg;
}

const SAMPLE_PAYLOAD = [0x34, 0x12, 2, 0, 0x68, 0x69];

describe.each([0, 2])('wire format (numThreads %i)', (n) => {
  afterEach(closeAll);

  describe('header size 2 (the default)', () => {
    it('the writer puts exactly [len u16 LE][payload] on the wire', async () => {
      const server = await startServer(n);
      expect(server.reader.getTcpHeaderSize()).toBe(2);
      expect(server.writer.getTcpHeaderSize()).toBe(2);
      const peer = await Peer.connect(server.port);
      const conn = await server.accept({ read: false });
      expect(server.writer.send(sample(), conn)).toBe(true);
      expect(server.writer.send(new Datagram(), conn)).toBe(true);
      await pollUntil(() => peer.receivedBytes >= 10, { label: '10 bytes at the peer' });
      expect([...peer.bytes()]).toEqual([6, 0, ...SAMPLE_PAYLOAD, 0, 0]);
    });

    it('encodes the Datagram fields byte for byte as Panda3D does', async () => {
      const server = await startServer(n);
      const peer = await Peer.connect(server.port);
      const conn = await server.accept({ read: false });
      const dg = new Datagram();
      dg.addBool(true);
      dg.addInt8(-2);
      dg.addInt16(-300);
      dg.addUint32(0xdeadbeef);
      dg.addInt64(-5n);
      dg.addFloat32(1.5);
      dg.addFloat64(-0.25);
      dg.addBeUint16(0xabcd);
      dg.addString32('ab');
      dg.addZString('z');
      dg.addFixedString('xy', 4);
      dg.addBlob(new Uint8Array([9, 8]));
      const expected = Buffer.alloc(1 + 1 + 2 + 4 + 8 + 4 + 8 + 2 + 6 + 2 + 4 + 4);
      let at = 0;
      at = expected.writeUInt8(1, at);
      at = expected.writeInt8(-2, at);
      at = expected.writeInt16LE(-300, at);
      at = expected.writeUInt32LE(0xdeadbeef, at);
      at = expected.writeBigInt64LE(-5n, at);
      at = expected.writeFloatLE(1.5, at);
      at = expected.writeDoubleLE(-0.25, at);
      at = expected.writeUInt16BE(0xabcd, at);
      at = expected.writeUInt32LE(2, at);
      at += expected.write('ab', at);
      at += expected.write('z\0', at);
      at += expected.write('xy\0\0', at);
      at = expected.writeUInt16LE(2, at);
      expected.set([9, 8], at);
      expect(dg.getLength()).toBe(expected.length);
      expect(server.writer.send(dg, conn)).toBe(true);
      await pollUntil(() => peer.frameCount === 1, { label: 'one frame at the peer' });
      expect(peer.bytes().equals(frame(expected, 2))).toBe(true);
    });

    it('the reader cuts hand-built frames, however the bytes are split', async () => {
      const server = await startServer(n);
      const peer = await Peer.connect(server.port);
      await server.accept();
      const big = new Uint8Array(65535).map((_, i) => (i * 7) & 0xff);
      const stream = Buffer.concat([
        Buffer.from([6, 0, ...SAMPLE_PAYLOAD]),
        frame([], 2),
        frame([0xff], 2),
        frame(big, 2),
        frame([1, 2, 3], 2),
      ]);
      // One byte per write for the first frames (each header and body split), the rest whole.
      for (let i = 0; i < 12; i++) {
        await peer.write(stream.subarray(i, i + 1));
        await yieldTurn();
      }
      await peer.write(stream.subarray(12));
      const got = await receive(server.reader, 5, '5 datagrams at the server');
      expect(got[0]).toEqual(SAMPLE_PAYLOAD);
      expect(got[1]).toEqual([]);
      expect(got[2]).toEqual([0xff]);
      expect(Buffer.from(got[3]).equals(Buffer.from(big))).toBe(true);
      expect(got[4]).toEqual([1, 2, 3]);

      const it0 = new DatagramIterator(new Datagram(got[0]));
      expect(it0.getUint16()).toBe(0x1234);
      expect(it0.getString()).toBe('hi');
    });

    it('refuses to send a datagram longer than a u16 header can announce', async () => {
      const server = await startServer(n);
      await Peer.connect(server.port);
      const conn = await server.accept({ read: false });
      const dg = new Datagram();
      dg.padBytes(65536);
      expect(() => server.writer.send(dg, conn)).toThrow(RangeError);
      expect(() => server.writer.send(dg, conn)).toThrow(/65536/);
    });
  });

  describe('header size 4', () => {
    it('the writer puts exactly [len u32 LE][payload] on the wire', async () => {
      const server = await startServer(n, { headerSize: 4 });
      expect(server.reader.getTcpHeaderSize()).toBe(4);
      expect(server.writer.getTcpHeaderSize()).toBe(4);
      const peer = await Peer.connect(server.port, { headerSize: 4 });
      const conn = await server.accept({ read: false });
      expect(server.writer.send(sample(), conn)).toBe(true);
      await pollUntil(() => peer.receivedBytes >= 10, { label: '10 bytes at the peer' });
      expect([...peer.bytes()]).toEqual([6, 0, 0, 0, ...SAMPLE_PAYLOAD]);
    });

    it('carries datagrams past 65535 bytes both ways', async () => {
      const server = await startServer(n, { headerSize: 4 });
      const peer = await Peer.connect(server.port, { headerSize: 4 });
      const conn = await server.accept();
      const big = new Uint8Array(100_000).map((_, i) => (i * 13 + 5) & 0xff);

      await peer.write(Buffer.concat([Buffer.from([6, 0, 0, 0, ...SAMPLE_PAYLOAD]), frame(big, 4), frame([], 4)]));
      const got = await receive(server.reader, 3, '3 datagrams at the server');
      expect(got[0]).toEqual(SAMPLE_PAYLOAD);
      expect(Buffer.from(got[1]).equals(Buffer.from(big))).toBe(true);
      expect(got[2]).toEqual([]);

      expect(server.writer.send(new Datagram(big), conn)).toBe(true);
      await pollUntil(() => peer.frameCount === 1, { label: 'the big frame at the peer' });
      expect(peer.bytes().equals(frame(big, 4))).toBe(true);
    });
  });

  describe.each([
    ['setRawMode(true)', { raw: true }],
    ['setTcpHeaderSize(0)', { headerSize: 0 as const }],
  ])('no header: %s', (_name, options) => {
    it('the reader delivers the bytes unframed; their concatenation is what was sent', async () => {
      const server = await startServer(n, options);
      const peer = await Peer.connect(server.port, { headerSize: 0 });
      await server.accept();
      const rng = new Rng(42);
      const sent = Buffer.alloc(200_000);
      for (let i = 0; i < sent.length; i++) sent[i] = rng.below(256);
      // Bytes that look like headers must not be taken for one.
      sent.set([0xff, 0xff, 0xff, 0xff], 0);
      const writing = peer.writeInSlices(sent, rng, 5000);
      const parts: Buffer[] = [];
      let total = 0;
      const dg = new NetDatagram();
      await pollUntil(
        () => {
          while (server.reader.getData(dg)) {
            parts.push(Buffer.from(dg.getMessage()));
            total += dg.getLength();
          }
          return total >= sent.length;
        },
        { label: `${sent.length} raw bytes at the server` },
      );
      await writing;
      expect(total).toBe(sent.length);
      expect(Buffer.concat(parts).equals(sent)).toBe(true);
      expect(parts.every((p) => p.length > 0)).toBe(true);
    });

    it('the writer sends the payload bytes as they are', async () => {
      const server = await startServer(n, options);
      const peer = await Peer.connect(server.port, { headerSize: 0 });
      const conn = await server.accept({ read: false });
      const first = sample();
      const second = new Datagram([1, 2, 3]);
      expect(server.writer.send(first, conn)).toBe(true);
      expect(server.writer.send(second, conn)).toBe(true);
      await pollUntil(() => peer.receivedBytes >= 9, { label: '9 bytes at the peer' });
      expect([...peer.bytes()]).toEqual([...SAMPLE_PAYLOAD, 1, 2, 3]);
    });
  });
});
