import { describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray, testGpu, testKernels } from '../../helpers/gpu.ts';
import { BufferPool, readBuffer } from '../../../src/engine/gpu/buffer-pool.ts';
import { KERNEL_FAMILIES, type KernelFamily } from '../../../src/engine/kernel-family.ts';
import type { KernelRegistry } from '../../../src/engine/gpu/kernels.ts';
import { encodeMatmul, matmulUses4x4, matmulUsesNt, type MatmulArgs } from '../../../src/engine/ops/matmul.ts';
import { encodeHwMatmul, HW_TILES, hwMatmulTile, hwSplitK, hwUsesMatvec } from '../../../src/engine/ops/matmul-hw.ts';
import { matmulRef } from '../../../src/engine/reference/matmul.ts';

// f32 accumulation over K ≤ 80 terms of products of values in [-1, 1) (plus alpha/beta): error grows
// ~ sqrt(K)·2^-24·|terms|; measured on SwiftShader up to 3.2e-6 (printed per case), held to 3e-5.
const TOL = 3e-5;

function expectWithin(got: ArrayLike<number>, want: ArrayLike<number>): void {
  const err = maxAbsDiff(got, want);
  console.log(`${expect.getState().currentTestName}: max|Δ| = ${err.toExponential(2)}`);
  expect(err).toBeLessThan(TOL);
}

// One registry per family for the file (SwiftShader compiles a pipeline in ~0.5 s).
const registries = new Map<KernelFamily, Promise<KernelRegistry>>();
function kernelsOf(family: KernelFamily): Promise<KernelRegistry> {
  let k = registries.get(family);
  if (!k) registries.set(family, (k = testKernels(family)));
  return k;
}

/** encodeMatmul in `family`; or, with `tile`, the hardware tiled kernel forced to that tile. */
async function run(args: MatmulArgs, seed: number, family: KernelFamily, tile?: { M: number; N: number }) {
  const { device } = await testGpu();
  const pool = new BufferPool(device);
  const kernels = await kernelsOf(family);
  const batch = args.batch ?? 1;
  const a = randomArray(batch * args.M * args.K, seed);
  const b = randomArray(batch * args.K * args.N, seed + 1);
  const c0 = randomArray(batch * args.M * args.N, seed + 2);
  const A = pool.upload(a);
  const B = pool.upload(b);
  const C = pool.upload(c0);
  const enc = device.createCommandEncoder();
  if (tile) await encodeHwMatmul(kernels, enc, A, B, C, args, undefined, tile);
  else await encodeMatmul(kernels, enc, A, B, C, args);
  device.queue.submit([enc.finish()]);
  const got = new Float32Array(await readBuffer(device, C, c0.byteLength));
  const want = new Float64Array(batch * args.M * args.N);
  for (let z = 0; z < batch; z++) {
    const ref = matmulRef(
      a.subarray(z * args.M * args.K, (z + 1) * args.M * args.K),
      b.subarray(z * args.K * args.N, (z + 1) * args.K * args.N),
      args,
    );
    for (let i = 0; i < ref.length; i++) {
      const o = z * args.M * args.N + i;
      want[o] = (args.alpha ?? 1) * ref[i]! + (args.beta ?? 0) * c0[o]!;
    }
  }
  pool.destroyAll();
  return { got, want };
}

