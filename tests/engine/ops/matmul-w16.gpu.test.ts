import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray } from '../../helpers/gpu.ts';
import { encodeMatmulW16, type MatmulW16Args } from '../../../src/engine/ops/matmul-w16.ts';
import { encodeHwMatmul, HW_TILES, hwUsesMatvec } from '../../../src/engine/ops/matmul-hw.ts';
import { KERNEL_FAMILIES, type KernelFamily } from '../../../src/engine/kernel-family.ts';
import { matmulRef } from '../../../src/engine/reference/matmul.ts';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../../src/io/safetensors/dtypes.ts';
import { harness, read, releaseAll } from './op-harness.ts';

afterAll(releaseAll);

// The reference multiplies by the weights already rounded through bf16/f16, so decoding must be exact and the
// only error left is f32 accumulation, as for the f32 matmul (K ≤ 80, |terms| ≤ 1): same 3e-5 tolerance
// (measured on SwiftShader: 1.4e-7 to 1.7e-6).
const TOL = 3e-5;

const codec = {
  bf16: { encode: f32ToBf16Bits, decode: bf16BitsToF32 },
  f16: { encode: f32ToF16Bits, decode: f16BitsToF32 },
};

/** encodeMatmulW16 in `family`; or, with `tile`, the hardware tiled kernel forced to that tile. */
async function check(args: MatmulW16Args, seed: number, family: KernelFamily, tile?: { M: number; N: number }) {
  const { device, kernels, pool } = await harness(family);
  const { M, N, K } = args;
  const batch = args.batch ?? 1;
  const a = randomArray(batch * M * K, seed);
  const w = randomArray(batch * K * N, seed + 1);
  const c0 = randomArray(batch * M * N, seed + 2);
  const bits = Uint16Array.from(w, codec[args.dtype].encode);
  const wRounded = Float64Array.from(bits, codec[args.dtype].decode);
  const C = pool.upload(c0);
  const enc = device.createCommandEncoder();
  if (tile) await encodeHwMatmul(kernels, enc, pool.upload(a), pool.upload(bits), C, args, args.dtype, tile);
  else await encodeMatmulW16(kernels, enc, pool.upload(a), pool.upload(bits), C, args);
  device.queue.submit([enc.finish()]);
  const got = await read(C, c0.length);
  const want = new Float64Array(c0.length);
  for (let z = 0; z < batch; z++) {
    const ref = matmulRef(a.subarray(z * M * K, (z + 1) * M * K), wRounded.subarray(z * K * N, (z + 1) * K * N), args);
    for (let i = 0; i < ref.length; i++) {
      const o = z * M * N + i;
      want[o] = (args.alpha ?? 1) * ref[i]! + (args.beta ?? 0) * c0[o]!;
    }
  }
  const err = maxAbsDiff(got, want);
  console.log(`matmul_w16 ${family}${tile ? ` tile ${tile.M}×${tile.N}` : ''} ${JSON.stringify(args)} max|Δ|=${err.toExponential(2)}`);
  expect(err).toBeLessThan(TOL);
}

