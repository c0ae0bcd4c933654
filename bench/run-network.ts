/**
 * The network benches with their default settings, every table at the end:
 *   npm run bench:net                       # builds dist/ and dist-bench/, then runs this
 *   npm run bench:net -- --json out.json    # also writes every figure and setting
 *   npm run bench:net -- --only game        # or --only blast, --only outbound
 *
 * Run compiled (as bench:net does), not through tsx: ringwire's worker shards inherit the
 * process's loader flags and run slower under tsx. Takes about four and a half minutes.
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
import { OUTBOUND_DEFAULTS, outboundBudgetSeconds, outboundReport, printOutbound, runOutbound } from './outbound.bench.js';

const BENCHES = ['game', 'blast', 'outbound'];
const { values } = parseArgs({ options: { json: { type: 'string' }, only: { type: 'string' } } });
if (values.only !== undefined && !BENCHES.includes(values.only)) {
  throw new RangeError(`--only must be game, blast or outbound, got ${values.only}`);
}
/** True when `bench` is to run (all of them without --only). */
const runs = (bench: string): boolean => values.only === undefined || values.only === bench;

startWatchdog(
  gameTrafficBudgetSeconds(GAME_TRAFFIC_DEFAULTS) + blastBudgetSeconds(BLAST_DEFAULTS) + outboundBudgetSeconds(OUTBOUND_DEFAULTS),
  'bench:net',
);
const report: Record<string, object> = {};
let printGame: (() => void) | null = null;
if (runs('game')) {
  console.error('game traffic …');
  const options = { ...GAME_TRAFFIC_DEFAULTS };
  const results = await runGameTraffic(options);
  report.gameTraffic = gameTrafficReport(options, results);
  printGame = () => printGameTraffic(results, options);
}
let printBlastTable: (() => void) | null = null;
if (runs('blast')) {
  console.error('blast …');
  const options = { ...BLAST_DEFAULTS };
  const results = await runBlast(options);
  report.blast = blastReport(options, results);
  printBlastTable = () => printBlast(results, options);
}
let printOutboundTables: (() => void) | null = null;
if (runs('outbound')) {
  console.error('outbound …');
  const options = { ...OUTBOUND_DEFAULTS };
  const results = await runOutbound(options);
  report.outbound = outboundReport(options, results);
  printOutboundTables = () => printOutbound(results, options);
}
printGame?.();
printBlastTable?.();
printOutboundTables?.();
if (values.json) writeJsonReport(values.json, report);
