/**
 * Admission control per address (issue #15): one address cannot take every slot, nor make
 * the server hand over a socket per attempt of a connect flood. Real loopback clients
 * bound to several source addresses (all of 127.0.0.0/8 is loopback).
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Datagram, NetDatagram, PointerToConnection } from '../../src/index.js';
import { AddressAdmission, Refusal, ipv6Prefix } from '../../src/main/core/address-admission.js';
import { closeAll, frame, onCleanup, pollUntil, startServer, type TestServer } from '../helpers/net-harness.js';

afterEach(closeAll);

/** A client from `from` that counts the echo bytes it gets and notes how it ended. */
interface Client {
  socket: net.Socket;
  received: number;
  ended: 'open' | 'reset' | 'closed';
}

function connectFrom(port: number, from: string, host = '127.0.0.1'): Client {
  const socket = net.connect({ host, port, localAddress: from });
  const client: Client = { socket, received: 0, ended: 'open' };
  socket.on('data', (chunk: Buffer) => (client.received += chunk.length));
  socket.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'ECONNRESET') client.ended = 'reset';
  });
  socket.on('close', () => {
    if (client.ended === 'open') client.ended = 'closed';
  });
  onCleanup(() => {
    socket.destroy();
  });
  return client;
}

/** Accepts, reads and echoes everything, as a game loop's poll does. */
function serve(server: TestServer): void {
  const ptr = new PointerToConnection();
  while (server.listener.getNewConnection(ptr)) server.reader.addConnection(ptr.p()!);
  const dg = new NetDatagram();
  while (server.reader.getData(dg)) server.writer.send(dg, dg.getConnection()!);
  while (server.manager.getResetConnection(ptr));
}

async function settle(server: TestServer, clients: Client[], label: string, done: () => boolean): Promise<void> {
  try {
    await pollUntil(
      () => {
        serve(server);
        return done();
      },
      { timeoutMs: 30_000, label },
    );
  } catch (error) {
    const ended = { open: 0, reset: 0, closed: 0, connecting: 0 };
    for (const c of clients) c.socket.connecting ? ended.connecting++ : ended[c.ended]++;
    throw new Error(`${(error as Error).message}; clients ${JSON.stringify(ended)}; stats ${JSON.stringify(server.manager.getStats())}`);
  }
}

describe.each([0, 2])('admission per address (numThreads %i)', (n) => {
  it('a flood of 2000 connections from one address is capped at its limit while 50 clients from another are all served', async () => {
    // 64 per address: the 50 players (one address) fit, the flood (another) is held to 64.
    const server = await startServer(n, { manager: { maxConnectionsPerAddress: 64 }, backlog: 4096 });
    const flood: Client[] = [];
    for (let batch = 0; batch < 10; batch++) {
      for (let i = 0; i < 200; i++) flood.push(connectFrom(server.port, '127.0.0.2'));
      await settle(server, flood, 'a flood batch answered', () => flood.every((c) => c.socket.connecting === false || c.ended !== 'open'));
    }
    const players = Array.from({ length: 50 }, () => connectFrom(server.port, '127.0.0.3'));
    await settle(server, players, 'the players connected', () => players.every((c) => !c.socket.connecting));
    for (const [i, player] of players.entries()) player.socket.write(frame(Buffer.from(`player ${i}`)));
    await settle(server, players, 'every player echoed', () => players.every((c, i) => c.received === 2 + `player ${i}`.length));
    expect(players.every((c) => c.ended === 'open')).toBe(true);
    await settle(server, flood, 'the flood answered', () => flood.filter((c) => c.ended === 'reset').length === 1936);
    const stats = server.manager.getStats();
    expect(flood.filter((c) => c.ended === 'open')).toHaveLength(64);
    expect(stats.rejectedPerAddress).toBe(1936); // each closed with RST at accept
    expect(stats.connections).toBe(114);
    expect(stats.rejectedAcceptRate).toBe(0);
    expect(stats.trackedAddresses).toBe(2);
    // The 64 that got in are served like anyone.
    const kept = flood.filter((c) => c.ended === 'open');
    for (const c of kept) c.socket.write(frame([1, 2, 3]));
    await settle(server, kept, 'the kept flood connections echoed', () => kept.every((c) => c.received === 5));
  });

  it('acceptRatePerAddress: a burst past the bucket is reset, another address is not, and the bucket refills', async () => {
    const server = await startServer(n, { manager: { acceptRatePerAddress: 2, acceptBurstPerAddress: 5 } });
    const fast = Array.from({ length: 20 }, () => connectFrom(server.port, '127.0.0.4'));
    const other = Array.from({ length: 5 }, () => connectFrom(server.port, '127.0.0.5'));
    await settle(server, fast, 'the burst answered', () => [...fast, ...other].every((c) => !c.socket.connecting) && server.manager.getStats().rejectedAcceptRate + server.manager.getStats().connections >= 25);
    const admitted = fast.filter((c) => c.ended === 'open').length;
    // The bucket holds 5 and refills at 2/s while the burst comes in.
    expect(admitted).toBeGreaterThanOrEqual(5);
    expect(admitted).toBeLessThan(10);
    expect(server.manager.getStats().rejectedAcceptRate).toBe(20 - admitted);
    expect(other.every((c) => c.ended === 'open')).toBe(true);
    // Half a second later the bucket has a token again.
    const started = Date.now();
    let late: Client | null = null;
    await pollUntil(
      () => {
        serve(server);
        if (late === null || late.ended !== 'open') {
          // Another try once the bucket may have a token (a refused one is reset, or closed).
          late = Date.now() - started > 400 ? connectFrom(server.port, '127.0.0.4') : null;
          return false;
        }
        return !late.socket.connecting && server.manager.getStats().connections === admitted + 6;
      },
      { timeoutMs: 10_000, label: 'a connection once the bucket refilled' },
    );
  });

  it('an address that goes quiet is forgotten; the table is bounded and refuses a new address only while every entry is in use', async () => {
    const server = await startServer(n, { manager: { maxConnectionsPerAddress: 1, addressTableSize: 3 } });
    const held = ['127.0.0.10', '127.0.0.11', '127.0.0.12'].map((from) => connectFrom(server.port, from));
    await settle(server, held, 'three held', () => server.manager.getStats().connections === 3);
    expect(server.manager.getStats().trackedAddresses).toBe(3);
    const fourth = connectFrom(server.port, '127.0.0.13');
    await settle(server, [fourth], 'the fourth refused', () => fourth.ended === 'reset');
    expect(server.manager.getStats().rejectedAddressTable).toBe(1);
    held[0].socket.destroy();
    await settle(server, held, 'the first gone', () => server.manager.getStats().connections === 2);
    const fifth = connectFrom(server.port, '127.0.0.13');
    await settle(server, [fifth], 'the fifth in', () => server.manager.getStats().connections === 3);
    expect(fifth.ended).toBe('open');
    for (const c of [...held, fifth]) c.socket.destroy();
    // Quiet addresses leave the table within a sweep (a second).
    await settle(server, held, 'every address forgotten', () => server.manager.getStats().connections === 0 && server.manager.getStats().trackedAddresses === 0);
  });

  it('an IPv4-mapped client counts as its IPv4 address', async () => {
    const server = await startServer(n, { manager: { maxConnectionsPerAddress: 1 } });
    const dual = (await server.manager.openTCPServerRendezvous('::', 0, 16))!;
    expect(dual).not.toBeNull();
    server.listener.addConnection(dual);
    const first = connectFrom(server.port, '127.0.0.20'); // remote 127.0.0.20 on the IPv4 rendezvous
    await settle(server, [first], 'the first in', () => server.manager.getStats().connections === 1);
    const mapped = connectFrom(dual.getAddress().getPort(), '127.0.0.20'); // remote ::ffff:127.0.0.20 on the dual-stack one
    await settle(server, [mapped], 'the mapped one refused', () => mapped.ended === 'reset');
    expect(server.manager.getStats().rejectedPerAddress).toBe(1);
    const elsewhere = connectFrom(dual.getAddress().getPort(), '127.0.0.21');
    await settle(server, [elsewhere], 'another address in', () => server.manager.getStats().connections === 2);
    expect(first.ended).toBe('open');
    expect(elsewhere.ended).toBe('open');
  });
});

