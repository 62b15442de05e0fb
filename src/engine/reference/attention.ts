/**
 * CPU reference for shaders/attention.wgsl: materialises the scores (fine for tests) and takes a plain
 * softmax in float64. Same layouts and conventions as the kernel; fully masked rows give zeros.
 */
export interface AttentionRefArgs {
  batch?: number;
  T: number;
  S: number;
  nHeads: number;
  nKv: number;
  headDim: number;
  /** absolute position of query 0; default S − T */
  past?: number;
  /** default 1/sqrt(headDim) */
  scale?: number;
  /**
   * sliding window W (0 or absent: none): a query sees only the W most recent unmasked keys up to its own slot
   * (for an unpadded sequence, keys past+i−W < j ≤ past+i: transformers' sliding-window mask)
   */
  window?: number;
  /** soft-capping c > 0: each score s (after the scale) becomes c·tanh(s/c) (Gemma's attn_logit_softcapping) */
  softcap?: number;
}

/** The soft-capped score and its derivative with respect to the raw score. */
export function softcapScore(s: number, c: number | undefined): [number, number] {
  if (!c) return [s, 1];
  const t = Math.tanh(s / c);
  return [c * t, 1 - t * t];
}

/** Which of slots 0..S−1 query i of batch row b attends to (1) — causal, unmasked, within the window. */
export function visibleKeys(a: AttentionRefArgs, b: number, i: number, keyMask?: ArrayLike<number>): Uint8Array {
  const S = a.S;
  const past = a.past ?? S - a.T;
  const seen = new Uint8Array(S);
  const real: number[] = [];
  for (let j = 0; j <= Math.min(S - 1, past + i); j++) if (!keyMask || keyMask[b * S + j]) real.push(j);
  const kept = a.window ? real.slice(-a.window) : real;
  for (const j of kept) seen[j] = 1;
  return seen;
}

export function attentionRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  a: AttentionRefArgs,
  keyMask?: ArrayLike<number>,
): Float64Array {
  const { T, S, nHeads: H, nKv, headDim: D } = a;
  const B = a.batch ?? 1;
  const past = a.past ?? S - T;
  const scale = a.scale ?? 1 / Math.sqrt(D);
  const group = H / nKv;
  const out = new Float64Array(B * T * H * D);
  const scores = new Float64Array(S);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < T; i++) {
      for (let h = 0; h < H; h++) {
        const kvh = Math.floor(h / group);
        const qa = ((b * T + i) * H + h) * D;
        let mx = -Infinity;
        const last = Math.min(S - 1, past + i);
        const seen = visibleKeys(a, b, i, keyMask);
        for (let j = 0; j <= last; j++) {
          if (!seen[j]) {
            scores[j] = -Infinity;
            continue;
          }
          const ka = ((b * S + j) * nKv + kvh) * D;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[qa + d]! * k[ka + d]!;
          scores[j] = softcapScore(dot * scale, a.softcap)[0];
          mx = Math.max(mx, scores[j]!);
        }
        if (mx === -Infinity) continue; // nothing visible: zeros
        let sum = 0;
        for (let j = 0; j <= last; j++) {
          scores[j] = Math.exp(scores[j]! - mx);
          sum += scores[j]!;
        }
        for (let j = 0; j <= last; j++) {
          const w = scores[j]! / sum;
          if (w === 0) continue;
          const va = ((b * S + j) * nKv + kvh) * D;
          for (let d = 0; d < D; d++) out[qa + d] = out[qa + d]! + w * v[va + d]!;
        }
      }
    }
  }
  return out;
}

/**
 * Per-(batch, query, head) log Σ_j exp(score_j) over the visible, unmasked keys, [B, T, nHeads]: what the
 * attention.wgsl `main_save_lse` entry saves for the backward pass. −Infinity where nothing is visible.
 */
