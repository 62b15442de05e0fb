/**
 * CPU reference forward of LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM / Qwen3ForCausalLM /
 * SmolLM3ForCausalLM / Gemma3ForCausalLM, in float64, written out
 * step by step as transformers computes it (REFERENCE-SEMANTICS.md §4.5). It is the ground truth the GPU model
 * is tested against, so it stays plain: no batching, no cache, no cleverness — one sequence in, logits out.
 *
 * Layouts (row-major): activations [T, C]; HF weights [out, in] so y = x·Wᵀ (+ b); q [T, nHeads·D],
 * k/v [T, nKv·D]; logits [T, V]. Weights come from a getter by HF name, as stored (bf16 checkpoints are
 * passed decoded to f32, which is what the GPU's 16-bit path decodes to).
 *
 * Two things are rounded to f32 on purpose because HF computes them in fp32 and the difference is visible:
 * the RoPE inverse frequencies (ropeInvFreq reproduces torch op by op) and the angle pos·inv_freq.
 * Everything else is exact float64, so GPU-vs-reference differences are the GPU's f32 rounding only.
 *
 * Linear RoPE scaling is done here on its own terms, not through the GPU path's folded frequencies: the angle is
 * (pos / factor)·inv_freq with the unscaled inv_freq and pos / factor in float64, so a scaling the GPU forgot or
 * applied twice shows up as a logit difference. (HF computes f32(pos · f32(inv_freq / factor)); for a power-of-two
 * factor the two are the same number, otherwise they differ by about one f32 rounding of the angle.)
 */
import type { ModelConfig } from '../../io/config.ts';
import { ropeConfigOf, ropeInvFreq } from '../ops/rope.ts';
import { geluTanh } from './swiglu.ts';

export type WeightGetter = (name: string) => ArrayLike<number>;

/**
 * Called after each projection with its HF module path (e.g. model.layers.0.self_attn.q_proj), its input x [T, in]
 * and its output y [T, out], which it may add to: the LoRA tests add scale·(dropout(x)·Aᵀ)·Bᵀ here, with a mask a
 * folded weight cannot express.
 */
export type ProjectionHook = (path: string, x: Float64Array, T: number, y: Float64Array) => void;

/** y [T, out] = x [T, in] · W[out, in]ᵀ + bias[out] */
function linear(x: Float64Array, T: number, inF: number, w: ArrayLike<number>, outF: number, bias?: ArrayLike<number>) {
  const y = new Float64Array(T * outF);
  for (let t = 0; t < T; t++) {
    for (let o = 0; o < outF; o++) {
      let acc = bias ? bias[o]! : 0;
      for (let i = 0; i < inF; i++) acc += x[t * inF + i]! * w[o * inF + i]!;
      y[t * outF + o] = acc;
    }
  }
  return y;
}

/** LlamaRMSNorm: x · rsqrt(mean(x²) + eps) · weight, per row. */
function rmsnorm(x: Float64Array, T: number, C: number, w: ArrayLike<number>, eps: number) {
  const y = new Float64Array(T * C);
  for (let t = 0; t < T; t++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[t * C + c]! ** 2;
    const r = 1 / Math.sqrt(ss / C + eps);
    for (let c = 0; c < C; c++) y[t * C + c] = w[c]! * (x[t * C + c]! * r);
  }
  return y;
}

/** Gemma3RMSNorm's factor: (1 + w), 0-centred weights (the GPU folds it at load; here it is applied as written). */
function onePlus(w: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: w.length }, (_, i) => 1 + w[i]!);
}

/** Qwen3's (and Gemma 3's) q/k norm on x [rows, D] in place: every D-long head vector RMS-normed with the shared weight w [D]. */
function qkNormInPlace(x: Float64Array, rows: number, D: number, w: ArrayLike<number>, eps: number) {
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let d = 0; d < D; d++) ss += x[r * D + d]! ** 2;
    const inv = 1 / Math.sqrt(ss / D + eps);
    for (let d = 0; d < D; d++) x[r * D + d] = w[d]! * (x[r * D + d]! * inv);
  }
}

/**
 * rotate_half RoPE in place on x [T, heads, D]: dims j and j + D/2 form a pair, at position t / posDivisor
 * (posDivisor: linear scaling's factor, else 1).
 */
function rope(x: Float64Array, T: number, heads: number, D: number, invFreq: Float32Array, posDivisor: number) {
  const half = D / 2;
  for (let t = 0; t < T; t++) {
    const pos = t / posDivisor;
    for (let h = 0; h < heads; h++) {
      const base = (t * heads + h) * D;
      for (let j = 0; j < half; j++) {
        const angle = Math.fround(pos * invFreq[j]!); // HF: freqs = pos ⊗ inv_freq in fp32
        const c = Math.cos(angle);
        const s = Math.sin(angle);
        const x1 = x[base + j]!;
        const x2 = x[base + j + half]!;
        x[base + j] = x1 * c - x2 * s; // q·cos + rotate_half(q)·sin, first half: rotate_half = −x2
        x[base + j + half] = x2 * c + x1 * s; // second half: rotate_half = x1
      }
    }
  }
}

