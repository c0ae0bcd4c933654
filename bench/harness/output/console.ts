/**
 * What a person sees: a progress line on stderr once a second while a run goes, then a
 * final table on stdout (throughput; latency percentiles; errors; integrity counts), and
 * for `--compare` a table with one row per target and its ratio to the baseline.
 */
import type { ComparisonReport, ReportEnvironment, RunReport, RunSettings } from '../report.js';
import { integrityFaults } from '../stats/integrity-checker.js';
import type { Progress } from '../workloads/run-workload.js';

// ── numbers ────────────────────────────────────────────────────────────────

/** 1234567.8 → "1,234,568"; small rates keep one decimal. */
export function formatCount(value: number): string {
  const digits = Math.abs(value) < 100 && !Number.isInteger(value) ? 1 : 0;
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** Milliseconds with three significant digits (0.0421, 1.23, 12.3, 123). */
export function formatMs(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '–';
  if (ms === 0) return '0';
  if (ms < 0.1) return ms.toFixed(4);
  if (ms < 1) return ms.toFixed(3);
  if (ms < 10) return ms.toFixed(2);
  if (ms < 100) return ms.toFixed(1);
  return ms.toFixed(0);
}

function formatMB(value: number): string {
  return value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : value.toFixed(0);
}

/** Microseconds with three significant digits. */
export function formatUs(us: number | null | undefined): string {
  if (us === null || us === undefined || !Number.isFinite(us)) return '–';
  return us < 10 ? us.toFixed(2) : us < 100 ? us.toFixed(1) : us.toFixed(0);
}

function formatRatio(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? '–' : `${value.toFixed(2)}×`;
}

/** Left-aligns the first column and right-aligns the rest (or left-aligns them all). */
export function table(rows: string[][], numbers = true): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const align = (cell: string, i: number): string => (i === 0 || !numbers ? cell.padEnd(widths[i]) : cell.padStart(widths[i]));
  return rows.map((row) => `  ${row.map(align).join('   ')}`.trimEnd()).join('\n');
}

// ── progress ───────────────────────────────────────────────────────────────

export interface ProgressPrinter {
  /** Shows one progress sample. */
  update(progress: Progress): void;
  /** Ends the line (a TTY's line is cleared), before the final table is printed. */
  end(): void;
}

/**
 * Progress on `stream`: on a TTY one line rewritten in place; elsewhere one plain line per
 * second. Nothing at all when `quiet`.
 */
export function createProgressPrinter(stream: NodeJS.WriteStream, quiet: boolean): ProgressPrinter {
  const tty = stream.isTTY === true;
  let shown = false;
  return {
    update(progress) {
      if (quiet) return;
      const line = formatProgress(progress);
      if (tty) {
        stream.write(`\r\x1b[2K${line}`);
        shown = true;
      } else {
        stream.write(`${line}\n`);
      }
    },
    end() {
      if (tty && shown) stream.write('\r\x1b[2K');
      shown = false;
    },
  };
}

/** "ringwire-2 latency · measure 3/10 s · sent 6,000/s · received 6,000/s · p99 0.412 ms · 100 open" */
export function formatProgress(p: Progress): string {
  const clock = p.phaseSeconds > 0 ? `${Math.round(p.phaseElapsed)}/${formatCount(Math.ceil(p.phaseSeconds))} s` : `${Math.round(p.phaseElapsed)} s`;
  return [
    `${p.target} ${p.workload}`,
    `${p.phase} ${clock}`,
    `sent ${formatCount(p.sentPerSecond)}/s`,
    `received ${formatCount(p.receivedPerSecond)}/s`,
    `p99 ${formatMs(p.p99Ms)} ms`,
    `${formatCount(p.openConnections)} open`,
  ].join(' · ');
}

// ── where it ran ───────────────────────────────────────────────────────────

/** "ringwire 0.1.0 · Node v20.20.2 · 2 × AMD EPYC … · linux 6.1 · ringwire-bench latency -c 100" */
export function formatEnvironment(env: ReportEnvironment): string {
  return [
    `ringwire ${env.ringwire}`,
    `Node ${env.node}`,
    `${env.cpuCount} × ${env.cpuModel}`,
    env.platform,
    `ringwire-bench ${env.command.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : JSON.stringify(arg))).join(' ')}`,
  ].join(' · ');
}

// ── one run ────────────────────────────────────────────────────────────────

