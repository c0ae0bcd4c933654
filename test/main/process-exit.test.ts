/**
 * A manager holds the process open only while it has something to do (issue #12, point 2):
 * a program that makes a manager, a reader and a writer, opens nothing and returns must
 * exit, in both modes; one with an open connection keeps running until it closes the
 * manager, then exits. Each program is a child process running the compiled library
 * (`npm run build` first: npm test does it).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { expectNothingFor, pollUntil } from '../helpers/net-harness.js';

const library = pathToFileURL(resolve(import.meta.dirname, '../../dist/index.js')).href;
const scratch = mkdtempSync(join(tmpdir(), 'ringwire-exit-'));
const children = new Set<ChildProcess>();
afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Running {
  child: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
}

/** Runs `body` (ES module code, `ringwire` imported as `r`) as a child process. */
function run(name: string, body: string): Running {
  const file = join(scratch, `${name}.mjs`);
  writeFileSync(file, `import * as r from ${JSON.stringify(library)};\n${body}\n`);
  const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  const output: string[] = [];
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => output.push(...chunk.split('\n').filter(Boolean)));
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
  return { child, output, exited };
}

/** Resolves the exit code, or rejects when the process is still running after `ms`. */
async function exitsWithin(running: Running, ms: number, what: string): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still running after ${ms} ms (something holds its event loop)`)), ms);
  });
  try {
    return await Promise.race([running.exited, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

describe.each([0, 2])('process exit (numThreads %i)', (n) => {
  it('a program that makes a manager, a reader and a writer and opens nothing exits', async () => {
    const program = run(
      `idle-${n}`,
      `const m = new r.QueuedConnectionManager();
       const reader = new r.QueuedConnectionReader(m, ${n});
       new r.ConnectionWriter(m, ${n});
       new r.QueuedConnectionListener(m, 0);
       console.log('shards', reader.getNumWorkerShards());`,
    );
    expect(await exitsWithin(program, 10_000, 'the idle program')).toBe(0);
    expect(program.output).toEqual([`shards ${n}`]);
  });

  it('a program that closes its connections and its rendezvous, but not the manager, exits', async () => {
    const program = run(
      `closed-${n}`,
      `const m = new r.QueuedConnectionManager();
       const reader = new r.QueuedConnectionReader(m, ${n});
       const writer = new r.ConnectionWriter(m, ${n});
       const listener = new r.QueuedConnectionListener(m, 0);
       const rendezvous = await m.openTCPServerRendezvous('127.0.0.1', 0, 8);
       listener.addConnection(rendezvous);
       const client = await m.openTCPClientConnection('127.0.0.1', rendezvous.getAddress().getPort(), 5000);
       reader.addConnection(client);
       const udp = await m.openUDPConnection(0);
       reader.addConnection(udp);
       const ptr = new r.PointerToConnection();
       while (!listener.getNewConnection(ptr)) await new Promise((go) => setTimeout(go, 5));
       const served = ptr.p();
       reader.addConnection(served);
       const dg = new r.Datagram();
       dg.addString('ping');
       writer.send(dg, client);
       const got = new r.NetDatagram();
       while (!reader.getData(got)) await m.waitForReaders(1);
       console.log('got', new r.DatagramIterator(got).getString());
       m.closeConnection(client);
       m.closeConnection(served);
       m.closeConnection(udp);
       m.closeConnection(rendezvous);
       console.log('closed all');`,
    );
    expect(await exitsWithin(program, 10_000, 'the program after closing everything')).toBe(0);
    expect(program.output).toEqual(['got ping', 'closed all']);
  });

  it('a program with an open connection keeps running, and exits once it closes the manager', async () => {
    const program = run(
      `open-${n}`,
      `const m = new r.QueuedConnectionManager();
       const reader = new r.QueuedConnectionReader(m, ${n});
       const listener = new r.QueuedConnectionListener(m, 0);
       const rendezvous = await m.openTCPServerRendezvous('127.0.0.1', 0, 8);
       listener.addConnection(rendezvous);
       const client = await m.openTCPClientConnection('127.0.0.1', rendezvous.getAddress().getPort(), 5000);
       reader.addConnection(client);
       m.closeConnection(rendezvous);
       console.log('open');
       // Closing happens when the parent says so (stdin is ignored: a timer polls a file).
       const { existsSync } = await import('node:fs');
       const poll = setInterval(async () => {
         if (!existsSync(${JSON.stringify(join(scratch, `close-${n}`))})) return;
         clearInterval(poll);
         await m.close();
         console.log('closed');
       }, 20);
       poll.unref();`,
    );
    await pollUntil(() => program.output.includes('open'), { timeoutMs: 10_000, label: 'the connection open' });
    // The poll timer is unref'd: only the open connection can keep the program alive.
    await expectNothingFor(500, () => program.child.exitCode !== null, 'exit while a connection is open');
    writeFileSync(join(scratch, `close-${n}`), '');
    expect(await exitsWithin(program, 10_000, 'the program after close()')).toBe(0);
    expect(program.output).toEqual(['open', 'closed']);
  });
});
