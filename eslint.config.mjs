import js from '@eslint/js';
import tseslint from 'typescript-eslint';

import { readFileSync } from 'node:fs';
import { posix } from 'node:path';

// The rooms and what each may import (besides itself and lib/) come from webhook/rooms.json, the one table that
// docs/architecture.md's diagram is checked against (test/unit/docs/rooms.test.ts). Another room is imported
// through its index.ts, never a file inside it. Tests, the test bed and benchmarks may import internals.
const { rooms: ROOMS } = JSON.parse(readFileSync(posix.join(import.meta.dirname, 'webhook', 'rooms.json'), 'utf8'));

/** How a file directly inside room `from` spells an import of room `to` (e.g. '../guard', '../../certs'). */
function specifierOf(from, to) {
  return posix.relative(ROOMS[from].dir, ROOMS[to].dir);
}

function escape(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function roomBoundaries(room, { dir, imports: allowed }) {
  const others = Object.keys(ROOMS).filter((r) => r !== room);
  const forbidden = others.filter((r) => !allowed.includes(r)).map((r) => escape(specifierOf(room, r)));
  const inside = others.map((r) => escape(specifierOf(room, r)));
  const patterns = [
    { regex: `^(${inside.join('|')})/`, message: 'import another room through its index, not a file inside it' },
  ];
  if (forbidden.length) {
    patterns.push({
      regex: `^(${forbidden.join('|')})$`,
      message: `${dir}/ may import only ${allowed.join(', ') || 'lib/'} (webhook/rooms.json): imports point one way`,
    });
  }
  return { files: [`${dir}/**/*.ts`], rules: { 'no-restricted-imports': ['error', { patterns }] } };
}

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'charts/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.js'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { module: 'writable', require: 'readonly', process: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  ...Object.entries(ROOMS).map(([room, spec]) => roomBoundaries(room, spec)),
  {
    files: ['certs/**/*.ts', 'lib/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '(^|/)webhook(/|$)',
              message: 'certs/ and lib/ do not depend on webhook/ (shared code goes to lib/)',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['lib/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '(^|/)(webhook|certs)(/|$)', message: 'lib/ imports no room: it is what every room may share' },
          ],
        },
      ],
    },
  },
  {
    // product code proves presence instead of asserting it; tests may assert what they just built
    files: ['webhook/**/*.ts', 'certs/**/*.ts', 'lib/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'error' },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
);
