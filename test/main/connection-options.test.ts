/**
 * Panda3D's Connection options (issue #13, point 2) reach the socket the shard owns: the
 * test finds that socket's descriptor through /proc (threads share the fd table) and reads
 * each option back from the kernel. SO_LINGER with 0 seconds is also seen from the peer: a
 * close resets the connection. flush() writes before the turn ends.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Datagram } from '../../src/index.js';
import { loadFdHelper } from '../../src/shared/fd-helper.js';
import { Peer, closeAll, pollUntil, startServer } from '../helpers/net-harness.js';
import { fdsOf, socketInode } from '../helpers/proc-fds.js';
import { ErrorCode } from '../../src/shared/errors.js';

afterEach(closeAll);

const helper = loadFdHelper()!;
const Native = { LINGER: 1, REUSE_ADDR: 2, RECV_BUFFER: 3, SEND_BUFFER: 4, TTL: 5, MAX_SEGMENT: 6 } as const;

/** This process's descriptor for the socket with `inode` (whichever thread owns it), or -1. */
function fdOf(inode: string): number {
  return fdsOf(`socket:[${inode}]`)[0] ?? -1;
}

describe.each([0, 2])('Connection options (numThreads %i)', (n) => {
  it('setLinger, setRecvBufferSize, setSendBufferSize, setIpTimeToLive, setMaxSegment and setReuseAddr reach the socket', async () => {
    const server = await startServer(n);
    const peer = await Peer.connect(server.port);
    const conn = await server.accept();
    const fd = fdOf(socketInode('tcp', server.port, peer.localPort)!);
    expect(fd).toBeGreaterThanOrEqual(0);
    expect(conn.setLinger(true, 7.9)).toBe(true); // a close lingers 7 s at most
    expect(conn.setRecvBufferSize(300_000)).toBe(true);
    expect(conn.setSendBufferSize(400_000)).toBe(true);
    expect(conn.setIpTimeToLive(17)).toBe(true);
    // TCP_MAXSEG is taken (the helper throws on EINVAL); an established connection reads
    // back the segment size in use, so it is not checked here.
    expect(conn.setMaxSegment(1200)).toBe(true);
    expect(conn.setReuseAddr(true)).toBe(true);
    await pollUntil(() => helper.getSocketOption(fd, Native.TTL) === 17, { timeoutMs: 5000, label: 'the options applied' });
    // A kernel linger of seconds would block the shard in close(): the kernel keeps it off.
    expect(helper.getSocketOption(fd, Native.LINGER)).toBe(-1);
    // Linux doubles what it is given, for its bookkeeping.
    expect(helper.getSocketOption(fd, Native.RECV_BUFFER)).toBe(600_000);
    expect(helper.getSocketOption(fd, Native.SEND_BUFFER)).toBe(800_000);
    expect(helper.getSocketOption(fd, Native.TTL)).toBe(17);
    expect(helper.getSocketOption(fd, Native.REUSE_ADDR)).toBe(1);
    expect(conn.setLinger(true, 0)).toBe(true);
    await pollUntil(() => helper.getSocketOption(fd, Native.LINGER) === 0, { timeoutMs: 5000, label: 'SO_LINGER 0 s' });
    expect(conn.setLinger(false, 0)).toBe(true);
    await pollUntil(() => helper.getSocketOption(fd, Native.LINGER) === -1, { timeoutMs: 5000, label: 'SO_LINGER off' });
  });

  it('setLinger(true, 1): a close whose peer takes nothing is cut after a second, not the manager’s closeLingerMs', async () => {
    const server = await startServer(n, { manager: { closeLingerMs: 60_000 } });
    const peer = await Peer.connect(server.port, { keepFrames: false, keepBytes: false });
    peer.socket.pause();
    const conn = await server.accept();
    expect(conn.setLinger(true, 1)).toBe(true);
    const dg = new Datagram(new Uint8Array(60_000));
    for (let i = 0; i < 200; i++) server.writer.send(dg, conn); // far past what the kernel buffers
    const inode = socketInode('tcp', server.port, peer.localPort)!;
    expect(inode).not.toBeNull();
    const closedAt = Date.now();
    server.manager.closeConnection(conn);
    // The server's socket lingers with bytes queued, then is cut (RST) and leaves the table.
    const present = (): boolean => readFileSync('/proc/net/tcp', 'utf8').includes(` ${inode} `);
    await pollUntil(() => !present(), { timeoutMs: 10_000, label: 'the lingering close cut' });
    expect(Date.now() - closedAt).toBeGreaterThanOrEqual(1000);
    peer.socket.resume();
    await pollUntil(() => peer.closed, { timeoutMs: 5000, label: 'the peer closed' });
    expect(peer.receivedBytes).toBeLessThan(200 * 60_002); // cut short, not a clean end
  });

  it('setLinger(true, 0): closing the connection resets it, as the peer sees', async () => {
    const server = await startServer(n);
    const peer = await Peer.connect(server.port);
    const conn = await server.accept();
    expect(conn.setLinger(true, 0)).toBe(true);
    server.manager.closeConnection(conn);
    await pollUntil(() => peer.closed, { timeoutMs: 5000, label: 'the peer closed' });
    expect((peer.error as NodeJS.ErrnoException | null)?.code).toBe('ECONNRESET');
    expect(peer.ended).toBe(false);
  });

  it('a UDP connection takes its buffer sizes and TTL; TCP-only options on it throw', async () => {
    const server = await startServer(n);
    const udp = (await server.manager.openUDPConnection(0))!;
    server.reader.addConnection(udp);
    const port = udp.getAddress().getPort();
    const fd = fdOf((socketInode('udp6', port, 0) ?? socketInode('udp', port, 0))!);
    expect(fd).toBeGreaterThanOrEqual(0);
    expect(udp.setRecvBufferSize(250_000)).toBe(true);
    expect(udp.setIpTimeToLive(9)).toBe(true);
    await pollUntil(() => helper.getSocketOption(fd, Native.RECV_BUFFER) === 500_000, { timeoutMs: 5000, label: 'SO_RCVBUF' });
    await pollUntil(() => helper.getSocketOption(fd, Native.TTL) === 9, { timeoutMs: 5000, label: 'the hop limit' });
    expect(() => udp.setLinger(true, 1)).toThrow(expect.objectContaining({ code: ErrorCode.WRONG_CONNECTION_KIND }));
    expect(() => udp.setNoDelay(true)).toThrow(/setNoDelay is for TCP/);
    expect(() => udp.setMaxSegment(1000)).toThrow(/setMaxSegment is for TCP/);
  });

  it('bad values are refused with the value and its type; a closed connection says false', async () => {
    const server = await startServer(n);
    const peer = await Peer.connect(server.port);
    const conn = await server.accept();
    expect(() => conn.setIpTimeToLive(0)).toThrow(/from 1 to 255, got 0/);
    expect(() => conn.setRecvBufferSize('64k' as never)).toThrow(/got "64k" \(string\)/);
    expect(() => conn.setLinger('yes' as never, 1)).toThrow(/expected a boolean, got "yes" \(string\)/);
    expect(() => conn.setLinger(true, -1)).toThrow(/seconds must be a non-negative number, got -1/);
    server.manager.closeConnection(conn);
    expect(conn.setLinger(true, 1)).toBe(false);
    expect(conn.flush()).toBe(false);
    expect(server.rendezvous.setRecvBufferSize(1000)).toBe(false);
    await peer.close();
  });
});

describe('Connection.flush', () => {
  it('hands the datagrams sent so far to the worker shard now, not when the turn ends', async () => {
    const server = await startServer(2);
    const peer = await Peer.connect(server.port);
    const conn = await server.accept();
    const dg = new Datagram(new Uint8Array([1, 2, 3]));
    const before = server.manager.getStats().datagramsOut;
    server.writer.send(dg, conn);
    expect(conn.flush()).toBe(true);
    // Without yielding: only a flush lets the shard see the record before this turn ends.
    const deadline = Date.now() + 5000;
    while (server.manager.getStats().datagramsOut === before && Date.now() < deadline);
    expect(server.manager.getStats().datagramsOut).toBe(before + 1);
    await pollUntil(() => peer.frameCount === 1, { timeoutMs: 5000, label: 'the datagram at the peer' });
    expect(conn.considerFlush()).toBe(true);
  });
});
