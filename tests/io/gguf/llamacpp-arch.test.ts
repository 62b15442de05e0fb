// What llama.cpp fixes for "gemma3" and "smollm3" (src/io/gguf/llamacpp-arch.ts) against the released models'
// configs: gemma-3-270m, gemma-3-1b, the text part of gemma-3-27b and SmolLM3-3B must all be exportable, and each
// departure from llama.cpp's fixed values is named.
import { describe, expect, it } from 'vitest';
import { parseModelConfig } from '../../../src/io/config.ts';
import { gemma3QueryPreAttnScalar, gemma3SlidingLayers, llamaCppMismatches, smollm3RopeLayers } from '../../../src/io/gguf/llamacpp-arch.ts';

const gemma = (over: Record<string, unknown>) =>
  parseModelConfig({
    architectures: ['Gemma3ForCausalLM'], model_type: 'gemma3_text', vocab_size: 262144, sliding_window: 512, rope_theta: 1e6,
    rope_local_base_freq: 10000, rope_scaling: null, _sliding_window_pattern: 6, attn_logit_softcapping: null, final_logit_softcapping: null,
    hidden_activation: 'gelu_pytorch_tanh', num_key_value_heads: 1, head_dim: 256, query_pre_attn_scalar: 256, ...over,
  });
// the released configs' shapes (gemma-3-27b's text model: head_dim 128, query_pre_attn_scalar 168 = 5376 / 32)
const G270 = gemma({ hidden_size: 640, intermediate_size: 2048, num_attention_heads: 4, num_hidden_layers: 18 });
const G1B = gemma({ hidden_size: 1152, intermediate_size: 6912, num_attention_heads: 4, num_hidden_layers: 26 });
const G27B = gemma({ hidden_size: 5376, intermediate_size: 21504, num_attention_heads: 32, num_key_value_heads: 16, head_dim: 128, query_pre_attn_scalar: 168, num_hidden_layers: 62, sliding_window: 1024, rope_scaling: { rope_type: 'linear', factor: 8 } });
const SMOL3 = parseModelConfig({
  architectures: ['SmolLM3ForCausalLM'], model_type: 'smollm3', hidden_size: 2048, intermediate_size: 11008, num_attention_heads: 16, num_key_value_heads: 4,
  num_hidden_layers: 36, vocab_size: 128256, rope_theta: 5e6, no_rope_layer_interval: 4, use_sliding_window: false, sliding_window: null, attention_bias: false, mlp_bias: false,
});

describe('llama.cpp\'s fixed gemma3 / smollm3 parameters', () => {
  it('the released Gemma 3 and SmolLM3 configs are what llama.cpp fixes: nothing to refuse', () => {
    for (const cfg of [G270, G1B, G27B, SMOL3]) expect(llamaCppMismatches(cfg)).toEqual([]);
    expect(gemma3SlidingLayers(12)).toEqual([true, true, true, true, true, false, true, true, true, true, true, false]);
    expect(gemma3QueryPreAttnScalar(62, 5376, 32, 128)).toBe(168);
    expect(smollm3RopeLayers(8)).toEqual([true, true, true, false, true, true, true, false]);
  });

  it('names each departure', () => {
    const bad = gemma({ hidden_size: 640, intermediate_size: 2048, num_attention_heads: 4, num_hidden_layers: 6, _sliding_window_pattern: 2, rope_local_base_freq: 20000, query_pre_attn_scalar: 64, attn_logit_softcapping: 50 });
    expect(llamaCppMismatches(bad)).toEqual([
      "layer_types: sliding layers [1, 0, 1, 0, 1, 0], but llama.cpp's gemma3 slides every layer except each 6th [1, 1, 1, 1, 1, 0]",
      "rope_local_base_freq: 20000, but llama.cpp's gemma3 rotates sliding layers with base 10000",
      "query_pre_attn_scalar: 64, but llama.cpp's gemma3 scales queries by 1/√256 for this shape",
      "attn_logit_softcapping: 50, but llama.cpp's gemma3 has no attention-score soft-capping",
    ]);
    const smol = parseModelConfig({ architectures: ['SmolLM3ForCausalLM'], model_type: 'smollm3', hidden_size: 64, intermediate_size: 128, num_attention_heads: 4, num_hidden_layers: 4, vocab_size: 384, no_rope_layers: [1, 0, 1, 1], use_sliding_window: true, sliding_window: 8, attention_bias: true });
    expect(llamaCppMismatches(smol)).toEqual([
      "no_rope_layers: [1, 0, 1, 1], but llama.cpp's smollm3 skips RoPE on every 4th layer [1, 1, 1, 0]",
      "use_sliding_window: a 8-token window, but llama.cpp's smollm3 has no sliding-window attention",
      "attention_bias: true, but llama.cpp's smollm3 has no attention biases",
    ]);
  });
});
