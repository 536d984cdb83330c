import { defineConfig } from 'vitest/config';

// One project per package plus the end-to-end project. Packages resolve each
// other through the "source" export condition, so unit tests run on the
// TypeScript sources; end-to-end tests spawn the built binaries (npm test
// builds first).
const resolve = { conditions: ['source'] };

// CI asks for a machine-readable report as well (see .ci/run).
const report = process.env.HAWSER_TEST_REPORT;

export default defineConfig({
  resolve,
  test: {
    reporters: report ? ['default', ['json', { outputFile: report }]] : ['default'],
    projects: [
      {
        resolve,
        test: { name: 'contract', root: 'packages/contract', include: ['test/**/*.test.ts'] },
      },
      {
        resolve,
        test: { name: 'https-json', root: 'packages/https-json', include: ['test/**/*.test.ts'] },
      },
      {
        resolve,
        test: { name: 'protocol', root: 'packages/protocol', include: ['test/**/*.test.ts'] },
      },
      {
        resolve,
        test: { name: 'agent', root: 'packages/agent', include: ['test/**/*.test.ts'] },
      },
      {
        resolve,
        test: { name: 'server', root: 'packages/server', include: ['test/**/*.test.ts'] },
      },
      {
        resolve,
        test: {
          name: 'e2e',
          root: 'test',
          include: ['e2e/**/*.test.ts'],
          globalSetup: ['support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // The suites share one control plane and spawn real processes; on a
          // 2-core machine running files one after another is faster and
          // keeps timing-sensitive assertions honest.
          fileParallelism: false,
        },
      },
      {
        // The console's logic that runs without a browser (lists, discovery, URLs, YAML), with fetch stubbed.
        resolve,
        test: { name: 'console', root: 'packages/console', include: ['test/**/*.test.ts'] },
      },
    ],
  },
});
