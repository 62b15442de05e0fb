// SwiGLU backward (CPU reference) against central finite differences of the CPU forward, float64.
import { describe, expect, it } from 'vitest';
import { swigluBackwardRef, swigluRef } from '../../../src/engine/reference/swiglu.ts';
import { numericGrad, random64, relError } from '../../helpers/finite-diff.ts';

const TOL = 1e-6;

describe('swiglu backward reference', () => {
  it('matches finite differences for gate and up, including large |gate|', () => {
    const n = 23;
    const gate = random64(n, 1, 6); // silu's curvature and its saturated tails
    const up = random64(n, 2);
    const r = random64(n, 3);
    const f = ([g, u]: Float64Array[]) => swigluRef(g!, u!);
    const { dgate, dup } = swigluBackwardRef(gate, up, r);
    const eg = relError(dgate, numericGrad(f, [gate, up], r, 0));
    const eu = relError(dup, numericGrad(f, [gate, up], r, 1));
    console.log(`swiglu backward FD: dgate ${eg.toExponential(2)} dup ${eu.toExponential(2)}`);
    expect(eg).toBeLessThan(TOL);
    expect(eu).toBeLessThan(TOL);
  });
});
