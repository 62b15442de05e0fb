// The hardware family's tiled matmul with an f16 B (MatmulArgs.bF16: the `+b16` variants, shaders/_hw_b_b16.wgsl),
// training's weight-gradient products with the saved activation as B, against the float64 reference on the
// f16-rounded B (what the buffer holds; widening is exact), so the error left is the f32 path's. Forms: Aᵀ·B (the
// gradient form: LoRA's dA = gᵀ·x, dW = dYᵀ·X), split-K over long K (whole quads, and slices that start mid-word:
// Kc·N odd), batched with B broadcast (strides { b: 0 }, gapped A and C strides, as adapter.ts's stacked group),
// plain A·B, A·Bᵀ (M ≤ 4 too: the mat-vec has no f16 B, so the tiled kernel runs), Aᵀ·Bᵀ; odd M, N, K; alpha 0.75,
// beta 0 and 1; combined with aF16 and cF16. Refusals: the software family, the 16-bit and quantized kernels.
// Bound: TOL·√(K/80), the f32 path's error for K terms of |a|, |b| < 1 growing as a random-walk sum does; an f16 C
// within one f16 ulp plus that (f16-act.ts f16Error, ratio < RATIO_BOUND). Each case prints its error. Measured on
// SwiftShader: max|Δ| ≤ 2.9e-6 for K ≤ 70 (bound 1e-5), 9.4e-6 at K = 2048 split 16 (bound 5.1e-5), 1.05e-5 at
// K = 1155 split 7 (bound 3.8e-5); f16 C ratio ≤ 0.49 (rel ≤ 4.9e-4, one rounding to nearest).
import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray } from '../../helpers/gpu.ts';
import { encodeMatmul, matmulStrides, type MatmulArgs } from '../../../src/engine/ops/matmul.ts';
import { encodeMatmulW16 } from '../../../src/engine/ops/matmul-w16.ts';
import { encodeMatmulQ, type MatmulQArgs } from '../../../src/engine/ops/matmul-q.ts';
import { encodeHwMatvecNormed, hwSplitK, hwUsesMatvec } from '../../../src/engine/ops/matmul-hw.ts';
import { f16Words, roundToF16 } from '../../../src/engine/act-dtype.ts';
import { matmulRef } from '../../../src/engine/reference/matmul.ts';
import { harness, read, releaseAll } from './op-harness.ts';
import { f16Error, readF16, RATIO_BOUND } from './f16-act.ts';

afterAll(releaseAll);

const TOL = 1e-5;
const tolFor = (K: number) => TOL * Math.sqrt(Math.max(1, K / 80));

type Flags = { aF16?: boolean; cF16?: boolean };

interface Case {
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  batch?: number;
  strides?: { a?: number; b?: number; c?: number };
  /** whether hwSplitK must split this product (asserted, so the split path is the one tested) */
  split?: boolean;
}

/** x padded with a zero to an even length, as f16 words. */
function words(x: Float32Array): Uint32Array {
  return f16Words(x.length % 2 === 0 ? x : Float32Array.from([...x, 0]));
}

/** Elements a batched operand spans: the last batch's offset plus one matrix. */
const span = (batch: number, stride: number, size: number) => (batch - 1) * stride + size;

async function check(shape: Case, flags: Flags, beta: number, seed: number): Promise<void> {
  const { device, kernels, pool } = await harness('hardware');
  const { M, N, K } = shape;
  const batch = shape.batch ?? 1;
  const alpha = 0.75;
  const args: MatmulArgs = { M, N, K, transA: shape.transA, transB: shape.transB, batch, strides: shape.strides, alpha, beta, bF16: true, ...flags };
  const st = matmulStrides(args);
  const split = hwSplitK(args, kernels.hwTuning.minWorkgroups);
  expect(split > 1).toBe(!!shape.split && !flags.cF16); // an f16 C never splits
  expect(hwUsesMatvec(args)).toBe(false);
  const a = randomArray(span(batch, st.a, M * K), seed);
  const b = randomArray(span(batch, st.b, K * N), seed + 1);
  const c0 = randomArray(span(batch, st.c, M * N), seed + 2);
  const aEff = flags.aF16 ? roundToF16(a) : a;
  const bEff = roundToF16(b);
  const c0Eff = flags.cF16 ? roundToF16(c0) : c0;
  const C = pool.upload(flags.cF16 ? words(c0) : c0);
  const enc = device.createCommandEncoder();
  await encodeMatmul(kernels, enc, pool.upload(flags.aF16 ? words(a) : a), pool.upload(words(b)), C, args);
  device.queue.submit([enc.finish()]);
  const got = flags.cF16 ? await readF16(C, c0.length + (c0.length % 2)) : await read(C, c0.length);
  // compared over the whole C buffer: the gaps between batches must keep their old values
  const want = Float64Array.from(c0Eff);
  for (let z = 0; z < batch; z++) {
    const ref = matmulRef(aEff.subarray(z * st.a, z * st.a + M * K), bEff.subarray(z * st.b, z * st.b + K * N), shape);
    for (let i = 0; i < ref.length; i++) want[z * st.c + i] = alpha * ref[i]! + beta * c0Eff[z * st.c + i]!;
  }
  const tol = tolFor(K);
  const label = `${JSON.stringify(shape)} b16${flags.aF16 ? '+a16' : ''}${flags.cF16 ? '+c16' : ''} beta=${beta}${split > 1 ? ` split ${split}` : ''}`;
  if (flags.cF16) {
    const { ratio, rel } = f16Error(got.subarray(0, c0.length), want, tol);
    console.log(`${label}: f16 C ratio ${ratio.toFixed(3)} (bound ${RATIO_BOUND}), rel ${rel.toExponential(2)}`);
    expect(ratio).toBeLessThan(RATIO_BOUND);
  } else {
    const err = maxAbsDiff(got, want);
    console.log(`${label}: max|Δ| = ${err.toExponential(2)} (bound ${tol.toExponential(2)})`);
    expect(err).toBeLessThan(tol);
  }
}