// Every case runs in both kernel families (the hardware family's kernels on SwiftShader: correctness only).
describe.each(KERNEL_FAMILIES)('matmul kernel against the CPU reference (%s family)', (family) => {
  // Shapes straddle a thread's 16×16 block (and 4-row groups); K = 80 and 64 take the vec4 path when transB.
  const shapes: Array<[number, number, number]> = [
    [1, 1, 1],
    [5, 7, 3],
    [33, 31, 17],
    [64, 48, 80],
    [70, 129, 45],
  ];
  for (const [M, N, K] of shapes) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        it(`M=${M} N=${N} K=${K} transA=${transA} transB=${transB}`, async () => {
          const { got, want } = await run({ M, N, K, transA, transB }, M * 7 + N * 13 + K, family);
          expectWithin(got, want);
        });
      }
    }
  }

  it('applies alpha and accumulates with beta', async () => {
    const { got, want } = await run({ M: 19, N: 23, K: 29, transB: true, alpha: 0.5, beta: 1 }, 99, family);
    expectWithin(got, want);
  });

  // The forward pass's vec4 kernel (A plain, B transposed, K % 4 == 0) past the mat-vec's rows: every ROW_GROUPS
  // variant it runs (M = 5, 9, 13+), row and column edges inside a thread's 16×32 block and past the 256-column
  // tile (K > 16: shallower products go to the 4×4 kernel).
  const ntShapes: Array<[number, number, number]> = [
    [5, 70, 20],
    [9, 33, 20],
    [13, 300, 20],
    [33, 259, 36],
    [130, 65, 64],
  ];
  for (const [M, N, K] of ntShapes) {
    it(`vec4 A·Bᵀ path: M=${M} N=${N} K=${K}`, async () => {
      expect(matmulUsesNt({ M, N, K, transB: true })).toBe(true);
      const { got, want } = await run({ M, N, K, transB: true }, M * 3 + N + K, family);
      expectWithin(got, want);
    });
  }
  // The mat-vec (software family: matmul_nt_4x4, a 4×4 block a thread; hardware: hw_matvec) for M = 1…4: N off
  // the 4-output and 64-output edges, K = 4 (one step) to 300.
  for (const M of [1, 2, 3, 4]) {
    for (const [N, K] of [
      [37, 8],
      [5, 4],
      [130, 12],
      [66, 300],
      [259, 36],
    ] as const) {
      it(`mat-vec A·Bᵀ: M=${M} N=${N} K=${K}`, async () => {
        expect(matmulUses4x4({ M, N, K, transB: true })).toBe(true);
        const { got, want } = await run({ M, N, K, transB: true }, M * 17 + N + K, family);
        expectWithin(got, want);
      });
    }
  }
  // Skinny A·Bᵀ (N ≤ 16, LoRA's x·Aᵀ; K ≤ 16, its xa·Bᵀ): many rows in 4-row blocks, the last one short.
  for (const [M, N, K] of [
    [70, 8, 12],
    [257, 16, 64],
    [9, 3, 4],
    [130, 259, 8],
  ] as const) {
    it(`skinny A·Bᵀ: M=${M} N=${N} K=${K}`, async () => {
      expect(matmulUses4x4({ M, N, K, transB: true })).toBe(true);
      const { got, want } = await run({ M, N, K, transB: true }, M + N * 5 + K, family);
      expectWithin(got, want);
    });
  }
  it('skinny A·Bᵀ: batched, alpha and beta', async () => {
    const { got, want } = await run({ M: 13, N: 6, K: 20, batch: 3, transB: true, alpha: -0.5, beta: 1 }, 57, family);
    expectWithin(got, want);
  });
  // The general kernel's trimmed thread blocks (ROW_BLOCKS, COL_BLOCKS < 4): LoRA's backward shapes (the rank as
  // M or N) in each layout, off every block edge.
  for (const [M, N, K, transA, transB] of [
    [8, 130, 70, true, false],
    [66, 8, 33, false, false],
    [5, 9, 17, true, true],
    [131, 3, 9, false, true],
  ] as const) {
    it(`general kernel, small M or N: M=${M} N=${N} K=${K} transA=${transA} transB=${transB}`, async () => {
      const { got, want } = await run({ M, N, K, transA, transB }, M * 3 + N + K, family);
      expectWithin(got, want);
    });
  }
  it('mat-vec A·Bᵀ: batched, alpha and beta (beta = 1 adds into C, as the residual adds do)', async () => {
    const { got, want } = await run({ M: 3, N: 19, K: 24, batch: 3, transB: true, alpha: 0.5, beta: 1 }, 53, family);
    expectWithin(got, want);
  });
  it('vec4 A·Bᵀ path: batched, with alpha and beta', async () => {
    const { got, want } = await run({ M: 6, N: 35, K: 24, batch: 3, transB: true, alpha: -0.5, beta: 2 }, 17, family);
    expectWithin(got, want);
  });
  it('A·Bᵀ with K % 4 != 0 takes the general kernel', async () => {
    expect(matmulUsesNt({ M: 40, N: 50, K: 30, transB: true })).toBe(false);
    const { got, want } = await run({ M: 40, N: 50, K: 30, transB: true }, 23, family);
    expectWithin(got, want);
  });
  it('general kernel: a thread block straddling every edge (M, N > 128)', async () => {
    const { got, want } = await run({ M: 131, N: 145, K: 9, transA: true }, 29, family);
    expectWithin(got, want);
  });

  it('runs a batch of independent products in one dispatch', async () => {
    const { got, want } = await run({ M: 9, N: 10, K: 11, batch: 3 }, 5, family);
    expectWithin(got, want);
  });
});

