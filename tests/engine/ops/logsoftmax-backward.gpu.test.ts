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
