// Builds the fd helper with node-gyp during `npm install`. A failed build is not fatal:
// ringwire then runs every reader in single-thread mode and says so in its debug log.
import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

if (process.platform === 'win32') {
  console.warn('ringwire: the fd helper is POSIX-only; worker shards are disabled on Windows.');
  process.exit(0);
}
const nativeDir = dirname(fileURLToPath(import.meta.url));
const gyp = process.env.npm_config_node_gyp;
const [command, args] = gyp ? [process.execPath, [gyp, 'rebuild']] : ['node-gyp', ['rebuild']];
const result = spawnSync(command, args, { cwd: nativeDir, stdio: 'inherit' });
if (result.status !== 0) {
  console.warn(
    'ringwire: could not build the native fd helper (native/); worker shards are disabled and readers run in single-thread mode.',
  );
}
