/**
 * The declarations a user compiles against name no internals (issue #24, point 4): a
 * consumer of the built package compiles, and every declaration file its compile loads
 * from dist/ is free of the shard pool, the manager's core and the worker's types
 * (internal members are marked @internal and stripped by tsconfig.build.json).
 * SpscRing is part of the public API (src/index.ts exports it), so its file may load.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const scratch = mkdtempSync(join(tmpdir(), 'ringwire-types-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Names of internal types that must not reach a user's type check. */
const INTERNAL =
  /\b(ShardHandle|ShardSet|ShardState|SendOverflow|OutboundQueue|OutboundSlot|ManagerCore|ConnectionTable|Acceptor|ReaderWait|ParkableShard|ManagedConnection|ConnectionSink|InboundReader|ShardInit|LocalSockets|Shard|Piscina|MessagePort|ManagerSettings|FdHelper)\b/;
/** An import of the shard pool or the worker. */
const INTERNAL_IMPORT = /from '[^']*\/(shards|workers)\//;

describe('the public declarations', () => {
  it('compile in a consumer and load no internal type', () => {
    writeFileSync(
      join(scratch, 'consumer.ts'),
      [
        "import { ConnectionWriter, Datagram, ErrorCode, QueuedConnectionManager, QueuedConnectionReader, RingwireError, type Connection } from 'ringwire';",
        'const manager = new QueuedConnectionManager();',
        'new QueuedConnectionReader(manager, 0);',
        'const writer = new ConnectionWriter(manager, 0);',
        'export async function use(conn: Connection): Promise<boolean> {',
        // getManager() is the manager, with all of its methods.
        '  const udp = await conn.getManager().openUDPConnection(0);',
        '  const error = manager.getLastError();',
        '  return writer.send(new Datagram(), conn) && udp !== null && (!(error instanceof RingwireError) || error.code !== ErrorCode.CONNECT_TIMEOUT);',
        '}',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(scratch, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'nodenext',
          moduleResolution: 'nodenext',
          lib: ['ES2022', 'ES2024.SharedMemory'],
          types: ['node'],
          typeRoots: [join(root, 'node_modules/@types')],
          strict: true,
          noEmit: true,
          baseUrl: '.',
          paths: { ringwire: [join(root, 'dist/index.d.ts')] },
        },
        files: ['consumer.ts'],
      }),
    );
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    let output: string;
    try {
      output = execFileSync(process.execPath, [tsc, '-p', scratch, '--listFiles'], { encoding: 'utf8' });
    } catch (error) {
      throw new Error(`the consumer does not compile: ${String((error as { stdout?: string }).stdout ?? error)}`);
    }
    const loaded = output
      .split('\n')
      .filter((file) => file.startsWith(join(root, 'dist') + '/'))
      .map((file) => relative(root, file));
    expect(loaded).toContain('dist/index.d.ts');
    expect(loaded.filter((file) => /^dist\/(main\/shards|workers)\//.test(file))).toEqual([]);
    const leaks: string[] = [];
    for (const file of loaded) {
      readFileSync(join(root, file), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          const code = line.replace(/\/\*\*.*|^\s*\*.*|\/\/.*/, ''); // comments may mention them
          if (INTERNAL.test(code) || INTERNAL_IMPORT.test(line)) leaks.push(`${file}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(leaks).toEqual([]);
  }, 60_000);
});
