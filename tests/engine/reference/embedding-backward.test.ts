// Embedding backward (CPU reference) against central finite differences of the CPU gather, float64.
import { describe, expect, it } from 'vitest';
import { embeddingBackwardRef, embeddingRef } from '../../../src/engine/reference/embedding.ts';
import { numericGrad, random64, relError } from '../../helpers/finite-diff.ts';

const TOL = 1e-6;

describe('embedding backward reference', () => {
  it('accumulates repeated ids and leaves unused rows zero', () => {
    const vocab = 6;
    const hidden = 3;
    const ids = [4, 1, 4, 4, 0, 1, 7]; // repeats, an unused row (2, 3, 5), and an out-of-range id that reads nothing
    const table = random64(vocab * hidden, 1);
    const r = random64(ids.length * hidden, 2);
    const f = ([t]: Float64Array[]) => embeddingRef(t!, ids, vocab, hidden);
    const got = embeddingBackwardRef(r, ids, vocab, hidden);
    const err = relError(got, numericGrad(f, [table], r, 0));
    console.log(`embedding backward FD: ${err.toExponential(2)}`);
    expect(err).toBeLessThan(TOL);
    expect([...got.subarray(2 * hidden, 4 * hidden)].every((v) => v === 0)).toBe(true);
  });
});
