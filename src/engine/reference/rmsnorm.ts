/** CPU reference for shaders/rmsnorm.wgsl (float64). x [rows, H], w [H] → y [rows, H], rstd [rows]. */
export function rmsNormRef(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  rows: number,
  hidden: number,
  eps: number,
): { y: Float64Array; rstd: Float64Array } {
  const y = new Float64Array(rows * hidden);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let c = 0; c < hidden; c++) ss += x[r * hidden + c]! ** 2;
    const inv = 1 / Math.sqrt(ss / hidden + eps);
    rstd[r] = inv;
    for (let c = 0; c < hidden; c++) y[r * hidden + c] = w[c]! * x[r * hidden + c]! * inv;
  }
  return { y, rstd };
}

/**
 * CPU reference for shaders/rmsnorm_backward.wgsl (float64). With r = rsqrt(mean(x²)+eps) per row:
 *   dx = r·(dy ⊙ w) − x · r³ · Σ(dy ⊙ w ⊙ x) / H        dw = Σ_rows dy ⊙ x · r
 */
export function rmsNormBackwardRef(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  dy: ArrayLike<number>,
  rows: number,
  hidden: number,
  eps: number,
): { dx: Float64Array; dw: Float64Array } {
  const { rstd } = rmsNormRef(x, w, rows, hidden, eps);
  const dx = new Float64Array(rows * hidden);
  const dw = new Float64Array(hidden);
  for (let r = 0; r < rows; r++) {
    const inv = rstd[r]!;
    const base = r * hidden;
    let s = 0;
    for (let c = 0; c < hidden; c++) s += dy[base + c]! * w[c]! * x[base + c]!;
    const k = (inv * inv * inv * s) / hidden;
    for (let c = 0; c < hidden; c++) {
      dx[base + c] = inv * dy[base + c]! * w[c]! - x[base + c]! * k;
      dw[c] = dw[c]! + dy[base + c]! * x[base + c]! * inv;
    }
  }
  return { dx, dw };
}
