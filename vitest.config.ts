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
  },
});
