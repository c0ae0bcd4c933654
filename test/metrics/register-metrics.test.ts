/**
 * `ringwire/metrics` in this process: a real server with 2 shards, plain node:net peers
 * sending framed datagrams, a refusal at maxConnections, and a prom-client Registry
 * scraped as Prometheus would. The counters agree with getStats(); one scrape reads
 * getStats() once; the exposition passes `promtool check metrics`.
 */
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { Datagram } from '../../src/shared/datagram.js';
import { registerMetrics } from '../../src/metrics/register-metrics.js';
import { Peer, closeAll, frame, pollUntil, startServer } from '../helpers/net-harness.js';
import { promtoolCheck } from '../helpers/prometheus.js';

afterEach(closeAll);

/** name{labels} → value, from a registry's JSON. */
async function samples(registry: Registry): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const family of await registry.getMetricsAsJSON()) {
    for (const value of family.values) {
      const labels = Object.entries(value.labels)
        .map(([k, v]) => `${k}="${v}"`)
        .join(',');
      out.set(labels === '' ? family.name : `${family.name}{${labels}}`, value.value);
    }
  }
  return out;
}

describe('registerMetrics(manager, { registry })', () => {
  it('reads the shard stats at each scrape: counters agree with getStats(), refusals by reason, one getStats() per scrape', async () => {
    const server = await startServer(2, { manager: { maxConnections: 2 } });
    const registry = new Registry();
    registerMetrics(server.manager, { registry });

    const peers = [await Peer.connect(server.port), await Peer.connect(server.port)];
    const conns = [await server.accept(), await server.accept()];
    // A third client past maxConnections is refused at accept.
    const refused = await Peer.connect(server.port);
    await pollUntil(() => refused.closed || refused.ended, { label: 'the third client refused' });

    const count = 500;
    for (const peer of peers) {
      const bytes: Buffer[] = [];
      for (let i = 0; i < count; i++) bytes.push(frame(Buffer.alloc(40, i & 0xff)));
      await peer.write(Buffer.concat(bytes));
    }
    const dg = new Datagram();
    let read = 0;
    await pollUntil(
      () => {
        while (server.reader.getData(dg)) read++;
        return read === 2 * count;
      },
      { label: `${2 * count} datagrams read` },
    );
    const reply = new Datagram();
    reply.addUint32(7);
    for (const conn of conns) for (let i = 0; i < 10; i++) server.writer.send(reply, conn);
    await pollUntil(() => peers.every((peer) => peer.frameCount === 10), { label: 'the replies' });

    // One getStats() per scrape, however many families read it.
    const getStats = server.manager.getStats.bind(server.manager);
    let calls = 0;
    server.manager.getStats = () => {
      calls++;
      return getStats();
    };
    const text = await registry.metrics();
    expect(calls).toBe(1);
    const stats = getStats();
    const values = await samples(registry);
    expect(calls).toBe(2);

    expect(values.get('ringwire_datagrams_received_total')).toBe(2 * count);
    expect(values.get('ringwire_datagrams_received_total')).toBe(stats.datagramsIn);
    expect(values.get('ringwire_received_bytes_total')).toBe(stats.bytesIn);
    expect(values.get('ringwire_received_bytes_total')).toBe(2 * count * 40);
    expect(values.get('ringwire_datagrams_sent_total')).toBe(20);
    expect(values.get('ringwire_sent_bytes_total')).toBe(stats.bytesOut);
    expect(values.get('ringwire_connections_open')).toBe(2);
    expect(values.get('ringwire_connections_refused_total{reason="max_connections"}')).toBe(1);
    expect(values.get('ringwire_connections_refused_total{reason="per_address"}')).toBe(0);
    expect(values.get('ringwire_worker_shards')).toBe(2);
    expect(values.get('ringwire_udp_datagrams_dropped_total{cause="checksum"}')).toBe(stats.udpRejected);
    expect(values.get('ringwire_handshake_failures_total{layer="tls"}')).toBe(stats.tlsHandshakeFailures);
    expect(values.get('ringwire_handshake_failures_total{layer="websocket"}')).toBe(stats.websocketUpgradesRejected);
    expect(values.get('ringwire_websocket_protocol_errors_total{close_code="1002"}')).toBe(stats.websocketProtocolErrors);
    expect(values.get('ringwire_websocket_protocol_errors_total{close_code="1007"}')).toBe(stats.websocketInvalidUtf8);

    const check = promtoolCheck(text);
    expect(check.output).toBe('');
    expect(check.status).toBe(0);
  });

  it('per shard and direction: ring fill, send backlog (total and largest), send overflow, shards by state; resets by reason; doorbell wakes', async () => {
    const server = await startServer(2);
    const registry = new Registry();
    registerMetrics(server.manager, { registry });
    const peers = [await Peer.connect(server.port), await Peer.connect(server.port, { keepFrames: false, keepBytes: false })];
    const conns = [await server.accept(), await server.accept()];

    // The main thread waits; a datagram from a peer makes its shard ring the main thread.
    const waited = server.manager.waitForReaders(10);
    await peers[0].write(frame([1, 2, 3]));
    expect(await waited).toBe(true);
    const dg = new Datagram();
    expect(server.reader.getData(dg)).toBe(true);

    // A peer that reads nothing: what the server sends it piles up in its socket (the send backlog).
    peers[1].socket.pause();
    const big = new Datagram();
    big.appendData(new Uint8Array(60_000));
    for (let i = 0; i < 80; i++) server.writer.send(big, conns[1]);
    let previous = -1;
    await pollUntil(
      () => {
        const shards = server.manager.getShardStats();
        const total = shards.reduce((sum, shard) => sum + shard.sendBacklogBytes, 0);
        const settled = total === previous && shards.every((shard) => shard.outboundRingFill === 0 && shard.sendOverflowBytes === 0);
        previous = total;
        return settled && total > 0;
      },
      { label: 'the send backlog settled with the peer reading nothing' },
    );
    const values = await samples(registry);
    const stats = server.manager.getStats();
    const shards = server.manager.getShardStats();
    const slow = server.writer.getSendBacklog(conns[1]);
    expect(slow).toBeGreaterThan(0);
    expect(server.writer.getSendBacklog(conns[0])).toBe(0);

    const shardOf = (conn: number): string =>
      String(shards.findIndex((shard) => shard.sendBacklogBytes === server.writer.getSendBacklog(conns[conn])));
    expect(values.get(`ringwire_send_backlog_bytes{shard="${shardOf(1)}"}`)).toBe(slow);
    expect(values.get(`ringwire_send_backlog_largest_bytes{shard="${shardOf(1)}"}`)).toBe(slow);
    for (const shard of shards) {
      expect(values.get(`ringwire_send_backlog_bytes{shard="${shard.index}"}`)).toBe(shard.sendBacklogBytes);
      expect(values.get(`ringwire_send_overflow_bytes{shard="${shard.index}"}`)).toBe(shard.sendOverflowBytes);
      expect(values.get(`ringwire_ring_fill_ratio{shard="${shard.index}",direction="inbound"}`)).toBe(shard.inboundRingFill);
      expect(values.get(`ringwire_ring_fill_ratio{shard="${shard.index}",direction="outbound"}`)).toBe(0);
      expect(shard.connections).toBe(1);
    }
    const byState = ['idle', 'running', 'parked', 'stopping', 'stopped', 'failed'].map(
      (state) => values.get(`ringwire_shards{state="${state}"}`) ?? NaN,
    );
    expect(byState.reduce((a, b) => a + b, 0)).toBe(2);
    expect(byState[1] + byState[2]).toBe(2);
    expect(values.get('ringwire_doorbell_wakes_total{direction="to_main"}')).toBe(stats.doorbellWakesToMain);
    expect(stats.doorbellWakesToMain).toBeGreaterThanOrEqual(1);
    expect(values.get('ringwire_doorbell_wakes_total{direction="to_shard"}')).toBe(stats.doorbellWakesToShards);
    // A send to a shard that has drained its ring and waits rings its doorbell: one send a
    // turn until one finds it waiting.
    const ping = new Datagram();
    ping.addUint8(1);
    await pollUntil(
      () => {
        server.writer.send(ping, conns[0]);
        return server.manager.getStats().doorbellWakesToShards >= 1;
      },
      { label: 'a send that woke its shard' },
    );
    expect((await samples(registry)).get('ringwire_doorbell_wakes_total{direction="to_shard"}')).toBe(
      server.manager.getStats().doorbellWakesToShards,
    );

    // Resets by reason: one closed here, one by its peer.
    server.manager.closeConnection(conns[1]);
    await peers[0].close();
    await pollUntil(
      () => {
        server.manager.resetConnectionAvailable(); // reads the shards' connection events
        return server.manager.getStats().resets['closed-by-peer'] === 1;
      },
      { label: 'the peer close seen' },
    );
    const after = await samples(registry);
    expect(after.get('ringwire_resets_total{reason="closed-by-peer"}')).toBe(1);
    expect(after.get('ringwire_resets_total{reason="closed-locally"}')).toBe(1);
    expect(after.get('ringwire_resets_total{reason="slow-consumer"}')).toBe(0);
    expect(server.manager.getStats().resets).toEqual({
      'closed-by-peer': 1,
      'closed-locally': 1,
      'oversized-datagram': 0,
      'slow-consumer': 0,
      'idle-timeout': 0,
      'handshake-failed': 0,
      'protocol-error': 0,
      error: 0,
    });
  });

  it('counts a slow consumer cut past sendBacklogHardLimit as a slow-consumer reset', async () => {
    const server = await startServer(1, { manager: { ringCapacity: 64 * 1024, sendBacklogLimit: 128 * 1024, sendBacklogHardLimit: 256 * 1024 } });
    const registry = new Registry();
    registerMetrics(server.manager, { registry });
    const peer = await Peer.connect(server.port, { keepFrames: false, keepBytes: false });
    const conn = await server.accept();
    peer.socket.pause();
    const big = new Datagram();
    big.appendData(new Uint8Array(16_000));
    // Sent as a game sends, result ignored, a little each turn until the writer cuts it.
    await pollUntil(
      () => {
        for (let i = 0; i < 20; i++) server.writer.send(big, conn);
        return conn.getResetReason() === 'slow-consumer';
      },
      { label: 'the slow consumer cut' },
    );
    const values = await samples(registry);
    expect(values.get('ringwire_resets_total{reason="slow-consumer"}')).toBe(1);
    expect(server.manager.getStats().resets['slow-consumer']).toBe(1);
  });

  it('takes a prefix and fixed labels, and refuses a bad registry or prefix', async () => {
    const server = await startServer(0);
    const registry = new Registry();
    registerMetrics(server.manager, { registry, prefix: 'game_', labels: { room_server: 'a' } });
    const values = await samples(registry);
    expect(values.get('game_connections_open{room_server="a"}')).toBe(0);
    expect(values.get('game_connections_refused_total{room_server="a",reason="backlog"}')).toBe(0);
    // The same names twice in one registry: prom-client's own error.
    expect(() => registerMetrics(server.manager, { registry, prefix: 'game_' })).toThrow(/already been registered/);
    expect(() => registerMetrics(server.manager, {} as never)).toThrow(TypeError);
    expect(() => registerMetrics(server.manager, { registry: new Registry(), prefix: 'bad-prefix' })).toThrow(RangeError);
  });
});
