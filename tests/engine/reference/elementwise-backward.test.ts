// Bias backward (CPU reference) against central finite differences of the CPU bias add.
import { describe, expect, it } from 'vitest';
import { biasAddRef, biasGradRef } from '../../../src/engine/reference/elementwise.ts';
import { numericGrad, random64, relError } from '../../helpers/finite-diff.ts';

const TOL = 1e-6;

describe('bias backward reference', () => {
  it('dbias is the column sum of dy, dx is dy', () => {
    const rows = 4;
    const cols = 7;
    const x = random64(rows * cols, 1);
    const bias = random64(cols, 2);
    const r = random64(rows * cols, 3);
    const f = ([x_, b]: Float64Array[]) => biasAddRef(x_!, b!, cols);
    const eb = relError(biasGradRef(r, cols), numericGrad(f, [x, bias], r, 1));
    const ex = relError(r, numericGrad(f, [x, bias], r, 0));
    console.log(`bias backward FD: dbias ${eb.toExponential(2)} dx ${ex.toExponential(2)}`);
    expect(eb).toBeLessThan(TOL);
    expect(ex).toBeLessThan(TOL);
  });
});