const SHAPES: Case[] = [
  // LoRA's dA = gᵀ·x at r = 8, width 64, 2048 tokens: split-K, whole quads (N % 4 == 0, slice strides Kc·N too)
  { M: 8, N: 64, K: 2048, transA: true, split: true },
  // slices that start mid-word: K = 3·5·7·11, N odd, so Kc·N is odd; B gathered element by element
  { M: 8, N: 37, K: 1155, transA: true, split: true },
  // the gradient form unsplit: odd M, K off the tile; whole quads along N
  { M: 37, N: 44, K: 45, transA: true },
  { M: 33, N: 38, K: 19, transA: true },
  // adapter.ts's stacked group (G = 3): one x for every member (b: 0), gapped A and C
  { M: 8, N: 38, K: 70, transA: true, batch: 3, strides: { a: 8 * 70 + 4, b: 0, c: 8 * 38 + 2 } },
  // plain A·B: N odd (gathers), N % 4 == 0 (whole quads), a packed batch
  { M: 37, N: 45, K: 21 },
  { M: 33, N: 64, K: 36 },
  { M: 5, N: 38, K: 23, batch: 2 },
  // A·Bᵀ: M ≤ 4 (the mat-vec's shape, tiled here), K % 4 == 0 (whole quads along K), K odd
  { M: 3, N: 70, K: 45, transB: true },
  { M: 37, N: 34, K: 36, transB: true },
  // both transposed
  { M: 21, N: 19, K: 27, transA: true, transB: true },
];

describe('hardware matmul with an f16 B (bF16) against the float64 reference', () => {
  let seed = 1;
  for (const shape of SHAPES) {
    const combos: Array<[Flags, number]> = [
      [{}, 0],
      [{}, 1],
      [{ aF16: true }, 1],
    ];
    if (shape.N % 2 === 0) combos.push([{ cF16: true }, 0], [{ aF16: true, cF16: true }, 1]);
    for (const [flags, beta] of combos) {
      const s = (seed += 5);
      it(`${JSON.stringify(shape)} ${Object.keys(flags).join('+') || 'b16 only'} beta=${beta}`, () => check(shape, flags, beta, s));
    }
  }

  it('splits K with an f16 A or B, never with an f16 C', () => {
    const lora = { M: 8, N: 64, K: 2048, transA: true };
    expect(hwSplitK({ ...lora, bF16: true })).toBeGreaterThan(1);
    expect(hwSplitK({ ...lora, aF16: true, bF16: true })).toBe(hwSplitK(lora));
    expect(hwSplitK({ ...lora, bF16: true, cF16: true })).toBe(1);
  });

  it('refuses bF16 in the software family, where B is a weight (16-bit, quantized), and in the folded-norm mat-vec', async () => {
    const hw = await harness('hardware');
    const sw = await harness('software');
    const buf = hw.pool.upload(new Float32Array(256));
    const enc = hw.device.createCommandEncoder();
    await expect(encodeMatmul(sw.kernels, sw.device.createCommandEncoder(), buf, buf, buf, { M: 8, N: 8, K: 8, transA: true, bF16: true })).rejects.toThrow(/bF16.*hardware kernel family/);
    await expect(encodeMatmulW16(hw.kernels, enc, buf, buf, buf, { M: 37, N: 8, K: 8, bF16: true, dtype: 'bf16' })).rejects.toThrow(/matmul_w16: B is a weight/);
    await expect(encodeMatmulW16(sw.kernels, sw.device.createCommandEncoder(), buf, buf, buf, { M: 37, N: 8, K: 8, bF16: true, dtype: 'f16' })).rejects.toThrow(/matmul_w16: B is a weight/);
    const q = { buffer: hw.pool.upload(new Uint32Array(64)), type: 'Q8_0' as const, rows: 4, cols: 32 };
    const qArgs = { M: 3, transB: true, bF16: true } as MatmulQArgs;
    await expect(encodeMatmulQ(hw.kernels, enc, buf, q, buf, qArgs)).rejects.toThrow(/matmul_q: B is a weight/);
    await expect(encodeHwMatvecNormed(hw.kernels, enc, buf, buf, 1e-5, buf, buf, { M: 3, N: 8, K: 8, transB: true, bF16: true })).rejects.toThrow(/main_norm: B is the projection weight/);
  });
});
