/**
 * Loads a scenario file: a `.ts`, `.mts`, `.js` or `.mjs` module whose default export is
 * defineScenario(…). TypeScript runs as is on every supported Node: tsx's loader is
 * registered once (module.register), so the file and what it imports share one module
 * graph with the harness (one `ringwire`, so a Datagram the scenario makes is the
 * harness's Datagram).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { register } from 'tsx/esm/api';
import type { Scenario } from './define-scenario.js';
import { checkOptions } from './define-scenario.js';

let registered = false;

/** Imports `file` and returns its scenario; throws an Error that names the file and what is wrong. */
export async function loadScenario(file: string): Promise<Scenario<unknown, Record<string, unknown>>> {
  const path = resolve(file);
  if (!existsSync(path)) throw new Error(`scenario file ${file} does not exist`);
  if (!/\.(c|m)?(t|j)s$/.test(path)) throw new Error(`scenario file ${file} must be a .ts, .mts, .js or .mjs module`);
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
