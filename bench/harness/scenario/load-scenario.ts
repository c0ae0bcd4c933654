/**
 * Loads a scenario file: a `.ts`, `.mts`, `.js` or `.mjs` module whose default export is
 * defineScenario(…). TypeScript runs as is on every supported Node: tsx's loader is
 * registered once (module.register), so the file and what it imports share one module
 * graph with the harness (one `ringwire`, so a Datagram the scenario makes is the
 * harness's Datagram).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { register } from 'tsx/esm/api';
import type { Scenario } from './define-scenario.js';
import { checkOptions } from './define-scenario.js';

let registered = false;

/** The "type" of the nearest package.json at or above `dir` ('commonjs' when there is none). */
function packageTypeOf(dir: string): string {
  for (let at = dir; ; at = dirname(at)) {
    const file = join(at, 'package.json');
    if (existsSync(file)) {
      try {
        return (JSON.parse(readFileSync(file, 'utf8')) as { type?: string }).type ?? 'commonjs';
      } catch {
        return 'commonjs';
      }
    }
    if (dirname(at) === at) return 'commonjs';
  }
}

/**
 * The absolute path of `file`: from the working directory, or, when the command runs as an
 * npm script (`npm run bench -- run FILE`, whose working directory is the package's), from
 * the directory npm was started in (INIT_CWD).
 */
export function scenarioPath(file: string): string {
  if (isAbsolute(file)) return file;
  const here = resolve(file);
  const initial = process.env.INIT_CWD;
  if (existsSync(here) || initial === undefined) return here;
  return resolve(initial, file);
}

/** Imports `file` and returns its scenario; throws an Error that names the file and what is wrong. */
export async function loadScenario(file: string): Promise<Scenario<unknown, Record<string, unknown>>> {
  const path = scenarioPath(file);
  if (!existsSync(path)) throw new Error(`scenario file ${file} does not exist (looked for ${path})`);
  if (!/\.(c|m)?(t|j)s$/.test(path)) throw new Error(`scenario file ${file} must be a .ts, .mts, .js or .mjs module`);
  if (/\.(c?ts|js)$/.test(path) && packageTypeOf(dirname(path)) !== 'module') {
    throw new Error(
      `scenario file ${path} would load as CommonJS (no package.json with "type": "module" above it), and ringwire is an ES module: name it .mts (or .mjs), or put { "type": "module" } in a package.json beside it`,
    );
  }
  if (!registered && /\.(c|m)?ts$/.test(path)) {
    register();
    registered = true;
  }
  const module = (await import(pathToFileURL(path).href)) as { default?: Scenario<unknown, Record<string, unknown>> };
  const scenario = module.default;
  if (scenario === null || typeof scenario !== 'object' || typeof scenario.bot !== 'function') {
    throw new Error(`scenario file ${file} must have a default export made by defineScenario({ options, bot, … })`);
  }
  checkOptions(scenario.options ?? {});
  return scenario;
}
