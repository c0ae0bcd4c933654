/**
 * ChannelBus failure paths, in one process with two managers (as two processes would be)
 * and a real nats-server: local subscribers get a publish NATS refuses; a datagram one
 * process's writer cannot send does not stop that process's deliveries; a subscribe NATS
 * refuses leaves nothing half set up; a connection that closes leaves its channels and
 * the last one out drops the subscription.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import { ChannelBus, Datagram, type Connection } from '../../src/index.js';
import { type Nats, startNats, stopNatsServers } from '../helpers/nats-server.js';
import { Peer, closeAll, onCleanup, pollUntil, startServer, type TestServer } from '../helpers/net-harness.js';
import { ErrorCode } from '../../src/shared/errors.js';

afterEach(async () => {
  await closeAll();
  await stopNatsServers();
});

async function natsClient(nats: Nats): Promise<NatsConnection> {
  const nc = await connect({ servers: `nats://127.0.0.1:${nats.port}` });
  onCleanup(() => nc.close());
  return nc;
}

/** A server with one peer subscribed to `channel` on `bus`. */
async function member(server: TestServer, bus: ChannelBus, channel: string, headerSize: 2 | 4 = 2): Promise<{ peer: Peer; conn: Connection }> {
  const peer = await Peer.connect(server.port, { headerSize });
  const conn = await server.accept();
  expect(bus.subscribe(channel, conn)).toBe(true);
  return { peer, conn };
}

describe('ChannelBus', () => {
  it('a publish NATS refuses still reaches the local subscribers, and is counted', async () => {
    const nats = await startNats();
    const nc = await natsClient(nats);
    const server = await startServer(0);
    const bus = new ChannelBus({ nats: nc, writer: server.writer });
    const { peer } = await member(server, bus, 'room.1');
    await nc.close();
    expect(bus.publish('room.1', new Datagram(new Uint8Array([4, 2])))).toBe(1);
    await pollUntil(() => peer.frameCount === 1, { timeoutMs: 5000, label: 'the local delivery' });
    expect(Array.from(peer.frames[0])).toEqual([4, 2]);
    expect(bus.getCounts()).toEqual({ published: 0, received: 0, failed: 1 });
    expect(bus.getLastError()).not.toBeNull();
    // And a subscribe NATS refuses throws, leaving nothing behind.
    const other = await Peer.connect(server.port);
    void other;
    const conn = await server.accept();
    expect(() => bus.subscribe('room.2', conn)).toThrow();
    expect(bus.getChannels()).toEqual(['room.1']);
    expect(bus.getSubscriberCount('room.2')).toBe(0);
  });

  it('a datagram one process cannot send does not stop its later deliveries', async () => {
    const nats = await startNats();
    const a = await startServer(0, { headerSize: 4 });
    const b = await startServer(0); // header size 2: at most 65535 bytes
    const busA = new ChannelBus({ nats: await natsClient(nats), writer: a.writer });
    const busB = new ChannelBus({ nats: await natsClient(nats), writer: b.writer });
    const { peer } = await member(b, busB, 'room.big');
    // B's subscription must be in before A publishes: probe until a small one crosses.
    await pollUntil(
      () => {
        busA.publish('room.big', new Datagram(new Uint8Array([0])));
        return peer.frameCount > 0;
      },
      { timeoutMs: 10_000, label: 'the subscription in place' },
    );
    busA.publish('room.big', new Datagram(new Uint8Array(70_000))); // too long for B's 2-byte headers
    busA.publish('room.big', new Datagram(new Uint8Array([7, 7])));
    // Probes still in flight may come first; the small one comes after them, and the big one never.
    await pollUntil(() => peer.frames.some((f) => f.length === 2 && f[0] === 7), { timeoutMs: 10_000, label: 'the small one after the big one' });
    expect(peer.frames.every((f) => f.length <= 2)).toBe(true);
    expect(busB.getCounts().failed).toBe(1);
    expect(busB.getLastError()).toBeInstanceOf(RangeError);
  });

  it('a connection that closes leaves its channels; the last one out drops the NATS subscription', async () => {
    const nats = await startNats();
    const nc = await natsClient(nats);
    const server = await startServer(2);
    const bus = new ChannelBus({ nats: nc, writer: server.writer });
    const one = await member(server, bus, 'room.3');
    const two = await member(server, bus, 'room.3');
    expect(bus.subscribe('room.3', one.conn)).toBe(false); // once per connection
    expect(bus.getSubscriberCount('room.3')).toBe(2);
    server.manager.closeConnection(one.conn);
    expect(bus.getSubscriberCount('room.3')).toBe(1);
    await two.peer.close();
    await pollUntil(
      () => {
        server.manager.resetConnectionAvailable(); // the reset reaches the main thread
        return bus.getChannels().length === 0;
      },
      { timeoutMs: 5000, label: 'the channel dropped' },
    );
    expect(() => bus.subscribe('bad channel', two.conn)).toThrow(/a channel is a NATS subject/);
    bus.close();
    expect(() => bus.publish('room.3', new Datagram())).toThrow(expect.objectContaining({ code: ErrorCode.BUS_CLOSED }));
  });
});

describe.each([0, 2])('ChannelBus.subscribe misuse (numThreads %i)', (n) => {
  it('subscribing a UDP connection throws and leaves no channel behind', async () => {
    const nats = await startNats();
    const server = await startServer(n);
    const bus = new ChannelBus({ nats: await natsClient(nats), writer: server.writer });
    const udp = (await server.manager.openUDPConnection('127.0.0.1', 0))!;
    expect(() => bus.subscribe('room.udp', udp)).toThrow(TypeError);
    expect(bus.getChannels()).toEqual([]);
    expect(bus.getSubscriberCount('room.udp')).toBe(0);
    // On a channel that has members, they stay.
    await member(server, bus, 'room.1');
    expect(() => bus.subscribe('room.1', udp)).toThrow(/only TCP streams/);
    expect(bus.getChannels()).toEqual(['room.1']);
    expect(bus.getSubscriberCount('room.1')).toBe(1);
  });
});
