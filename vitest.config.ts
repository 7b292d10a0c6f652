import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores on CI: keep forks at two so CLI end-to-end tests do not starve each other.
    pool: 'forks',
    maxWorkers: 2,
  },
});
