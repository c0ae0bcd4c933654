/**
 * No loss, no duplication, no reordering, per connection, in both directions: 100 000
 * datagrams of 0..1000 bytes over 8 connections. Sizes and bytes are derived from
 * (connection index, sequence number), so either side can check each datagram alone.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Datagram } from '../../src/shared/datagram.js';
import { NetDatagram } from '../../src/main/api/net-datagram.js';
import type { Connection } from '../../src/main/api/connection.js';
import {
  Peer,
  Rng,
  SequenceChecker,
  closeAll,
  fillPayload,
  framedStream,
  payloadSize,
  pollUntil,
  startServer,
} from '../helpers/net-harness.js';

const CONNECTIONS = 8;
const TOTAL = 100_000;
const MAX_SIZE = 1000;

/** Connects CONNECTIONS plain peers and accepts them; conns[i] is peers[i]'s server side. */
async function connectPeers(
  port: number,
  accept: () => Promise<Connection>,
  onFrame?: (index: number, payload: Buffer) => void,
): Promise<{ peers: Peer[]; conns: Connection[] }> {
  const peers: Peer[] = [];
  for (let i = 0; i < CONNECTIONS; i++) {
    peers.push(
      await Peer.connect(port, {
        keepFrames: false,
        keepBytes: false,
        onFrame: onFrame ? (payload) => onFrame(i, payload) : undefined,
      }),
    );
  }
  const byPort = new Map<number, Connection>();
  for (let i = 0; i < CONNECTIONS; i++) {
    const conn = await accept();
    byPort.set(conn.getAddress().getPort(), conn);
  }
  const conns = peers.map((peer) => byPort.get(peer.localPort)!);
  expect(conns.every((c) => c !== undefined)).toBe(true);
  return { peers, conns };
}

describe.each([0, 2])('ordering under load (numThreads %i)', (n) => {
  afterEach(closeAll);

  it('delivers 100 000 datagrams from 8 peers, each connection exactly in the order sent', async () => {
    const server = await startServer(n);
    const { peers, conns } = await connectPeers(server.port, () => server.accept());
    const index = new Map(conns.map((c, i) => [c, i]));
    const perConnection = TOTAL / CONNECTIONS;

    const checker = new SequenceChecker(CONNECTIONS, MAX_SIZE);
    const writes = peers.map((peer, i) =>
      peer.writeInSlices(framedStream(i, perConnection, MAX_SIZE), new Rng(0xc0ffee + i)),
    );
    const dg = new NetDatagram();
    let unknown = 0;
    await pollUntil(
      () => {
        while (server.reader.getData(dg)) {
          const i = index.get(dg.getConnection()!);
          if (i === undefined) unknown++;
          else checker.check(i, dg.getMessage(), 0, dg.getLength());
        }
        return checker.failure !== null || checker.total() === TOTAL;
      },
      { timeoutMs: 20_000, label: `${TOTAL} datagrams at the server` },
    );
    await Promise.all(writes);
    expect(checker.failure).toBeNull();
    expect(unknown).toBe(0);
    expect(checker.next).toEqual(new Array(CONNECTIONS).fill(perConnection));
    // Nothing more arrives: no duplicates after the last one.
    expect(server.reader.dataAvailable()).toBe(false);
  });

  it('sends 100 000 datagrams across 8 connections with ConnectionWriter, each peer gets exactly its sequence', async () => {
    const server = await startServer(n);
    const checker = new SequenceChecker(CONNECTIONS, MAX_SIZE);
    const { peers, conns } = await connectPeers(
      server.port,
      () => server.accept({ read: false }),
      (i, payload) => checker.check(i, payload, 0, payload.length),
    );

    const rng = new Rng(0x5eed);
    const sent = new Array<number>(CONNECTIONS).fill(0);
    const scratch = new Uint8Array(MAX_SIZE);
    const dg = new Datagram();
    for (let k = 0; k < TOTAL; k++) {
      const i = rng.below(CONNECTIONS);
      const seq = sent[i];
      const size = payloadSize(i, seq, MAX_SIZE);
      fillPayload(scratch, 0, i, seq, size);
      dg.assign(scratch, 0, size);
      // As a ported Panda3D program sends: the result is ignored, never retried, so a
      // refusal shows up below as a lost datagram.
      server.writer.send(dg, conns[i]);
      sent[i]++;
    }
    await pollUntil(() => checker.failure !== null || checker.total() === TOTAL, {
      timeoutMs: 20_000,
      label: `${TOTAL} datagrams at the peers`,
    });
    expect(checker.failure).toBeNull();
    expect(checker.next).toEqual(sent);
    expect(sent.reduce((a, b) => a + b, 0)).toBe(TOTAL);
    // No stray bytes after the last datagram.
    expect(peers.map((p) => p.partialBytes)).toEqual(new Array(CONNECTIONS).fill(0));
    expect(peers.map((p) => p.frameCount)).toEqual(sent);
    expect(server.writer.getCurrentQueueSize()).toBe(0);
  });
});
