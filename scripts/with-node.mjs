// Runs a command under another Node major version, taken from the npm registry's Node
// binaries (node-<platform>-<arch>, the same builds nodejs.org ships), cached under
// node_modules/.cache/ringwire-node/<major>:
//
//   node scripts/with-node.mjs 26 npm test
//
// The command finds that Node first on PATH, so `npm`, `npx` and `node` inside it are run
// by it. The native helper needs no rebuild: it uses N-API only, whose ABI is stable.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [major, ...command] = process.argv.slice(2);
if (!/^\d+$/.test(major ?? '') || command.length === 0) {
  console.error('usage: node scripts/with-node.mjs <major version> <command> [args…]   (e.g. 26 npm test)');
  process.exit(2);
}
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const binaryPackage = `node-${process.platform}-${process.arch}`;
const prefix = join(root, 'node_modules', '.cache', 'ringwire-node', major);
const binDir = join(prefix, 'node_modules', binaryPackage, 'bin');
const npmCli = process.env.npm_execpath;

if (!existsSync(join(binDir, 'node'))) {
  console.log(`ringwire: fetching Node ${major} (${binaryPackage}@${major}) from the npm registry…`);
  mkdirSync(prefix, { recursive: true });
  const args = ['install', '--prefix', prefix, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--loglevel=error', `${binaryPackage}@${major}`];
  const install = npmCli ? spawnSync(process.execPath, [npmCli, ...args], { stdio: 'inherit' }) : spawnSync('npm', args, { stdio: 'inherit' });
  if (install.status !== 0 || !existsSync(join(binDir, 'node'))) {
    console.error(`ringwire: could not install ${binaryPackage}@${major} from the npm registry`);
    process.exit(1);
  }
}
const version = spawnSync(join(binDir, 'node'), ['--version'], { encoding: 'utf8' }).stdout.trim();
console.log(`ringwire: running \`${command.join(' ')}\` under Node ${version}`);
const env = { ...process.env, PATH: `${binDir}:${process.env.PATH ?? ''}` };
// npm sets these for the script that runs us; they name the outer Node and npm.
for (const key of ['npm_node_execpath', 'NODE', 'npm_execpath']) delete env[key];
const result = spawnSync(command[0], command.slice(1), { cwd: root, stdio: 'inherit', env });
process.exit(result.status ?? 1);
