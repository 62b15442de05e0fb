import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray } from '../../helpers/gpu.ts';
import { encodeRmsNorm, encodeRmsNormBackward } from '../../../src/engine/ops/rmsnorm.ts';
import { rmsNormBackwardRef } from '../../../src/engine/reference/rmsnorm.ts';
import { harness, read, releaseAll } from './op-harness.ts';

// dx is O(r·|dy|·|w|) ≈ a few units, from an f32 sum of ≤ 200 products: ~1e-6. dw sums up to 17 rows of O(1)
// terms: a few 1e-7; it is checked after accumulating onto a nonzero start, so the += is covered too.
const TOL = 1e-5;

afterAll(releaseAll);

describe('rmsnorm backward kernel against the CPU reference', () => {
  // hidden below, at, and above the 128-thread workgroup; columns not a multiple of the 64-thread dw pass.
  for (const [rows, hidden, eps] of [
    [1, 1, 1e-6],
    [3, 7, 1e-5],
    [17, 64, 1e-5],
    [5, 129, 0.5],
    [9, 200, 1e-6],
  ] as const) {
    it(`rows=${rows} hidden=${hidden}`, async () => {
      const { device, kernels, pool } = await harness();
      const seed = rows * 31 + hidden;
      const x = randomArray(rows * hidden, seed);
      const w = randomArray(hidden, seed + 1);
      const dy = randomArray(rows * hidden, seed + 2);
      const dw0 = randomArray(hidden, seed + 3);
      const X = pool.upload(x);
      const W = pool.upload(w);
      const R = pool.alloc(rows * 4);
      const DX = pool.alloc(x.byteLength);
      const DW = pool.upload(dw0);
      const enc = device.createCommandEncoder();
      // rstd comes from the forward, as in training
      await encodeRmsNorm(kernels, enc, X, W, pool.alloc(x.byteLength), { rows, hidden, eps }, R);
      await encodeRmsNormBackward(kernels, enc, X, W, R, pool.upload(dy), DX, { rows, hidden }, DW);
      device.queue.submit([enc.finish()]);
      const want = rmsNormBackwardRef(x, w, dy, rows, hidden, eps);
      const errX = maxAbsDiff(await read(DX, rows * hidden), want.dx);
      const errW = maxAbsDiff(await read(DW, hidden), want.dw.map((v, c) => v + dw0[c]!));
      console.log(`rmsnorm backward rows=${rows} hidden=${hidden} max|Δdx|=${errX.toExponential(2)} max|Δdw|=${errW.toExponential(2)}`);
      expect(errX).toBeLessThan(TOL);
      expect(errW).toBeLessThan(TOL);
    });
  }

  it('refuses dx aliasing dy', async () => {
    const { device, kernels, pool } = await harness();
    const b = pool.alloc(64);
    await expect(encodeRmsNormBackward(kernels, device.createCommandEncoder(), b, b, b, b, b, { rows: 1, hidden: 4 })).rejects.toThrow(/alias/);
  });
});
