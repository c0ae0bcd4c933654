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

    const check = promtoolCheck(text);
    expect(check.output).toBe('');
    expect(check.status).toBe(0);
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
