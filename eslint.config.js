// `npm run lint`: typescript-eslint's recommended rules over src/, plus what keeps the layers
// of src/main (README, Layout): no import cycle (type imports included), type imports written
// as such, and api/ ← core/ ← shards/ in one direction only.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import noImportCycle from './scripts/eslint/no-import-cycle.js';

/** What a file under `folder` may not import, and why. */
const forbid = (folder, groups, message) => ({
  files: [`src/${folder}/**/*.ts`],
  rules: {
    'no-restricted-imports': ['error', { patterns: [{ group: groups, message }] }],
  },
});

export default tseslint.config(
  { ignores: ['dist/**', 'dist-all/**', 'dist-bench/**', 'node_modules/**', 'bench/**', 'examples/**', 'test/**', 'native/**', 'scripts/**'] },
  {
    files: ['src/**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    plugins: { ringwire: { rules: { 'no-import-cycle': noImportCycle } } },
    rules: {
      'ringwire/no-import-cycle': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports', fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Every error ringwire makes has a stable code (src/shared/errors.ts).
      'no-restricted-syntax': [
        'error',
        {
          selector: 'NewExpression[callee.name=/^(Error|TypeError|RangeError)$/]',
          message: 'construct a RingwireError, RingwireTypeError or RingwireRangeError with an ErrorCode (src/shared/errors.ts)',
        },
      ],
    },
  },
  { files: ['src/shared/errors.ts'], rules: { 'no-restricted-syntax': 'off' } },
  forbid('main/core', ['**/api/*', '**/api/**'], 'core/ never imports api/: give it a small interface instead (core/managed-connection.ts)'),
  forbid(
    'main/shards',
    ['**/api/*', '**/api/**', '**/core/*', '**/core/**'],
    'shards/ imports neither api/ nor core/: declare what it needs as an interface in shards/',
  ),
  forbid('shared', ['**/main/**', '**/workers/**'], 'src/shared/ is for both threads: it imports neither src/main/ nor src/workers/'),
  forbid('workers', ['**/main/**'], 'the shard (src/workers/) runs in a worker thread: it imports nothing of src/main/'),
);
