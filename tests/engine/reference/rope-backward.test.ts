// RoPE backward (CPU reference) against central finite differences of the CPU forward, float64.
import { describe, expect, it } from 'vitest';
import { ropeBackwardRef, ropeRef } from '../../../src/engine/reference/rope.ts';
import { ropeInvFreq } from '../../../src/engine/ops/rope.ts';
import { numericGrad, random64, relError } from '../../helpers/finite-diff.ts';

// RoPE is linear in x, so central differences are exact up to rounding (~1e-10); 1e-6 as everywhere.
const TOL = 1e-6;

describe('rope backward reference', () => {
  it('is the gradient of the forward, at arbitrary (unsorted, repeated) positions', () => {
    const rows = 5;
    const heads = 3;
    const D = 6;
    const invFreq = ropeInvFreq({ hidden_size: heads * D, num_attention_heads: heads, rope_theta: 10000 });
    const pos = [0, 7, 3, 3, 1000];
    const x = random64(rows * heads * D, 1);
    const r = random64(rows * heads * D, 2);
    const f = ([x_]: Float64Array[]) => ropeRef(x_!, pos, invFreq, rows, heads, D);
    const err = relError(ropeBackwardRef(r, pos, invFreq, rows, heads, D), numericGrad(f, [x], r, 0));
    console.log(`rope backward FD: ${err.toExponential(2)}`);
    expect(err).toBeLessThan(TOL);
  });

  it('undoes the forward (the rotation is orthogonal)', () => {
    const invFreq = [1, 0.1];
    const x = random64(2 * 4, 3);
    const back = ropeBackwardRef(ropeRef(x, [5, 11], invFreq, 2, 1, 4), [5, 11], invFreq, 2, 1, 4);
    expect(relError(back, x)).toBeLessThan(1e-12);
  });
});
