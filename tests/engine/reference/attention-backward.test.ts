// Attention backward (CPU reference) against central finite differences of the CPU forward, float64.
import { describe, expect, it } from 'vitest';
import { attentionBackwardRef, attentionLseRef, attentionRef, type AttentionRefArgs } from '../../../src/engine/reference/attention.ts';
import { numericGrad, random64, relError } from '../../helpers/finite-diff.ts';

const TOL = 1e-6;

function check(a: AttentionRefArgs, seed: number, mask?: number[]) {
  const B = a.batch ?? 1;
  const q = random64(B * a.T * a.nHeads * a.headDim, seed, 2);
  const k = random64(B * a.S * a.nKv * a.headDim, seed + 1);
  const v = random64(B * a.S * a.nKv * a.headDim, seed + 2);
  const r = random64(q.length, seed + 3);
  const f = ([q_, k_, v_]: Float64Array[]) => attentionRef(q_!, k_!, v_!, a, mask);
  const g = attentionBackwardRef(q, k, v, r, a, mask);
  const errs = [g.dq, g.dk, g.dv].map((got, which) => relError(got, numericGrad(f, [q, k, v], r, which)));
  console.log(`attention backward FD ${JSON.stringify(a)}${mask ? ' masked' : ''}: dq/dk/dv ${errs.map((e) => e.toExponential(2)).join(' ')}`);
  for (const e of errs) expect(e).toBeLessThan(TOL);
}

describe('attention backward reference', () => {
  it('MHA', () => check({ T: 4, S: 4, nHeads: 2, nKv: 2, headDim: 3 }, 1));
  it('GQA: dk, dv summed over the q-heads sharing a kv-head', () => check({ T: 5, S: 5, nHeads: 4, nKv: 2, headDim: 3 }, 2));
  it('KV-cache form (past > 0) and a custom scale', () => check({ T: 2, S: 5, nHeads: 2, nKv: 1, headDim: 4, scale: 0.7 }, 3));
  it('batch with key padding, a fully masked query row included', () =>
    check({ batch: 2, T: 4, S: 4, nHeads: 2, nKv: 1, headDim: 2 }, 4, [0, 0, 1, 1, 1, 1, 0, 1]));

  it('lse is log Σ exp(score) over the visible keys', () => {
    const a = { T: 3, S: 3, nHeads: 1, nKv: 1, headDim: 1, scale: 1 };
    const lse = attentionLseRef([1, 2, 3], [0.5, -1, 2], a);
    expect(lse[0]).toBeCloseTo(0.5, 12);
    expect(lse[2]).toBeCloseTo(Math.log(Math.exp(1.5) + Math.exp(-3) + Math.exp(6)), 12);
  });
});
