// The hardware family's matmuls and mat-vecs with f16 activations (act-dtype.ts; MatmulArgs.aF16 / cF16: the
// +a16 / +c16 kernel variants, shaders/_hw_a_a16.wgsl, _hw_c_c16.wgsl) against the float64 reference, for f32,
// BF16, F16 and Q8_0 weights, the mat-vec (M ≤ 4) and the tiled kernel (forward A·Wᵀ, plain A·B, Aᵀ·B), odd M and
// K, K off the 16-deep tile, N even but off 4, beta 0 and 1.
// - a16: the reference multiplies the f16-rounded A (what the buffer holds; widening is exact), so the error left is
//   the f32 path's: same bounds as matmul.gpu / matmul-q.gpu.
// - c16: the kernel rounds its f32 result once to f16, the reference its float64 one (old C as the f16 buffer held
//   it): they differ by at most 1 f16 ulp of the value (2^-10 relative) where the f32 error straddles a rounding
//   boundary, plus that f32 error (which is more than an ulp only for values near 0). Each case prints max|Δ|,
//   the largest difference in f16 ulps and the largest past 1 ulp. Measured on SwiftShader and lavapipe alike:
//   a16 max|Δ| ≤ 1.9e-6; c16 ≤ 1.95e-3 = 1 ulp at |C| in [2, 4) (2 ulp only of a value near 0), ≤ 1.2e-7 past
//   1 ulp, held to the f32 bound.
import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray } from '../../helpers/gpu.ts';
import { readBuffer } from '../../../src/engine/gpu/buffer-pool.ts';
import { encodeMatmul, type MatmulArgs } from '../../../src/engine/ops/matmul.ts';
import { encodeMatmulW16 } from '../../../src/engine/ops/matmul-w16.ts';
import { encodeMatmulQ } from '../../../src/engine/ops/matmul-q.ts';
import { encodeHwMatvecNormed, hwSplitK, hwUsesMatvec } from '../../../src/engine/ops/matmul-hw.ts';
import { packQuantForGpu } from '../../../src/engine/ops/quant-layout.ts';
import { f16Words, f16WordsToF32, roundToF16 } from '../../../src/engine/act-dtype.ts';
import { matmulRef } from '../../../src/engine/reference/matmul.ts';
import { rmsNormRef } from '../../../src/engine/reference/rmsnorm.ts';
import { ggmlTypeByName } from '../../../src/io/gguf/format.ts';
import { f32ToGgml, ggmlToF32 } from '../../../src/io/gguf/quant.ts';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../../src/io/safetensors/dtypes.ts';
import { harness, read, releaseAll } from './op-harness.ts';

afterAll(releaseAll);

/** The f32 path's bound (matmul.gpu.test.ts: K ≤ 80 terms of |a|, |b| < 1); measured here ≤ 1.9e-6 */
const TOL = 3e-5;

type Weight = 'f32' | 'bf16' | 'f16' | 'Q8_0';
type Flags = { aF16?: boolean; cF16?: boolean };

/** One f16 ulp of x (normal range; the subnormal step below 2^-14). */
function f16Ulp(x: number): number {
  const a = Math.abs(x);
  return a < 2 ** -14 ? 2 ** -24 : 2 ** (Math.floor(Math.log2(a)) - 10);
}

/** x padded with a zero to an even length, as f16 words. */
function words(x: Float32Array): Uint32Array {
  return f16Words(x.length % 2 === 0 ? x : Float32Array.from([...x, 0]));
}

/**
 * Compares the kernel's C with the float64 `want` (before any f16 rounding of its own): f32 C within `tol`; f16 C
 * within 1 f16 ulp of want plus `tol` of want rounded to f16. Returns max|Δ| (against f16(want) for c16).
 */
function compare(label: string, got: Float32Array, want: Float64Array, cF16: boolean | undefined, tol: number): void {
  if (!cF16) {
    const err = maxAbsDiff(got, want);
    console.log(`${label}: max|Δ| = ${err.toExponential(2)}`);
    expect(err).toBeLessThan(tol);
    return;
  }
  const rounded = roundToF16(want);
  let err = 0;
  let ulps = 0;
  let beyond = 0; // the largest difference past 1 f16 ulp: the f32 error, where the value is tiny
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i]! - rounded[i]!);
    err = Math.max(err, d);
    ulps = Math.max(ulps, d / f16Ulp(want[i]!));
    beyond = Math.max(beyond, d - f16Ulp(want[i]!));
  }
  console.log(`${label}: max|Δ| = ${err.toExponential(2)} against the f16-rounded reference (${ulps.toFixed(0)} f16 ulp), ${beyond.toExponential(2)} past 1 ulp`);
  expect(beyond).toBeLessThan(tol);
}

interface Case {
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  batch?: number;
}

