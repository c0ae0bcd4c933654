import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Datagram } from '../../src/shared/datagram.js';
import { PointerToConnection } from '../../src/main/api/pointer-to-connection.js';
import type { Connection } from '../../src/main/api/connection.js';
import { HOST, Peer, Rng, closeAll, frame, pollUntil, startServer, type TestServer } from '../helpers/net-harness.js';

afterEach(closeAll);

/**
 * Serves every connection as a game server would: accepts and reads everything, and
 * records each reset's reason. Returns what it saw and a stop function.
 */
function serve(server: TestServer): { resets: Map<Connection, string>; accepted: Connection[]; stop: () => void } {
  const resets = new Map<Connection, string>();
  const accepted: Connection[] = [];
  const ptr = new PointerToConnection();
  const dg = new Datagram();
  let running = true;
  const turn = (): void => {
    if (!running) return;
    while (server.listener.getNewConnection(ptr)) {
      accepted.push(ptr.p()!);
      server.reader.addConnection(ptr.p()!);
    }
    while (server.reader.getData(dg));
    while (server.manager.getResetConnection(ptr)) resets.set(ptr.p()!, ptr.p()!.getResetReason()!);
    setImmediate(turn);
  };
  setImmediate(turn);
  return { resets, accepted, stop: () => (running = false) };
}

/** A well-behaved client that sends a datagram and waits for its echo, counting round trips. */
async function roundTrips(server: TestServer, count: number): Promise<number> {
  const peer = await Peer.connect(server.port);
  const conn = await server.accept();
  const dg = new Datagram();
  for (let i = 0; i < count; i++) {
    await peer.write(frame([i & 0xff]));
    await pollUntil(() => server.reader.getData(dg), { label: `datagram ${i} from the good client` });
    expect(server.writer.send(dg, conn)).toBe(true);
    await pollUntil(() => peer.frameCount === i + 1, { label: `echo ${i} to the good client` });
  }
  return peer.frameCount;
}

describe.each([0, 2])('hostile input with %i shards', (n) => {
  it('random bytes: the connection ends oversized, the server and other clients carry on', async () => {
    const server = await startServer(n);
    server.reader.setMaxDatagramSize(1000);
    const served = serve(server);
    try {
      const rng = new Rng(7);
      const junk = Buffer.alloc(64 * 1024);
      for (let i = 0; i < junk.length; i++) junk[i] = rng.below(256);
      junk[0] = 0xff; // the first header announces 0xffxx > 1000 bytes
      const bad = await Peer.connect(server.port);
      await bad.write(junk).catch(() => undefined);
      await pollUntil(() => served.resets.size === 1, { label: 'the reset of the junk sender' });
      expect([...served.resets.values()]).toEqual(['oversized-datagram']);
      await pollUntil(() => bad.closed, { label: 'the junk sender to be closed' });
    } finally {
      served.stop();
    }
    expect(await roundTrips(server, 5)).toBe(5);
  });

  it('slowloris and one byte at a time: both end with idle-timeout; memory holds only what was sent', async () => {
    const server = await startServer(n, { manager: { idleTimeoutMs: 400 } });
    const served = serve(server);
    const trickle: NodeJS.Timeout[] = [];
    try {
      const loris = await Peer.connect(server.port);
      await loris.write(Buffer.from([0xff, 0xff])); // announces 65535 bytes, sends none
      const dripper = await Peer.connect(server.port);
      const body = frame(new Uint8Array(1000));
      let at = 0;
      trickle.push(
        setInterval(() => {
          if (at < body.length && !dripper.closed) dripper.socket.write(body.subarray(at, ++at));
        }, 40),
      );
      await pollUntil(() => served.resets.size === 2, { label: 'both slow peers reset', timeoutMs: 10_000 });
      expect([...served.resets.values()]).toEqual(['idle-timeout', 'idle-timeout']);
      expect(at).toBeLessThan(body.length); // it really was cut off mid-datagram
      expect(server.manager.getStats().connections).toBe(0);
    } finally {
      trickle.forEach(clearInterval);
      served.stop();
    }
    expect(await roundTrips(server, 3)).toBe(3);
  });

  it('a flood of 5000 connections opened and dropped: all reset, none held, the server serves on', async () => {
    const server = await startServer(n, { backlog: 1024 });
    const served = serve(server);
    try {
      const total = 5000;
      let opened = 0;
      for (let batch = 0; batch < total / 250; batch++) {
        await Promise.all(
          Array.from(
            { length: 250 },
            () =>
              new Promise<void>((resolve) => {
                const socket = net.connect({ host: HOST, port: server.port });
                socket.once('connect', () => {
                  opened++;
                  socket.destroy();
                });
                socket.once('error', () => undefined);
                socket.once('close', () => resolve());
              }),
          ),
        );
      }
      expect(opened).toBe(total);
      await pollUntil(() => served.resets.size === served.accepted.length && served.accepted.length === total, {
        label: `resets for all ${total} dropped connections`,
        timeoutMs: 30_000,
      });
      expect(new Set(served.resets.values())).toEqual(new Set(['closed-by-peer']));
      await pollUntil(() => server.manager.getStats().connections === 0, { label: 'the shards to hold nothing' });
      expect(server.manager.connections.size).toBe(0);
    } finally {
      served.stop();
    }
    expect(await roundTrips(server, 3)).toBe(3);
  });

  it('a peer that closes mid-datagram: earlier datagrams arrive, the cut one does not, then the reset', async () => {
    const server = await startServer(n);
    const peer = await Peer.connect(server.port);
    const conn = await server.accept();
    await peer.write(Buffer.concat([frame([1]), frame([2, 2]), Buffer.from([10, 0, 3, 3, 3])]));
    await peer.end();
    const got: number[][] = [];
    const dg = new Datagram();
    const ptr = new PointerToConnection();
    await pollUntil(
      () => {
        while (server.reader.getData(dg)) got.push(Array.from(dg.getMessage()));
        return server.manager.getResetConnection(ptr);
      },
      { label: 'the reset after the cut datagram' },
    );
    expect(got).toEqual([[1], [2, 2]]);
    expect(ptr.p()).toBe(conn);
    expect(conn.getResetReason()).toBe('closed-by-peer');
  });

  it('a half-closed peer: its data arrives, it is reset, and still receives what was sent before', async () => {
    const server = await startServer(n);
    const peer = await Peer.connect(server.port);
    const conn = await server.accept();
    const reply = new Datagram();
    reply.addString('bye');
    for (let i = 0; i < 100; i++) expect(server.writer.send(reply, conn)).toBe(true);
    await peer.write(frame([5]));
    peer.socket.end(); // half-close: FIN sent, still reading
    const dg = new Datagram();
    const ptr = new PointerToConnection();
    let data = 0;
    await pollUntil(
      () => {
        while (server.reader.getData(dg)) data++;
        return server.manager.getResetConnection(ptr);
      },
      { label: 'the reset of the half-closed peer' },
    );
    expect(data).toBe(1);
    expect(conn.getResetReason()).toBe('closed-by-peer');
    await pollUntil(() => peer.ended, { label: "the server's FIN" });
    expect(peer.frameCount).toBe(100);
  });
});
