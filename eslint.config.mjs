import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The rooms of webhook/ and what each may import (besides itself and lib/): imports point one way,
// model <- guard <- cluster <- admission | reconciler <- cli, with log/ and audit/ beside them. Another room is
// imported through its index.ts, never a file inside it. Tests and benchmarks may import internals.
const ROOMS = {
  model: [],
  log: [],
  guard: ['model'],
  audit: ['guard', 'model', 'log'],
  cluster: ['guard', 'model', 'log'],
  admission: ['audit', 'guard', 'model', 'log'],
  reconciler: ['cluster', 'guard', 'model', 'log'],
  cli: ['admission', 'audit', 'cluster', 'guard', 'log', 'model', 'reconciler'],
};

function roomBoundaries(room, allowed) {
  const forbidden = Object.keys(ROOMS).filter((r) => r !== room && !allowed.includes(r));
  return {
    files: [`webhook/${room}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^\\.\\./[a-z-]+/', message: 'import another room through its index (../room), not a file inside it' },
            { regex: `^\\.\\./(${forbidden.join('|')})$`, message: `webhook/${room}/ may import only ${allowed.join(', ') || 'lib/'}: imports point one way` },
          ],
        },
      ],
    },
  };
}

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'charts/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly', process: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  ...Object.entries(ROOMS).map(([room, allowed]) => roomBoundaries(room, allowed)),
  {
    files: ['certs/**/*.ts', 'lib/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '(^|/)webhook(/|$)', message: 'certs/ and lib/ do not depend on webhook/ (shared code goes to lib/)' }] }],
    },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
);
