/**
 * The relay's `--metrics-port`: after real traffic its /metrics passes `promtool check
 * metrics` and counts what was sent; with --processes 2 the supervisor's scrape holds both
 * processes, labelled; and a real Prometheus server scraping the relay answers a query for
 * the datagrams received with the count the test sent.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { START_DEADLINE_MS, killPrograms, startProgram } from '../helpers/example-program.js';
import { Peer, closeAll, frame, pollUntil } from '../helpers/net-harness.js';
import { freePort, promtoolCheck, startPrometheus, stopPrometheus } from '../helpers/prometheus.js';

afterEach(async () => {
  await closeAll();
  await stopPrometheus();
  await killPrograms();
});

/** Starts the relay (echo mode) with its metrics on a free port; resolves both ports. */
async function startRelay(args: string[] = []): Promise<{ port: number; metricsPort: number }> {
  const metricsPort = await freePort();
  const relay = startProgram('relay-server.ts', ['--host', '127.0.0.1', '--port', '0', '--metrics-port', String(metricsPort), ...args]);
  const pattern = args.includes('--processes') ? /ringwire relay on 127\.0\.0\.1:(\d+) / : /^ringwire relay on 127\.0\.0\.1:(\d+) .*metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/;
  const match = await relay.waitForLine(pattern, START_DEADLINE_MS);
  return { port: Number(match[1]), metricsPort };
}

/** `count` framed datagrams from each of `clients` peers, each echoed back before it resolves. */
async function traffic(port: number, clients: number, count: number): Promise<void> {
  const peers = await Promise.all(Array.from({ length: clients }, () => Peer.connect(port)));
  for (const peer of peers) {
    const frames = Array.from({ length: count }, (_, i) => frame(Buffer.alloc(32, i & 0xff)));
    await peer.write(Buffer.concat(frames));
  }
  await pollUntil(() => peers.every((peer) => peer.frameCount === count), { timeoutMs: 15_000, label: 'every echo' });
  for (const peer of peers) await peer.close();
}

async function scrape(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  return response.text();
}

/** The values of `name`'s samples, by their label text ('' for none). */
function values(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = new RegExp(`^${name}(?:\\{(.*)\\})? (\\S+)$`).exec(line);
    if (match !== null) out.set(match[1] ?? '', Number(match[2]));
  }
  return out;
}

describe('the relay with --metrics-port', () => {
  it('serves /metrics that promtool accepts, counting what was sent', async () => {
    const { port, metricsPort } = await startRelay();
    await traffic(port, 3, 200);
    const text = await scrape(metricsPort);
    expect(values(text, 'ringwire_datagrams_received_total').get('')).toBe(600);
    expect(values(text, 'ringwire_datagrams_sent_total').get('')).toBe(600);
    expect(values(text, 'process_cpu_seconds_total').get('')).toBeGreaterThan(0);
    const check = promtoolCheck(text);
    expect(check.output).toBe('');
    expect(check.status).toBe(0);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/other`)).status).toBe(404);
  });

  it('with --processes 2 the supervisor serves both processes, labelled by process', async () => {
    const { port, metricsPort } = await startRelay(['--processes', '2']);
    // Both processes up before the traffic: their metrics answer.
    await (async () => {
      const deadline = Date.now() + START_DEADLINE_MS;
      while (values(await scrape(metricsPort), 'ringwire_worker_shards').size < 2) {
        if (Date.now() > deadline) throw new Error('both relay processes within the deadline');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    await traffic(port, 8, 100);
    const text = await scrape(metricsPort);
    const received = values(text, 'ringwire_datagrams_received_total');
    expect([...received.keys()].sort()).toEqual(['process="1"', 'process="2"']);
    expect([...received.values()].reduce((a, b) => a + b, 0)).toBe(800);
    const check = promtoolCheck(text);
    expect(check.output).toBe('');
    expect(check.status).toBe(0);
  });

  it('a real Prometheus scraping the relay answers the datagrams received with the count sent', async () => {
    const { port, metricsPort } = await startRelay();
    const prometheus = await startPrometheus([`127.0.0.1:${metricsPort}`]);
    await traffic(port, 2, 250);
    const deadline = Date.now() + 30_000;
    let seen: string | null = null;
    while (seen !== '500') {
      if (Date.now() > deadline) throw new Error(`Prometheus said ${seen} for ringwire_datagrams_received_total, not 500, within 30 s`);
      const result = await prometheus.query('ringwire_datagrams_received_total');
      seen = result[0]?.value[1] ?? null;
      if (seen !== '500') await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(seen).toBe('500');
    const up = await prometheus.query('up{job="ringwire"}');
    expect(up[0]?.value[1]).toBe('1');
  });
});
