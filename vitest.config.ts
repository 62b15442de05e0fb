import { defineConfig } from 'vitest/config';

// Four projects, all run by `npm test`:
//   unit          — plain Node, no GPU, no browser          (tests/**/*.test.ts)
//   gpu           — real WebGPU in Node through Dawn on SwiftShader (tests/**/*.gpu.test.ts)
//   gpu-lavapipe  — the hardware family's GPU tests again on a second CPU driver, Mesa's lavapipe
//                   (scripts/lavapipe.sh, npm test's pretest), at 16-wide subgroups (SwiftShader's are 4), a
//                   128 MiB storage binding limit (browsers') and an LLVM compiler: what SwiftShader cannot show
//                   of code meant for real GPUs
//   browser       — the built studio in Debian's Chromium    (tests/**/*.browser.test.ts)
const gpuGlob = 'tests/**/*.gpu.test.ts';
const browserGlob = 'tests/**/*.browser.test.ts';
/**
 * The hardware family's tests that lavapipe runs too: its subgroup reductions, row kernels, flash attention and
 * whole-model paths. Each passes on both drivers. lavapipe compiles through LLVM, slowly the first time (Mesa
 * caches the result), so the files that mostly re-test the software family's big kernels (matmul*, attention,
 * attention-backward: 2–6 minutes each uncached) stay on SwiftShader only; gemma3's BF16 logits measure 1.11e-5
 * on the hardware family here against its 1e-5 bound, so it waits for a bound of its own.
 */
const lavapipeFiles = [
  'tests/engine/ops/{rows-hw-subgroups,matvec-norm,rmsnorm,rmsnorm-backward,logsoftmax,logsoftmax-backward,argmax,kv-f16,attention-hw}.gpu.test.ts',
  'tests/engine/model/{hardware-family,decode,logits,kv-f16,qwen3,split}.gpu.test.ts',
  'tests/engine/train/{full-grad-hardware,grad,recompute}.gpu.test.ts',
];

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
          name: 'gpu-lavapipe',
          include: lavapipeFiles,
          environment: 'node',
          // read by src/engine/gpu/node-gpu.ts (the driver), kernel-family.ts (the family) and llvmpipe itself
          // (its SIMD width, 512 bits: 16 lanes a subgroup)
          env: { ALLOY_VULKAN: 'lavapipe', ALLOY_KERNELS: 'hardware', LP_NATIVE_VECTOR_WIDTH: '512' },
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
