import { describe, expect, it } from 'vitest';
import { expectedTensorShapes, parameterCount, parseModelConfig } from '../../src/io/config.ts';
import { AlloyError } from '../../src/common/errors.ts';
import { ropeConfigOf, ropeInvFreq } from '../../src/engine/ops/rope.ts';

/** SmolLM2-135M's config.json (REFERENCE-SEMANTICS §4.2). */
const SMOLLM2_135M = {
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 0,
  eos_token_id: 0,
  hidden_act: 'silu',
  hidden_size: 576,
  initializer_range: 0.041666666666666664,
  intermediate_size: 1536,
  is_llama_config: true,
  max_position_embeddings: 8192,
  mlp_bias: false,
  model_type: 'llama',
  num_attention_heads: 9,
  num_hidden_layers: 30,
  num_key_value_heads: 3,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_interleaved: false,
  rope_scaling: null,
  rope_theta: 100000,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  transformers_version: '4.40.1',
  use_cache: true,
  vocab_size: 49152,
};

/** Llama-3.2-1B-Instruct's config.json. */
const LLAMA_32_1B = {
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  bos_token_id: 128000,
  eos_token_id: [128001, 128008, 128009],
  head_dim: 64,
  hidden_act: 'silu',
  hidden_size: 2048,
  intermediate_size: 8192,
  max_position_embeddings: 131072,
  mlp_bias: false,
  model_type: 'llama',
  num_attention_heads: 32,
  num_hidden_layers: 16,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_scaling: {
    factor: 32.0,
    high_freq_factor: 4.0,
    low_freq_factor: 1.0,
    original_max_position_embeddings: 8192,
    rope_type: 'llama3',
  },
  rope_theta: 500000.0,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  vocab_size: 128256,
};

/** Mistral-7B-Instruct-v0.3's config.json. */
const MISTRAL_7B = {
  architectures: ['MistralForCausalLM'],
  bos_token_id: 1,
  eos_token_id: 2,
  hidden_act: 'silu',
  hidden_size: 4096,
  intermediate_size: 14336,
  max_position_embeddings: 32768,
  model_type: 'mistral',
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_theta: 1000000.0,
  sliding_window: null,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  vocab_size: 32768,
};

/** Qwen2.5-0.5B-Instruct's config.json. */
const QWEN25_05B = {
  architectures: ['Qwen2ForCausalLM'],
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151645,
  hidden_act: 'silu',
  hidden_size: 896,
  intermediate_size: 4864,
  max_position_embeddings: 32768,
  max_window_layers: 21,
  model_type: 'qwen2',
  num_attention_heads: 14,
  num_hidden_layers: 24,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_scaling: null,
  rope_theta: 1000000.0,
  sliding_window: 32768,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
};

/** Qwen3-0.6B's config.json (as on the Hub). */
const QWEN3_06B = {
  architectures: ['Qwen3ForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151645,
  head_dim: 128,
  hidden_act: 'silu',
  hidden_size: 1024,
  initializer_range: 0.02,
  intermediate_size: 3072,
  max_position_embeddings: 40960,
  max_window_layers: 28,
  model_type: 'qwen3',
  num_attention_heads: 16,
  num_hidden_layers: 28,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-6,
  rope_scaling: null,
  rope_theta: 1000000,
  sliding_window: null,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
};

function errorOf(fn: () => unknown): AlloyError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AlloyError);
    return e as AlloyError;
  }
  throw new Error('expected an error');
}

const without = (o: Record<string, unknown>, ...keys: string[]) => Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));

