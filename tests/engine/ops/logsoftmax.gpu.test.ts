import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray } from '../../helpers/gpu.ts';
import { encodeLogSoftmax, encodeTargetLogProb, IGNORE_TARGET, targetIds } from '../../../src/engine/ops/logsoftmax.ts';
import { logSoftmaxRef, targetLogProbRef } from '../../../src/engine/reference/logsoftmax.ts';
import { harness, read, releaseAll } from './op-harness.ts';

afterAll(releaseAll);

// Logits spread over ±20 (log-probs down to ~−45): f32 (x − max) is exact-ish, log Σ of ≤ 300 terms ~1e-6;
// the absolute error is dominated by the f32 rounding of the values themselves (ulp(45) ≈ 4e-6).
const TOL = 2e-5;

const ROWS = 11;
const V = 299; // spans the 256-thread stride once with a ragged tail

function logits(seed: number): Float32Array {
  const x = randomArray(ROWS * V, seed).map((v) => 20 * v);
  x[3 * V + 7] = 80; // one dominant logit: exp(x − max) must not overflow
  return x;
}

describe('log-softmax and target log-prob', () => {
  it('log-softmax per row', async () => {
    const { device, kernels, pool } = await harness();
    const x = logits(1);
    const out = pool.alloc(x.byteLength);
    const enc = device.createCommandEncoder();
    await encodeLogSoftmax(kernels, enc, pool.upload(x), out, { rows: ROWS, vocab: V });
    device.queue.submit([enc.finish()]);
    const err = maxAbsDiff(await read(out, x.length), logSoftmaxRef(x, ROWS, V));
    console.log(`logsoftmax rows=${ROWS} V=${V} max|Δ|=${err.toExponential(2)}`);
    expect(err).toBeLessThan(TOL);
  });

  it('gathers logp[t, target[t]] and gives 0 for ignored targets (−100)', async () => {
    const { device, kernels, pool } = await harness();
    const x = logits(2);
    const labels = Array.from({ length: ROWS }, (_, r) => (r * 37) % V);
    labels[2] = -100;
    labels[5] = V - 1;
    const t = targetIds(labels);
    expect(t[2]).toBe(IGNORE_TARGET);
    const out = pool.alloc(ROWS * 4);
    const enc = device.createCommandEncoder();
    await encodeTargetLogProb(kernels, enc, pool.upload(x), pool.upload(t), out, { rows: ROWS, vocab: V });
    device.queue.submit([enc.finish()]);
    const got = await read(out, ROWS);
    const err = maxAbsDiff(got, targetLogProbRef(x, t, ROWS, V));
    console.log(`target logprob rows=${ROWS} V=${V} max|Δ|=${err.toExponential(2)}`);
    expect(err).toBeLessThan(TOL);
    expect(got[2]).toBe(0);
  });
});
