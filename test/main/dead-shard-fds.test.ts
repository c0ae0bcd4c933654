/**
 * A worker shard that dies leaves ADOPT records it never took: each holds a duplicated fd
 * that only that shard would have closed. The main thread closes them when it learns of
 * the death (ShardHandle.fail), in the ring and in the overflow behind it, and leaves
 * alone the fds a shard took (it marks them -1 before it opens a socket on them), which
 * would otherwise be closed twice. Real sockets and the real fd helper; no shard thread
 * runs, so the records stay where the test puts them.
 */
import { fstatSync } from 'node:fs';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Connection, Datagram, QueuedConnectionManager } from '../../src/index.js';
import { loadFdHelper, socketFd } from '../../src/shared/fd-helper.js';
import { ShardHandle } from '../../src/main/shards/shard-handle.js';
import { RecordKind } from '../../src/shared/protocol/record-kind.js';
import { readAdoptFd, takeAdoptFd } from '../../src/shared/protocol/read-record.js';
import { SpscRing } from '../../src/shared/protocol/spsc-ring.js';
import { closeQuietly } from '../../src/shared/close-fd.js';
import { HOST, closeAll, onCleanup } from '../helpers/net-harness.js';
import { fdTarget, fdsOf } from '../helpers/proc-fds.js';

afterEach(closeAll);

// Worker mode's hand-over needs the helper, which npm install builds: without it, fail.
const helper = loadFdHelper();
if (helper === null) throw new Error('the native fd helper is not built (npm install builds it; a C compiler is needed)');

function isOpen(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

/** A connected TCP socket (the client end of a loopback pair). */
async function connectedSocket(): Promise<net.Socket> {
  const peers = new Set<net.Socket>();
  const server = net.createServer((peer) => peers.add(peer.on('error', () => {})));
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  onCleanup(
    () =>
      new Promise<void>((resolve) => {
        for (const peer of peers) peer.destroy();
        server.close(() => resolve());
      }),
  );
  const socket = net.connect((server.address() as net.AddressInfo).port, HOST);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return socket;
}

/** The fds of the ADOPT records waiting in `ring`, read from a copy (a reader frees what it reads). */
function adoptFds(ring: SpscRing): number[] {
  const copy = new SharedArrayBuffer(ring.buffer.byteLength);
  new Uint8Array(copy).set(new Uint8Array(ring.buffer));
  const reader = new SpscRing(copy);
  const fds: number[] = [];
  while (reader.next()) if (reader.kind === RecordKind.ADOPT) fds.push(readAdoptFd(reader.bytes, reader.offset));
  return fds;
}

/** Adopts a new connected socket into `handle`; returns the duplicated fd it handed over. */
async function adoptOne(handle: ShardHandle, conn: Connection): Promise<number> {
  const socket = await connectedSocket();
  const inode = fdTarget(socketFd(socket));
  expect(inode).toMatch(/^socket:/);
  expect(handle.adopt(conn, socket)).toBe(true);
  const copies = fdsOf(inode!);
  expect(copies).toHaveLength(1);
  return copies[0];
}

describe('fds handed to a shard that died', () => {
  const manager = new QueuedConnectionManager();
  onCleanup(() => manager.close());
  let nextId = 1;
  const conn = (): Connection => new Connection(nextId++, 'tcp', manager);

  it('the fds of ADOPT records it never took are closed, in its ring and in the overflow', async () => {
    const handle = new ShardHandle(0, 4096, null, helper, 1 << 30);
    const inRing = await adoptOne(handle, conn());
    handle.commit();
    expect(adoptFds(handle.outbound)).toEqual([inRing]);
    // Fill the ring, so that the next ADOPT waits in the overflow behind it.
    const filler = conn();
    const big = new Datagram(new Uint8Array(1000));
    for (let i = 0; i < 8; i++) handle.send(filler, big, 2, 1 << 20);
    expect(handle.overflowBytes()).toBeGreaterThan(0);
    const inOverflow = await adoptOne(handle, conn());
    handle.commit();
    expect(adoptFds(handle.outbound)).toEqual([inRing]);
    expect(isOpen(inRing) && isOpen(inOverflow)).toBe(true);
    handle.fail();
    expect(isOpen(inRing)).toBe(false);
    expect(isOpen(inOverflow)).toBe(false);
  });

  it('an fd the shard took before it died is not closed again', async () => {
    const handle = new ShardHandle(0, 4096, null, helper, 1 << 30);
    const first = await adoptOne(handle, conn());
    const second = await adoptOne(handle, conn());
    handle.commit();
    // The shard reads the first ADOPT and takes its fd (as record-dispatcher does), then dies
    // before it releases the record: the ring still holds both.
    const consumer = new SpscRing(handle.outbound.buffer);
    expect(consumer.next()).toBe(true);
    expect(takeAdoptFd(consumer.bytes, consumer.offset)).toBe(first);
    expect(adoptFds(handle.outbound)).toEqual([-1, second]);
    handle.fail();
    expect(isOpen(first)).toBe(true); // the shard's socket would own it
    expect(isOpen(second)).toBe(false);
    closeQuietly(first);
  });
});
