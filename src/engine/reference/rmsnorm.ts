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
