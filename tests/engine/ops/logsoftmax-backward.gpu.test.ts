import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray } from '../../helpers/gpu.ts';
import { IGNORE_TARGET, encodeCrossEntropyBackward } from '../../../src/engine/ops/logsoftmax.ts';
import { crossEntropyBackwardRef } from '../../../src/engine/reference/logsoftmax.ts';
import { harness, read, releaseAll } from './op-harness.ts';

afterAll(releaseAll);

// |dlogits| ≤ |w| ≤ 2; softmax from an f32 max/sum over ≤ 700 logits and one exp each: ~1e-7 relative.
const TOL = 1e-5;

async function check(rows: number, vocab: number, seed: number, inPlace: boolean) {
  const { device, kernels, pool } = await harness();
  const logits = randomArray(rows * vocab, seed).map((x) => 6 * x);
  const targets = Uint32Array.from({ length: rows }, (_, r) => (r % 4 === 2 ? IGNORE_TARGET : (r * 7919 + seed) % vocab));
  const weights = randomArray(rows, seed + 1).map((x, r) => (r % 5 === 4 ? 0 : 2 * x)); // signed, some zero
  const L = pool.upload(logits);
  const out = inPlace ? L : pool.alloc(logits.byteLength);
  const enc = device.createCommandEncoder();
  await encodeCrossEntropyBackward(kernels, enc, L, pool.upload(targets), pool.upload(weights), out, { rows, vocab });
  device.queue.submit([enc.finish()]);
  const err = maxAbsDiff(await read(out, rows * vocab), crossEntropyBackwardRef(logits, targets, weights, rows, vocab));
  console.log(`cross-entropy backward rows=${rows} V=${vocab}${inPlace ? ' in place' : ''} max|Δ|=${err.toExponential(2)}`);
  expect(err).toBeLessThan(TOL);
}

describe('cross-entropy backward kernel against the CPU reference', () => {
  it('V below the workgroup, one row', () => check(1, 5, 1, false));
  it('V above the 256-thread workgroup and not a multiple of it; ignored and zero-weight rows', () => check(9, 700, 2, false));
  it('in place over the logits', () => check(7, 300, 3, true));
});
