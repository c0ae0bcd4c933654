/**
 * `--metrics-port`'s exposition: each kind of metric under its Prometheus name, names
 * sanitized and never used twice, label values escaped, and the server on a real socket:
 * /metrics and nothing else, what was last published, closed for good by close().
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { MetricSet, trendPercentile } from './metrics.js';
import { MetricsServer, type MetricsView, PROMETHEUS_CONTENT_TYPE, prometheusName, prometheusText } from './metrics-server.js';

function view(): MetricsView {
  const merged = MetricSet.withBuiltIns();
  merged.addCounter('datagrams_sent', 40);
  merged.addCounter('my-counter', 5);
  merged.addCounter('already_total', 3);
  merged.setGauge('queue depth', 7);
  for (const pass of [true, true, false]) merged.addRate('login ok', pass);
  merged.addCheck('say "hi" \\ now\nthen', true);
  merged.addCheck('plain', false);
  for (let v = 1; v <= 100; v++) merged.addTrend('echo.ms', v);
  merged.trend('never_added');
  return {
    merged,
    results: [
      { metric: 'echo.ms', source: 'p(99) < 50', ok: false, actual: 99 },
      { metric: 'checks', source: 'rate > 0.9', ok: true, actual: 0.95 },
    ],
    elapsed: 2.5,
  };
}

/** The sample lines of `text` whose metric name is `name`, as `{labels} value` tails. */
function samples(text: string, name: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`))
    .map((line) => line.slice(name.length));
}

describe('prometheusText', () => {
  const text = prometheusText(view());

  it('names: the prefix, anything outside [a-zA-Z0-9_] as _', () => {
    expect(prometheusName('echo.ms')).toBe('ringwire_bench_echo_ms');
    expect(prometheusName('a b-c:d')).toBe('ringwire_bench_a_b_c_d');
    // The built-ins line up with the server's ringwire/metrics names, units in the name.
    expect(prometheusName('bytes_sent')).toBe('ringwire_bench_sent_bytes');
    expect(prometheusName('bytes_received')).toBe('ringwire_bench_received_bytes');
    expect(prometheusName('connect_time')).toBe('ringwire_bench_connect_time_seconds');
    expect(prometheusName('schedule_lag')).toBe('ringwire_bench_schedule_lag_seconds');
  });

  it('counters as NAME_total (one _total), gauges as NAME', () => {
    expect(samples(text, 'ringwire_bench_datagrams_sent_total')).toEqual([' 40']);
    expect(samples(text, 'ringwire_bench_my_counter_total')).toEqual([' 5']);
    expect(samples(text, 'ringwire_bench_already_total')).toEqual([' 3']);
    expect(text).toContain('# TYPE ringwire_bench_my_counter_total counter');
    expect(samples(text, 'ringwire_bench_queue_depth')).toEqual([' 7']);
    expect(text).toContain('# TYPE ringwire_bench_queue_depth gauge');
    expect(samples(text, 'ringwire_bench_elapsed_seconds')).toEqual([' 2.5']);
  });

  it('rates as two counters, checks by name as a label (escaped)', () => {
    expect(samples(text, 'ringwire_bench_login_ok_passes_total')).toEqual([' 2']);
    expect(samples(text, 'ringwire_bench_login_ok_samples_total')).toEqual([' 3']);
    expect(samples(text, 'ringwire_bench_checks_passes_total')).toEqual(['{check="say \\"hi\\" \\\\ now\\nthen"} 1', '{check="plain"} 0']);
    expect(samples(text, 'ringwire_bench_checks_samples_total')).toEqual(['{check="say \\"hi\\" \\\\ now\\nthen"} 1', '{check="plain"} 1']);
  });

  it("trends as summaries: the histogram's quantiles, _sum and _count; NaN quantiles without samples", () => {
    const histogram = view().merged.trends.get('echo.ms')!;
    expect(text).toContain('# TYPE ringwire_bench_echo_ms summary');
    expect(samples(text, 'ringwire_bench_echo_ms')).toEqual([0.5, 0.9, 0.99].map((q) => `{quantile="${q}"} ${trendPercentile(histogram, q * 100)}`));
    expect(samples(text, 'ringwire_bench_echo_ms_count')).toEqual([' 100']);
    expect(Number(samples(text, 'ringwire_bench_echo_ms_sum')[0])).toBeCloseTo(5050, -1);
    expect(samples(text, 'ringwire_bench_never_added')).toEqual(['{quantile="0.5"} NaN', '{quantile="0.9"} NaN', '{quantile="0.99"} NaN']);
    expect(samples(text, 'ringwire_bench_never_added_count')).toEqual([' 0']);
  });

  it('the built-ins in the units their names say: bytes, and trends recorded in ms shown in seconds', () => {
    const merged = MetricSet.withBuiltIns();
    merged.addCounter('bytes_sent', 640);
    for (let ms = 1; ms <= 100; ms++) merged.addTrend('connect_time', ms);
    const builtIns = prometheusText({ merged, results: [], elapsed: 1 });
    expect(samples(builtIns, 'ringwire_bench_sent_bytes_total')).toEqual([' 640']);
    expect(builtIns).toContain('# TYPE ringwire_bench_connect_time_seconds summary');
    const p50 = Number(samples(builtIns, 'ringwire_bench_connect_time_seconds')[0].split(' ')[1]);
    expect(p50).toBeCloseTo(0.05, 3);
    expect(Number(samples(builtIns, 'ringwire_bench_connect_time_seconds_sum')[0])).toBeCloseTo(5.05, 2);
  });

  it("covers the ringwire_bench_ names examples/grafana/ringwire-dashboard.json queries", () => {
    const dashboard = readFileSync(new URL('../../../examples/grafana/ringwire-dashboard.json', import.meta.url), 'utf8');
    const wanted = [...new Set(dashboard.match(/\bringwire_bench_[a-z0-9_]+\b/g) ?? [])];
    expect(wanted.length).toBeGreaterThanOrEqual(3);
    const merged = MetricSet.withBuiltIns();
    const families = new Set(
      prometheusText({ merged, results: [], elapsed: 1 })
        .split('\n')
        .flatMap((line) => /^# TYPE (\S+) /.exec(line)?.[1] ?? []),
    );
    expect(wanted.filter((name) => !families.has(name))).toEqual([]);
  });

  it('thresholds: 1 or 0 by metric and expression', () => {
    expect(samples(text, 'ringwire_bench_threshold_ok')).toEqual(['{metric="echo.ms",threshold="p(99) < 50"} 0', '{metric="checks",threshold="rate > 0.9"} 1']);
  });

  it('one HELP and one TYPE per family, each before its samples; a name taken twice is left out with a comment', () => {
    const v = view();
    v.merged.addCounter('my_counter', 9); // sanitizes to my-counter's name
    v.merged.setGauge('threshold_ok', 1); // the harness's own family
    const clashing = prometheusText(v);
    expect(samples(clashing, 'ringwire_bench_my_counter_total')).toEqual([' 5']);
    expect(clashing).toContain('# ringwire-bench: counter my_counter left out: the name ringwire_bench_my_counter_total is taken');
    expect(clashing).toContain('# ringwire-bench: gauge threshold_ok left out: the name ringwire_bench_threshold_ok is taken');
    const typed = new Set<string>();
    for (const line of clashing.split('\n')) {
      const type = /^# TYPE (\S+) (counter|gauge|summary)$/.exec(line);
      if (type) {
        expect(typed.has(type[1]), `TYPE ${type[1]} twice`).toBe(false);
        typed.add(type[1]);
      } else if (line !== '' && !line.startsWith('#')) {
        const name = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line)![0];
        expect(typed.has(name) || typed.has(name.replace(/_(sum|count)$/, '')), `${name} before its TYPE`).toBe(true);
      }
    }
  });
});

describe('MetricsServer', () => {
  const servers: MetricsServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()));
  });

  it('serves /metrics on 127.0.0.1, what was last published; 404 elsewhere, 405 for POST', async () => {
    const server = await MetricsServer.start(0);
    servers.push(server);
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const before = await fetch(server.url);
    expect(before.status).toBe(200);
    expect(before.headers.get('content-type')).toBe(PROMETHEUS_CONTENT_TYPE);
    expect(samples(await before.text(), 'ringwire_bench_datagrams_sent_total')).toEqual([' 0']);
    server.publish(view());
    expect(samples(await (await fetch(server.url)).text(), 'ringwire_bench_datagrams_sent_total')).toEqual([' 40']);
    expect((await fetch(server.url.replace('/metrics', '/'))).status).toBe(404);
    expect((await fetch(server.url, { method: 'POST' })).status).toBe(405);
  });

  it('close() ends it: the port refuses connections', async () => {
    const server = await MetricsServer.start(0);
    const url = server.url;
    await fetch(url); // a keep-alive connection that close() must end too
    await server.close();
    await expect(fetch(url)).rejects.toThrow();
  });

  it('a port in use is an error that names it', async () => {
    const first = await MetricsServer.start(0);
    servers.push(first);
    const port = Number(new URL(first.url).port);
    await expect(MetricsServer.start(port)).rejects.toThrow(`--metrics-port ${port}: cannot listen on 127.0.0.1:${port}`);
  });
});
