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
    // TF.js through Vite's ESM resolution, so tfjs-core, its gradient registrations and the WebGPU backend share
    // one engine (Node's resolution would load the CommonJS core, which has no gradients, beside the ESM files)
    server: { deps: { inline: [/@tensorflow\//] } },
  },
});