describe('the address table', () => {
  it('groups IPv6 addresses by prefix, and IPv4-mapped ones as IPv4', () => {
    const table = new AddressAdmission({ maxConnectionsPerAddress: 1, acceptRatePerAddress: 0, acceptBurstPerAddress: 0, addressTableSize: 10, ipv6PrefixLength: 64 });
    expect(table.keyOf('2001:db8:1:2:aaaa::1')).toBe(table.keyOf('2001:db8:1:2:bbbb::9'));
    expect(table.keyOf('2001:db8:1:2::1')).not.toBe(table.keyOf('2001:db8:1:3::1'));
    expect(table.keyOf('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(table.keyOf('::ffff:a00:1')).toBe('10.0.0.1');
    expect(ipv6Prefix('2001:db8:1:2:aaaa::1', 128)).toBe('2001:db8:1:2:aaaa:0:0:1/128');
    expect(ipv6Prefix('2001:db8:ffff::', 36)).toBe('2001:db8:f000:0:0:0:0:0/36');
    expect(table.admit(table.keyOf('2001:db8:1:2::1'), 0)).toBe(Refusal.NONE);
    expect(table.admit(table.keyOf('2001:db8:1:2::2'), 0)).toBe(Refusal.PER_ADDRESS);
    table.close();
  });

  it('options are checked', async () => {
    const { QueuedConnectionManager } = await import('../../src/index.js');
    expect(() => new QueuedConnectionManager({ ipv6PrefixLength: 129 })).toThrow(/ipv6PrefixLength must be an integer from 1 to 128, got 129/);
    expect(() => new QueuedConnectionManager({ addressTableSize: 0 })).toThrow(/addressTableSize must be at least 1/);
    expect(() => new QueuedConnectionManager({ maxConnectionsPerAddress: -1 })).toThrow(/non-negative integer, got -1/);
    expect(() => new QueuedConnectionManager({ acceptRatePerAddress: -0.5 })).toThrow(/acceptRatePerAddress must be a non-negative number, got -0.5/);
    const slow = new QueuedConnectionManager({ acceptRatePerAddress: 0.5 }); // one every two seconds
    await slow.close();
    const table = new AddressAdmission({ maxConnectionsPerAddress: 0, acceptRatePerAddress: 0.5, acceptBurstPerAddress: 1, addressTableSize: 4, ipv6PrefixLength: 64 });
    expect(table.admit('10.0.0.1', 0)).toBe(Refusal.NONE);
    expect(table.admit('10.0.0.1', 1000)).toBe(Refusal.ACCEPT_RATE); // half a token back
    expect(table.admit('10.0.0.1', 2000)).toBe(Refusal.NONE);
    table.close();
    void Datagram;
  });
});