// The hardware family's kernels one by one (encodeMatmul picks one tile by size, so each tile is forced here):
// shapes off every tile edge (odd M, N, K; K not a multiple of TILE_K or of 4), each transposition, batch,
// alpha/beta, and the mat-vec for M = 1…4.
describe('hardware family: every tile and the mat-vec against the CPU reference', () => {
  for (const tile of HW_TILES) {
    for (const [transA, transB] of [
      [false, true],
      [false, false],
      [true, false],
      [true, true],
    ] as const) {
      for (const [M, N, K] of [
        [67, 71, 37],
        [33, 130, 20],
      ] as const) {
        it(`tile ${tile.M}×${tile.N}: M=${M} N=${N} K=${K} transA=${transA} transB=${transB}`, async () => {
          const { got, want } = await run({ M, N, K, transA, transB }, M + N + K + tile.M, 'hardware', tile);
          expectWithin(got, want);
        });
      }
    }
    it(`tile ${tile.M}×${tile.N}: batched, alpha and beta, M=5 N=9 K=13`, async () => {
      const { got, want } = await run({ M: 5, N: 9, K: 13, batch: 3, transB: true, alpha: -0.5, beta: 1 }, 41, 'hardware', tile);
      expectWithin(got, want);
    });
  }
  for (const M of [1, 2, 3, 4]) {
    // K from 12 to 300: 4 to 64 lanes per output (matvecLanes), so every depth of the reduction tree runs
    for (const [N, K] of [
      [37, 64],
      [5, 45],
      [130, 12],
      [21, 300],
      [9, 257],
    ] as const) {
      it(`mat-vec: M=${M} N=${N} K=${K}`, async () => {
        expect(hwUsesMatvec({ M, N, K, transB: true })).toBe(true);
        const { got, want } = await run({ M, N, K, transB: true }, M * 31 + N + K, 'hardware');
        expectWithin(got, want);
      });
    }
  }
  it('mat-vec: batched, alpha and beta (beta = 1 adds into C, as the residual adds do)', async () => {
    const { got, want } = await run({ M: 2, N: 19, K: 24, batch: 3, transB: true, alpha: 0.5, beta: 1 }, 43, 'hardware');
    expectWithin(got, want);
  });
  it('mat-vec: batched with K % 4 != 0 (element loads)', async () => {
    const { got, want } = await run({ M: 3, N: 10, K: 7, batch: 2, transB: true, beta: -1 }, 47, 'hardware');
    expectWithin(got, want);
  });
  // Split-K (LoRA's dA = gᵀ·x, dB = dYᵀ·xa: a small output, K = the batch's tokens): the slices' products summed in
  // order. K = 1024 terms of values in [-1, 1): another f32 summation order; measured 4e-6, held to 2e-5.
  it('split-K: Aᵀ·B with a small output and a long K, alpha, beta 0 and 1', async () => {
    const args = { M: 16, N: 72, K: 1024, transA: true };
    expect(hwSplitK(args)).toBe(8);
    for (const beta of [0, 1]) {
      const { got, want } = await run({ ...args, alpha: 0.5, beta }, 300 + beta, 'hardware');
      const err = maxAbsDiff(got, want);
      console.log(`split-K 16×72×1024 beta ${beta}: max|Δ| = ${err.toExponential(2)}`);
      expect(err).toBeLessThan(2e-5);
    }
  });

  it('split-K applies only where it helps and can: Aᵀ·B, one batch, beta 0 or 1, a slice count dividing K', () => {
    expect(hwSplitK({ M: 16, N: 576, K: 2048, transA: true })).toBeGreaterThan(1);
    expect(2048 % hwSplitK({ M: 16, N: 576, K: 2048, transA: true })).toBe(0);
    expect(hwSplitK({ M: 16, N: 72, K: 1021, transA: true })).toBe(1); // prime K
    expect(hwSplitK({ M: 16, N: 72, K: 100, transA: true })).toBe(1); // slices would be shorter than 128
    expect(hwSplitK({ M: 16, N: 72, K: 1024, transB: true })).toBe(1); // not the Aᵀ·B form
    expect(hwSplitK({ M: 16, N: 72, K: 1024, transA: true, batch: 2 })).toBe(1);
    expect(hwSplitK({ M: 16, N: 72, K: 1024, transA: true, beta: 0.5 })).toBe(1);
    expect(hwSplitK({ M: 2048, N: 576, K: 2048, transA: true })).toBe(1); // enough workgroups already
  });

  it('tile choice: large tiles when they fill the GPU, small ones for small products, never taller than M needs', () => {
    expect(hwMatmulTile(2048, 576)).toEqual({ M: 64, N: 64 });
    expect(hwMatmulTile(2048, 192)).toEqual({ M: 32, N: 64 }); // 64×64 would launch 32 × 3 = 96 < 128
    expect(hwMatmulTile(256, 192)).toEqual({ M: 32, N: 32 });
    expect(hwMatmulTile(10, 49152)).toEqual({ M: 32, N: 64 });
  });
});
