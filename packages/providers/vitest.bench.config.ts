import { defineConfig } from 'vitest/config';

// Benchmarks run on demand (`pnpm bench`), print their figures and assert nothing about timings.
export default defineConfig({
  test: {
    include: ['bench/**/*.bench.ts'],
    testTimeout: 120_000,
  },
});
