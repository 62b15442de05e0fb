import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray } from '../../helpers/gpu.ts';
import { IGNORE_TARGET, encodeCrossEntropyBackward } from '../../../src/engine/ops/logsoftmax.ts';
import { crossEntropyBackwardRef } from '../../../src/engine/reference/logsoftmax.ts';
import { harness, read, releaseAll } from './op-harness.ts';

afterAll(releaseAll);

// |dlogits| ≤ |w| ≤ 2; softmax from an f32 max/sum over ≤ 700 logits and one exp each: ~1e-7 relative.
const TOL = 1e-5;

async function check(rows: number, vocab: number, seed: number, inPlace: boolean, softcap?: number) {
  const { device, kernels, pool } = await harness();
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
  console.log(`cross-entropy backward rows=${rows} V=${vocab}${inPlace ? ' in place' : ''}${softcap ? ` softcap ${softcap}` : ''} max|Δ|=${err.toExponential(2)}`);
  expect(err).toBeLessThan(TOL);
}

describe('cross-entropy backward kernel against the CPU reference', () => {
  it('V below the workgroup, one row', () => check(1, 5, 1, false));
  it('V above the 256-thread workgroup and not a multiple of it; ignored and zero-weight rows', () => check(9, 700, 2, false));
  it('in place over the logits', () => check(7, 300, 3, true));
  it('through final logit soft-capping (every entry point: per-row and per-workgroup, in place or not)', async () => {
    await check(9, 700, 4, false, 3);
    await check(7, 300, 5, true, 30);
    await check(5, 40, 6, false, 2);
    await check(5, 40, 7, true, 2);
  });
});

// The trainer queues AdamW before it reads a CPT/SFT step's loss, trusting that a non-finite loss shows up in the
// gradient norm (AdamW then skips the update). A target logit of −∞ among finite ones gives a loss of +∞ but a
// finite softmax, so the kernel itself must put a NaN into that row; the other rows keep their exact values.
async function checkNonFiniteTarget(vocab: number, inPlace: boolean) {
  const { device, kernels, pool } = await harness();
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
  console.log(`cross-entropy backward V=${vocab}${inPlace ? ' in place' : ''}, target logit −∞: ${poisoned} non-finite entries in its row`);
  expect(poisoned).toBeGreaterThanOrEqual(1);
  expect(clean).toBe(true);
}

describe('cross-entropy backward: a non-finite target log-prob reaches the gradient', () => {
  it('per-row and per-workgroup entry points, in place or not', async () => {
    await checkNonFiniteTarget(40, false);
    await checkNonFiniteTarget(40, true);
    await checkNonFiniteTarget(300, false);
    await checkNonFiniteTarget(300, true);
  });
});
