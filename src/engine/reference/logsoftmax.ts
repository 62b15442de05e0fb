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

/**
 * The loss every objective reduces to: L = −Σ_t w[t] · logp[t, targets[t]] (ignored targets, ≥ vocab, add 0).
 * CPT/SFT are w = 1/(scored tokens) on scored tokens; DPO/ORPO fold their sequence-level terms into w
 * (dL/dlogp_target per token), so one backward serves them all.
 */
export function weightedNllRef(
  logits: ArrayLike<number>,
  targets: ArrayLike<number>,
  weights: ArrayLike<number>,
  rows: number,
  vocab: number,
): number {
  const picked = targetLogProbRef(logits, targets, rows, vocab);
  let loss = 0;
  for (let r = 0; r < rows; r++) if (targets[r]! < vocab) loss -= weights[r]! * picked[r]!;
  return loss;
}

/**
 * CPU reference for the logsoftmax.wgsl `backward` entries: d weightedNll / d logits = w[t]·(softmax − onehot),
 * zero rows for ignored targets (≥ vocab) whatever their weight.
 */
export function crossEntropyBackwardRef(
  logits: ArrayLike<number>,
  targets: ArrayLike<number>,
  weights: ArrayLike<number>,
  rows: number,
  vocab: number,
): Float64Array {
  const lp = logSoftmaxRef(logits, rows, vocab);
  const d = new Float64Array(rows * vocab);
  for (let r = 0; r < rows; r++) {
    const t = targets[r]!;
    if (t >= vocab) continue;
    const w = weights[r]!;
    for (let c = 0; c < vocab; c++) d[r * vocab + c] = w * (Math.exp(lp[r * vocab + c]!) - (c === t ? 1 : 0));
  }
  return d;
}
