// What llama.cpp's loader (llama-model.cpp, load_hparams) fixes for an architecture rather than reading from the
// file, so that export can refuse a model the file could not describe and import can write the config llama.cpp
// would run. One place for these facts; export.ts and import.ts both use them.
//
// "gemma3": the layer pattern is set_swa_pattern(6) (layer i slides unless i % 6 == 5), the sliding layers' RoPE base
// is 10000 unscaled, and queries are scaled by 1/√head_dim (1/√(hidden/heads) for the 62-layer 27B), whatever the
// Hugging Face config said; only gemma3.attention.sliding_window, the global rope.freq_base (with linear rope
// scaling) and the optional gemma3.final_logit_softcapping come from the file. Norm weights are stored as (1 + w)
// (the converter adds Gemma3RMSNorm's 1), and there is no attention-score soft-capping.
// "smollm3": n_no_rope_layer_step = 4, so layer i skips RoPE exactly when (i + 1) % 4 == 0; no sliding window, no
// biases.
import type { ModelConfig } from '../config.ts';

export const GEMMA3_SWA_PERIOD = 6;
export const GEMMA3_LOCAL_ROPE_BASE = 10000;
export const SMOLLM3_NO_ROPE_STEP = 4;

/** Per layer: whether llama.cpp's gemma3 treats it as a sliding (local) layer. */
export function gemma3SlidingLayers(numLayers: number): boolean[] {
  return Array.from({ length: numLayers }, (_, i) => i % GEMMA3_SWA_PERIOD < GEMMA3_SWA_PERIOD - 1);
}

/** The query_pre_attn_scalar llama.cpp's gemma3 implies: head_dim, except hidden/heads for the 62-layer 27B. */
export function gemma3QueryPreAttnScalar(numLayers: number, hiddenSize: number, numHeads: number, headDim: number): number {
  return numLayers === 62 ? Math.floor(hiddenSize / numHeads) : headDim;
}

/** Per layer: whether llama.cpp's smollm3 applies RoPE. */
export function smollm3RopeLayers(numLayers: number): boolean[] {
  return Array.from({ length: numLayers }, (_, i) => (i + 1) % SMOLLM3_NO_ROPE_STEP !== 0);
}

const list = (xs: readonly (number | boolean)[]) => `[${xs.map((x) => (typeof x === 'boolean' ? (x ? 1 : 0) : x)).join(', ')}]`;

/**
 * What in `cfg` llama.cpp's "gemma3" or "smollm3" cannot express (each entry names the config field and what llama.cpp
 * fixes instead); empty when the file would describe the model exactly.
 */
export function llamaCppMismatches(cfg: ModelConfig): string[] {
  const out: string[] = [];
  const n = cfg.numLayers;
  if (cfg.family === 'gemma3') {
    const want = gemma3SlidingLayers(n);
    const sliding = cfg.layerWindows.map((w) => w > 0);
    if (sliding.some((s, i) => s !== want[i])) {
      out.push(`layer_types: sliding layers ${list(sliding)}, but llama.cpp's gemma3 slides every layer except each ${GEMMA3_SWA_PERIOD}th ${list(want)}`);
    }
    if (cfg.localRopeTheta !== null && cfg.localRopeTheta !== GEMMA3_LOCAL_ROPE_BASE) {
      out.push(`rope_local_base_freq: ${cfg.localRopeTheta}, but llama.cpp's gemma3 rotates sliding layers with base ${GEMMA3_LOCAL_ROPE_BASE}`);
    }
    const scalar = gemma3QueryPreAttnScalar(n, cfg.hiddenSize, cfg.numHeads, cfg.headDim);
    if (cfg.queryPreAttnScalar !== null && cfg.queryPreAttnScalar !== scalar) {
      out.push(`query_pre_attn_scalar: ${cfg.queryPreAttnScalar}, but llama.cpp's gemma3 scales queries by 1/√${scalar} for this shape`);
    }
    if (cfg.attnLogitSoftcapping !== null) out.push(`attn_logit_softcapping: ${cfg.attnLogitSoftcapping}, but llama.cpp's gemma3 has no attention-score soft-capping`);
    if (cfg.ropeScaling && cfg.ropeScaling.type !== 'linear') out.push(`rope_scaling: ${cfg.ropeScaling.type}, but llama.cpp's gemma3 takes linear scaling only`);
    if (cfg.attentionBias || cfg.oProjBias) out.push('attention_bias: true, but llama.cpp\'s gemma3 has no attention biases');
  }
  if (cfg.family === 'smollm3') {
    const want = smollm3RopeLayers(n);
    if (cfg.layerRope.some((r, i) => r !== want[i])) {
      out.push(`no_rope_layers: ${list(cfg.layerRope)}, but llama.cpp's smollm3 skips RoPE on every ${SMOLLM3_NO_ROPE_STEP}th layer ${list(want)}`);
    }
    if (cfg.slidingWindow !== null) out.push(`use_sliding_window: a ${cfg.slidingWindow}-token window, but llama.cpp's smollm3 has no sliding-window attention`);
    if (cfg.attentionBias || cfg.oProjBias) out.push('attention_bias: true, but llama.cpp\'s smollm3 has no attention biases');
    if (cfg.mlpBias) out.push('mlp_bias: true, but llama.cpp\'s smollm3 has no MLP biases');
  }
  return out;
}