/** One product with `weight` and the f16 flags; alpha 0.75 so the epilogue's scale is exercised. */
async function check(weight: Weight, shape: Case, flags: Flags, beta: number, seed: number): Promise<void> {
  const { device, kernels, pool } = await harness('hardware');
  const { M, N, K } = shape;
  const batch = shape.batch ?? 1;
  const alpha = 0.75;
  const a = randomArray(batch * M * K, seed);
  const aEff = flags.aF16 ? roundToF16(a) : a;
  const c0 = randomArray(batch * M * N, seed + 2);
  const c0Eff = flags.cF16 ? roundToF16(c0) : c0;
  const A = pool.upload(flags.aF16 ? words(a) : a);
  const C = pool.upload(flags.cF16 ? words(c0) : c0);
  const args: MatmulArgs = { ...shape, alpha, beta, ...flags };
  const enc = device.createCommandEncoder();
  let wEff: ArrayLike<number>;
  let tol = TOL;
  if (weight === 'Q8_0') {
    // W [rows, cols] as GGUF stores it: forward y = x·Wᵀ (rows = N), or dx = dy·W (rows = K); cols whole blocks
    const rows = shape.transB ? N : K;
    const cols = shape.transB ? K : N;
    const bytes = f32ToGgml(ggmlTypeByName('Q8_0'), randomArray(rows * cols, seed + 1));
    wEff = ggmlToF32(ggmlTypeByName('Q8_0'), bytes);
    await encodeMatmulQ(kernels, enc, A, { buffer: pool.upload(packQuantForGpu('Q8_0', bytes, rows, cols)), type: 'Q8_0', rows, cols }, C, { M, transB: !!shape.transB, alpha, beta, ...flags });
    tol = 6e-6; // matmul-q.gpu.test.ts's bound for K ≤ 100
  } else {
    const w = randomArray(batch * K * N, seed + 1);
    if (weight === 'f32') {
      wEff = w;
      await encodeMatmul(kernels, enc, A, pool.upload(w), C, args);
    } else {
      const bits = Uint16Array.from(w, weight === 'bf16' ? f32ToBf16Bits : f32ToF16Bits);
      wEff = Float64Array.from(bits, weight === 'bf16' ? bf16BitsToF32 : f16BitsToF32);
      await encodeMatmulW16(kernels, enc, A, pool.upload(bits), C, { ...args, dtype: weight });
    }
  }
  device.queue.submit([enc.finish()]);
  const got = flags.cF16 ? f16WordsToF32(new Uint32Array(await readBuffer(device, C, (c0.length / 2) * 4))) : await read(C, c0.length);
  const want = new Float64Array(c0.length);
  const wArr = Float64Array.from(wEff);
  for (let z = 0; z < batch; z++) {
    const ref = matmulRef(aEff.subarray(z * M * K, (z + 1) * M * K), wArr.subarray(z * K * N, (z + 1) * K * N), shape);
    for (let i = 0; i < ref.length; i++) want[z * M * N + i] = alpha * ref[i]! + beta * c0Eff[z * M * N + i]!;
  }
  const kernel = hwUsesMatvec(shape) ? 'mat-vec' : 'tiled';
  compare(`${weight} ${kernel} ${JSON.stringify(shape)} ${Object.keys(flags).join('+')} beta=${beta}`, got, want, flags.cF16, tol);
}

const FLAGS: Flags[] = [{ aF16: true }, { cF16: true }, { aF16: true, cF16: true }];

// Shapes: the mat-vec at M = 1 (K odd: quads gathered element by element) and M = 3 (K % 4 == 0: whole-quad
// loads, N = 70 not a multiple of 4); the tiled kernel at M = 37 and 67 (past a 64-row tile), K = 45 (odd) and 36
// (off the 16-deep tile, whole quads), N = 70 and 34 (the second word of a thread's 4 columns masked), a batch,
// plain A·B and Aᵀ·B (M = 33: A gathered; M = 36: whole quads along M).
const SHAPES: Record<Exclude<Weight, 'Q8_0'>, Case[]> = {
  f32: [
    { M: 1, N: 70, K: 45, transB: true },
    { M: 3, N: 70, K: 36, transB: true },
    { M: 37, N: 70, K: 45, transB: true },
    { M: 67, N: 34, K: 36, transB: true },
    { M: 5, N: 38, K: 23, transB: true, batch: 2 },
    { M: 37, N: 46, K: 21 },
    { M: 33, N: 38, K: 19, transA: true },
    { M: 36, N: 38, K: 19, transA: true },
  ],
  bf16: [
    { M: 3, N: 70, K: 45, transB: true },
    { M: 37, N: 70, K: 36, transB: true },
    { M: 21, N: 46, K: 19 },
  ],
  f16: [
    { M: 1, N: 70, K: 36, transB: true },
    { M: 67, N: 34, K: 45, transB: true },
  ],
};
// Q8_0: K (forward) or N (plain) whole 32-blocks.
const Q_SHAPES: Case[] = [
  { M: 3, N: 70, K: 64, transB: true },
  { M: 37, N: 46, K: 64, transB: true },
  { M: 21, N: 64, K: 45 },
];

