/**
 * The network benches with their default settings, both tables at the end:
 *   npm run bench:net                       # builds dist/ and dist-bench/, then runs this
 *   npm run bench:net -- --json out.json    # also writes every figure and setting
 *   npm run bench:net -- --only game        # or --only blast
 *
 * Run compiled (as bench:net does), not through tsx: ringwire's worker shards inherit the
 * process's loader flags and run slower under tsx. Takes about three minutes.
 */
import { parseArgs } from 'node:util';
import { BLAST_DEFAULTS, blastBudgetSeconds, blastReport, printBlast, runBlast } from './blast.bench.js';
import {
  GAME_TRAFFIC_DEFAULTS,
  gameTrafficBudgetSeconds,
  gameTrafficReport,
  printGameTraffic,
  runGameTraffic,
} from './game-traffic.bench.js';
import { startWatchdog, writeJsonReport } from './net-table.js';

const { values } = parseArgs({ options: { json: { type: 'string' }, only: { type: 'string' } } });
if (values.only !== undefined && values.only !== 'game' && values.only !== 'blast') {
  throw new RangeError(`--only must be game or blast, got ${values.only}`);
}

startWatchdog(gameTrafficBudgetSeconds(GAME_TRAFFIC_DEFAULTS) + blastBudgetSeconds(BLAST_DEFAULTS), 'bench:net');
const report: Record<string, object> = {};
let printGame: (() => void) | null = null;
if (values.only !== 'blast') {
  console.error('game traffic …');
  const options = { ...GAME_TRAFFIC_DEFAULTS };
  const results = await runGameTraffic(options);
  report.gameTraffic = gameTrafficReport(options, results);
  printGame = () => printGameTraffic(results, options);
}
let printBlastTable: (() => void) | null = null;
if (values.only !== 'game') {
  console.error('blast …');
  const options = { ...BLAST_DEFAULTS };
  const results = await runBlast(options);
  report.blast = blastReport(options, results);
  printBlastTable = () => printBlast(results, options);
}
printGame?.();
printBlastTable?.();
if (values.json) writeJsonReport(values.json, report);
