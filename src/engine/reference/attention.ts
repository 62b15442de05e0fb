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
  past?: number;
  scale?: number;
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
        for (let j = 0; j <= last; j++) {
          if (keyMask && !keyMask[b * S + j]) {
            scores[j] = -Infinity;
            continue;
          }
          const ka = ((b * S + j) * nKv + kvh) * D;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[qa + d]! * k[ka + d]!;
          scores[j] = dot * scale;
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