describe('hardware matmul / mat-vec with f16 activations (aF16, cF16) against the float64 reference', () => {
  let seed = 1;
  for (const weight of ['f32', 'bf16', 'f16', 'Q8_0'] as const) {
    for (const shape of weight === 'Q8_0' ? Q_SHAPES : SHAPES[weight]) {
      for (const flags of FLAGS) {
        for (const beta of [0, 1]) {
          const s = (seed += 5);
          const label = `${weight} ${JSON.stringify(shape)} ${Object.keys(flags).join('+')} beta=${beta}`;
          it(label, () => check(weight, shape, flags, beta, s));
        }
      }
    }
  }

  it('the folded RMSNorm mat-vec (main_norm) writes an f16 C; its A stays the f32 residual', async () => {
    const { device, kernels, pool } = await harness('hardware');
    const [M, N, K, eps] = [3, 70, 36, 1e-5];
    for (const beta of [0, 1]) {
      const a = randomArray(M * K, 91);
      const g = randomArray(K, 92).map((x) => 1 + 0.5 * x);
      const w = randomArray(N * K, 93);
      const c0 = randomArray(M * N, 94);
      const C = pool.upload(words(c0));
      const args = { M, N, K, transB: true, beta, cF16: true };
      const enc = device.createCommandEncoder();
      await encodeHwMatvecNormed(kernels, enc, pool.upload(a), pool.upload(g), eps, pool.upload(w), C, args);
      device.queue.submit([enc.finish()]);
      const got = f16WordsToF32(new Uint32Array(await readBuffer(device, C, (M * N) / 2 * 4)));
      const c0Eff = roundToF16(c0);
      const want = matmulRef(rmsNormRef(a, g, M, K, eps).y, w, { M, N, K, transB: true }).map((x, i) => x + beta * c0Eff[i]!);
      compare(`main_norm c16 beta=${beta}`, got, want, true, TOL);
    }
    await expect(encodeHwMatvecNormed(kernels, device.createCommandEncoder(), pool.upload(new Uint32Array(64)), pool.upload(new Float32Array(K)), eps, pool.upload(new Float32Array(N * K)), pool.upload(new Float32Array(M * N)), { M, N, K, transB: true, aF16: true })).rejects.toThrow(/f32 residual/);
  });

  it('refuses an f16 C of odd N, and f16 activations in the software family; splits K only with an f32 C', async () => {
    const hw = await harness('hardware');
    const sw = await harness('software');
    const enc = hw.device.createCommandEncoder();
    const buf = hw.pool.upload(new Float32Array(64));
    await expect(encodeMatmul(hw.kernels, enc, buf, buf, buf, { M: 3, N: 7, K: 4, transB: true, cF16: true })).rejects.toThrow(/even N/);
    await expect(encodeMatmul(hw.kernels, enc, buf, buf, buf, { M: 37, N: 7, K: 4, cF16: true })).rejects.toThrow(/even N/);
    await expect(encodeMatmulW16(hw.kernels, enc, buf, buf, buf, { M: 37, N: 7, K: 4, cF16: true, dtype: 'bf16' })).rejects.toThrow(/even N/);
    await expect(encodeMatmul(sw.kernels, sw.device.createCommandEncoder(), buf, buf, buf, { M: 3, N: 8, K: 4, transB: true, aF16: true })).rejects.toThrow(/hardware kernel family/);
    await expect(encodeMatmulW16(sw.kernels, sw.device.createCommandEncoder(), buf, buf, buf, { M: 3, N: 8, K: 4, transB: true, cF16: true, dtype: 'f16' })).rejects.toThrow(/hardware kernel family/);
    const q = { buffer: sw.pool.upload(new Uint32Array(64)), type: 'Q8_0' as const, rows: 4, cols: 32 };
    await expect(encodeMatmulQ(sw.kernels, sw.device.createCommandEncoder(), buf, q, buf, { M: 3, transB: true, aF16: true })).rejects.toThrow(/hardware kernel family/);
    // LoRA's dA-shaped Aᵀ·B that split-K takes in f32 runs unsplit with an f16 C (the slices' sum is f32); an f16
    // A is read in place by the slices (matmul-b16.gpu.test.ts runs such products)
    const lora = { M: 8, N: 64, K: 2048, transA: true };
    expect(hwSplitK(lora)).toBeGreaterThan(1);
    expect(hwSplitK({ ...lora, aF16: true })).toBe(hwSplitK(lora));
    expect(hwSplitK({ ...lora, cF16: true })).toBe(1);
  });
});
