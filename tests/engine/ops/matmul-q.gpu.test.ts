import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray } from '../../helpers/gpu.ts';
import { encodeMatmulQ, type MatmulQArgs } from '../../../src/engine/ops/matmul-q.ts';
import { GPU_QUANT_TYPES, packQuantForGpu, type GpuQuantType } from '../../../src/engine/ops/quant-layout.ts';
import { HW_TILES } from '../../../src/engine/ops/matmul-hw.ts';
import { KERNEL_FAMILIES, type KernelFamily } from '../../../src/engine/kernel-family.ts';
import { matmulRef } from '../../../src/engine/reference/matmul.ts';
import { ggmlTypeByName } from '../../../src/io/gguf/format.ts';
import { f32ToGgml, ggmlToF32 } from '../../../src/io/gguf/quant.ts';
import { harness, read, releaseAll } from './op-harness.ts';

afterAll(releaseAll);

const TYPES = Object.keys(GPU_QUANT_TYPES) as GpuQuantType[];

/** A random [rows, cols] weight quantised by the project's ggml-faithful quantiser, and ggml's values of it. */
function quantWeight(type: GpuQuantType, rows: number, cols: number, seed: number) {
  const info = ggmlTypeByName(type);
  const bytes = f32ToGgml(info, randomArray(rows * cols, seed));
  return { bytes, values: ggmlToF32(info, bytes), packed: packQuantForGpu(type, bytes, rows, cols) };
}

// The reference multiplies by the weights already de-quantised by ggml's reference de-quantiser (ggmlToF32), so
// the kernels' in-register de-quantisation must give the same values and the only error left is f32 summation:
// K ≤ 512 terms of |a| < 1, |w| ≲ 1.1. Measured on SwiftShader (printed): K = 35–70: ≤ 3.5e-6 (hardware family),
// 2.1e-6 (software); K = 512: ≤ 2.6e-5 (hardware: sums of ~7 in magnitude), 1.0e-5 (software).
const tol = (K: number) => (K <= 100 ? 6e-6 : 4e-5);

async function check(type: GpuQuantType, family: KernelFamily, rows: number, cols: number, args: MatmulQArgs, seed: number, tile?: { M: number; N: number }) {
  const { device, kernels, pool } = await harness(family);
  const { M, transB } = args;
  const N = transB ? rows : cols;
  const K = transB ? cols : rows;
  const w = quantWeight(type, rows, cols, seed);
  const a = randomArray(M * K, seed + 1);
  const c0 = randomArray(M * N, seed + 2);
  const C = pool.upload(c0);
  const enc = device.createCommandEncoder();
  await encodeMatmulQ(kernels, enc, pool.upload(a), { buffer: pool.upload(w.packed), type, rows, cols }, C, args, tile);
  device.queue.submit([enc.finish()]);
  const got = await read(C, M * N);
  const ref = matmulRef(a, w.values, { M, N, K, transB });
  const want = ref.map((v, i) => (args.alpha ?? 1) * v + (args.beta ?? 0) * c0[i]!);
  const err = maxAbsDiff(got, want);
  const form = transB ? 'y = x·Wᵀ' : 'dx = dy·W';
  console.log(`matmul_q ${family} ${type}${tile ? ` tile ${tile.M}×${tile.N}` : ''} ${form} M=${M} W=[${rows},${cols}] max|Δ|=${err.toExponential(2)}`);
  expect(err).toBeLessThan(tol(K));
}

