// `npm test`'s first step: the programs the tests run for real (nats-server for the channel
// bus, Prometheus and promtool for the metrics, Chromium for WebSocket in a real browser and
// NSS's certutil to make that browser trust the test CA) are found, or installed from Debian's
// packages where apt-get can be run (as root, or through sudo without a password), or the run
// stops here with one line naming what to install. A test never skips for want of one.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * What the tests need: the command, where Debian puts it, and Debian's package. Chromium is
 * looked for where test/helpers/browser.ts launches it: CHROMIUM_PATH when set, else
 * /usr/bin/chromium.
 */
const PREREQUISITES = [
  { command: 'nats-server', debianPackage: 'nats-server', paths: ['/usr/sbin/nats-server', '/usr/bin/nats-server'] },
  { command: 'prometheus', debianPackage: 'prometheus', paths: ['/usr/bin/prometheus'] },
  { command: 'promtool', debianPackage: 'prometheus', paths: ['/usr/bin/promtool'] },
  { command: 'chromium', debianPackage: 'chromium', paths: [process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'], pathOnly: true },
  { command: 'certutil', debianPackage: 'libnss3-tools', paths: ['/usr/bin/certutil'] },
];

/** True when `command` is at one of its known paths, or (unless `pathOnly`) on PATH. */
function present({ command, paths, pathOnly = false }) {
  if (paths.some((path) => existsSync(path))) return true;
  if (pathOnly) return false;
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** The prefix that runs apt-get as root ([] when already root, ['sudo', '-n'] with sudo), or null. */
function rootPrefix() {
  if (spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status !== 0) return null;
  if (process.getuid?.() === 0) return [];
  if (spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0) return ['sudo', '-n'];
  return null;
}

const missing = PREREQUISITES.filter((prerequisite) => !present(prerequisite));
if (missing.length > 0) {
  const packages = [...new Set(missing.map((prerequisite) => prerequisite.debianPackage))];
  const prefix = rootPrefix();
  if (prefix === null) {
    console.error(
      `ringwire tests need ${missing.map((p) => p.command).join(', ')}: install it (Debian/Ubuntu: sudo apt-get install ${packages.join(' ')}) and run npm test again`,
    );
    process.exit(1);
  }
  console.log(`ringwire tests: installing ${packages.join(', ')} from Debian's packages (apt-get, about 10–15 s each)…`);
  const run = (args) => {
    const [command, ...rest] = [...prefix, ...args];
    execFileSync(command, rest, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  };
  try {
    run(['apt-get', 'update', '-q']);
    run(['apt-get', 'install', '-y', '-q', ...packages]);
  } catch {
    console.error(`ringwire tests: apt-get could not install ${packages.join(' ')}; install it by hand and run npm test again`);
    process.exit(1);
  }
  const still = missing.filter((prerequisite) => !present(prerequisite));
  if (still.length > 0) {
    console.error(`ringwire tests: ${still.map((p) => p.command).join(', ')} still not found after apt-get install; install it by hand`);
    process.exit(1);
  }
}