/**
 * Causal softmax(q·kᵀ/√D)·v per head; q-head h uses kv-head h / (nHeads/nKv) (HF repeat_kv). With a sliding
 * window W (a sliding layer: Mistral's every layer, Qwen2/3's from max_window_layers on when enabled) query i sees
 * keys i−W < j ≤ i, as transformers' sliding mask (masking_utils sliding_window_overlay).
 */
function attention(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  T: number,
  nHeads: number,
  nKv: number,
  D: number,
  window: number | null,
  scale: number,
  softcap: number | null,
) {
  const out = new Float64Array(T * nHeads * D);
  const group = nHeads / nKv;
  const p = new Float64Array(T);
  for (let h = 0; h < nHeads; h++) {
    const kvh = Math.floor(h / group);
    for (let i = 0; i < T; i++) {
      const lo = window ? Math.max(0, i - window + 1) : 0;
      let max = -Infinity;
      for (let j = lo; j <= i; j++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[(i * nHeads + h) * D + d]! * k[(j * nKv + kvh) * D + d]!;
        p[j] = dot * scale;
        // Gemma's eager_attention_forward: scores / softcap, tanh, × softcap, before the mask
        if (softcap !== null) p[j] = softcap * Math.tanh(p[j]! / softcap);
        max = Math.max(max, p[j]!);
      }
      let sum = 0;
      for (let j = lo; j <= i; j++) {
        p[j] = Math.exp(p[j]! - max);
        sum += p[j]!;
      }
      for (let j = lo; j <= i; j++) {
        const w = p[j]! / sum;
        for (let d = 0; d < D; d++) out[(i * nHeads + h) * D + d] = out[(i * nHeads + h) * D + d]! + w * v[(j * nKv + kvh) * D + d]!;
      }
    }
  }
  return out;
}

const silu = (x: number) => x / (1 + Math.exp(-x));

