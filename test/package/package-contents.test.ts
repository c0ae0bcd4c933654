/**
 * What `npm pack` ships (issue #12, point 7): a LICENSE, the compiled library and harness
 * with source maps that carry their sources, no test helpers; and type declarations that
 * a consumer compiles under the old `moduleResolution: node10` as well as NodeNext.
 * Needs `npm run build` first (npm test does it).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const scratch = mkdtempSync(join(tmpdir(), 'ringwire-package-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The files `npm pack` would put in the tarball (scripts not run). */
function packedFiles(): string[] {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
  const [report] = JSON.parse(out) as { files: { path: string }[] }[];
  return report.files.map((file) => file.path);
}

describe('the package', () => {
  it('ships a LICENSE, the compiled code, and no test helpers', () => {
    const files = packedFiles();
    expect(files).toContain('LICENSE');
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/index.d.ts');
    expect(files).toContain('dist/workers/shard-worker.js');
    expect(files.filter((file) => /test/.test(file))).toEqual([]);
    // The guide's server and the arena ship as sources to read and copy (they import 'ringwire').
    expect(files).toContain('examples/game-server.ts');
    expect(files).toContain('examples/game-metrics.ts');
    expect(files).toContain('examples/browser-client.html');
    expect(files).toContain('examples/grafana/ringwire-dashboard.json');
    expect(files).toContain('examples/arena/arena-ringwire-server.ts');
    expect(files).toContain('examples/arena/README.md');
    expect(files.filter((file) => file.startsWith('examples/') && !/^examples\/(game-server|game-metrics|cli-flags|metrics-endpoint)\.ts$|^examples\/arena\/|^examples\/browser-client\.html$|^examples\/grafana\/ringwire-dashboard\.json$/.test(file))).toEqual([]);
  });

  it('depends on piscina and msgpackr only; the harness is its own package, ringwire-bench, in bench/harness/', () => {
    const library = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; bin?: unknown; workspaces: string[] };
    expect(Object.keys(library.dependencies).sort()).toEqual(['msgpackr', 'piscina']);
    expect(library.bin).toBeUndefined();
    expect(library.workspaces).toEqual(['bench/harness']);
    expect(packedFiles().filter((file) => /harness|bench/.test(file))).toEqual([]);
    const bench = JSON.parse(readFileSync(join(root, 'bench/harness/package.json'), 'utf8')) as {
      name: string;
      bin: Record<string, string>;
      dependencies: Record<string, string>;
      optionalDependencies: Record<string, string>;
    };
    expect(bench.name).toBe('ringwire-bench');
    expect(bench.bin).toEqual({ 'ringwire-bench': './bin/ringwire-bench.js' });
    // tsx loads TypeScript scenario files; the NATS client carries agents' runs.
    expect(Object.keys(bench.dependencies).sort()).toEqual(['@nats-io/transport-node', 'hdr-histogram-js', 'ringwire', 'tsx', 'ws']);
    expect(Object.keys(bench.optionalDependencies)).toEqual(['playwright-core']);
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts', '-w', 'ringwire-bench'], { cwd: root, encoding: 'utf8' });
    const files = (JSON.parse(out) as { files: { path: string }[] }[])[0].files.map((file) => file.path);
    expect(files).toContain('bin/ringwire-bench.js');
    expect(files).toContain('dist/cli.js');
    expect(files).toContain('dist/servers/ringwire-echo-server.js');
    expect(files).toContain('scenarios/arena-bots.ts'); // run as TypeScript by the harness itself
    expect(files.filter((file) => /test/.test(file))).toEqual([]);
  });

  it('ships source maps that carry their sources', () => {
    const maps = packedFiles().filter((file) => file.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(10);
    for (const file of maps) {
      const map = JSON.parse(readFileSync(join(root, file), 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
      expect(map.sourcesContent?.length, file).toBe(map.sources.length);
      expect(map.sourcesContent!.every((source) => typeof source === 'string' && source.length > 0), file).toBe(true);
    }
  });

  it.each(['node10', 'nodenext'])('has type declarations a consumer compiles with moduleResolution %s', (resolution) => {
    const dir = mkdtempSync(join(scratch, `${resolution}-`));
    writeFileSync(
      join(dir, 'consumer.ts'),
      [
        "import { ConnectionGroup, ConnectionWriter, Datagram, NetDatagram, QueuedConnectionManager, QueuedConnectionReader, TaskManager, type WaitOptions } from 'ringwire';",
        'const manager = new QueuedConnectionManager({ ringCapacity: 1 << 20 });',
        'const reader = new QueuedConnectionReader(manager, 2);',
        'const writer = new ConnectionWriter(manager, 0);',
        'const group = new ConnectionGroup();',
        'const dg = new Datagram();',
        'const options: WaitOptions = {};',
        'export const used = [reader.getData(new NetDatagram()), writer.broadcast(dg, group), manager.waitForReaders(0, options), new TaskManager()];',
        '',
      ].join('\n'),
    );
    const node10 = resolution === 'node10';
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: node10 ? 'commonjs' : 'nodenext',
          moduleResolution: resolution,
          lib: ['ES2022', 'ES2024.SharedMemory'],
          types: ['node'],
          typeRoots: [join(root, 'node_modules/@types')],
          strict: true,
          noEmit: true,
          // No esModuleInterop: declarations must not lean on default imports of Node's modules.
          esModuleInterop: false,
          baseUrl: '.',
          paths: { ringwire: [join(root, 'dist/index.d.ts')] },
        },
        files: ['consumer.ts'],
      }),
    );
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    let output = '';
    try {
      execFileSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' });
    } catch (error) {
      output = String((error as { stdout?: string }).stdout ?? error);
    }
    expect(output).toBe('');
  }, 60_000);
});