function describePayload(settings: RunSettings): string {
  return settings.payloadMin === settings.payloadMax ? `${settings.payloadMin} B` : `${settings.payloadMin}–${settings.payloadMax} B`;
}

/** One line with what was run: workload, target, transport, load. */
export function formatSettings(report: RunReport): string {
  const s = report.settings;
  const tls = s.tls === undefined ? '' : `, TLS${s.tls.verify ? (s.tls.caFile === null ? '' : ` (CA ${s.tls.caFile})`) : ' (not verified)'}`;
  const transport =
    (s.transport === 'ws'
      ? `WebSocket${s.wsPath === undefined ? '' : ` ${s.wsPath}`}`
      : s.transport === 'udp'
        ? 'udp, 2-byte checksum header'
        : s.headerSize === 0
          ? 'tcp raw'
          : `tcp, ${s.headerSize}-byte header`) + tls;
  const load =
    s.workload === 'throughput'
      ? 'as fast as echoed'
      : s.workload === 'connections'
        ? `opened at ${formatCount(s.connectRate)}/s, heartbeat ${formatCount(s.ratePerConnection)}/s each`
        : `${formatCount(s.ratePerConnection)}/s each`;
  const warmup = s.warmupSeconds > 0 ? ` (+${s.warmupSeconds} s warm-up)` : '';
  return (
    `${s.workload} · ${report.targetKind === 'external' ? '' : `${report.target} at `}${s.host}:${s.port} (${transport}) · ${formatCount(s.connections)} connections, ${load} · ` +
    `payload ${describePayload(s)} · ${report.measuredSeconds.toFixed(1)} s measured${warmup}`
  );
}

/** The final table of one run. */
export function formatRunReport(report: RunReport): string {
  const t = report.throughput;
  const lines: string[] = [formatSettings(report), ''];
  lines.push(
    table([
      ['throughput', 'sent', 'received'],
      ['datagrams/s', formatCount(t.sentPerSecond), formatCount(t.receivedPerSecond)],
      ['MB/s', formatMB(t.sentMBPerSecond), formatMB(t.receivedMBPerSecond)],
      ['datagrams', formatCount(t.sentDatagrams), formatCount(t.receivedDatagrams)],
    ]),
  );
  if (report.settings.transport === 'tcp' && report.settings.headerSize === 0) {
    lines.push('  (raw mode: received datagrams estimated from bytes; no latency or integrity without boundaries)');
  }
  lines.push('');
  const l = report.latency;
  if (l !== null) {
    lines.push(
      table([
        ['latency (ms)', 'min', 'p50', 'p90', 'p95', 'p99', 'p99.9', 'p99.99', 'max', 'mean', 'stdev', 'round trips'],
        [
          'round trip',
          ...[l.minMs, l.p50Ms, l.p90Ms, l.p95Ms, l.p99Ms, l.p999Ms, l.p9999Ms, l.maxMs, l.meanMs, l.stdevMs].map((ms) => formatMs(l.count === 0 ? null : ms)),
          formatCount(l.count),
        ],
      ]),
      '',
    );
  }
  const cpu = report.serverCpu;
  if (cpu !== undefined) {
    lines.push(
      table([
        ['server CPU', ''],
        [
          'user + system',
          cpu === null
            ? 'unknown (the harness did not start the server)'
            : `${cpu.cpuSeconds.toFixed(2)} s · ${formatUs(cpu.perDatagramUs)} µs per datagram · ${cpu.cores.toFixed(2)} cores`,
        ],
      ], false),
      '',
    );
  }
  const c = report.connections;
  if (c !== null) {
    const perConnection =
      c.serverBytesPerConnection === null ? 'unknown (server pid not known)' : `${formatCount(Math.round(c.serverBytesPerConnection))} B`;
    lines.push(
      table([
        ['connections', ''],
        ['held / requested', `${formatCount(c.held)} / ${formatCount(c.requested)}`],
        ['opened per second', formatCount(c.acceptPerSecond)],
        ['server memory per connection', perConnection],
      ], false),
      '',
    );
  }
  const i = report.integrity;
  const e = report.errors;
  const rows = [
    ['errors', `connect failed ${formatCount(e.connectFailed)}`, `resets ${formatCount(e.resets)}`, `send retries ${formatCount(e.sendRetries)}`],
  ];
  if (i !== null) {
    rows.unshift([
      'integrity',
      `lost ${formatCount(i.lost)}`,
      `duplicated ${formatCount(i.duplicated)}`,
      `reordered ${formatCount(i.reordered)}`,
      `corrupted ${formatCount(i.corrupted)}`,
    ]);
  }
  const u = report.udp;
  if (u !== undefined) {
    rows.push(['udp drops (client)', `bad checksum ${formatCount(u.rejected)}`, `ring full ${formatCount(u.overflow)}`]);
  }
  lines.push(table(rows.map((row) => [row[0], row.slice(1).join(' · ')]), false));
  if (integrityFaults(report) > 0) {
    lines.push(
      report.settings.transport === 'udp'
        ? '  INTEGRITY FAULTS: datagrams came back duplicated, reordered or corrupted'
        : '  INTEGRITY FAULTS: the server lost, duplicated, reordered or corrupted datagrams',
    );
  }
  if (report.settings.transport === 'udp' && i !== null && i.lost > 0) {
    const sent = report.totals?.sentDatagrams ?? 0;
    const share = sent > 0 ? ` of ${formatCount(sent)} (${((100 * i.lost) / sent).toFixed(i.lost * 1000 < sent ? 3 : 2)}%)` : '';
    lines.push(`  UDP: ${formatCount(i.lost)}${share} datagrams never came back; UDP may lose them, so this is reported, not a fault`);
  }
  return lines.join('\n');
}

