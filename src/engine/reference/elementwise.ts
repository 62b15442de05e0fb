/** CPU references for shaders/elementwise.wgsl (float64). */
export function addRef(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: a.length }, (_, i) => a[i]! + b[i]!);
}

/** x [rows, cols] + bias [cols] broadcast over rows. */
export function biasAddRef(x: ArrayLike<number>, bias: ArrayLike<number>, cols: number): Float64Array {
  return Float64Array.from({ length: x.length }, (_, i) => x[i]! + bias[i % cols]!);
}

/**
 * Bias gradient (shaders/elementwise.wgsl `bias_grad`): dbias[c] = Σ_rows dy[r, c], the backward of biasAddRef.
 * (The residual add needs no kernel of its own: its backward passes dy to both branches, and the branch
 * gradients meet again through encodeAddInPlace.)
 */
export function biasGradRef(dy: ArrayLike<number>, cols: number): Float64Array {
  const out = new Float64Array(cols);
  for (let i = 0; i < dy.length; i++) out[i % cols] = out[i % cols]! + dy[i]!;
  return out;
}
