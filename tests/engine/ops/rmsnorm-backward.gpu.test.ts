import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray, HW_VARIANTS, KERNEL_VARIANTS, type KernelVariant } from '../../helpers/gpu.ts';
import { encodeRmsNorm, encodeRmsNormBackward } from '../../../src/engine/ops/rmsnorm.ts';
import { rmsNormBackwardRef } from '../../../src/engine/reference/rmsnorm.ts';
import { harness, read, releaseAll } from './op-harness.ts';

// dx is O(r·|dy|·|w|) ≈ a few units, from an f32 sum of ≤ 8192 products: measured ≤ 3.5e-7 in both families
// (the hardware family's subgroup variant gives its core variant's bits: rows-hw-subgroups.gpu.test.ts).
// dw sums up to 150 rows of O(1) terms: measured ≤ 2.0e-6 (150 rows; ≤ 1.2e-6 at ≤ 20 rows); it is checked after
// accumulating onto a nonzero start, so the += is covered too.
const TOL = 1e-6;
const TOL_DW = 4e-6;

afterAll(releaseAll);

async function check(v: KernelVariant, rows: number, hidden: number, eps: number) {
  const { device, kernels, pool } = await harness(v.family, v.subgroups);
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
  console.log(`rmsnorm backward (${v.name}) rows=${rows} hidden=${hidden} max|Δdx|=${errX.toExponential(2)} max|Δdw|=${errW.toExponential(2)}`);
  expect(errX).toBeLessThan(TOL);
  expect(errW).toBeLessThan(TOL_DW);
  return { dx: await read(DX, rows * hidden), dw: await read(DW, hidden) };
}

describe.each(KERNEL_VARIANTS)('rmsnorm backward kernel against the CPU reference ($name)', (v) => {
  // hidden below, at, and above a workgroup; columns not a multiple of the dw pass's column block; in the
  // hardware family hidden % 4 picks the vec4 (64, 200) or the scalar variant (1, 7, 129).
  for (const [rows, hidden, eps] of [
    [1, 1, 1e-6],
    [3, 7, 1e-5],
    [17, 64, 1e-5],
    [5, 129, 0.5],
    [9, 200, 1e-6],
  ] as const) {
    it(`rows=${rows} hidden=${hidden}`, async () => {
      await check(v, rows, hidden, eps);
    });
  }

  it('refuses dx aliasing dy', async () => {
    const { device, kernels, pool } = await harness(v.family, v.subgroups);
    const b = pool.alloc(64);
    await expect(encodeRmsNormBackward(kernels, device.createCommandEncoder(), b, b, b, b, b, { rows: 1, hidden: 4 })).rejects.toThrow(/alias/);
  });
});

// The hardware family's shapes: strided lanes (1028 vec4, 1031 scalar), several narrow rows per workgroup with a
// ragged last one, one row, and a dw pass over more rows than its row slices (each slice sums several rows).
describe.each(HW_VARIANTS)('rmsnorm backward: hardware family shapes ($name)', (v) => {
  for (const [rows, hidden] of [
    [1, 1028],
    [6, 1031],
    [67, 36],
    [45, 9],
    [1, 12],
    [150, 68],
    // dγ's wider column blocks (hwDwCols: 8 and 16 vec4s, 16 scalars a workgroup; the cases above use 4)
    [20, 4096],
    [20, 8192],
    [5, 4099],
  ] as const) {
    it(`rows=${rows} hidden=${hidden}`, async () => {
      await check(v, rows, hidden, 1e-5);
    });
  }

  it('gives the same bits on every run (fixed-order reductions)', async () => {
    const a = await check(v, 150, 68, 1e-5);
    const b = await check(v, 150, 68, 1e-5);
    expect(Buffer.from(b.dx.buffer).equals(Buffer.from(a.dx.buffer))).toBe(true);
    expect(Buffer.from(b.dw.buffer).equals(Buffer.from(a.dw.buffer))).toBe(true);
  });
});