// ── a comparison ───────────────────────────────────────────────────────────

/** The `--compare` table: a row per target, its ratio to the baseline, and the targets that failed. */
export function formatComparison(comparison: ComparisonReport): string {
  const first = comparison.runs[0];
  const lines: string[] = [];
  if (first !== undefined) {
    const s = first.settings;
    lines.push(
      `comparison · ${comparison.workload} · ${formatCount(s.connections)} connections · payload ${describePayload(s)} · ` +
        `${s.durationSeconds} s each${s.warmupSeconds > 0 ? ` (+${s.warmupSeconds} s warm-up)` : ''} · ratios to ${comparison.baseline}`,
      '',
    );
  }
  const p99Ratios = comparison.p99Ratios;
  const cpuRatios = comparison.cpuRatios;
  const header = ['target', 'sent/s', 'received/s', 'MB/s in', 'p50 ms', 'p99 ms', 'max ms', 'ratio'];
  if (p99Ratios !== undefined) header.push('p99 ratio');
  header.push('server µs/dg');
  if (cpuRatios !== undefined) header.push('CPU ratio');
  const holding = comparison.workload === 'connections';
  if (holding) header.push('held', 'opened/s', 'server B/conn');
  header.push('errors', 'integrity');
  const rows: string[][] = [header];
  for (const run of comparison.runs) {
    const t = run.throughput;
    const l = run.latency;
    const e = run.errors;
    const i = run.integrity;
    const row = [
      run.target,
      formatCount(t.sentPerSecond),
      formatCount(t.receivedPerSecond),
      formatMB(t.receivedMBPerSecond),
      formatMs(l?.p50Ms ?? null),
      formatMs(l?.p99Ms ?? null),
      formatMs(l?.maxMs ?? null),
      formatRatio(comparison.ratios[run.target]),
    ];
    if (p99Ratios !== undefined) row.push(formatRatio(p99Ratios[run.target]));
    row.push(formatUs(run.serverCpu?.perDatagramUs));
    if (cpuRatios !== undefined) row.push(formatRatio(cpuRatios[run.target]));
    if (holding) {
      const c = run.connections;
      row.push(
        c === null ? '–' : formatCount(c.held),
        c === null ? '–' : formatCount(c.acceptPerSecond),
        c === null || c.serverBytesPerConnection === null ? '–' : formatCount(Math.round(c.serverBytesPerConnection)),
      );
    }
    const errorCount = e.connectFailed + e.resets;
    row.push(errorCount === 0 ? '0' : `${e.connectFailed} connect, ${e.resets} reset`);
    const faults = integrityFaults(run);
    row.push(
      i === null
        ? '–'
        : faults === 0 && i.lost === 0
          ? 'ok'
          : faults === 0
            ? `ok, lost ${i.lost} (udp)`
            : `lost ${i.lost}, dup ${i.duplicated}, reord ${i.reordered}, corrupt ${i.corrupted}`,
    );
    rows.push(row);
  }
  lines.push(table(rows));
  for (const [target, why] of Object.entries(comparison.failures ?? {})) {
    lines.push(`  ${target}: FAILED: ${why.split('\n')[0]}`);
  }
  return lines.join('\n');
}
