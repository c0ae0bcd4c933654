/**
 * QueuedConnectionManager.close(): it flushes what was sent, closes every socket, stops the
 * worker shards and leaves nothing behind; it is idempotent and backs `await using`.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Datagram } from '../../src/shared/datagram.js';
import { QueuedConnectionManager } from '../../src/main/api/queued-connection-manager.js';
import { QueuedConnectionReader } from '../../src/main/api/queued-connection-reader.js';
import {
  HOST,
  Peer,
  SequenceChecker,
  closeAll,
  fillPayload,
  onCleanup,
  payloadSize,
  pollUntil,
  startServer,
} from '../helpers/net-harness.js';
import { ErrorCode } from '../../src/shared/errors.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../fixtures/shutdown-child.ts', import.meta.url));
const CHILD_DEADLINE_MS = 25_000;

/** True when `port` on 127.0.0.1 can be bound again (nothing listens on it). */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ host: HOST, port }, () => probe.close(() => resolve(true)));
  });
}

describe.each([0, 2])('close() (numThreads %i)', (n) => {
  afterEach(closeAll);

  it(
    'leaves nothing behind: a process that closes its managers exits on its own',
    async () => {
      // `node --import tsx` rather than `npx tsx`: one process, so the kill below reaches it.
      const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, String(n)], {
        cwd: REPO,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const kill = onCleanup(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += String(chunk)));
      child.stderr.on('data', (chunk: Buffer) => (stderr += String(chunk)));
      try {
        const exit = await new Promise<{ code: number | null; signal: string | null }>((resolve) => {
          const timer = setTimeout(() => resolve({ code: null, signal: 'deadline' }), CHILD_DEADLINE_MS);
          child.once('exit', (code, signal) => {
            clearTimeout(timer);
            resolve({ code, signal });
          });
        });
        const report = `exit ${exit.code} (${exit.signal}); stdout: ${stdout}; stderr: ${stderr}`;
        expect(exit.signal, report).toBeNull();
        expect(exit.code, report).toBe(0);
        expect(stdout).toContain('exchanged 100');
      } finally {
        await kill();
      }
    },
    CHILD_DEADLINE_MS + 5000,
  );

  it('works with await using, and stops listening', async () => {
    let port = 0;
    let kept: QueuedConnectionManager | null = null;
    {
      await using manager = new QueuedConnectionManager();
      kept = manager;
      new QueuedConnectionReader(manager, n);
      const rendezvous = await manager.openTCPServerRendezvous(HOST, 0, 8);
      expect(rendezvous).not.toBeNull();
      port = rendezvous!.getAddress().getPort();
      expect(await portIsFree(port)).toBe(false);
    }
    expect(await portIsFree(port)).toBe(true);
    await expect(kept.openTCPServerRendezvous(HOST, 0, 8)).rejects.toMatchObject({ code: ErrorCode.MANAGER_CLOSED });
  });

  it('is safe to call twice (and concurrently)', async () => {
    const server = await startServer(n);
    const peer = await Peer.connect(server.port);
    const conn = await server.accept();
    const first = server.manager.close();
    expect(server.manager.close()).toBe(first);
    await Promise.all([first, server.manager.close()]);
    await server.manager.close();
    await server.manager[Symbol.asyncDispose]();
    expect(conn.open).toBe(false);
    expect(conn.getResetReason()).toBe('closed-locally');
    expect(server.manager.closeConnection(conn)).toBe(false);
    expect(server.writer.send(new Datagram([1]), conn)).toBe(false);
    await pollUntil(() => peer.ended, { label: "the peer to see the server's FIN" });
  });

  it('flushes: 5 000 datagrams sent right before close() all reach the peer', async () => {
    const server = await startServer(n);
    const MAX = 500;
    const checker = new SequenceChecker(1, MAX);
    const peer = await Peer.connect(server.port, {
      keepFrames: false,
      onFrame: (payload) => checker.check(0, payload, 0, payload.length),
    });
    const conn = await server.accept({ read: false });
    const COUNT = 5000;
    const scratch = new Uint8Array(MAX);
    const dg = new Datagram();
    for (let seq = 0; seq < COUNT; seq++) {
      const size = payloadSize(0, seq, MAX);
      fillPayload(scratch, 0, 0, seq, size);
      dg.assign(scratch, 0, size);
      server.writer.send(dg, conn); // the result ignored, as a ported Panda3D program does
    }
    await server.manager.close();
    await pollUntil(() => peer.ended, { label: "the peer to see the server's FIN" });
    expect(checker.failure).toBeNull();
    expect(peer.framesAtEnd).toBe(COUNT);
    expect(peer.partialBytes).toBe(0);
    expect(peer.error).toBeNull();
  });
});