// Every case runs in both kernel families (the hardware family's kernels on SwiftShader: correctness only).
describe.each(KERNEL_FAMILIES)('matmul with 16-bit weights against the CPU reference on rounded weights (%s family)', (family) => {
  for (const dtype of ['bf16', 'f16'] as const) {
    // N·K odd, so the last u32 of B is half padding; shapes straddle the 32×32 tile and the 16-deep K step.
    it(`${dtype}: y = x·Wᵀ (forward), M=33 N=31 K=17`, () => check({ M: 33, N: 31, K: 17, transB: true, dtype }, 1, family));
    it(`${dtype}: y = x·Wᵀ, M=5 N=70 K=45`, () => check({ M: 5, N: 70, K: 45, transB: true, dtype }, 2, family));
    it(`${dtype}: dx = dy·W (plain B), M=9 N=45 K=70`, () => check({ M: 9, N: 45, K: 70, dtype }, 3, family));
  }
  // The vec4 forward kernel (transB, K % 4 == 0): the mat-vec for M ≤ 4 (N off its 4- and 64-output edges), 2
  // and 4 row groups past it, column edges past a thread's 32 and the 256-column tile, batch with alpha and beta.
  for (const dtype of ['bf16', 'f16'] as const) {
    it(`${dtype}: vec4 path (mat-vec), M=1 N=70 K=8`, () => check({ M: 1, N: 70, K: 8, transB: true, dtype }, 14, family));
    it(`${dtype}: vec4 path (mat-vec), M=2 N=40 K=8`, () => check({ M: 2, N: 40, K: 8, transB: true, dtype }, 11, family));
    it(`${dtype}: vec4 path (mat-vec), M=4 N=131 K=36, batched, alpha and beta`, () =>
      check({ M: 4, N: 131, K: 36, batch: 2, transB: true, alpha: 0.5, beta: 1, dtype }, 15, family));
    it(`${dtype}: vec4 path, M=13 N=259 K=36`, () => check({ M: 13, N: 259, K: 36, transB: true, dtype }, 12, family));
    it(`${dtype}: vec4 path, batched, alpha and beta`, () =>
      check({ M: 6, N: 35, K: 24, batch: 3, transB: true, alpha: 0.5, beta: -1, dtype }, 13, family));
  }
  it('batched with an odd per-batch element count, alpha and beta', () =>
    check({ M: 7, N: 9, K: 11, batch: 3, transB: true, alpha: 0.5, beta: 1, dtype: 'bf16' }, 4, family));
  // With A = I the product is B itself: every decoded value must come back bit for bit, extremes included.
  // (bf16 subnormals, |w| < 2^-126, are left out: they are f32 subnormals, which WGSL lets a GPU flush to zero,
  // and SwiftShader does: an error below 1.2e-38, irrelevant for weights. f16 subnormals are f32 normals.)
  for (const [dtype, special] of [
    ['f16', [2 ** -24, -(2 ** -20), 65504, -65504, 6.1e-5, -0, 1 / 3]],
    ['bf16', [1.5e-38, -3e38, 1e30, 2 ** -126, -0, 1 / 3, 7]],
  ] as const) {
    it(`${dtype}: extreme and subnormal weights decode exactly`, async () => {
      const { device, kernels, pool } = await harness(family);
      const K = 7;
      const N = 3;
      const w = Float32Array.from({ length: K * N }, (_, i) => special[i % special.length]!);
      const bits = Uint16Array.from(w, codec[dtype].encode);
      const eye = new Float32Array(K * K);
      for (let i = 0; i < K; i++) eye[i * K + i] = 1;
      const C = pool.alloc(K * N * 4);
      const enc = device.createCommandEncoder();
      await encodeMatmulW16(kernels, enc, pool.upload(eye), pool.upload(bits), C, { M: K, N, K, dtype });
      device.queue.submit([enc.finish()]);
      // + 0: the f32 accumulator starts at +0, and +0 + −0 = +0, so a −0 weight comes back as +0.
      expect([...(await read(C, K * N))]).toEqual(Array.from(bits, (b) => codec[dtype].decode(b) + 0));
    });
    it(`${dtype}: extreme weights decode exactly on the vec4 path (W [N,K], K % 4 == 0)`, async () => {
      const { device, kernels, pool } = await harness(family);
      const K = 8;
      const N = 3;
      const w = Float32Array.from({ length: N * K }, (_, i) => special[i % special.length]!);
      const bits = Uint16Array.from(w, codec[dtype].encode);
      const eye = new Float32Array(K * K);
      for (let i = 0; i < K; i++) eye[i * K + i] = 1;
      const C = pool.alloc(K * N * 4);
      const enc = device.createCommandEncoder();
      await encodeMatmulW16(kernels, enc, pool.upload(eye), pool.upload(bits), C, { M: K, N, K, transB: true, dtype });
      device.queue.submit([enc.finish()]);
      // C = I·Wᵀ = Wᵀ: C[m][n] = W[n][m].
      const want = Array.from({ length: K * N }, (_, i) => codec[dtype].decode(bits[(i % N) * K + Math.floor(i / N)]!) + 0);
      expect([...(await read(C, K * N))]).toEqual(want);
    });
  }
});

// The hardware family's 16-bit kernels one by one: every tile forced (B plain and transposed, odd shapes, K not a
// multiple of the tile or of 4, K % 8 == 4 so vec4 quads come from both halves of a vec4<u32>), and the mat-vec.
describe('hardware family, 16-bit weights: every tile and the mat-vec', () => {
  for (const dtype of ['bf16', 'f16'] as const) {
    for (const tile of HW_TILES) {
      it(`${dtype} tile ${tile.M}×${tile.N}: y = x·Wᵀ, M=67 N=71 K=37`, () => check({ M: 67, N: 71, K: 37, transB: true, dtype }, 21, 'hardware', tile));
      it(`${dtype} tile ${tile.M}×${tile.N}: y = x·Wᵀ, M=33 N=70 K=20`, () => check({ M: 33, N: 70, K: 20, transB: true, dtype }, 22, 'hardware', tile));
      it(`${dtype} tile ${tile.M}×${tile.N}: dx = dy·W, M=37 N=68 K=45`, () => check({ M: 37, N: 68, K: 45, dtype }, 23, 'hardware', tile));
      it(`${dtype} tile ${tile.M}×${tile.N}: dx = dy·W, M=9 N=45 K=70`, () => check({ M: 9, N: 45, K: 70, dtype }, 24, 'hardware', tile));
    }
    for (const M of [1, 2, 3, 4]) {
      it(`${dtype} mat-vec: M=${M} N=37 K=20`, () => {
        expect(hwUsesMatvec({ M, N: 37, K: 20, transB: true })).toBe(true);
        return check({ M, N: 37, K: 20, transB: true, dtype }, 30 + M, 'hardware');
      });
      it(`${dtype} mat-vec: M=${M} N=6 K=45`, () => check({ M, N: 6, K: 45, transB: true, dtype }, 40 + M, 'hardware'));
      it(`${dtype} mat-vec: M=${M} N=11 K=300 (64 lanes)`, () => check({ M, N: 11, K: 300, transB: true, dtype }, 60 + M, 'hardware'));
    }
    it(`${dtype} mat-vec: batched, alpha and beta`, () =>
      check({ M: 2, N: 19, K: 24, batch: 3, transB: true, alpha: 0.5, beta: 1, dtype }, 50, 'hardware'));
    it(`${dtype} mat-vec: batched with an odd per-batch element count`, () =>
      check({ M: 1, N: 9, K: 11, batch: 3, transB: true, beta: -1, dtype }, 51, 'hardware'));
  }
});
