/**
 * The echo workloads, now scenarios on the scenario engine, write the JSON they wrote when
 * they had a loop of their own: for each workload and transport, and for a comparison,
 * `--json` has exactly the fields that the last build before the rewrite wrote
 * (fixtures/workload-report-fields.json, recorded from commit 8d8aa67 with the same
 * commands). Runs the compiled command line: `npm run build` first.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fieldPaths, runCli } from './test-helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'ringwire-bench-fields-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const recorded = JSON.parse(readFileSync(new URL('./fixtures/workload-report-fields.json', import.meta.url), 'utf8')) as {
  brief: string[];
  cases: Record<string, { args: string[]; fields: string[] }>;
};

describe('the workloads write the JSON fields they wrote before the engine was shared', () => {
  for (const [name, { args, fields }] of Object.entries(recorded.cases)) {
    it(`${name}: ${args.join(' ')}`, async () => {
      const file = join(tmp, `${name}.json`);
      const result = await runCli([...args, ...recorded.brief, '--quiet', '--json', file], 60_000);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(fieldPaths(JSON.parse(readFileSync(file, 'utf8')))).toEqual(fields);
    });
  }
});
