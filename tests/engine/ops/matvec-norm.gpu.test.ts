// The hardware family's mat-vec with the RMSNorm before it folded in (hw_matvec main_norm, issue 14's fused norm):
// C = alpha · rmsnorm(A; g)·Bᵀ + beta · C against the CPU reference of the two ops apart (rmsNormRef, then
// matmulRef in float64), for f32, BF16 and F16 weights, 1 to 4 rows, K = 68 and 580 (not a multiple of the
// 64-lane stride), N = 37, with and without the residual's beta = 1; in core WGSL and with subgroups. The norm's scale multiplies the finished dot
// product instead of each element, a different f32 rounding order: 3e-5 as the matmul tests (|terms| ≤ 1.7).
import { afterAll, describe, expect, it } from 'vitest';
import { HW_VARIANTS, maxAbsDiff, randomArray, type KernelVariant } from '../../helpers/gpu.ts';
import { encodeHwMatvecNormed, hwFusesNorm } from '../../../src/engine/ops/matmul-hw.ts';
import { matmulRef } from '../../../src/engine/reference/matmul.ts';
import { rmsNormRef } from '../../../src/engine/reference/rmsnorm.ts';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../../src/io/safetensors/dtypes.ts';
import { harness, read, releaseAll } from './op-harness.ts';

afterAll(releaseAll);

const TOL = 3e-5;
const EPS = 1e-5;

async function check(v: KernelVariant, M: number, N: number, K: number, dtype: 'f32' | 'bf16' | 'f16', beta: number, seed: number): Promise<number> {
  const { device, kernels, pool } = await harness(v.family, v.subgroups);
  const a = randomArray(M * K, seed);
  const g = randomArray(K, seed + 1).map((x) => 1 + 0.5 * x);
  const w = randomArray(N * K, seed + 2);
  const c0 = randomArray(M * N, seed + 3);
  const bits = dtype === 'bf16' ? Uint16Array.from(w, f32ToBf16Bits) : dtype === 'f16' ? Uint16Array.from(w, f32ToF16Bits) : null;
  const wExact = bits ? Float64Array.from(bits, dtype === 'bf16' ? bf16BitsToF32 : f16BitsToF32) : Float64Array.from(w);
  const C = pool.upload(c0);
  const args = { M, N, K, transB: true, beta };
  expect(hwFusesNorm(args)).toBe(true);
  const enc = device.createCommandEncoder();
  await encodeHwMatvecNormed(kernels, enc, pool.upload(a), pool.upload(g), EPS, pool.upload(bits ?? w), C, args, dtype === 'f32' ? undefined : dtype);
  device.queue.submit([enc.finish()]);
  const got = await read(C, M * N);
  const normed = rmsNormRef(a, g, M, K, EPS).y;
  const want = matmulRef(normed, wExact, { M, N, K, transB: true }).map((x, i) => x + beta * c0[i]!);
  return maxAbsDiff(got, want);
}

describe.each(HW_VARIANTS)('hardware mat-vec with the RMSNorm folded in ($name)', (v) => {
  for (const dtype of ['f32', 'bf16', 'f16'] as const) {
    it(`${dtype} weights: M = 1..4, K = 68 and 580, beta 0 and 1`, async () => {
      let worst = 0;
      let seed = 10;
      for (const K of [68, 580]) for (let M = 1; M <= 4; M++) for (const beta of [0, 1]) worst = Math.max(worst, await check(v, M, 37, K, dtype, beta, (seed += 5)));
      console.log(`matvec+norm ${dtype} (${v.name}): max|Δ| = ${worst.toExponential(2)}`);
      expect(worst).toBeLessThan(TOL);
    });
  }

  it('refuses what it cannot fold (K not a multiple of 4, more than 4 rows, a batch)', () => {
    expect(hwFusesNorm({ M: 1, N: 8, K: 66, transB: true })).toBe(false);
    expect(hwFusesNorm({ M: 5, N: 8, K: 64, transB: true })).toBe(false);
    expect(hwFusesNorm({ M: 1, N: 8, K: 64, transB: true, batch: 2 })).toBe(false);
  });
});
