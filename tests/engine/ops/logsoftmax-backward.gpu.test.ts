import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray, HW_VARIANTS, KERNEL_VARIANTS, type KernelVariant } from '../../helpers/gpu.ts';
import { IGNORE_TARGET, encodeCrossEntropyBackward } from '../../../src/engine/ops/logsoftmax.ts';
import { crossEntropyBackwardRef } from '../../../src/engine/reference/logsoftmax.ts';
import { harness, read, releaseAll } from './op-harness.ts';

afterAll(releaseAll);

// |dlogits| ≤ |w| ≤ 2; softmax from an f32 max/sum over ≤ 4100 logits and one exp each: ~1e-7 relative.
// Measured max |Δ| ≤ 1.1e-7 (software), ≤ 5.5e-7 (hardware; the worst at V = 5, the target's w·(p − 1)).
const TOL = 2e-6;

async function check(v: KernelVariant, rows: number, vocab: number, seed: number, inPlace: boolean, softcap?: number) {
  const { device, kernels, pool } = await harness(v.family, v.subgroups);
  // with soft-capping the kernel reads capped logits y = c·tanh(z/c): draw them inside (−c, c)
  const logits = randomArray(rows * vocab, seed).map((x) => (softcap ? 0.95 * softcap * x : 6 * x));
  const targets = Uint32Array.from({ length: rows }, (_, r) => (r % 4 === 2 ? IGNORE_TARGET : (r * 7919 + seed) % vocab));
  const weights = randomArray(rows, seed + 1).map((x, r) => (r % 5 === 4 ? 0 : 2 * x)); // signed, some zero
  const L = pool.upload(logits);
  const out = inPlace ? L : pool.alloc(logits.byteLength);
  const enc = device.createCommandEncoder();
  await encodeCrossEntropyBackward(kernels, enc, L, pool.upload(targets), pool.upload(weights), out, { rows, vocab, ...(softcap ? { softcap } : {}) });
  device.queue.submit([enc.finish()]);
  // the gradient with respect to the raw logits z: dy·dy/dz = dy·(1 − (y/c)²)
  const want = crossEntropyBackwardRef(logits, targets, weights, rows, vocab).map((d, i) => (softcap ? d * (1 - (logits[i]! / softcap) ** 2) : d));
  const err = maxAbsDiff(await read(out, rows * vocab), want);
  console.log(`cross-entropy backward (${v.name}) rows=${rows} V=${vocab}${inPlace ? ' in place' : ''}${softcap ? ` softcap ${softcap}` : ''} max|Δ|=${err.toExponential(2)}`);
  expect(err).toBeLessThan(TOL);
  return read(out, rows * vocab);
}

describe.each(KERNEL_VARIANTS)('cross-entropy backward kernel against the CPU reference ($name)', (v) => {
  it('V below the workgroup, one row', async () => {
    await check(v, 1, 5, 1, false);
  });
  it('V above the 256-thread workgroup and not a multiple of it; ignored and zero-weight rows', async () => {
    await check(v, 9, 700, 2, false);
  });
  it('in place over the logits', async () => {
    await check(v, 7, 300, 3, true);
  });
  it('through final logit soft-capping (every entry point: per-row and per-workgroup, in place or not)', async () => {
    await check(v, 9, 700, 4, false, 3);
    await check(v, 7, 300, 5, true, 30);
    await check(v, 5, 40, 6, false, 2);
    await check(v, 5, 40, 7, true, 2);
  });
});

// The hardware family's shapes, in place and not: vec4 rows with more Qs than 256 lanes (4100) and the scalar
// twin (4099), narrow rows sharing a workgroup with a ragged last one (12 vec4, 5 scalar), one row.
describe.each(HW_VARIANTS)('cross-entropy backward: hardware family shapes ($name)', (v) => {
  for (const [rows, V] of [
    [3, 4100],
    [3, 4099],
    [1, 1028],
    [37, 12],
    [41, 5],
    [1, 7],
  ] as const) {
    it(`rows=${rows} V=${V}`, async () => {
      await check(v, rows, V, rows + V, false);
      await check(v, rows, V, rows * 3 + V, true, 3);
    });
  }

  it('gives the same bits on every run (fixed-order reductions)', async () => {
    const a = await check(v, 3, 4100, 11, false);
    const b = await check(v, 3, 4100, 11, false);
    expect(Buffer.from(b.buffer).equals(Buffer.from(a.buffer))).toBe(true);
  });
});

// The trainer queues AdamW before it reads a CPT/SFT step's loss, trusting that a non-finite loss shows up in the
// gradient norm (AdamW then skips the update). A target logit of −∞ among finite ones gives a loss of +∞ but a
// finite softmax, so the kernel itself must put a NaN into that row; the other rows keep their exact values.
async function checkNonFiniteTarget(v: KernelVariant, vocab: number, inPlace: boolean) {
  const { device, kernels, pool } = await harness(v.family, v.subgroups);
  const rows = 3;
  const logits = randomArray(rows * vocab, 9).map((x) => 4 * x);
  const targets = Uint32Array.from([1, 2, 3]);
  logits[vocab + 2] = -Infinity; // row 1: its target
  const weights = Float32Array.from([1, 1, 1]);
  const L = pool.upload(logits);
  const out = inPlace ? L : pool.alloc(logits.byteLength);
  const enc = device.createCommandEncoder();
  await encodeCrossEntropyBackward(kernels, enc, L, pool.upload(targets), pool.upload(weights), out, { rows, vocab });
  device.queue.submit([enc.finish()]);
  const got = await read(out, rows * vocab);
  const poisoned = got.subarray(vocab, 2 * vocab).filter((x) => !Number.isFinite(x)).length;
  const clean = [...got.subarray(0, vocab), ...got.subarray(2 * vocab)].every(Number.isFinite);
  console.log(`cross-entropy backward (${v.name}) V=${vocab}${inPlace ? ' in place' : ''}, target logit −∞: ${poisoned} non-finite entries in its row`);
  expect(poisoned).toBeGreaterThanOrEqual(1);
  expect(clean).toBe(true);
}

describe.each(KERNEL_VARIANTS)('cross-entropy backward: a non-finite target log-prob reaches the gradient ($name)', (v) => {
  // 40 and 300: the software family's per-row and per-workgroup entries; the hardware family's vec4 and scalar
  // variants (and 4100: vec4 over more Qs than lanes, 39: scalar with several rows per workgroup)
  it('every entry point and variant, in place or not', async () => {
    for (const vocab of v.family === 'hardware' ? [40, 300, 4100, 39] : [40, 300]) {
      await checkNonFiniteTarget(v, vocab, false);
      await checkNonFiniteTarget(v, vocab, true);
    }
  });
});
