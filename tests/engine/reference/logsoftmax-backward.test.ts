// Weighted cross-entropy backward (CPU reference) against central finite differences of the weighted NLL.
import { describe, expect, it } from 'vitest';
import { crossEntropyBackwardRef, weightedNllRef } from '../../../src/engine/reference/logsoftmax.ts';
import { IGNORE_TARGET } from '../../../src/engine/ops/logsoftmax.ts';
import { numericGrad, random64, relError } from '../../helpers/finite-diff.ts';

const TOL = 1e-6;

describe('cross-entropy backward reference', () => {
  it('is w·(softmax − onehot), ignored targets and zero weights giving zero rows', () => {
    const rows = 5;
    const vocab = 9;
    const logits = random64(rows * vocab, 1, 4);
    const targets = [3, 0, IGNORE_TARGET, 8, 2];
    // negative weights occur too: DPO's rejected completion pushes its log-probs down
    const weights = [0.5, 1.25, 3, -0.75, 0];
    const f = ([l]: Float64Array[]) => [weightedNllRef(l!, targets, weights, rows, vocab)];
    const got = crossEntropyBackwardRef(logits, targets, weights, rows, vocab);
    const err = relError(got, numericGrad(f, [logits], [1], 0));
    console.log(`cross-entropy backward FD: ${err.toExponential(2)}`);
    expect(err).toBeLessThan(TOL);
    expect([...got.subarray(2 * vocab, 3 * vocab)].every((v) => v === 0)).toBe(true);
    expect([...got.subarray(4 * vocab, 5 * vocab)].every((v) => v === 0)).toBe(true);
  });
});