describe.each(KERNEL_FAMILIES)('matmul with packed quantised weights against de-quantise-then-f64 (%s family)', (family) => {
  for (const type of TYPES) {
    const blk = GPU_QUANT_TYPES[type].block;
    const cols = 2 * blk; // several blocks per row
    // M = 1 and 3: decode (software 4×4 kernel, hardware mat-vec); M = 37: the tiled / register-blocked kernels.
    it(`${type}: y = x·Wᵀ, M=1, W=[37,${cols}]`, () => check(type, family, 37, cols, { M: 1, transB: true }, 1));
    it(`${type}: y = x·Wᵀ, M=3, W=[70,${cols}], alpha and beta`, () => check(type, family, 70, cols, { M: 3, transB: true, alpha: 0.5, beta: 1 }, 2));
    it(`${type}: y = x·Wᵀ, M=37, W=[45,${cols}]`, () => check(type, family, 45, cols, { M: 37, transB: true }, 3));
    it(`${type}: y = x·Wᵀ, M=37, W=[45,${cols}], beta=1 (the residual add)`, () => check(type, family, 45, cols, { M: 37, transB: true, beta: 1 }, 4));
    it(`${type}: dx = dy·W, M=1, W=[37,${cols}]`, () => check(type, family, 37, cols, { M: 1, transB: false }, 5));
    it(`${type}: dx = dy·W, M=21, W=[35,${cols}], accumulating`, () => check(type, family, 35, cols, { M: 21, transB: false, beta: 1 }, 6));
    // With A = I the product is W (or Wᵀ) itself, one nonzero term per output: the GPU's de-quantised values must
    // equal ggml's bit for bit.
    it(`${type}: de-quantises to ggml's values exactly (A = I, both forms)`, async () => {
      const { device, kernels, pool } = await harness(family);
      const rows = 5;
      const w = quantWeight(type, rows, cols, 7);
      const W = { buffer: pool.upload(w.packed), type, rows, cols };
      for (const transB of [false, true]) {
        const K = transB ? cols : rows;
        const eye = new Float32Array(K * K);
        for (let i = 0; i < K; i++) eye[i * K + i] = 1;
        const C = pool.alloc(rows * cols * 4);
        const enc = device.createCommandEncoder();
        await encodeMatmulQ(kernels, enc, pool.upload(eye), W, C, { M: K, transB });
        device.queue.submit([enc.finish()]);
        const got = await read(C, rows * cols);
        // transB: C = I·Wᵀ, C[k][n] = W[n][k]
        const want = transB ? Float32Array.from({ length: rows * cols }, (_, i) => w.values[(i % rows) * cols + Math.floor(i / rows)]!) : w.values;
        expect([...got]).toEqual(Array.from(want, (v) => v + 0));
      }
    });
  }
});

// The hardware tiled kernel with each tile forced, both forms, on shapes off every tile edge.
describe('hardware family, quantised weights: every tile', () => {
  for (const type of TYPES) {
    const cols = GPU_QUANT_TYPES[type].block * 2;
    for (const tile of HW_TILES) {
      it(`${type} tile ${tile.M}×${tile.N}: y = x·Wᵀ, M=67 W=[71,${cols}]`, () => check(type, 'hardware', 71, cols, { M: 67, transB: true }, 11, tile));
      it(`${type} tile ${tile.M}×${tile.N}: dx = dy·W, M=33 W=[70,${cols}]`, () => check(type, 'hardware', 70, cols, { M: 33, transB: false }, 12, tile));
    }
  }
});

describe('the GPU layout', () => {
  it('refuses a row that is not whole blocks, and data of the wrong length, naming the tensor', () => {
    expect(() => packQuantForGpu('Q4_K', new Uint8Array(144), 1, 128, 'blk.0.ffn_up.weight')).toThrow(/blk\.0\.ffn_up\.weight: a Q4_K row of 128/);
    expect(() => packQuantForGpu('Q8_0', new Uint8Array(33), 1, 32, 'output.weight')).toThrow(/output\.weight: Q8_0 \[1, 32\] needs 34 bytes, the tensor has 33/);
  });
  it('keeps the bytes per weight (+ at most one padding word)', () => {
    for (const type of TYPES) {
      const { block, bytes } = GPU_QUANT_TYPES[type];
      const w = quantWeight(type, 3, block, 1);
      expect(w.packed.byteLength - 3 * bytes).toBeGreaterThanOrEqual(0);
      expect(w.packed.byteLength - 3 * bytes).toBeLessThan(4);
    }
  });
});
