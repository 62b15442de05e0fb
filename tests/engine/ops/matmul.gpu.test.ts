import { describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray, testGpu, testKernels } from '../../helpers/gpu.ts';
import { BufferPool, readBuffer } from '../../../src/engine/gpu/buffer-pool.ts';
import { encodeMatmul, matmulUsesNt, type MatmulArgs } from '../../../src/engine/ops/matmul.ts';
import { matmulRef } from '../../../src/engine/reference/matmul.ts';

// f32 accumulation over K ≤ 80 terms of products of values in [-1, 1) (plus alpha/beta): error grows
// ~ sqrt(K)·2^-24·|terms|; measured on SwiftShader up to 3.2e-6 (printed per case), held to 3e-5.
const TOL = 3e-5;

function expectWithin(got: ArrayLike<number>, want: ArrayLike<number>): void {
  const err = maxAbsDiff(got, want);
  console.log(`${expect.getState().currentTestName}: max|Δ| = ${err.toExponential(2)}`);
  expect(err).toBeLessThan(TOL);
}

async function run(args: MatmulArgs, seed: number) {
  const { device } = await testGpu();
  const pool = new BufferPool(device);
  const kernels = await testKernels();
  const batch = args.batch ?? 1;
  const a = randomArray(batch * args.M * args.K, seed);
  const b = randomArray(batch * args.K * args.N, seed + 1);
  const c0 = randomArray(batch * args.M * args.N, seed + 2);
  const A = pool.upload(a);
  const B = pool.upload(b);
  const C = pool.upload(c0);
  const enc = device.createCommandEncoder();
  await encodeMatmul(kernels, enc, A, B, C, args);
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

describe('matmul kernel against the CPU reference', () => {
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
          const { got, want } = await run({ M, N, K, transA, transB }, M * 7 + N * 13 + K);
          expectWithin(got, want);
        });
      }
    }
  }

  it('applies alpha and accumulates with beta', async () => {
    const { got, want } = await run({ M: 19, N: 23, K: 29, transB: true, alpha: 0.5, beta: 1 }, 99);
    expectWithin(got, want);
  });

  // The forward pass's vec4 kernel (A plain, B transposed, K % 4 == 0): every ROW_GROUPS variant (M = 1, 5, 9,
  // 13+), row and column edges inside a thread's 16×32 block and past the 256-column tile, K = 4 (one step).
  const ntShapes: Array<[number, number, number]> = [
    [1, 37, 8],
    [5, 70, 4],
    [9, 33, 12],
    [13, 300, 20],
    [33, 259, 36],
    [130, 65, 64],
  ];
  for (const [M, N, K] of ntShapes) {
    it(`vec4 A·Bᵀ path: M=${M} N=${N} K=${K}`, async () => {
      expect(matmulUsesNt({ M, N, K, transB: true })).toBe(true);
      const { got, want } = await run({ M, N, K, transB: true }, M * 3 + N + K);
      expectWithin(got, want);
    });
  }
  it('vec4 A·Bᵀ path: batched, with alpha and beta', async () => {
    const { got, want } = await run({ M: 6, N: 35, K: 24, batch: 3, transB: true, alpha: -0.5, beta: 2 }, 17);
    expectWithin(got, want);
  });
  it('A·Bᵀ with K % 4 != 0 takes the general kernel', async () => {
    expect(matmulUsesNt({ M: 40, N: 50, K: 30, transB: true })).toBe(false);
    const { got, want } = await run({ M: 40, N: 50, K: 30, transB: true }, 23);
    expectWithin(got, want);
  });
  it('general kernel: a thread block straddling every edge (M, N > 128)', async () => {
    const { got, want } = await run({ M: 131, N: 145, K: 9, transA: true }, 29);
    expectWithin(got, want);
  });

  it('runs a batch of independent products in one dispatch', async () => {
    const { got, want } = await run({ M: 9, N: 10, K: 11, batch: 3 }, 5);
    expectWithin(got, want);
  });
});
