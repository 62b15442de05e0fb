import { defineConfig } from 'vitest/config';

// Five projects, all run by `npm test`:
//   unit          — plain Node, no GPU, no browser          (tests/**/*.test.ts)
//   gpu           — real WebGPU in Node through Dawn on SwiftShader (tests/**/*.gpu.test.ts)
//   gpu-lavapipe  — the hardware family's GPU tests again on a second CPU driver, Mesa's lavapipe
//                   (scripts/lavapipe.sh, npm test's pretest), at 8-wide subgroups (SwiftShader's are 4), a
//                   128 MiB storage binding limit (browsers') and an LLVM compiler: what SwiftShader cannot show
//                   of code meant for real GPUs; gpu-lavapipe-16 runs the subgroup users at 16 lanes
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
  'tests/engine/ops/{rows-hw-subgroups,matvec-norm,rmsnorm,rmsnorm-backward,logsoftmax,logsoftmax-backward,argmax,kv-f16,attention-hw,rows-f16-act,attention-f16-act,matmul-f16-act,matmul-b16,train-f16-act}.gpu.test.ts',
  'tests/engine/model/{hardware-family,decode,logits,kv-f16,qwen3,split,acts-f16}.gpu.test.ts',
  'tests/engine/train/{full-grad-hardware,grad,recompute,acts-f16-grad}.gpu.test.ts',
];
/** the subgroup users again at 16 lanes (512-bit SIMD compiles about 3× slower, so only these) */
const lavapipeWideFiles = ['tests/engine/ops/{rows-hw-subgroups,matvec-norm}.gpu.test.ts'];

/**
 * A project of GPU test files on lavapipe with the hardware family, at llvmpipe's SIMD width `bits` (its subgroups
 * are bits / 32 lanes wide). The env is read by src/engine/gpu/node-gpu.ts (the driver), kernel-family.ts (the
 * family) and llvmpipe itself.
 */
function lavapipeProject(name: string, include: string[], bits: 256 | 512) {
  return {
    test: {
      name,
      include,
      environment: 'node' as const,
      env: { ALLOY_VULKAN: 'lavapipe', ALLOY_KERNELS: 'hardware', LP_NATIVE_VECTOR_WIDTH: String(bits) },
      pool: 'forks' as const,
      fileParallelism: false,
      testTimeout: 120_000,
    },
  };
}

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
      lavapipeProject('gpu-lavapipe', lavapipeFiles, 256),
      lavapipeProject('gpu-lavapipe-16', lavapipeWideFiles, 512),
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
