import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // The harness imports ringwire by its package name, as a user would: the built dist/.
    alias: { ringwire: fileURLToPath(new URL('./dist/index.js', import.meta.url)) },
  },
  test: {
    include: ['test/**/*.test.ts', 'bench/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two test files at once on the 2-core machines: most files wait on sockets, child
    // processes and timers, so the suite takes about 4 minutes instead of 7.
    maxWorkers: 2,
  },
});
