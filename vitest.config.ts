import { defineConfig } from 'vitest/config';

// Three tiers, all run by `npm test`:
//   unit    — plain Node, no GPU, no browser          (tests/**/*.test.ts)
//   gpu     — real WebGPU in Node through Dawn         (tests/**/*.gpu.test.ts)
//   browser — the built studio in Debian's Chromium    (tests/**/*.browser.test.ts)
const gpuGlob = 'tests/**/*.gpu.test.ts';
const browserGlob = 'tests/**/*.browser.test.ts';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['tests/**/*.test.ts'],
          exclude: [gpuGlob, browserGlob],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'gpu',
          include: [gpuGlob],
          environment: 'node',
          // Dawn holds one Vulkan instance per process; forks keep GPU tests isolated and serial.
          pool: 'forks',
          fileParallelism: false,
          testTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'browser',
          include: [browserGlob],
          environment: 'node',
          pool: 'forks',
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
