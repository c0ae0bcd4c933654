/**
 * What a Prometheus scrape of `ringwire/metrics` costs the game's main thread, beside a
 * getStats() call, while the server reads 60 Hz traffic: a ringwire server (2 shards) in
 * this process drains its reader at a 60 Hz tick and echoes; ringwire-bench's latency
 * workload (a child process) sends from --clients connections at 60 datagrams/s each.
 *
 *   npm run bench:scrape -- [--clients 500] [--rounds 5] [--calls 200]
 *
 * Each round times --calls scrapes (`await registry.metrics()`, the text Prometheus gets)
 * and --calls getStats() calls on the main thread's own CPU clock (CLOCK_THREAD_CPUTIME_ID,
 * the native helper), one after the other between ticks; the table gives each round's µs
 * per call and the ratio, then the medians.
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import {
  ConnectionWriter,
  NetDatagram,
  QueuedConnectionListener,
  QueuedConnectionManager,
  QueuedConnectionReader,
  PointerToConnection,
} from '../src/index.js';
import { registerMetrics } from '../src/metrics/register-metrics.js';
import { loadFdHelper } from '../src/shared/fd-helper.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '500' },
    rounds: { type: 'string', default: '5' },
    calls: { type: 'string', default: '200' },
  },
});
const clients = Number(values.clients);
const rounds = Number(values.rounds);
const calls = Number(values.calls);
const helper = loadFdHelper();
if (helper === null) throw new Error('the native helper is not built (npm install): it gives the thread CPU clock');

const manager = new QueuedConnectionManager();
const listener = new QueuedConnectionListener(manager, 0);
const reader = new QueuedConnectionReader(manager, 2);
const writer = new ConnectionWriter(manager, 2);
const rendezvous = await manager.openTCPServerRendezvous('127.0.0.1', 0, 1000);
if (rendezvous === null) throw new Error(`cannot listen: ${manager.getLastError()?.message}`);
listener.addConnection(rendezvous);
const registry = new Registry();
registerMetrics(manager, { registry });

// The game loop: a 60 Hz tick that accepts, reads every datagram and echoes it.
const newConnection = new PointerToConnection();
const dg = new NetDatagram();
const tick = setInterval(() => {
  while (listener.getNewConnection(newConnection)) reader.addConnection(newConnection.p()!);
  while (reader.getData(dg)) writer.send(dg, dg.getConnection()!);
}, 1000 / 60);

const seconds = Math.ceil(rounds * 2 + 10);
const load = spawn(
  process.execPath,
  [
    'bench/harness/dist/cli.js',
    'latency',
    '--port',
    String(rendezvous.getAddress().getPort()),
    '-c',
    String(clients),
    '--rate-per-connection',
    '60',
    '-d',
    String(seconds),
    '--warmup',
    '0',
    '--quiet',
  ],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);
const loadDone = new Promise<void>((resolve) => load.once('exit', () => resolve()));

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
// Every client connected and sending.
const deadline = Date.now() + 30_000;
while (manager.getStats().connections < clients) {
  if (Date.now() > deadline) throw new Error(`only ${manager.getStats().connections} of ${clients} clients connected`);
  await sleep(100);
}
await sleep(2000);

const median = (list: number[]): number => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
const scrapeUs: number[] = [];
const statsUs: number[] = [];
const shardUs: number[] = [];
console.log(`scrape cost · ${clients} clients × 60 datagrams/s into a 60 Hz tick · ${calls} calls a round`);
console.log('round   scrape µs   getStats µs   ratio   getShardStats µs   bytes of text   datagrams/s in');
for (let round = 1; round <= rounds; round++) {
  const before = manager.getStats().datagramsIn;
  const started = Date.now();
  let text = '';
  let cpu = helper.threadCpuMs();
  for (let i = 0; i < calls; i++) text = await registry.metrics();
  const scrape = ((helper.threadCpuMs() - cpu) * 1000) / calls;
  await sleep(200);
  cpu = helper.threadCpuMs();
  for (let i = 0; i < calls; i++) manager.getStats();
  const stats = ((helper.threadCpuMs() - cpu) * 1000) / calls;
  await sleep(200);
  // Part of a scrape: the per-shard figures walk every connection for its send backlog.
  cpu = helper.threadCpuMs();
  for (let i = 0; i < calls; i++) manager.getShardStats();
  const shard = ((helper.threadCpuMs() - cpu) * 1000) / calls;
  await sleep(600);
  const rate = (manager.getStats().datagramsIn - before) / ((Date.now() - started) / 1000);
  scrapeUs.push(scrape);
  statsUs.push(stats);
  shardUs.push(shard);
  console.log(
    `${String(round).padStart(5)}   ${scrape.toFixed(1).padStart(9)}   ${stats.toFixed(2).padStart(11)}   ${(scrape / stats).toFixed(0).padStart(4)}×   ${shard.toFixed(1).padStart(16)}   ${String(text.length).padStart(13)}   ${rate.toFixed(0).padStart(14)}`,
  );
}
console.log(
  `median  ${median(scrapeUs).toFixed(1).padStart(9)}   ${median(statsUs).toFixed(2).padStart(11)}   ${(median(scrapeUs) / median(statsUs)).toFixed(0).padStart(4)}×   ${median(shardUs).toFixed(1).padStart(16)}` +
    `   (at a 15 s scrape interval: ${(median(scrapeUs) / 15).toFixed(1)} µs of main thread a second)`,
);
clearInterval(tick);
load.kill('SIGINT');
await loadDone;
await manager.close();
