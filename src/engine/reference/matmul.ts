/** CPU reference for shaders/matmul.wgsl, accumulating in float64. Same layouts and flags as the kernel. */
export interface MatmulShape {
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
}

export function matmulRef(a: ArrayLike<number>, b: ArrayLike<number>, s: MatmulShape): Float64Array {
  const { M, N, K } = s;
  const out = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let k = 0; k < K; k++) {
        const av = s.transA ? a[k * M + m]! : a[m * K + k]!;
        const bv = s.transB ? b[n * K + k]! : b[k * N + n]!;
        acc += av * bv;
      }
      out[m * N + n] = acc;
    }
  }
  return out;
}
