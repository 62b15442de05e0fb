/** CPU references for shaders/logsoftmax.wgsl (float64). logits [rows, V]. */
export function logSoftmaxRef(logits: ArrayLike<number>, rows: number, vocab: number): Float64Array {
  const out = new Float64Array(rows * vocab);
  for (let r = 0; r < rows; r++) {
    const base = r * vocab;
    let m = -Infinity;
    for (let c = 0; c < vocab; c++) m = Math.max(m, logits[base + c]!);
    let s = 0;
    for (let c = 0; c < vocab; c++) s += Math.exp(logits[base + c]! - m);
    const lse = m + Math.log(s);
    for (let c = 0; c < vocab; c++) out[base + c] = logits[base + c]! - lse;
  }
  return out;
}

/** logp[r, targets[r]], 0 where targets[r] ≥ vocab (ignored). */
export function targetLogProbRef(logits: ArrayLike<number>, targets: ArrayLike<number>, rows: number, vocab: number): Float64Array {
  const lp = logSoftmaxRef(logits, rows, vocab);
  return Float64Array.from({ length: rows }, (_, r) => (targets[r]! < vocab ? lp[r * vocab + targets[r]!]! : 0));
}