describe('parseModelConfig', () => {
  it('parses SmolLM2-135M', () => {
    expect(parseModelConfig(SMOLLM2_135M)).toEqual({
      architecture: 'LlamaForCausalLM',
      modelType: 'llama',
      family: 'llama',
      vocabSize: 49152,
      hiddenSize: 576,
      intermediateSize: 1536,
      numLayers: 30,
      numHeads: 9,
      numKvHeads: 3,
      headDim: 64,
      rmsNormEps: 1e-5,
      ropeTheta: 100000,
      ropeScaling: null,
      maxPositionEmbeddings: 8192,
      tieWordEmbeddings: true,
      attentionBias: false,
      oProjBias: false,
      qkNorm: false,
      mlpBias: false,
      hiddenAct: 'silu',
      normPlusOne: false,
      sandwichNorms: false,
      scaleEmbedding: false,
      queryPreAttnScalar: null,
      localRopeTheta: null,
      attnLogitSoftcapping: null,
      finalLogitSoftcapping: null,
      slidingWindow: null,
      layerWindows: new Array(30).fill(0),
      layerRope: new Array(30).fill(true),
      bosTokenId: 0,
      eosTokenIds: [0],
      padTokenId: null,
      torchDtype: 'bfloat16',
    });
  });

  it('gives SmolLM2-135M 134,515,008 parameters and the reference tensor shapes', () => {
    const cfg = parseModelConfig(SMOLLM2_135M);
    expect(parameterCount(cfg)).toBe(134_515_008);
    const shapes = expectedTensorShapes(cfg);
    expect(shapes.size).toBe(1 + 30 * 9 + 1);
    expect(shapes.get('model.embed_tokens.weight')).toEqual([49152, 576]);
    expect(shapes.get('model.layers.29.input_layernorm.weight')).toEqual([576]);
    expect(shapes.get('model.layers.0.self_attn.q_proj.weight')).toEqual([576, 576]);
    expect(shapes.get('model.layers.0.self_attn.k_proj.weight')).toEqual([192, 576]);
    expect(shapes.get('model.layers.0.self_attn.v_proj.weight')).toEqual([192, 576]);
    expect(shapes.get('model.layers.0.self_attn.o_proj.weight')).toEqual([576, 576]);
    expect(shapes.get('model.layers.0.post_attention_layernorm.weight')).toEqual([576]);
    expect(shapes.get('model.layers.0.mlp.gate_proj.weight')).toEqual([1536, 576]);
    expect(shapes.get('model.layers.0.mlp.up_proj.weight')).toEqual([1536, 576]);
    expect(shapes.get('model.layers.0.mlp.down_proj.weight')).toEqual([576, 1536]);
    expect(shapes.get('model.norm.weight')).toEqual([576]);
    expect(shapes.has('lm_head.weight')).toBe(false);
    expect(shapes.has('model.layers.30.input_layernorm.weight')).toBe(false);
    expect([...shapes.keys()].some((k) => k.endsWith('.bias'))).toBe(false);
  });

  it('adds lm_head when untied', () => {
    const cfg = parseModelConfig({ ...SMOLLM2_135M, tie_word_embeddings: false });
    expect(expectedTensorShapes(cfg).get('lm_head.weight')).toEqual([49152, 576]);
    expect(parameterCount(cfg)).toBe(134_515_008 + 49152 * 576);
  });

  it('parses Llama 3.2 with llama3 rope scaling, head_dim and several eos ids', () => {
    const cfg = parseModelConfig(LLAMA_32_1B);
    expect(cfg.ropeScaling).toEqual({
      type: 'llama3',
      factor: 32,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 8192,
    });
    expect(cfg.ropeTheta).toBe(500000);
    expect(cfg.headDim).toBe(64);
    expect(cfg.eosTokenIds).toEqual([128001, 128008, 128009]);
    expect(cfg.bosTokenId).toBe(128000);
    expect(parameterCount(cfg)).toBe(1_235_814_400);
    // the older spelling "type" works too
    const old = { ...LLAMA_32_1B, rope_scaling: { ...without(LLAMA_32_1B.rope_scaling, 'rope_type'), type: 'llama3' } };
    expect(parseModelConfig(old).ropeScaling).toEqual(cfg.ropeScaling);
  });

  it('accepts transformers v5 rope_parameters', () => {
    const v5 = {
      ...without(without(LLAMA_32_1B, 'rope_theta'), 'rope_scaling'),
      rope_parameters: { ...LLAMA_32_1B.rope_scaling, rope_theta: 500000.0 },
    };
    const cfg = parseModelConfig(v5);
    expect(cfg.ropeTheta).toBe(500000);
    expect(cfg.ropeScaling).toMatchObject({ type: 'llama3', factor: 32 });
    const plain = { ...without(SMOLLM2_135M, 'rope_theta'), rope_parameters: { rope_theta: 100000, rope_type: 'default' } };
    expect(parseModelConfig(plain)).toMatchObject({ ropeTheta: 100000, ropeScaling: null });
  });

  it('uses head_dim when it differs from hidden/heads', () => {
    const cfg = parseModelConfig({ ...SMOLLM2_135M, head_dim: 32 });
    expect(cfg.headDim).toBe(32);
    const shapes = expectedTensorShapes(cfg);
    expect(shapes.get('model.layers.0.self_attn.q_proj.weight')).toEqual([9 * 32, 576]);
    expect(shapes.get('model.layers.0.self_attn.k_proj.weight')).toEqual([3 * 32, 576]);
    expect(shapes.get('model.layers.0.self_attn.o_proj.weight')).toEqual([576, 9 * 32]);
  });

  it('parses linear rope scaling and refuses other types, naming the field', () => {
    expect(parseModelConfig({ ...SMOLLM2_135M, rope_scaling: { type: 'linear', factor: 2 } }).ropeScaling).toEqual({
      type: 'linear',
      factor: 2,
    });
    const e = errorOf(() => parseModelConfig({ ...SMOLLM2_135M, rope_scaling: { rope_type: 'yarn', factor: 4 } }));
    expect(e.message).toMatch(/^config\.json: field "rope_scaling\.rope_type" is "yarn", which Alloy does not support/);
    expect(e.where).toEqual({ file: 'config.json', field: 'rope_scaling.rope_type' });
    const missing = errorOf(() =>
      parseModelConfig({ ...LLAMA_32_1B, rope_scaling: without(LLAMA_32_1B.rope_scaling, 'low_freq_factor') }),
    );
    expect(missing.message).toBe('config.json: field "rope_scaling.low_freq_factor" is missing (LlamaForCausalLM needs it)');
  });

  it('parses linear rope scaling in every spelling (rope_type, type, v5 rope_parameters)', () => {
    const want = { type: 'linear', factor: 4 };
    expect(parseModelConfig({ ...SMOLLM2_135M, rope_scaling: { rope_type: 'linear', factor: 4.0 } }).ropeScaling).toEqual(want);
    expect(parseModelConfig({ ...SMOLLM2_135M, rope_scaling: { type: 'linear', factor: 4 } }).ropeScaling).toEqual(want);
    const v5 = { ...without(SMOLLM2_135M, 'rope_scaling'), rope_parameters: { rope_type: 'linear', factor: 4, rope_theta: 1e4 } };
    expect(parseModelConfig(v5)).toMatchObject({ ropeTheta: 1e4, ropeScaling: want });
    expect(errorOf(() => parseModelConfig({ ...SMOLLM2_135M, rope_scaling: { type: 'linear' } })).message).toBe(
      'config.json: field "rope_scaling.factor" is missing (LlamaForCausalLM needs it)',
    );
  });

  it('refuses at parse time every rope type that does not run, naming the type, the file and the field', () => {
    for (const type of ['dynamic', 'yarn', 'longrope', 'su', 'ntk', 'mrope', 'proportional']) {
      const old = errorOf(() => parseModelConfig({ ...SMOLLM2_135M, rope_scaling: { type, factor: 4 } }, 'm/config.json'));
      expect(old.message).toBe(
        `m/config.json: field "rope_scaling.type" is "${type}", which Alloy does not support (supported: "default", "llama3", "linear")`,
      );
      expect(old.where).toEqual({ file: 'm/config.json', field: 'rope_scaling.type' });
      const v5 = { ...without(SMOLLM2_135M, 'rope_scaling'), rope_parameters: { rope_type: type, factor: 4, rope_theta: 1e4 } };
      const e = errorOf(() => parseModelConfig(v5));
      expect(e.message).toMatch(new RegExp(`^config\\.json: field "rope_parameters\\.rope_type" is "${type}", which Alloy does not`));
      expect(e.where.field).toBe('rope_parameters.rope_type');
    }
    // a factor with no type would otherwise be dropped silently
    expect(errorOf(() => parseModelConfig({ ...SMOLLM2_135M, rope_scaling: { factor: 4 } })).where.field).toBe('rope_scaling');
    // partial rotary embeddings: transformers rotates only part of each head, Alloy all of it
    const partial = errorOf(() => parseModelConfig({ ...SMOLLM2_135M, partial_rotary_factor: 0.5 }));
    expect(partial.message).toMatch(/^config\.json: field "partial_rotary_factor" is 0\.5; .*only 1 is supported/);
    const v5partial = { ...without(SMOLLM2_135M, 'rope_scaling'), rope_parameters: { rope_type: 'default', partial_rotary_factor: 0.25 } };
    expect(errorOf(() => parseModelConfig(v5partial)).where.field).toBe('rope_parameters.partial_rotary_factor');
    expect(parseModelConfig({ ...SMOLLM2_135M, partial_rotary_factor: 1 }).ropeScaling).toBeNull();
  });

  it('every rope scaling the parser returns has RoPE frequencies (nothing parsed is refused at load)', () => {
    const base = ropeInvFreq(ropeConfigOf(parseModelConfig(SMOLLM2_135M)));
    const linear = ropeInvFreq(ropeConfigOf(parseModelConfig({ ...SMOLLM2_135M, rope_scaling: { type: 'linear', factor: 4 } })));
    // transformers: inv_freq / factor in fp32 (exact for a power of two)
    expect(Array.from(linear)).toEqual(Array.from(base, (x) => x / 4));
    const third = ropeInvFreq(ropeConfigOf(parseModelConfig({ ...SMOLLM2_135M, rope_scaling: { type: 'linear', factor: 3 } })));
    expect(Array.from(third)).toEqual(Array.from(base, (x) => Math.fround(x / 3)));
    const llama3 = ropeInvFreq(ropeConfigOf(parseModelConfig(LLAMA_32_1B)));
    expect(llama3.length).toBe(32);
    expect(llama3[31]).toBeCloseTo(Math.fround(1 / 500000 ** (62 / 64)) / 32, 12); // lowest frequency: divided by factor
  });

  it('parses Mistral with a null sliding window and defaults tie_word_embeddings to false', () => {
    const cfg = parseModelConfig(without(MISTRAL_7B, 'tie_word_embeddings'));
    expect(cfg).toMatchObject({ family: 'mistral', architecture: 'MistralForCausalLM', slidingWindow: null, headDim: 128 });
    expect(cfg.tieWordEmbeddings).toBe(false);
    expect(parameterCount(cfg)).toBe(7_248_023_552);
    expect(parseModelConfig({ ...MISTRAL_7B, sliding_window: 4096 }).slidingWindow).toBe(4096);
    // MistralAttention applies config.sliding_window in every layer
    expect(parseModelConfig({ ...MISTRAL_7B, sliding_window: 4096 }).layerWindows).toEqual(new Array(32).fill(4096));
    expect(cfg.layerWindows).toEqual(new Array(32).fill(0));
  });

  it('gives Qwen2/Qwen3 sliding layers as Qwen2Config does: from max_window_layers on, only with use_sliding_window; layer_types wins', () => {
    const q = { ...QWEN25_05B, num_hidden_layers: 4, sliding_window: 64 };
    expect(parseModelConfig(q).layerWindows).toEqual([0, 0, 0, 0]);
    expect(parseModelConfig(q).slidingWindow).toBeNull();
    expect(parseModelConfig({ ...q, use_sliding_window: true, max_window_layers: 2 }).layerWindows).toEqual([0, 0, 64, 64]);
    expect(parseModelConfig({ ...q, use_sliding_window: true, max_window_layers: 0 }).layerWindows).toEqual([64, 64, 64, 64]);
    // max_window_layers ≥ the layer count: no layer slides, so no window at all
    expect(parseModelConfig({ ...q, use_sliding_window: true, max_window_layers: 28 })).toMatchObject({ slidingWindow: null, layerWindows: [0, 0, 0, 0] });
    const types = ['sliding_attention', 'full_attention', 'sliding_attention', 'full_attention'];
    expect(parseModelConfig({ ...q, use_sliding_window: true, layer_types: types }).layerWindows).toEqual([64, 0, 64, 0]);
    expect(() => parseModelConfig({ ...q, use_sliding_window: true, layer_types: ['full_attention'] })).toThrow(/layer_types.*at least num_hidden_layers \(4\)/);
    expect(() => parseModelConfig({ ...q, layer_types: [...types.slice(1), 'chunked_attention'] })).toThrow(/entry 3 is "chunked_attention"/);
  });

  it('parses Qwen2 with q/k/v biases and no o_proj bias', () => {
    const cfg = parseModelConfig(QWEN25_05B);
    expect(cfg).toMatchObject({ family: 'qwen2', attentionBias: true, oProjBias: false, mlpBias: false, rmsNormEps: 1e-6 });
    expect(cfg.slidingWindow).toBeNull();
    const shapes = expectedTensorShapes(cfg);
    expect(shapes.get('model.layers.3.self_attn.q_proj.bias')).toEqual([896]);
    expect(shapes.get('model.layers.3.self_attn.k_proj.bias')).toEqual([128]);
    expect(shapes.get('model.layers.3.self_attn.v_proj.bias')).toEqual([128]);
    expect(shapes.has('model.layers.3.self_attn.o_proj.bias')).toBe(false);
    expect(shapes.has('model.layers.3.mlp.up_proj.bias')).toBe(false);
    expect(parameterCount(cfg)).toBe(494_032_768);
  });

  it('gives Llama with attention_bias and mlp_bias every bias tensor', () => {
    const cfg = parseModelConfig({ ...SMOLLM2_135M, attention_bias: true, mlp_bias: true, num_hidden_layers: 1 });
    const biases = [...expectedTensorShapes(cfg).keys()].filter((k) => k.endsWith('.bias'));
    expect(biases.map((k) => k.replace('model.layers.0.', ''))).toEqual([
      'self_attn.q_proj.bias',
      'self_attn.k_proj.bias',
      'self_attn.v_proj.bias',
      'self_attn.o_proj.bias',
      'mlp.gate_proj.bias',
      'mlp.up_proj.bias',
      'mlp.down_proj.bias',
    ]);
  });

  it('applies transformers defaults for optional fields', () => {
    const minimal = {
      architectures: ['LlamaForCausalLM'],
      vocab_size: 100,
      hidden_size: 64,
      intermediate_size: 128,
      num_hidden_layers: 2,
      num_attention_heads: 4,
    };
    expect(parseModelConfig(minimal)).toMatchObject({
      modelType: 'llama',
      numKvHeads: 4,
      headDim: 16,
      rmsNormEps: 1e-6,
      ropeTheta: 10000,
      ropeScaling: null,
      maxPositionEmbeddings: 2048,
      tieWordEmbeddings: false,
      hiddenAct: 'silu',
      bosTokenId: null,
      eosTokenIds: [],
      padTokenId: null,
      torchDtype: null,
    });
  });

  it('parses SmolLM3: NoPE layers from no_rope_layers or every no_rope_layer_interval-th layer, its defaults, sliding NoPE layers', () => {
    const smol = {
      architectures: ['SmolLM3ForCausalLM'], hidden_size: 2048, intermediate_size: 11008, num_attention_heads: 16, num_key_value_heads: 4,
      num_hidden_layers: 8, vocab_size: 128256, model_type: 'smollm3', attention_bias: false, mlp_bias: false, use_sliding_window: false, sliding_window: null,
    };
    const cfg = parseModelConfig(smol);
    // SmolLM3Config defaults: rope_theta 2e6, tied embeddings, a NoPE layer every 4th (layers 3 and 7)
    expect(cfg).toMatchObject({ family: 'smollm3', ropeTheta: 2e6, tieWordEmbeddings: true, headDim: 128, slidingWindow: null, attentionBias: false, oProjBias: false });
    expect(cfg.layerRope).toEqual([true, true, true, false, true, true, true, false]);
    expect(parseModelConfig({ ...smol, no_rope_layer_interval: 2 }).layerRope).toEqual([true, false, true, false, true, false, true, false]);
    expect(parseModelConfig({ ...smol, no_rope_layers: [0, 1, 1, 1, 1, 1, 1, 1] }).layerRope).toEqual([false, true, true, true, true, true, true, true]);
    expect(() => parseModelConfig({ ...smol, no_rope_layers: [1, 1] })).toThrow(/no_rope_layers.*at least num_hidden_layers \(8\)/);
    // use_sliding_window without layer_types: the NoPE layers slide
    expect(parseModelConfig({ ...smol, use_sliding_window: true, sliding_window: 512 }).layerWindows).toEqual([0, 0, 0, 512, 0, 0, 0, 512]);
    // attention_bias biases all four projections, mlp_bias the MLP
    expect(parseModelConfig({ ...smol, attention_bias: true, mlp_bias: true })).toMatchObject({ attentionBias: true, oProjBias: true, mlpBias: true });
  });

  it('parses Gemma 3 text (gemma-3-270m): layer_types or sliding_window_pattern, local RoPE base, scales; refuses what it does not run', () => {
    const g270 = {
      architectures: ['Gemma3ForCausalLM'], model_type: 'gemma3_text', hidden_size: 640, intermediate_size: 2048, num_attention_heads: 4,
      num_key_value_heads: 1, head_dim: 256, num_hidden_layers: 18, vocab_size: 262144, sliding_window: 512, query_pre_attn_scalar: 256,
      rope_theta: 1000000.0, rope_local_base_freq: 10000.0, rope_scaling: null, hidden_activation: 'gelu_pytorch_tanh', _sliding_window_pattern: 6,
      attn_logit_softcapping: null, final_logit_softcapping: null, attention_bias: false, use_bidirectional_attention: false, torch_dtype: 'bfloat16',
      max_position_embeddings: 32768, rms_norm_eps: 1e-6,
    };
    const cfg = parseModelConfig(g270);
    expect(cfg).toMatchObject({
      family: 'gemma3', hiddenAct: 'gelu_tanh', normPlusOne: true, sandwichNorms: true, scaleEmbedding: true, qkNorm: true,
      queryPreAttnScalar: 256, localRopeTheta: 10000, ropeTheta: 1e6, slidingWindow: 512, tieWordEmbeddings: true, attentionBias: false,
    });
    // every 6th layer global (5, 11, 17), as Gemma3TextConfig builds layer_types from the pattern
    expect(cfg.layerWindows).toEqual(Array.from({ length: 18 }, (_, i) => ((i + 1) % 6 === 0 ? 0 : 512)));
    const types = Array.from({ length: 18 }, (_, i) => (i === 0 ? 'full_attention' : 'sliding_attention'));
    expect(parseModelConfig({ ...g270, layer_types: types }).layerWindows[0]).toBe(0);
    // 268M parameters: 170M of embedding, the rest in 18 layers with their four norms and q/k norms
    const shapes = expectedTensorShapes(cfg);
    expect(shapes.get('model.layers.3.pre_feedforward_layernorm.weight')).toEqual([640]);
    expect(shapes.get('model.layers.3.post_feedforward_layernorm.weight')).toEqual([640]);
    expect(shapes.get('model.layers.3.self_attn.q_norm.weight')).toEqual([256]);
    expect(parameterCount(cfg)).toBe(268_098_176);
    // model_type alone names it; v5 per-layer-type rope_parameters
    expect(parseModelConfig({ ...without(g270, 'architectures') }).architecture).toBe('Gemma3ForCausalLM');
    const v5 = { ...without(g270, 'rope_theta', 'rope_local_base_freq', 'rope_scaling'), rope_parameters: { full_attention: { rope_type: 'linear', factor: 8, rope_theta: 1e6 }, sliding_attention: { rope_type: 'default', rope_theta: 1e4 } } };
    expect(parseModelConfig(v5)).toMatchObject({ ropeTheta: 1e6, localRopeTheta: 1e4, ropeScaling: { type: 'linear', factor: 8 } });
    expect(parseModelConfig({ ...g270, final_logit_softcapping: 30 }).finalLogitSoftcapping).toBe(30);
    expect(() => parseModelConfig({ ...g270, final_logit_softcapping: -1 })).toThrow(/final_logit_softcapping.*positive/);
    expect(parseModelConfig({ ...g270, attn_logit_softcapping: 50 }).attnLogitSoftcapping).toBe(50);
    expect(cfg.attnLogitSoftcapping).toBeNull();
    expect(() => parseModelConfig({ ...g270, hidden_activation: 'gelu' })).toThrow(/hidden_activation.*gelu_pytorch_tanh/);
    expect(() => parseModelConfig({ ...g270, use_bidirectional_attention: true })).toThrow(/use_bidirectional_attention/);
    // named, with what is missing
    expect(() => parseModelConfig({ ...g270, architectures: ['Gemma3ForConditionalGeneration'] })).toThrow(
      'architecture "Gemma3ForConditionalGeneration" is not supported (multimodal Gemma 3 (4B, 12B, 27B): its SigLIP vision tower and the language_model.* weights of the combined checkpoint are not loaded; the text-only Gemma3ForCausalLM checkpoints (gemma-3-270m, gemma-3-1b) are). Alloy supports',
    );
    expect(() => parseModelConfig({ ...g270, architectures: ['Qwen3MoeForCausalLM'] })).toThrow(/"Qwen3MoeForCausalLM" is not supported \(Qwen3 mixture-of-experts: the routed expert MLPs/);
  });

  it('parses Qwen3: q/k norms of head_dim, no biases, head_dim ≠ hidden / heads', () => {
    const cfg = parseModelConfig(QWEN3_06B);
    expect(cfg).toMatchObject({
      architecture: 'Qwen3ForCausalLM',
      family: 'qwen3',
      qkNorm: true,
      attentionBias: false,
      oProjBias: false,
      headDim: 128,
      hiddenSize: 1024,
      numHeads: 16,
      tieWordEmbeddings: true,
      slidingWindow: null,
    });
    const shapes = expectedTensorShapes(cfg);
    expect(shapes.get('model.layers.5.self_attn.q_proj.weight')).toEqual([2048, 1024]);
    expect(shapes.get('model.layers.5.self_attn.k_proj.weight')).toEqual([1024, 1024]);
    expect(shapes.get('model.layers.5.self_attn.o_proj.weight')).toEqual([1024, 2048]);
    expect(shapes.get('model.layers.5.self_attn.q_norm.weight')).toEqual([128]);
    expect(shapes.get('model.layers.5.self_attn.k_norm.weight')).toEqual([128]);
    expect(shapes.has('model.layers.5.self_attn.q_proj.bias')).toBe(false);
    expect(shapes.has('lm_head.weight')).toBe(false);
    // 0.44B without the embedding, as Qwen's model card says; 151936·1024 more with it
    expect(parameterCount(cfg)).toBe(596_049_920);
    // Qwen3Config's head_dim default is 128, not hidden / heads
    expect(parseModelConfig(without(QWEN3_06B, 'head_dim')).headDim).toBe(128);
    // attention_bias puts a bias on q, k, v and o
    const biased = parseModelConfig({ ...QWEN3_06B, attention_bias: true });
    expect(biased).toMatchObject({ attentionBias: true, oProjBias: true });
    expect(expectedTensorShapes(biased).get('model.layers.0.self_attn.o_proj.bias')).toEqual([1024]);
    expect(parseModelConfig(without(QWEN3_06B, 'architectures')).architecture).toBe('Qwen3ForCausalLM');
    // Qwen2 has no q/k norms
    expect(parseModelConfig(QWEN25_05B).qkNorm).toBe(false);
  });

  it('infers the architecture from model_type when architectures is missing', () => {
    expect(parseModelConfig(without(QWEN25_05B, 'architectures')).architecture).toBe('Qwen2ForCausalLM');
  });

  it('refuses an unsupported architecture, naming it and what is supported', () => {
    const e = errorOf(() =>
      parseModelConfig({ ...SMOLLM2_135M, architectures: ['GPT2LMHeadModel'], model_type: 'gpt2' }, 'org/gpt2/config.json'),
    );
    expect(e.message).toBe(
      'org/gpt2/config.json: architecture "GPT2LMHeadModel" is not supported. Alloy supports LlamaForCausalLM ' +
        '(Llama 2/3.x, SmolLM, SmolLM2), MistralForCausalLM, Qwen2ForCausalLM (Qwen2, Qwen2.5), Qwen3ForCausalLM (Qwen3 dense), SmolLM3ForCausalLM and Gemma3ForCausalLM (Gemma 3 text, model_type gemma3_text).',
    );
    expect(e.where).toEqual({ file: 'org/gpt2/config.json', field: 'architectures' });
  });

  it('refuses a config with no architectures and an unknown model_type', () => {
    const e = errorOf(() => parseModelConfig({ ...without(SMOLLM2_135M, 'architectures'), model_type: 'phi3' }));
    expect(e.message).toMatch(/^config\.json: no "architectures" and model_type "phi3" is not supported.*Alloy supports LlamaForCausalLM/);
    expect(e.where.field).toBe('model_type');
    const none = errorOf(() => parseModelConfig(without(without(SMOLLM2_135M, 'architectures'), 'model_type')));
    expect(none.message).toMatch(/no "architectures" and no "model_type"/);
  });

  it('names each missing required field and the file', () => {
    for (const field of ['vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads']) {
      const e = errorOf(() => parseModelConfig(without(SMOLLM2_135M, field), 'm/config.json'));
      expect(e.message).toBe(`m/config.json: field "${field}" is missing (LlamaForCausalLM needs it)`);
      expect(e.where).toEqual({ file: 'm/config.json', field });
    }
  });

  it('refuses wrong types and inconsistent shapes with the field named', () => {
    expect(errorOf(() => parseModelConfig({ ...SMOLLM2_135M, hidden_size: '576' })).message).toBe(
      'config.json: field "hidden_size" must be a positive integer, got "576"',
    );
    expect(errorOf(() => parseModelConfig({ ...SMOLLM2_135M, num_key_value_heads: 2 })).where.field).toBe(
      'num_key_value_heads',
    );
    expect(errorOf(() => parseModelConfig({ ...SMOLLM2_135M, hidden_size: 577 })).message).toMatch(
      /"hidden_size" \(577\) is not a multiple of num_attention_heads \(9\)/,
    );
    expect(errorOf(() => parseModelConfig({ ...SMOLLM2_135M, tie_word_embeddings: 'yes' })).where.field).toBe(
      'tie_word_embeddings',
    );
    expect(errorOf(() => parseModelConfig({ ...SMOLLM2_135M, eos_token_id: ['x'] })).where.field).toBe('eos_token_id');
    expect(errorOf(() => parseModelConfig([1, 2])).message).toBe('config.json is not a JSON object');
  });

  it('refuses activations other than silu, naming the field', () => {
    const e = errorOf(() => parseModelConfig({ ...SMOLLM2_135M, hidden_act: 'gelu' }));
    expect(e.message).toBe('config.json: field "hidden_act" is "gelu"; Alloy supports only "silu" (the Llama family\'s)');
    expect(e.where.field).toBe('hidden_act');
  });

  it('reads the v5 "dtype" spelling of torch_dtype', () => {
    expect(parseModelConfig({ ...without(SMOLLM2_135M, 'torch_dtype'), dtype: 'float32' }).torchDtype).toBe('float32');
  });
});
