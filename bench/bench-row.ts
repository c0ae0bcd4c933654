/** One benchmark result: ringwire's rate next to a baseline measured in the same run. */
export interface BenchRow {
  /** What was measured. */
  name: string;
  /** ringwire's operations per second. */
  opsPerSec: number;
  /** The baseline's operations per second, measured in the same process and run. */
  baselineOpsPerSec: number;
  /** `opsPerSec / baselineOpsPerSec`: above 1 means ringwire is faster. */
  ratio: number;
  /** What the baseline is, or anything else worth knowing about the row. */
  note?: string;
}

/** Formats a rate with thousands separators and no decimals. */
function formatRate(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

/** Prints `rows` under `title` as a table with aligned columns (numbers right-aligned). */
export function printTable(title: string, rows: BenchRow[]): void {
  const header = ['benchmark', 'ops/s', 'baseline ops/s', 'ratio', 'note'];
  const cells = rows.map((row) => [
    row.name,
    formatRate(row.opsPerSec),
    formatRate(row.baselineOpsPerSec),
    `${row.ratio.toFixed(2)}x`,
    row.note ?? '',
  ]);
  const widths = header.map((h, col) => Math.max(h.length, ...cells.map((line) => line[col].length)));
  const rightAligned = [false, true, true, true, false];
  const format = (line: string[]): string =>
    line
      .map((cell, col) => (rightAligned[col] ? cell.padStart(widths[col]) : cell.padEnd(widths[col])))
      .join('  ')
      .trimEnd();
  console.log(`\n${title}`);
  console.log(format(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const line of cells) console.log(format(line));
}
