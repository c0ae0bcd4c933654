/**
 * A real Prometheus server and promtool for the metrics tests (Debian's `prometheus`
 * package; `npm test` installs it when it is missing). The server listens on loopback and
 * keeps its data in a temporary folder; stopPrometheus ends it and removes the folder.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The path of `command` (prometheus or promtool), or a failure that says how to get it. */
export function prometheusTool(command: 'prometheus' | 'promtool'): string {
  for (const candidate of [`/usr/bin/${command}`, `/usr/local/bin/${command}`]) {
    if (existsSync(candidate)) return candidate;
  }
  try {
    return execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(`${command} is not installed: these tests need Debian's prometheus package (apt-get install prometheus; npm test installs it)`);
  }
}

/** `promtool check metrics` on `text`: its exit status and what it said. */
export function promtoolCheck(text: string): { status: number | null; output: string } {
  const result = spawnSync(prometheusTool('promtool'), ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** A loopback port free a moment ago (for servers that cannot be told to pick one). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface Prometheus {
  port: number;
  child: ChildProcess;
  /** An instant query's result vector (the HTTP API's data.result). */
  query(expression: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  stop(): Promise<void>;
}

const servers = new Set<Prometheus>();

/** Starts Prometheus scraping `targets` (host:port of /metrics) every second. */
export async function startPrometheus(targets: string[]): Promise<Prometheus> {
  const folder = mkdtempSync(join(tmpdir(), 'ringwire-prometheus-'));
  const config = join(folder, 'prometheus.yml');
  writeFileSync(
    config,
    ['global:', '  scrape_interval: 1s', '  evaluation_interval: 1s', 'scrape_configs:', '  - job_name: ringwire', '    static_configs:', `      - targets: [${targets.map((t) => `'${t}'`).join(', ')}]`, ''].join('\n'),
  );
  const port = await freePort();
  const child = spawn(
    prometheusTool('prometheus'),
    [`--config.file=${config}`, `--storage.tsdb.path=${join(folder, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (log += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const prometheus: Prometheus = {
    port,
    child,
    async query(expression) {
      const response = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(expression)}`);
      const body = (await response.json()) as { status: string; data?: { result: { metric: Record<string, string>; value: [number, string] }[] }; error?: string };
      if (body.status !== 'success') throw new Error(`Prometheus query ${expression}: ${body.error ?? body.status}`);
      return body.data!.result;
    },
    async stop() {
      servers.delete(prometheus);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      rmSync(folder, { recursive: true, force: true });
    },
  };
  servers.add(prometheus);
  // Ready when its API answers.
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prometheus exited at start:\n${log}`);
    try {
      const ready = await fetch(`http://127.0.0.1:${port}/-/ready`);
      if (ready.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`prometheus not ready within 20 s:\n${log}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return prometheus;
}

/** Stops every Prometheus started and not stopped yet (for afterEach). */
export async function stopPrometheus(): Promise<void> {
  for (const prometheus of [...servers]) await prometheus.stop();
}