/** Logits [T, V] (float64) for one sequence of token ids. */
export function referenceForward(cfg: ModelConfig, weight: WeightGetter, ids: readonly number[], hook?: ProjectionHook): Float64Array {
  const { hiddenSize: C, intermediateSize: F, numHeads: nH, numKvHeads: nKv, headDim: D, vocabSize: V } = cfg;
  const T = ids.length;
  const eps = cfg.rmsNormEps;
  // Linear scaling divides the position (below); llama3 scaling reshapes the frequencies, which ropeInvFreq does.
  const linearScaling = cfg.ropeScaling?.type === 'linear' ? cfg.ropeScaling : null;
  const invFreq = ropeInvFreq({ ...ropeConfigOf(cfg), ...(linearScaling ? { rope_scaling: null } : {}) });
  const posDivisor = linearScaling ? linearScaling.factor : 1;
  // Gemma 3: sliding layers rotate with rope_local_base_freq, unscaled
  const localInvFreq = cfg.localRopeTheta === null ? null : ropeInvFreq({ ...ropeConfigOf(cfg), rope_theta: cfg.localRopeTheta, rope_scaling: null });
  // Gemma3Attention: scaling = query_pre_attn_scalar ** -0.5
  const scale = cfg.queryPreAttnScalar === null ? 1 / Math.sqrt(D) : cfg.queryPreAttnScalar ** -0.5;
  const normW = (name: string) => (cfg.normPlusOne ? onePlus(weight(name)) : weight(name));
  const act = cfg.hiddenAct === 'gelu_tanh' ? geluTanh : silu;
  const opt = (name: string, present: boolean) => (present ? weight(name) : undefined);
  const proj = (path: string, x: Float64Array, inF: number, outF: number, bias: boolean) => {
    const y = linear(x, T, inF, weight(`${path}.weight`), outF, opt(`${path}.bias`, bias));
    hook?.(path, x, T, y);
    return y;
  };

  // Embedding lookup.
  const embed = weight('model.embed_tokens.weight');
  let x = new Float64Array(T * C);
  for (let t = 0; t < T; t++) {
    const id = ids[t]!;
    if (!Number.isInteger(id) || id < 0 || id >= V) throw new RangeError(`token id ${id} at ${t} outside 0..${V - 1}`);
    for (let c = 0; c < C; c++) x[t * C + c] = embed[id * C + c]!;
  }
  if (cfg.scaleEmbedding) {
    // Gemma3TextScaledWordEmbedding: × √hidden cast to the weights' dtype (the config's torch_dtype here)
    const s = embedScaleRef(C, cfg.torchDtype);
    for (let i = 0; i < x.length; i++) x[i] = x[i]! * s;
  }

  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}`;
    // Attention block: x + o_proj(attn(rope(q), rope(k), v)) on input_layernorm(x).
    const n1 = rmsnorm(x, T, C, normW(`${p}.input_layernorm.weight`), eps);
    const q = proj(`${p}.self_attn.q_proj`, n1, C, nH * D, cfg.attentionBias);
    const k = proj(`${p}.self_attn.k_proj`, n1, C, nKv * D, cfg.attentionBias);
    const v = proj(`${p}.self_attn.v_proj`, n1, C, nKv * D, cfg.attentionBias);
    if (cfg.qkNorm) {
      // Qwen3Attention: q_norm(q_proj(x).view(T, heads, D)) — each head's D values normed on their own, one
      // weight for all heads — then k likewise, both before RoPE.
      qkNormInPlace(q, T * nH, D, normW(`${p}.self_attn.q_norm.weight`), eps);
      qkNormInPlace(k, T * nKv, D, normW(`${p}.self_attn.k_norm.weight`), eps);
    }
    if (cfg.layerRope[l]) {
      // SmolLM3Attention: `if self.use_rope` (no_rope_layers[l] = 1); its NoPE layers attend without positions.
      const local = localInvFreq !== null && cfg.layerWindows[l]! > 0;
      rope(q, T, nH, D, local ? localInvFreq : invFreq, local ? 1 : posDivisor);
      rope(k, T, nKv, D, local ? localInvFreq : invFreq, local ? 1 : posDivisor);
    }
    const a = attention(q, k, v, T, nH, nKv, D, cfg.layerWindows[l] || null, scale, cfg.attnLogitSoftcapping);
    let o = proj(`${p}.self_attn.o_proj`, a, nH * D, C, cfg.oProjBias);
    // Gemma3DecoderLayer: post_attention_layernorm on the attention output, before the residual add
    if (cfg.sandwichNorms) o = rmsnorm(o, T, C, normW(`${p}.post_attention_layernorm.weight`), eps);
    for (let i = 0; i < T * C; i++) x[i] = x[i]! + o[i]!;

    // MLP block: x + down(silu(gate(n)) · up(n)) on post_attention_layernorm(x) (Gemma: pre_feedforward_layernorm,
    // gelu_tanh, and post_feedforward_layernorm on the output).
    const n2 = rmsnorm(x, T, C, normW(`${p}.${cfg.sandwichNorms ? 'pre_feedforward_layernorm' : 'post_attention_layernorm'}.weight`), eps);
    const g = proj(`${p}.mlp.gate_proj`, n2, C, F, cfg.mlpBias);
    const u = proj(`${p}.mlp.up_proj`, n2, C, F, cfg.mlpBias);
    for (let i = 0; i < T * F; i++) g[i] = act(g[i]!) * u[i]!;
    let d = proj(`${p}.mlp.down_proj`, g, F, C, cfg.mlpBias);
    if (cfg.sandwichNorms) d = rmsnorm(d, T, C, normW(`${p}.post_feedforward_layernorm.weight`), eps);
    for (let i = 0; i < T * C; i++) x[i] = x[i]! + d[i]!;
  }

  x = rmsnorm(x, T, C, normW('model.norm.weight'), eps);
  const head = weight(cfg.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight');
  const logits = linear(x, T, C, head, V);
  // Gemma3ForCausalLM: logits / final_logit_softcapping, tanh, × final_logit_softcapping
  const cap = cfg.finalLogitSoftcapping;
  if (cap !== null) for (let i = 0; i < logits.length; i++) logits[i] = cap * Math.tanh(logits[i]! / cap);
  return logits;
}

/**
 * √C as torch gets it: the f32 scalar tensor cast to the weights' dtype (bfloat16: keep 8 significant bits,
 * round to nearest even; float16: 11). Written out here apart from config.embeddingScale.
 */
function embedScaleRef(C: number, dtype: string | null): number {
  const x = Math.fround(Math.sqrt(C));
  const bits = dtype === 'bfloat16' ? 8 : dtype === 'float16' ? 11 : 24;
  if (bits === 24) return x;
  const e = Math.floor(Math.log2(x));
  const ulp = 2 ** (e - bits + 1);
  const r = x / ulp;
  const fl = Math.floor(r);
  return (r - fl > 0.5 || (r - fl === 0.5 && fl % 2 === 1) ? fl + 1 : fl) * ulp;
}

/** log-softmax of one row of logits, float64. */
export function logSoftmaxRow(logits: ArrayLike<number>, offset: number, V: number): Float64Array {
  let max = -Infinity;
  for (let c = 0; c < V; c++) max = Math.max(max, logits[offset + c]!);
  let sum = 0;
  for (let c = 0; c < V; c++) sum += Math.exp(logits[offset + c]! - max);
  const lse = max + Math.log(sum);
  return Float64Array.from({ length: V }, (_, c) => logits[offset + c]! - lse);
}
