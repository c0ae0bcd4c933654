/**
 * Where an agent puts a scenario it received as text, so that loadScenario can import it.
 *
 * A scenario imports 'ringwire' and 'ringwire-bench' by name, and Node resolves a bare
 * name from the importing file's location: a file in /tmp finds neither. So the file is
 * written inside the harness package's own directory (RECEIVED_DIR), where both resolve
 * exactly as they do for the harness itself: 'ringwire-bench' by the package's
 * self-reference (its package.json has `exports`), 'ringwire' from the node_modules the
 * harness's own `import 'ringwire'` uses (its dependency). The scenario therefore gets the
 * very modules the agent runs, one module graph (a Datagram it makes is the harness's
 * Datagram), whether the harness is this repository's bench/harness or an installed
 * node_modules/ringwire-bench.
 *
 * Only that one file travels: a scenario for agents imports nothing relative to itself
 * (packages installed beside the harness resolve too).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The harness package's directory: one up from scenario/ in the sources, two from dist/scenario/. */
const PACKAGE_DIR = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../' : '../../', import.meta.url));

/** Received scenarios live here while their run lasts (not published: package.json's files leave it out). */
export const RECEIVED_DIR = join(PACKAGE_DIR, '.agent-scenarios');

/**
 * Writes `source` as agent `agentId`'s copy of `fileName` for run `runId` (agents of one
 * install share the directory) and returns its path. Throws an Error naming the file when
 * the name is not a scenario's or the directory cannot be written.
 */
export function writeReceivedScenario(runId: string, agentId: string, fileName: string, source: string): string {
  const name = basename(fileName).replace(/[^\w.-]/g, '_');
  if (!/\.(c|m)?(t|j)s$/.test(name)) throw new Error(`scenario file ${fileName} must be a .ts, .mts, .js or .mjs module`);
  const path = join(RECEIVED_DIR, `${runId}-${agentId}-${name}`);
  try {
    mkdirSync(RECEIVED_DIR, { recursive: true });
    writeFileSync(path, source);
  } catch (error) {
    throw new Error(`cannot write the scenario to ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): the agent needs a harness install it may write to`);
  }
  return path;
}

/**
 * Removes a received scenario once its run is over (the imported module stays loaded). An
 * agent killed mid-run leaves its file; the directory is the harness's own, never published.
 */
export function removeReceivedScenario(path: string): void {
  rmSync(path, { force: true });
}
