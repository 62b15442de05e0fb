// Matmul backward needs no kernel of its own: for the forward Y = X·Wᵀ (X [M, K], W [N, K], the layout every
// projection uses), dX = dY·W (plain matmul, [M, N]·[N, K]) and dW = dYᵀ·X (TRANS_A, [N, M]·[M, K]); both are
// encodeMatmul variants with their own GPU tests. Here the identities are checked against finite differences of
// the CPU forward, float64, for each transposition of the forward.
import { describe, expect, it } from 'vitest';
import { matmulRef } from '../../../src/engine/reference/matmul.ts';
import { numericGrad, random64, relError } from '../../helpers/finite-diff.ts';

const TOL = 1e-6;
const M = 5;
const N = 3;
const K = 7;

describe('matmul backward identities', () => {
  it('Y = X·Wᵀ: dX = dY·W, dW = dYᵀ·X', () => {
    const x = random64(M * K, 1);
    const w = random64(N * K, 2);
    const r = random64(M * N, 3);
    const f = ([a, b]: Float64Array[]) => matmulRef(a!, b!, { M, N, K, transB: true });
    const dx = matmulRef(r, w, { M, N: K, K: N });
    const dw = matmulRef(r, x, { M: N, N: K, K: M, transA: true });
    const ex = relError(dx, numericGrad(f, [x, w], r, 0));
    const ew = relError(dw, numericGrad(f, [x, w], r, 1));
    console.log(`matmul backward FD (X·Wᵀ): dX ${ex.toExponential(2)} dW ${ew.toExponential(2)}`);
    expect(ex).toBeLessThan(TOL);
    expect(ew).toBeLessThan(TOL);
  });

  it('C = A·B: dA = dC·Bᵀ, dB = Aᵀ·dC', () => {
    const a = random64(M * K, 4);
    const b = random64(K * N, 5);
    const r = random64(M * N, 6);
    const f = ([a_, b_]: Float64Array[]) => matmulRef(a_!, b_!, { M, N, K });
    const da = matmulRef(r, b, { M, N: K, K: N, transB: true });
    const db = matmulRef(a, r, { M: K, N, K: M, transA: true });
    expect(relError(da, numericGrad(f, [a, b], r, 0))).toBeLessThan(TOL);
    expect(relError(db, numericGrad(f, [a, b], r, 1))).toBeLessThan(TOL);
  });
});
