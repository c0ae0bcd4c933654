/**
 * Bad input gets a clear error (issue #12, point 6): the value is quoted with its type, a
 * call that matches no overload names the overloads, a foreign connection is refused with
 * the reason, unknown options are named, and a successful open clears getLastError().
 */
import { afterEach, describe, expect, it } from 'vitest';
import { QueuedConnectionListener } from '../../src/main/api/queued-connection-listener.js';
import { QueuedConnectionManager } from '../../src/main/api/queued-connection-manager.js';
import { QueuedConnectionReader } from '../../src/main/api/queued-connection-reader.js';
import { ConnectionWriter } from '../../src/main/api/connection-writer.js';
import { HOST, closeAll, onCleanup, startServer } from '../helpers/net-harness.js';

afterEach(closeAll);

function manager(): QueuedConnectionManager {
  const m = new QueuedConnectionManager();
  onCleanup(() => m.close());
  return m;
}

describe('error messages', () => {
  it('quote the value with its type', () => {
    const m = manager();
    const reader = new QueuedConnectionReader(m, 0);
    const writer = new ConnectionWriter(m, 0);
    expect(() => reader.setMaxDatagramSize('1000' as never)).toThrow(/got "1000" \(string\)/);
    expect(() => writer.setMaxQueueSize(2.5)).toThrow(/got 2\.5 \(number\)/);
    expect(() => writer.setRawMode(1 as never)).toThrow(/got 1 \(number\)/);
    expect(() => new QueuedConnectionReader({} as never, 0)).toThrow(/expected a QueuedConnectionManager, got an object \(Object\)/);
  });

  it('name the overloads a call did not match', async () => {
    const m = manager();
    await expect(m.openTCPServerRendezvous('21110' as never, '1000' as never)).rejects.toThrow(
      /expected \(port, backlog\?, options\?\), \(host, port, backlog\?, options\?\) or \(address: NetAddress, backlog\?, options\?\), got \("21110" \(string\), "1000" \(string\)\)/,
    );
    await expect(m.openTCPClientConnection(HOST, '80' as never)).rejects.toThrow(
      /expected \(host, port, timeoutMs\?\) or \(address: NetAddress, timeoutMs\?\), got \("127\.0\.0\.1" \(string\), "80" \(string\)\)/,
    );
    await expect(m.openUDPConnection(null as never)).rejects.toThrow(/expected \(port\?\) or \(host, port, forBroadcast\?\), got \(null\)/);
  });

  it('getData says what it needs', () => {
    const reader = new QueuedConnectionReader(manager(), 0);
    expect(() => (reader.getData as (dg?: unknown) => boolean)()).toThrow(/getData: expected a Datagram to fill.*got undefined/);
    expect(() => reader.getData({} as never)).toThrow(/got an object \(Object\)/);
  });

  it('unknown manager options are a TypeError naming them', () => {
    expect(() => new QueuedConnectionManager({ ringCapcity: 4096 } as never)).toThrow(TypeError);
    expect(() => new QueuedConnectionManager({ ringCapcity: 4096, port: 1 } as never)).toThrow(/unknown options "ringCapcity", "port" \(known: ringCapacity,/);
    expect(() => new QueuedConnectionManager('big' as never)).toThrow(/options must be an object, got "big" \(string\)/);
  });

  it('the send-backlog limits are checked against each other and against the ring', () => {
    expect(() => new QueuedConnectionManager({ sendBacklogLimit: 2 << 20, sendBacklogHardLimit: 1 << 20 })).toThrow(
      /sendBacklogHardLimit \(1048576\) must be at least sendBacklogLimit \(2097152\)/,
    );
    expect(() => new QueuedConnectionManager({ ringCapacity: 1 << 24, sendBacklogLimit: 1 << 20, sendBacklogHardLimit: 4 << 20 })).toThrow(
      /must be at least the largest datagram a 16777216-byte ring carries \(\d+ bytes\)/,
    );
    expect(() => new QueuedConnectionManager({ ringCapacity: 1 << 16, sendBacklogLimit: 1 << 16, sendBacklogHardLimit: 1 << 16 })).not.toThrow();
  });

  it('adding another manager’s connection says why it is refused', async () => {
    const server = await startServer(0);
    const other = manager();
    const reader = new QueuedConnectionReader(other, 0);
    const listener = new QueuedConnectionListener(other, 0);
    expect(() => listener.addConnection(server.rendezvous)).toThrow(/belongs to another QueuedConnectionManager/);
    const udp = (await server.manager.openUDPConnection(HOST, 0))!;
    expect(() => reader.addConnection(udp)).toThrow(/belongs to another QueuedConnectionManager/);
  });

  it('a successful open clears getLastError()', async () => {
    const server = await startServer(0);
    const m = manager();
    new QueuedConnectionReader(m, 0);
    expect(await m.openTCPServerRendezvous(HOST, server.port, 1)).toBeNull();
    expect(m.getLastError()?.message).toMatch(/EADDRINUSE/);
    const conn = await m.openTCPClientConnection(HOST, server.port, 5000);
    expect(conn).not.toBeNull();
    expect(m.getLastError()).toBeNull();
  });

  it('after close() the open calls say the manager is closed', async () => {
    const m = manager();
    await m.close();
    await expect(m.openTCPServerRendezvous(0)).rejects.toThrow(/the QueuedConnectionManager is closed/);
    await expect(m.openTCPClientConnection(HOST, 1)).rejects.toThrow(/the QueuedConnectionManager is closed/);
    await expect(m.openUDPConnection(0)).rejects.toThrow(/the QueuedConnectionManager is closed/);
    expect(() => new QueuedConnectionReader(m, 0)).toThrow(/QueuedConnectionReader: the QueuedConnectionManager is closed/);
  });
});
