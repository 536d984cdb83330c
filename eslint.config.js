import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Package boundaries. @hawser/contract is what the server and the agent agree
 * on and depends on nothing (node:crypto only, for the SPKI hash); the server
 * and the agent meet only there, never in each other.
 */
const restrict = (...patterns) => ['error', { patterns }];
const serverNotAgent = {
  regex: '^@hawser/agent(/|$)',
  message: 'The server does not depend on the agent; what both need lives in @hawser/contract.',
};

/**
 * Folders of packages/server/src, along the request path. ESLint keeps one
 * setting of a rule per file, so each folder's list repeats the package rule.
 */
const serverFolders = [
  {
    // The relay serves operators' requests; it knows nothing of the admin API or the CLI.
    files: ['packages/server/src/relay/**/*.ts'],
    rules: {
      'no-restricted-imports': restrict(serverNotAgent, {
        regex: '^\\.\\./(admin|cli)/',
        message: 'relay/ never imports admin/ or cli/.',
      }),
    },
  },
  {
    // The store is the bottom layer: only its own files, errors and the log.
    files: ['packages/server/src/store/**/*.ts'],
    rules: {
      'no-restricted-imports': restrict(serverNotAgent, {
        regex: '^\\.\\./(?!(errors|log)\\.js$)',
        message: 'store/ imports nothing above it: only store/, ../errors.js and ../log.js.',
      }),
    },
  },
  {
    // The CLI reaches a running server only through the admin client; it may
    // start one (server.ts) and share the cluster-name rules, nothing else.
    files: ['packages/server/src/cli/**/*.ts'],
    rules: {
      'no-restricted-imports': restrict(serverNotAgent, {
        regex: '^\\.\\./((relay|tunnel|store|auth|audit)/|admin/(?!admin-client\\.js$)|registration/(?!cluster-names\\.js$))',
        message: 'cli/ talks to the server only through admin/admin-client.js.',
      }),
    },
  },
];
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
    files: ['packages/https-json/**/*.ts'],
    ignores: ['packages/https-json/test/**'],
    rules: {
      'no-restricted-imports': restrict({
        regex: '^(?!\\.{1,2}/|node:|@hawser/contract$)',
        message: '@hawser/https-json needs Node and the contract only.',
      }),
    },
  },
  {
    // Shipped code only: tests and fuzz targets that join both ends in one
    // process (relay-pair, relay-fuzz) may import both packages.
    files: ['packages/server/src/**/*.ts'],
    rules: { 'no-restricted-imports': restrict(serverNotAgent) },
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
  { ignores: ['**/dist/**', 'dist-pack/**', '**/node_modules/**', '.hawser/**', 'coverage/**'] },
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
  ...serverFolders,
);
