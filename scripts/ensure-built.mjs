// `npm start`'s first step: compiles TypeScript to dist/ only when a source is newer than
// what dist/ holds, and says so before it begins (the build takes several seconds).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The newest modification time (ms) of the files under `path` that `keep` accepts. What
 * the build writes or never reads is skipped: bench/harness/dist's .d.ts files would
 * otherwise always be newer than its cli.js, and dot folders (an agent's received
 * scenarios) are not sources (tsc's include skips them too).
 */
function newest(path, keep) {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return keep(path) ? stat.mtimeMs : 0;
  let latest = 0;
  for (const entry of readdirSync(path)) {
    if (entry === 'dist' || entry === 'node_modules' || entry.startsWith('.')) continue;
    latest = Math.max(latest, newest(join(path, entry), keep));
  }
  return latest;
}

const outputs = ['dist/index.js', 'dist/workers/shard-worker.js', 'bench/harness/dist/cli.js'].map((file) => join(root, file));
const built = outputs.every((file) => existsSync(file)) ? Math.min(...outputs.map((file) => statSync(file).mtimeMs)) : 0;
const sources = Math.max(
  newest(join(root, 'src'), (file) => file.endsWith('.ts')),
  newest(join(root, 'bench/harness'), (file) => file.endsWith('.ts') && !file.endsWith('.test.ts')),
  ...['package.json', 'tsconfig.json', 'tsconfig.build.json', 'tsconfig.harness.json'].map((file) => newest(join(root, file), () => true)),
);
if (built >= sources) process.exit(0);
console.log(built === 0 ? 'ringwire: compiling TypeScript to dist/ (first start: about 10 s)…' : 'ringwire: sources changed; compiling TypeScript to dist/…');
const npm = process.env.npm_execpath;
const result = npm ? spawnSync(process.execPath, [npm, 'run', '--silent', 'build'], { cwd: root, stdio: 'inherit' }) : spawnSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);