export function attentionLseRef(q: ArrayLike<number>, k: ArrayLike<number>, a: AttentionRefArgs, keyMask?: ArrayLike<number>): Float64Array {
  const { T, S, nHeads: H, nKv, headDim: D } = a;
  const B = a.batch ?? 1;
  const past = a.past ?? S - T;
  const scale = a.scale ?? 1 / Math.sqrt(D);
  const group = H / nKv;
  const lse = new Float64Array(B * T * H).fill(-Infinity);
  const scores: number[] = [];
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < T; i++) {
      for (let h = 0; h < H; h++) {
        const kvh = Math.floor(h / group);
        const qa = ((b * T + i) * H + h) * D;
        scores.length = 0;
        const seen = visibleKeys(a, b, i, keyMask);
        for (let j = 0; j <= Math.min(S - 1, past + i); j++) {
          if (!seen[j]) continue;
          const ka = ((b * S + j) * nKv + kvh) * D;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[qa + d]! * k[ka + d]!;
          scores.push(softcapScore(dot * scale, a.softcap)[0]);
        }
        if (scores.length === 0) continue;
        const mx = Math.max(...scores);
        lse[(b * T + i) * H + h] = mx + Math.log(scores.reduce((s, x) => s + Math.exp(x - mx), 0));
      }
    }
  }
  return lse;
}

/**
 * CPU reference for shaders/attention_backward.wgsl (float64, materialised probabilities). With P the softmax
 * row of query i, head h over its visible keys j:
 *   dP_j = dOut_i · v_j      dS_j = P_j (dP_j − Σ_j' P_j' dP_j')
 *   dq_i = scale Σ_j dS_j k_j      dk_j += scale dS_j q_i      dv_j += P_j dOut_i
 * (with soft-capping dS_j also carries the cap's slope 1 − tanh²(s_j/c))
 * dk and dv sum over every query and every q-head that reads the kv-head (GQA). Fully masked rows add nothing.
 */
export function attentionBackwardRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  dOut: ArrayLike<number>,
  a: AttentionRefArgs,
  keyMask?: ArrayLike<number>,
  /**
   * Δ of each row [batch, T, nHeads] in place of Σ_j P_j dP_j (= dOut·out): the backward given a saved `out` (a
   * kernel's prep computes Δ = dOut·out; an f16 forward's out is rounded, and its Δ is that of the rounded out)
   */
  delta?: ArrayLike<number>,
): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const { T, S, nHeads: H, nKv, headDim: D } = a;
  const B = a.batch ?? 1;
  const past = a.past ?? S - T;
  const scale = a.scale ?? 1 / Math.sqrt(D);
  const group = H / nKv;
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  const P = new Float64Array(S);
  const dP = new Float64Array(S);
  const keep = new Uint8Array(S);
  const capSlope = new Float64Array(S);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < T; i++) {
      for (let h = 0; h < H; h++) {
        const kvh = Math.floor(h / group);
        const qa = ((b * T + i) * H + h) * D;
        const last = Math.min(S - 1, past + i);
        let mx = -Infinity;
        const seen = visibleKeys(a, b, i, keyMask);
        for (let j = 0; j <= last; j++) {
          keep[j] = seen[j]!;
          if (!keep[j]) continue;
          const ka = ((b * S + j) * nKv + kvh) * D;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[qa + d]! * k[ka + d]!;
          [P[j], capSlope[j]] = softcapScore(dot * scale, a.softcap);
          mx = Math.max(mx, P[j]!);
        }
        if (mx === -Infinity) continue;
        let sum = 0;
        for (let j = 0; j <= last; j++) {
          if (!keep[j]) continue;
          P[j] = Math.exp(P[j]! - mx);
          sum += P[j]!;
        }
        let rowDelta = 0;
        for (let j = 0; j <= last; j++) {
          if (!keep[j]) continue;
          P[j] = P[j]! / sum;
          const va = ((b * S + j) * nKv + kvh) * D;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += dOut[qa + d]! * v[va + d]!;
          dP[j] = dot;
          rowDelta += P[j]! * dot;
        }
        if (delta) rowDelta = delta[(b * T + i) * H + h]!;
        for (let j = 0; j <= last; j++) {
          if (!keep[j]) continue;
          const ka = ((b * S + j) * nKv + kvh) * D;
          const dS = P[j]! * (dP[j]! - rowDelta) * capSlope[j]!;
          for (let d = 0; d < D; d++) {
            dq[qa + d] = dq[qa + d]! + scale * dS * k[ka + d]!;
            dk[ka + d] = dk[ka + d]! + scale * dS * q[qa + d]!;
            dv[ka + d] = dv[ka + d]! + P[j]! * dOut[qa + d]!;
          }
        }
      }
    }
  }
  return { dq, dk, dv };
}
