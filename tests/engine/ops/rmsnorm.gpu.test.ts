import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray, HW_VARIANTS, KERNEL_VARIANTS, type KernelVariant } from '../../helpers/gpu.ts';
import { encodeRmsNorm } from '../../../src/engine/ops/rmsnorm.ts';
import { rmsNormRef } from '../../../src/engine/reference/rmsnorm.ts';
import { harness, read, releaseAll } from './op-harness.ts';

// y is O(|w|·|x|/rms(x)) ≈ a few units; f32 sum of ≤ 1031 squares and one rsqrt: ~1e-7 relative.
// Measured max |Δ| (y and rstd), both families: 3.5e-7 (hardware, core and subgroups alike: 2.3e-7).
const TOL = 1e-6;

afterAll(releaseAll);

async function check(v: KernelVariant, rows: number, hidden: number, eps: number, seed: number, saveRstd: boolean) {
  const { device, kernels, pool } = await harness(v.family, v.subgroups);
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
  const errR = R ? maxAbsDiff(await read(R, rows), want.rstd) : 0;
  expect(errR).toBeLessThan(TOL);
  return Math.max(errY, errR);
}

describe.each(KERNEL_VARIANTS)('rmsnorm kernel against the CPU reference ($name)', (v) => {
  // hidden below, at, and above a workgroup (strided loop), odd row counts; in the hardware family hidden % 4
  // picks the vec4 (64, 200) or the scalar variant (1, 7, 129), and narrow rows share a workgroup.
  for (const [rows, hidden] of [
    [1, 1],
    [3, 7],
    [17, 64],
    [5, 129],
    [9, 200],
  ] as const) {
    it(`rows=${rows} hidden=${hidden}`, async () => {
      const err = await check(v, rows, hidden, 1e-5, rows * 31 + hidden, false);
      console.log(`rmsnorm (${v.name}) rows=${rows} hidden=${hidden} max|Δ|=${err.toExponential(2)}`);
    });
  }

  it('saves rstd for the backward pass and honours a large eps', async () => {
    await check(v, 11, 48, 0.5, 7, true);
  });

  it('refuses to normalise in place', async () => {
    const { device, kernels, pool } = await harness(v.family, v.subgroups);
    const X = pool.alloc(64);
    await expect(encodeRmsNorm(kernels, device.createCommandEncoder(), X, X, X, { rows: 1, hidden: 4, eps: 1e-6 })).rejects.toThrow(
      /different buffers/,
    );
  });
});

// The hardware family's shapes one by one: more Qs than the 256 lanes of a row (strided lanes, vec4 1028 and
// scalar 1031), a workgroup of several narrow rows with a ragged last workgroup (rows not a multiple of ROWS),
// and one row; rstd saved in each.
describe.each(HW_VARIANTS)('rmsnorm: hardware family shapes ($name)', (v) => {
  for (const [rows, hidden] of [
    [1, 1028],
    [6, 1031],
    [67, 36],
    [45, 9],
    [1, 12],
  ] as const) {
    it(`rows=${rows} hidden=${hidden}`, async () => {
      const err = await check(v, rows, hidden, 1e-5, rows * 7 + hidden, true);
      console.log(`rmsnorm (${v.name}) rows=${rows} hidden=${hidden} max|Δ| (y, rstd)=${err.toExponential(2)}`);
    });
  }
});
