import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetDatagram } from '../../src/main/api/net-datagram.js';
import { encodeFrame } from '../../src/shared/frame-encoder.js';
import { PointerToConnection } from '../../src/main/api/pointer-to-connection.js';
import { fuzzRuns } from '../helpers/fuzz-runs.js';
import { Peer, closeAll, pollUntil, startServer, type TestServer } from '../helpers/net-harness.js';

/**
 * The socket path under arbitrary bytes: valid frames then garbage, written in arbitrary
 * pieces over a real socket to a shard. The valid frames must arrive intact and in order,
 * the connection must end with a reason, and the server must keep serving.
 */
describe.each([0, 2])('shard socket path under arbitrary input, %i shards', (n) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer(n);
    server.reader.setMaxDatagramSize(2000);
  });
  afterAll(closeAll);

  it('delivers the valid prefix, then ends the connection with a reason; the server lives on', async () => {
    const dg = new NetDatagram();
    const ptr = new PointerToConnection();
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 1500 }), { maxLength: 10 }),
        fc.uint8Array({ maxLength: 8192 }),
        fc.array(fc.integer({ min: 1, max: 4096 }), { minLength: 1, maxLength: 10 }),
        async (valid, garbage, pieces) => {
          const peer = await Peer.connect(server.port, { keepBytes: false, keepFrames: false });
          const conn = await server.accept();
          const stream = Buffer.concat([...valid.map((d) => encodeFrame(d, 2)), garbage]);
          for (let at = 0, i = 0; at < stream.length; i++) {
            const size = pieces[i % pieces.length];
            await peer.write(stream.subarray(at, at + size)).catch(() => undefined);
            at += size;
          }
          peer.socket.end();
          const got: number[][] = [];
          await pollUntil(
            () => {
              while (server.reader.getData(dg)) {
                if (dg.getConnection() === conn) got.push(Array.from(dg.getMessage()));
              }
              while (server.manager.getResetConnection(ptr)) if (ptr.p() === conn) return true;
              return false;
            },
            { label: 'the fuzzed connection to end' },
          );
          expect(got.slice(0, valid.length)).toEqual(valid.map((d) => Array.from(d)));
          expect(['closed-by-peer', 'oversized-datagram']).toContain(conn.getResetReason());
          await peer.close();
        },
      ),
      { numRuns: fuzzRuns(100) },
    );
    // Closed sockets leave their shard as their close events arrive.
    await pollUntil(() => server.manager.getStats().connections === 0, {
      label: `the shard to let go of every fuzzed connection (${server.manager.getStats().connections} held)`,
    });
  });
});
