/**
 * examples/grafana/ringwire-dashboard.json against the real names: every panel's PromQL
 * parses (`promtool check rules`, with Grafana's $__rate_interval as 1m), and every
 * server-side metric it names is on the arena server's /metrics (network, game loop,
 * process) after players have joined. The harness's ringwire_bench_ names are checked
 * against its exposition in bench/harness/scenario/metrics-server.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ArenaClient, destroyArenaClients } from '../helpers/arena-client.js';
import { START_DEADLINE_MS, killPrograms, startProgram } from '../helpers/example-program.js';
import { freePort, prometheusTool, promtoolCheck } from '../helpers/prometheus.js';

const DASHBOARD = fileURLToPath(new URL('../../examples/grafana/ringwire-dashboard.json', import.meta.url));

afterEach(async () => {
  destroyArenaClients();
  await killPrograms();
});

interface Panel {
  title?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

/** Every panel's queries (rows' panels included), with the panel's title. */
function queries(): { title: string; expr: string }[] {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
  const out: { title: string; expr: string }[] = [];
  const visit = (panel: Panel): void => {
    for (const target of panel.targets ?? []) if (target.expr !== undefined) out.push({ title: panel.title ?? '', expr: target.expr });
    for (const inner of panel.panels ?? []) visit(inner);
  };
  dashboard.panels.forEach(visit);
  return out;
}

/** The metric names a query reads (a histogram's _bucket series as its family's name). */
function metricNames(expr: string): string[] {
  const names = expr.match(/\b(?:ringwire|process)_[a-z0-9_]+\b/g) ?? [];
  return [...new Set(names.map((name) => name.replace(/_bucket$/, '')))];
}

describe('the Grafana dashboard', () => {
  it('every query parses as PromQL', () => {
    const all = queries();
    expect(all.length).toBeGreaterThanOrEqual(20);
    const dir = mkdtempSync(join(tmpdir(), 'ringwire-dashboard-'));
    try {
      const rules = ['groups:', '  - name: dashboard', '    rules:'];
      all.forEach(({ expr }, i) => {
        rules.push(`      - record: dashboard:query_${i}`, `        expr: ${JSON.stringify(expr.replaceAll('$__rate_interval', '1m'))}`);
      });
      const file = join(dir, 'rules.yml');
      writeFileSync(file, `${rules.join('\n')}\n`);
      const result = spawnSync(prometheusTool('promtool'), ['check', 'rules', file], { encoding: 'utf8' });
      expect(`${result.stdout}${result.stderr}`).toContain(`SUCCESS: ${all.length} rules found`);
      expect(result.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("names only metrics the arena server's /metrics has, once players are in", async () => {
    const metricsPort = await freePort();
    const program = startProgram('arena/arena-ringwire-server.ts', [
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--shards',
      '2',
      '--metrics-port',
      String(metricsPort),
    ]);
    const match = await program.waitForLine(/^arena server \(.* on 127\.0\.0\.1:(\d+)\) pid \d+$/, START_DEADLINE_MS);
    const port = Number(match[1]);
    await ArenaClient.join(port, 'ada');
    await ArenaClient.join(port, 'bob');
    const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    const check = promtoolCheck(text);
    expect(check.output).toBe('');
    expect(check.status).toBe(0);
    const families = new Set(text.split('\n').flatMap((line) => /^# TYPE (\S+) /.exec(line)?.[1] ?? []));
    const serverNames = [...new Set(queries().flatMap(({ expr }) => metricNames(expr)))].filter((name) => !name.startsWith('ringwire_bench_'));
    expect(serverNames.length).toBeGreaterThanOrEqual(15);
    expect(serverNames.filter((name) => !families.has(name))).toEqual([]);
  });
});
