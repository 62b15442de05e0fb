import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray } from '../../helpers/gpu.ts';
import { encodeRmsNorm } from '../../../src/engine/ops/rmsnorm.ts';
import { rmsNormRef } from '../../../src/engine/reference/rmsnorm.ts';
import { harness, read, releaseAll } from './op-harness.ts';

// y is O(|w|·|x|/rms(x)) ≈ a few units; f32 sum of ≤ 200 squares and one rsqrt: ~1e-6 relative.
const TOL = 2e-5;

afterAll(releaseAll);

async function check(rows: number, hidden: number, eps: number, seed: number, saveRstd: boolean) {
  const { device, kernels, pool } = await harness();
  const x = randomArray(rows * hidden, seed);
  const w = randomArray(hidden, seed + 1);
  const X = pool.upload(x);
  const W = pool.upload(w);
  const Y = pool.alloc(x.byteLength);
  const R = saveRstd ? pool.alloc(rows * 4) : undefined;
  const enc = device.createCommandEncoder();
  await encodeRmsNorm(kernels, enc, X, W, Y, { rows, hidden, eps }, R);
  device.queue.submit([enc.finish()]);
  const want = rmsNormRef(x, w, rows, hidden, eps);
  const errY = maxAbsDiff(await read(Y, rows * hidden), want.y);
  expect(errY).toBeLessThan(TOL);
  if (R) expect(maxAbsDiff(await read(R, rows), want.rstd)).toBeLessThan(TOL);
  return errY;
}

describe('rmsnorm kernel against the CPU reference', () => {
  // hidden below, at, and above the 128-thread workgroup (strided loop), odd row counts.
  for (const [rows, hidden] of [
    [1, 1],
    [3, 7],
    [17, 64],
    [5, 129],
    [9, 200],
  ] as const) {
    it(`rows=${rows} hidden=${hidden}`, async () => {
      const err = await check(rows, hidden, 1e-5, rows * 31 + hidden, false);
      console.log(`rmsnorm rows=${rows} hidden=${hidden} max|Δ|=${err.toExponential(2)}`);
    });
  }

  it('saves rstd for the backward pass and honours a large eps', async () => {
    await check(11, 48, 0.5, 7, true);
  });

  it('refuses to normalise in place', async () => {
    const { device, kernels, pool } = await harness();
    const X = pool.alloc(64);
    await expect(encodeRmsNorm(kernels, device.createCommandEncoder(), X, X, X, { rows: 1, hidden: 4, eps: 1e-6 })).rejects.toThrow(
      /different buffers/,
    );
  });
});
