/**
 * A project that installs ringwire where no C compiler is found (issue #12, point 1): npm
 * hides the install script's own message, so ringwire must say it at run time. The packed
 * tarball is installed into a scratch project with a PATH that holds only `node` and `sh`, so
 * node-gyp finds no python3, make or cc and the fd helper is not built; a script that asks
 * for 2 worker shards must then get one RINGWIRE_SINGLE_THREAD warning naming the cause and
 * the fix, and `getNumWorkerShards()` must say 0, while `getNumThreads()` still says 2.
 * Needs `npm run build` first (npm test does it) and npm's cache or registry for the
 * dependencies.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const scratch = mkdtempSync(join(tmpdir(), 'ringwire-install-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** npm's own script, run with this node: the PATH below has no npm. */
function npmCli(): string {
  const npm = execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim();
  const real = execFileSync('readlink', ['-f', npm], { encoding: 'utf8' }).trim();
  return real.endsWith('.js') ? real : join(dirname(real), '../lib/node_modules/npm/bin/npm-cli.js');
}

describe('installed where no C compiler is found', () => {
  it('warns once at run time, naming the cause and the fix, and says which mode is in force', () => {
    execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', scratch], { cwd: root, stdio: 'ignore' });
    const tarball = join(scratch, readdirSync(scratch).find((name) => name.endsWith('.tgz'))!);
    const project = join(scratch, 'project');
    const bin = join(scratch, 'bin');
    mkdirSync(project);
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node'));
    // npm runs install scripts with sh; sh adds nothing to find.
    symlinkSync('/bin/sh', join(bin, 'sh'));
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: bin, npm_config_update_notifier: 'false', npm_config_audit: 'false', npm_config_fund: 'false' };
    delete env.PYTHON;
    delete env.npm_config_python;
    execFileSync(process.execPath, [npmCli(), 'install', '--prefer-offline', tarball], { cwd: project, env, stdio: 'pipe', timeout: 240_000 });
    writeFileSync(
      join(project, 'main.js'),
      [
        "import { QueuedConnectionManager, QueuedConnectionReader } from 'ringwire';",
        'const manager = new QueuedConnectionManager();',
        'const reader = new QueuedConnectionReader(manager, 2);',
        "console.log(JSON.stringify({ asked: reader.getNumThreads(), running: reader.getNumWorkerShards() }));",
        'const other = new QueuedConnectionManager();',
        'new QueuedConnectionReader(other, 2);',
        'await manager.close();',
        'await other.close();',
        // Node prints warnings on a later tick; the closed managers then let the process exit.
        'await new Promise((resolve) => setImmediate(resolve));',
      ].join('\n'),
    );
    const run = spawnSync(process.execPath, ['main.js'], { cwd: project, env, encoding: 'utf8', timeout: 30_000 });
    expect(run.status, run.stderr).toBe(0);
    const stdout = run.stdout;
    const stderr = run.stderr;
    expect(JSON.parse(stdout.trim())).toEqual({ asked: 2, running: 0 });
    expect(stderr).toMatch(/\[RINGWIRE_SINGLE_THREAD\] Warning: ringwire: 2 worker shards were asked for, but the native fd helper is not built/);
    expect(stderr).toMatch(/Fix: install a C compiler, make and python3, then run `npm rebuild ringwire`/);
    // Once per process, though two readers asked.
    expect(stderr.match(/RINGWIRE_SINGLE_THREAD/g)).toHaveLength(1);
  }, 300_000);
});
