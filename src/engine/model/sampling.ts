/**
 * Next-token choice from one row of logits [vocab], on the CPU, in two versions that draw the same seeded
 * stream (one u per sampled token):
 * - `sampleToken`: transformers' generate in float64 — temperature, then top-k, then top-p warpers, then a draw
 *   from the softmax; temperature 0 means greedy (argmax, first maximum as torch.argmax). The semantics
 *   reference.
 * - `sampleTokenExact`: the GPU sampler's integer rule (ops/sample.ts `sampleReference`), which picks exactly
 *   the kernel's token; generate() uses it wherever a token is picked on the CPU, so its CPU and GPU paths give
 *   the same tokens. It differs from `sampleToken` only when u lies within ~1e-6 of a cumulative boundary.
 */
import { mulberry32 } from '../../common/random.ts';
import { drawBits, sampleParams, sampleReference } from '../ops/sample.ts';
import { argmax } from './score.ts';

export interface SamplingOptions {
  /** 0 (default) = greedy */
  temperature?: number;
  /** keep the k highest logits (ties with the k-th kept, as HF); 0 or absent = off */
  topK?: number;
  /** keep the smallest high-probability set with mass ≥ p (HF's rule); 1 or absent = off */
  topP?: number;
}

/** The sampler's seeded stream (see common/random.ts). */
export const createRng = mulberry32;

/** The probabilities the sampler draws from (after the warpers), float64 [vocab]; zeros where filtered out. */
export function samplingProbs(logits: ArrayLike<number>, opts: SamplingOptions): Float64Array {
  const V = logits.length;
  const temperature = opts.temperature ?? 0;
  if (!(temperature > 0)) {
    const p = new Float64Array(V);
    p[argmax(logits, 0, V)] = 1;
    return p;
  }
  const scores = Float64Array.from(logits, (x) => x / temperature);
  const topK = Math.min(opts.topK ?? 0, V);
  if (topK > 0) {
    const kth = Float64Array.from(scores).sort()[V - topK]!; // ascending: the k-th largest
    for (let i = 0; i < V; i++) if (scores[i]! < kth) scores[i] = -Infinity;
  }
  const topP = opts.topP ?? 1;
  if (topP < 1) {
    // HF TopPLogitsWarper: sort ascending, drop tokens whose cumulative probability is ≤ 1 − p; keep at least 1.
    const probs = softmax(scores);
    const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]! || a - b);
    let cum = 0;
    for (let r = 0; r < V - 1; r++) {
      const i = order[r]!;
      cum += probs[i]!;
      if (cum <= 1 - topP) scores[i] = -Infinity;
    }
  }
  return softmax(scores);
}

function softmax(scores: Float64Array): Float64Array {
  let max = -Infinity;
  for (const s of scores) max = Math.max(max, s);
  const out = Float64Array.from(scores, (s) => Math.exp(s - max));
  let sum = 0;
  for (const p of out) sum += p;
  for (let i = 0; i < out.length; i++) out[i] = out[i]! / sum;
  return out;
}

/** One token id from logits [vocab]. `rng` is needed only when sampling (temperature > 0). */
export function sampleToken(logits: ArrayLike<number>, opts: SamplingOptions, rng: () => number): number {
  if (!((opts.temperature ?? 0) > 0)) return argmax(logits, 0, logits.length);
  const probs = samplingProbs(logits, opts);
  const u = rng();
  let cum = 0;
  let last = 0;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i]! === 0) continue;
    last = i;
    cum += probs[i]!;
    if (u < cum) return i;
  }
  return last; // rounding left cum a hair under 1
}

/** One token id from logits [vocab] by the GPU sampler's rule (see the top of this file); draws as sampleToken. */
export function sampleTokenExact(logits: ArrayLike<number>, opts: SamplingOptions, rng: () => number): number {
  if (!((opts.temperature ?? 0) > 0)) return argmax(logits, 0, logits.length);
  return sampleReference(logits, 0, logits.length, sampleParams(opts), drawBits(rng())).token;
}
