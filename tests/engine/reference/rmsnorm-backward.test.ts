// RMSNorm backward (CPU reference) against central finite differences of the CPU forward, float64.
import { describe, expect, it } from 'vitest';
import { rmsNormBackwardRef, rmsNormRef } from '../../../src/engine/reference/rmsnorm.ts';
import { numericGrad, random64, relError } from '../../helpers/finite-diff.ts';

// Central differences at h = 1e-5 are good to ~1e-9 relative here; 1e-6 leaves room and still catches any
// wrong term (a missing r³ term is off by O(1)).
const TOL = 1e-6;

describe('rmsnorm backward reference', () => {
  for (const [rows, hidden, eps] of [
    [1, 1, 1e-6],
    [3, 7, 1e-5],
    [4, 13, 0.5],
  ] as const) {
    it(`matches finite differences: rows=${rows} hidden=${hidden} eps=${eps}`, () => {
      const x = random64(rows * hidden, rows + hidden);
      const w = random64(hidden, 7 * hidden, 2);
      const r = random64(rows * hidden, 99);
      const f = ([x_, w_]: Float64Array[]) => rmsNormRef(x_!, w_!, rows, hidden, eps).y;
      const { dx, dw } = rmsNormBackwardRef(x, w, r, rows, hidden, eps);
      const ex = relError(dx, numericGrad(f, [x, w], r, 0));
      const ew = relError(dw, numericGrad(f, [x, w], r, 1));
      console.log(`rmsnorm backward FD rows=${rows} hidden=${hidden}: dx ${ex.toExponential(2)} dw ${ew.toExponential(2)}`);
      expect(ex).toBeLessThan(TOL);
      expect(ew).toBeLessThan(TOL);
    });
  }
});
