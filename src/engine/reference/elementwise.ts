/** CPU references for shaders/elementwise.wgsl (float64). */
export function addRef(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: a.length }, (_, i) => a[i]! + b[i]!);
}

/** x [rows, cols] + bias [cols] broadcast over rows. */
export function biasAddRef(x: ArrayLike<number>, bias: ArrayLike<number>, cols: number): Float64Array {
  return Float64Array.from({ length: x.length }, (_, i) => x[i]! + bias[i % cols]!);
}
