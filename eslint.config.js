import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Package boundaries. @hawser/contract is what the server and the agent agree
 * on and depends on nothing (node:crypto only, for the SPKI hash); the server
 * and the agent meet only there, never in each other.
 */
const restrict = (...patterns) => ['error', { patterns }];
const packageBoundaries = [
  {
    files: ['packages/contract/**/*.ts'],
    ignores: ['packages/contract/test/**'],
    rules: {
      'no-restricted-imports': restrict({
        regex: '^(?!\\.{1,2}/|node:crypto$)',
        message: '@hawser/contract imports nothing outside itself (node:crypto only): no @hawser/*, no third-party module, no I/O.',
      }),
    },
  },
  {
    files: ['packages/server/**/*.ts'],
    rules: {
      'no-restricted-imports': restrict({
        regex: '^@hawser/agent(/|$)',
        message: 'The server does not depend on the agent; what both need lives in @hawser/contract.',
      }),
    },
  },
  {
    files: ['packages/agent/**/*.ts'],
    rules: {
      'no-restricted-imports': restrict({
        regex: '^@hawser/server(/|$)',
        message: 'The agent does not depend on the server; what both need lives in @hawser/contract.',
      }),
    },
  },
];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '.hawser/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  ...packageBoundaries,
);
