// One rule for data already received from a connection closed locally (#21 point 10):
// once closeConnection(conn) returns true, no read path hands out another datagram of conn,
// however it was positioned (a run of frames under way, dataAvailable, drain, drain with a
// maximum). Other connections' datagrams are unaffected.
import { afterEach, describe, expect, it } from 'vitest';
import type { Connection } from '../../src/main/api/connection.js';
import { NetDatagram } from '../../src/main/api/net-datagram.js';
import { Peer, closeAll, frame, pollUntil, startServer, type TestServer } from '../helpers/net-harness.js';

afterEach(closeAll);

type ReadPath = 'getData' | 'dataAvailable' | 'drain' | 'drain-max';

/**
 * A peer sends 50 datagrams in one write (one socket read: a run of frames in one ring
 * record); the server takes the first, closes the connection, and reads on until another
 * peer's marker arrives. Returns how many of the closed connection's datagrams it was handed.
 */
async function closeAfterFirst(server: TestServer, path: ReadPath): Promise<{ afterClose: number; marker: boolean }> {
  const peer = await Peer.connect(server.port);
  const conn = await server.accept();
  const other = await Peer.connect(server.port);
  await server.accept();
  await peer.write(Buffer.concat(Array.from({ length: 50 }, (_, i) => frame([i]))));
  await pollUntil(() => server.reader.dataAvailable(), { label: 'the first datagram' });
  let closed = false;
  let afterClose = 0;
  let marker = false;
  const seen = (from: Connection, first: number): void => {
    if (from !== conn) {
      if (first === 0xff) marker = true;
      return;
    }
    if (closed) afterClose++;
    else {
      expect(server.manager.closeConnection(conn)).toBe(true);
      closed = true;
    }
  };
  const dg = new NetDatagram();
  const readSome = (): void => {
    if (path === 'drain' || path === 'drain-max') {
      server.reader.drain((bytes, offset, _length, from) => seen(from, bytes[offset]), path === 'drain-max' ? 2 : Infinity);
    } else {
      while (server.reader.getData(dg)) {
        seen(dg.getConnection()!, dg.getMessage()[0]);
        // dataAvailable positions the next one before the close is looked at again.
        if (path === 'dataAvailable') server.reader.dataAvailable();
      }
    }
  };
  readSome();
  expect(closed).toBe(true);
  await other.write(frame([0xff]));
  await pollUntil(
    () => {
      readSome();
      return marker;
    },
    { label: "the other peer's marker" },
  );
  return { afterClose, marker };
}

describe.each([0, 2])('closeConnection inside the read loop (%i shards)', (n) => {
  it.each<ReadPath>(['getData', 'dataAvailable', 'drain', 'drain-max'])('hands out nothing more of the closed connection through %s', async (path) => {
    const server = await startServer(n);
    const { afterClose, marker } = await closeAfterFirst(server, path);
    expect(marker).toBe(true);
    expect(afterClose).toBe(0);
  });
});
