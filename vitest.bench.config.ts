import { defineConfig } from 'vitest/config';

// `npm run bench`: benchmarks run as Vitest files (so WGSL imports resolve the same way as in the app) but are
// never part of `npm test`; they write bench/results/*.json and refresh the README table.
export default defineConfig({
  test: {
    include: ['bench/**/*.bench.ts'],
    environment: 'node',
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 1_800_000,
    hookTimeout: 600_000,
  },
});
