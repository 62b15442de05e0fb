// Hugging Face config.json → one typed ModelConfig for the Llama family (Llama, Mistral, Qwen2, Qwen3, SmolLM3, Gemma 3 text), with transformers' defaults, and the
// tensor names and shapes such a model's checkpoint holds (the one place those name patterns are spelled out).
import { AlloyError } from '../common/errors.ts';

export type Family = 'llama' | 'mistral' | 'qwen2' | 'qwen3' | 'smollm3' | 'gemma3';
export type Architecture = 'LlamaForCausalLM' | 'MistralForCausalLM' | 'Qwen2ForCausalLM' | 'Qwen3ForCausalLM' | 'SmolLM3ForCausalLM' | 'Gemma3ForCausalLM';

export const SUPPORTED_ARCHITECTURES: Readonly<Record<Architecture, Family>> = {
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  Qwen2ForCausalLM: 'qwen2',
  Qwen3ForCausalLM: 'qwen3',
  SmolLM3ForCausalLM: 'smollm3',
  Gemma3ForCausalLM: 'gemma3',
};
const FAMILY_ARCHITECTURE: Readonly<Record<Family, Architecture>> = {
  llama: 'LlamaForCausalLM',
  mistral: 'MistralForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
  qwen3: 'Qwen3ForCausalLM',
  smollm3: 'SmolLM3ForCausalLM',
  gemma3: 'Gemma3ForCausalLM',
};
/** model_type values that name a family other than by its own name (a config without architectures) */
const MODEL_TYPE_FAMILY: Readonly<Record<string, Family>> = { gemma3_text: 'gemma3' };
/**
 * Architectures people bring that Alloy does not run, with what is missing for each, so the refusal says why
 * rather than only that (README "Models" lists the same).
 */
const MISSING: Readonly<Record<string, string>> = {
  Gemma3ForConditionalGeneration:
    'multimodal Gemma 3 (4B, 12B, 27B): its SigLIP vision tower and the language_model.* weights of the combined checkpoint are not loaded; the text-only Gemma3ForCausalLM checkpoints (gemma-3-270m, gemma-3-1b) are',
  Gemma3nForConditionalGeneration: "Gemma 3n: its per-layer embeddings, AltUp and LAuReL blocks and audio/vision encoders are not implemented",
  Gemma3nForCausalLM: "Gemma 3n: its per-layer embeddings, AltUp and LAuReL blocks are not implemented",
  Gemma2ForCausalLM: 'Gemma 2 is not wired up (its attention soft-capping by default and alternating windows would need their own config parsing and tests)',
  GemmaForCausalLM: 'Gemma (1) is not wired up (its (1 + w) norms and GeGLU exist for Gemma 3, but its config and checkpoint layout are not parsed)',
  Qwen3MoeForCausalLM: 'Qwen3 mixture-of-experts: the routed expert MLPs (mlp.experts.*, mlp.gate) are not implemented; dense Qwen3ForCausalLM is',
  Qwen2MoeForCausalLM: 'Qwen2 mixture-of-experts: the routed and shared expert MLPs are not implemented; dense Qwen2ForCausalLM is',
  MixtralForCausalLM: 'Mixtral: the routed expert MLPs (block_sparse_moe.*) are not implemented; MistralForCausalLM is',
  Phi3ForCausalLM: "Phi-3: its fused qkv_proj / gate_up_proj tensors and longrope scaling are not mapped",
};

const SUPPORTED_TEXT =
  'LlamaForCausalLM (Llama 2/3.x, SmolLM, SmolLM2), MistralForCausalLM, Qwen2ForCausalLM (Qwen2, Qwen2.5), Qwen3ForCausalLM (Qwen3 dense), SmolLM3ForCausalLM and Gemma3ForCausalLM (Gemma 3 text, model_type gemma3_text)';

export type RopeScaling =
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number }
  | { type: 'linear'; factor: number };

export interface ModelConfig {
  architecture: Architecture;
  /** config's model_type as written (e.g. "llama"), or the family's when absent */
  modelType: string;
  family: Family;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** q_proj, k_proj and v_proj carry a bias (Qwen2 always; Llama and Qwen3 when attention_bias) */
  attentionBias: boolean;
  /** o_proj carries a bias (Llama and Qwen3 with attention_bias; Qwen2's o_proj never does) */
  oProjBias: boolean;
  /**
   * q and k are RMS-normalised per head (weight [head_dim], eps rms_norm_eps) after the projections and before
   * RoPE: Qwen3's self_attn.q_norm / k_norm
   */
  qkNorm: boolean;
  /** gate/up/down projections carry a bias (Llama mlp_bias) */
  mlpBias: boolean;
  /** the MLP's gate activation: SiLU (SwiGLU), or Gemma's tanh-approximate GELU (GeGLU, gelu_pytorch_tanh) */
  hiddenAct: 'silu' | 'gelu_tanh';
  /** every RMSNorm scales by (1 + w) rather than w, in f32 (Gemma3RMSNorm; its weights are 0-centred) */
  normPlusOne: boolean;
  /**
   * Gemma 3's sandwich norms: post_attention_layernorm normalises the attention output before the residual add,
   * pre_feedforward_layernorm feeds the MLP and post_feedforward_layernorm normalises its output before the add
   */
  sandwichNorms: boolean;
  /** the embedding rows are multiplied by √hidden_size, rounded to the weights' dtype (Gemma3TextScaledWordEmbedding) */
  scaleEmbedding: boolean;
  /** attention scores scale by query_pre_attn_scalar^−0.5 (Gemma 3), or null for head_dim^−0.5 */
  queryPreAttnScalar: number | null;
  /** the sliding layers' RoPE base (Gemma 3's rope_local_base_freq, unscaled), or null when every layer uses ropeTheta */
  localRopeTheta: number | null;
  /** attention scores soft-capped to c·tanh(s/c) after the scale (attn_logit_softcapping), or null */
  attnLogitSoftcapping: number | null;
  /** the logits soft-capped to c·tanh(z/c) (final_logit_softcapping), or null */
  finalLogitSoftcapping: number | null;
  /** the sliding layers' attention window in tokens, or null when no layer slides */
  slidingWindow: number | null;
  /**
   * per layer: its attention window in tokens (a sliding layer), or 0 for full causal attention — transformers'
   * layer_types with the sliding_window it applies (every layer for Mistral; Qwen2/3 from max_window_layers on
   * when use_sliding_window; SmolLM3's NoPE layers when use_sliding_window)
   */
  layerWindows: number[];
  /** per layer: whether it applies RoPE (false for SmolLM3's NoPE layers, no_rope_layers[i] = 0) */
  layerRope: boolean[];
  bosTokenId: number | null;
  eosTokenIds: number[];
  padTokenId: number | null;
  /** "bfloat16", "float32", … as the config says (torch_dtype, or dtype in transformers v5) */
  torchDtype: string | null;
}

/** transformers' defaults for fields a config may omit (LlamaConfig, MistralConfig, Qwen2Config). */
const DEFAULTS: Readonly<Record<Family, { rmsNormEps: number; maxPositionEmbeddings: number; ropeTheta: number; tieWordEmbeddings: boolean }>> = {
  llama: { rmsNormEps: 1e-6, maxPositionEmbeddings: 2048, ropeTheta: 10000, tieWordEmbeddings: false },
  mistral: { rmsNormEps: 1e-6, maxPositionEmbeddings: 4096 * 32, ropeTheta: 10000, tieWordEmbeddings: false },
  qwen2: { rmsNormEps: 1e-6, maxPositionEmbeddings: 32768, ropeTheta: 10000, tieWordEmbeddings: false },
  qwen3: { rmsNormEps: 1e-6, maxPositionEmbeddings: 32768, ropeTheta: 10000, tieWordEmbeddings: false },
  // SmolLM3Config: rope_theta 2e6, tie_word_embeddings True
  smollm3: { rmsNormEps: 1e-6, maxPositionEmbeddings: 32768, ropeTheta: 2_000_000, tieWordEmbeddings: true },
  gemma3: { rmsNormEps: 1e-6, maxPositionEmbeddings: 131072, ropeTheta: 1_000_000, tieWordEmbeddings: true },
};

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

class Fields {
  constructor(
    readonly file: string,
    readonly arch: string,
  ) {}

  fail(field: string, msg: string): AlloyError {
    return new AlloyError(`${this.file}: field "${field}" ${msg}`, { file: this.file, field });
  }

  missing(field: string): AlloyError {
    return this.fail(field, `is missing (${this.arch} needs it)`);
  }

  posInt(obj: Json, key: string, field = key): number {
    const v = obj[key];
    if (v === undefined || v === null) throw this.missing(field);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
      throw this.fail(field, `must be a positive integer, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  optPosInt(obj: Json, key: string, fallback: number): number {
    return obj[key] === undefined || obj[key] === null ? fallback : this.posInt(obj, key);
  }

  posNumber(obj: Json, key: string, field = key): number {
    const v = obj[key];
    if (v === undefined || v === null) throw this.missing(field);
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw this.fail(field, `must be a positive number, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  /** a whole number ≥ 0 (max_window_layers may be 0: every layer slides) */
  optPosIntOrZero(obj: Json, key: string, fallback: number): number {
    const v = obj[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw this.fail(key, `must be a whole number ≥ 0, got ${JSON.stringify(v)}`);
    return v;
  }

  optPosNumber(obj: Json, key: string, fallback: number): number {
    return obj[key] === undefined || obj[key] === null ? fallback : this.posNumber(obj, key);
  }

  bool(obj: Json, key: string, fallback: boolean): boolean {
    const v = obj[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') throw this.fail(key, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  tokenId(obj: Json, key: string): number | null {
    const v = obj[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw this.fail(key, `must be a token id, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  tokenIds(obj: Json, key: string): number[] {
    const v = obj[key];
    if (v === undefined || v === null) return [];
    const list = Array.isArray(v) ? v : [v];
    if (!list.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) {
      throw this.fail(key, `must be a token id or a list of them, got ${JSON.stringify(v)}`);
    }
    return list as number[];
  }
}

function resolveArchitecture(json: Json, file: string): { architecture: Architecture; family: Family } {
  const archs = json.architectures;
  const modelType = json.model_type;
  if (Array.isArray(archs) && archs.length > 0) {
    const name = archs[0];
    if (typeof name === 'string' && Object.hasOwn(SUPPORTED_ARCHITECTURES, name)) {
      const architecture = name as Architecture;
      return { architecture, family: SUPPORTED_ARCHITECTURES[architecture] };
    }
    const missing = typeof name === 'string' && Object.hasOwn(MISSING, name) ? ` (${MISSING[name]})` : '';
    throw new AlloyError(
      `${file}: architecture ${JSON.stringify(name)} is not supported${missing}. Alloy supports ${SUPPORTED_TEXT}.`,
      { file, field: 'architectures' },
    );
  }
  if (archs !== undefined && archs !== null && !Array.isArray(archs)) {
    throw new AlloyError(`${file}: field "architectures" must be a list of class names, got ${JSON.stringify(archs)}`, {
      file,
      field: 'architectures',
    });
  }
  // Older or hand-written configs may omit architectures; model_type then says which class transformers would use.
  if (typeof modelType === 'string' && Object.hasOwn(FAMILY_ARCHITECTURE, modelType)) {
    const family = modelType as Family;
    return { architecture: FAMILY_ARCHITECTURE[family], family };
  }
  if (typeof modelType === 'string' && Object.hasOwn(MODEL_TYPE_FAMILY, modelType)) {
    const family = MODEL_TYPE_FAMILY[modelType]!;
    return { architecture: FAMILY_ARCHITECTURE[family], family };
  }
  throw new AlloyError(
    `${file}: no "architectures" and ` +
      (modelType === undefined ? 'no "model_type"' : `model_type ${JSON.stringify(modelType)} is not supported`) +
      `, so the architecture is unknown. Alloy supports ${SUPPORTED_TEXT}.`,
    { file, field: modelType === undefined ? 'architectures' : 'model_type' },
  );
}

function parseRopeScaling(raw: unknown, field: string, f: Fields): RopeScaling | null {
  if (raw === undefined || raw === null) return null;
  if (!isObject(raw)) throw f.fail(field, `must be an object or null, got ${JSON.stringify(raw)}`);
  const typeKey = raw.rope_type !== undefined ? 'rope_type' : 'type';
  const type = raw[typeKey];
  switch (type) {
    case undefined:
      // transformers would fail on a scaling without a type; taking it as unscaled would silently drop the factor.
      if (raw.factor !== undefined && raw.factor !== null) {
        throw f.fail(field, `gives a factor but no "rope_type" (or "type"), so the RoPE scaling is unknown`);
      }
      return null;
    case 'default':
      return null;
    case 'llama3':
      return {
        type: 'llama3',
        factor: f.posNumber(raw, 'factor', `${field}.factor`),
        lowFreqFactor: f.posNumber(raw, 'low_freq_factor', `${field}.low_freq_factor`),
        highFreqFactor: f.posNumber(raw, 'high_freq_factor', `${field}.high_freq_factor`),
        originalMaxPositionEmbeddings: f.posInt(
          raw,
          'original_max_position_embeddings',
          `${field}.original_max_position_embeddings`,
        ),
      };
    case 'linear':
      return { type: 'linear', factor: f.posNumber(raw, 'factor', `${field}.factor`) };
    default:
      // Refused here, not at load: every type this parser returns runs in every path (ops/rope.ts ropeInvFreq).
      throw f.fail(
        `${field}.${typeKey}`,
        `is ${JSON.stringify(type)}, which Alloy does not support (supported: "default", "llama3", "linear")`,
      );
  }
}

/** transformers rotates only the first partial_rotary_factor·head_dim dims; Alloy's RoPE rotates all of them. */
function refusePartialRotary(obj: Json, field: string, f: Fields): void {
  const v = obj.partial_rotary_factor;
  if (v !== undefined && v !== null && v !== 1) {
    throw f.fail(field, `is ${JSON.stringify(v)}; Alloy's RoPE rotates the whole head (only 1 is supported)`);
  }
}

/** layer_types (transformers ≥ 4.54) as "is this layer sliding", or null when the config has none. */
function parseLayerTypes(json: Json, numLayers: number, f: Fields): boolean[] | null {
  const raw = json.layer_types;
  if (raw === undefined || raw === null) return null;
  if (!Array.isArray(raw) || raw.length < numLayers) {
    throw f.fail('layer_types', `must be a list of at least num_hidden_layers (${numLayers}) entries, got ${JSON.stringify(raw)}`);
  }
  return raw.slice(0, numLayers).map((t, i) => {
    if (t === 'full_attention') return false;
    if (t === 'sliding_attention') return true;
    throw f.fail('layer_types', `entry ${i} is ${JSON.stringify(t)}; Alloy knows "full_attention" and "sliding_attention"`);
  });
}

/**
 * SmolLM3's no_rope_layers (1 = the layer applies RoPE, 0 = NoPE), or, without it, a NoPE layer every
 * no_rope_layer_interval layers (default 4: layers 3, 7, 11, …), as SmolLM3Config builds it.
 */
function parseNoRopeLayers(json: Json, numLayers: number, f: Fields): boolean[] {
  const raw = json.no_rope_layers;
  if (raw === undefined || raw === null) {
    const every = f.optPosInt(json, 'no_rope_layer_interval', 4);
    return Array.from({ length: numLayers }, (_, i) => (i + 1) % every !== 0);
  }
  if (!Array.isArray(raw) || raw.length < numLayers || !raw.slice(0, numLayers).every((x) => x === 0 || x === 1)) {
    throw f.fail('no_rope_layers', `must be a list of at least num_hidden_layers (${numLayers}) entries, each 0 or 1, got ${JSON.stringify(raw)}`);
  }
  return raw.slice(0, numLayers).map((x) => x === 1);
}

export function parseModelConfig(json: unknown, file = 'config.json'): ModelConfig {
  if (!isObject(json)) throw new AlloyError(`${file} is not a JSON object`, { file });
  const { architecture, family } = resolveArchitecture(json, file);
  const f = new Fields(file, architecture);

  const hiddenSize = f.posInt(json, 'hidden_size');
  const numHeads = f.posInt(json, 'num_attention_heads');
  const numKvHeads = f.optPosInt(json, 'num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw f.fail('num_key_value_heads', `(${numKvHeads}) must divide num_attention_heads (${numHeads})`);
  }
  const gemma = family === 'gemma3';
  let headDim: number;
  if (json.head_dim !== undefined && json.head_dim !== null) {
    headDim = f.posInt(json, 'head_dim');
  } else if (family === 'qwen3') {
    // Qwen3Config's default is head_dim=128, not hidden_size / num_attention_heads (Qwen3-0.6B: 1024 / 16 = 64 ≠ 128).
    headDim = 128;
  } else if (gemma) {
    headDim = 256; // Gemma3TextConfig's default

  } else {
    if (hiddenSize % numHeads !== 0) {
      throw f.fail('hidden_size', `(${hiddenSize}) is not a multiple of num_attention_heads (${numHeads}) and no head_dim is given`);
    }
    headDim = hiddenSize / numHeads;
  }
  if (headDim % 2 !== 0) throw f.fail('head_dim', `(${headDim}) must be even for rotary embeddings`);

  let hiddenAct: ModelConfig['hiddenAct'] = 'silu';
  if (gemma) {
    // Gemma3TextConfig names it hidden_activation; ACT2FN's gelu_pytorch_tanh is the tanh approximation
    const act = json.hidden_activation ?? json.hidden_act ?? 'gelu_pytorch_tanh';
    if (act !== 'gelu_pytorch_tanh') {
      throw f.fail(json.hidden_activation !== undefined ? 'hidden_activation' : 'hidden_act', `is ${JSON.stringify(act)}; Alloy supports Gemma 3 with "gelu_pytorch_tanh" only`);
    }
    hiddenAct = 'gelu_tanh';
    if (f.bool(json, 'use_bidirectional_attention', false)) {
      throw f.fail('use_bidirectional_attention', 'is true (an embedding model); Alloy runs causal language models only');
    }
  } else {
    const act = json.hidden_act ?? 'silu';
    if (act !== 'silu') {
      throw f.fail('hidden_act', `is ${JSON.stringify(act)}; Alloy supports only "silu" (the Llama family's)`);
    }
  }

  // transformers v5 folds rope_theta and rope_scaling into rope_parameters; older configs have them top-level.
  let ropeParams = json.rope_parameters;
  let ropeTheta: number;
  let ropeScaling: RopeScaling | null;
  let localRopeTheta: number | null = null;
  if (gemma) {
    // Gemma 3's sliding layers rotate with rope_local_base_freq, unscaled; v5 writes per-layer-type rope_parameters
    // ({ full_attention: …, sliding_attention: … }).
    if (isObject(ropeParams) && isObject(ropeParams.sliding_attention)) {
      const local = ropeParams.sliding_attention;
      const type = local.rope_type ?? local.type ?? 'default';
      if (type !== 'default') throw f.fail('rope_parameters.sliding_attention.rope_type', `is ${JSON.stringify(type)}; Gemma 3's sliding layers use "default"`);
      localRopeTheta = f.posNumber(local, 'rope_theta', 'rope_parameters.sliding_attention.rope_theta');
      ropeParams = ropeParams.full_attention ?? null;
    } else localRopeTheta = f.optPosNumber(json, 'rope_local_base_freq', 10000);
  }
  if (isObject(ropeParams)) {
    ropeTheta =
      ropeParams.rope_theta !== undefined
        ? f.posNumber(ropeParams, 'rope_theta', 'rope_parameters.rope_theta')
        : f.optPosNumber(json, 'rope_theta', DEFAULTS[family].ropeTheta);
    ropeScaling = parseRopeScaling(ropeParams, 'rope_parameters', f);
    refusePartialRotary(ropeParams, 'rope_parameters.partial_rotary_factor', f);
  } else {
    if (ropeParams !== undefined && ropeParams !== null) {
      throw f.fail('rope_parameters', `must be an object, got ${JSON.stringify(ropeParams)}`);
    }
    ropeTheta = f.optPosNumber(json, 'rope_theta', DEFAULTS[family].ropeTheta);
    ropeScaling = parseRopeScaling(json.rope_scaling, 'rope_scaling', f);
  }
  refusePartialRotary(json, 'partial_rotary_factor', f);

  // Llama's, Qwen3's and SmolLM3's attention_bias puts a bias on all four attention projections (o_proj included).
  const optBias = (family === 'llama' || family === 'qwen3' || family === 'smollm3' || gemma) && f.bool(json, 'attention_bias', false);
  const numLayers = f.posInt(json, 'num_hidden_layers');
  let slidingWindow: number | null = null;
  if (family === 'mistral') slidingWindow = json.sliding_window == null ? null : f.posInt(json, 'sliding_window');
  if ((family === 'qwen2' || family === 'qwen3') && f.bool(json, 'use_sliding_window', false)) slidingWindow = f.posInt(json, 'sliding_window');
  const layerRope = family === 'smollm3' ? parseNoRopeLayers(json, numLayers, f) : new Array<boolean>(numLayers).fill(true);
  if (family === 'smollm3' && f.bool(json, 'use_sliding_window', false) && json.sliding_window != null) slidingWindow = f.posInt(json, 'sliding_window');
  if (gemma) slidingWindow = f.optPosInt(json, 'sliding_window', 4096);
  const layerTypes = parseLayerTypes(json, numLayers, f);
  let sliding: boolean[];
  if (family === 'mistral') sliding = new Array<boolean>(numLayers).fill(true);
  else if (family === 'qwen2' || family === 'qwen3') {
    // Qwen2Config: layer_types, else sliding from max_window_layers (default 28) on; no window without use_sliding_window
    const from = f.optPosIntOrZero(json, 'max_window_layers', 28);
    sliding = layerTypes ?? Array.from({ length: numLayers }, (_, i) => i >= from);
  } else if (family === 'smollm3') {
    // SmolLM3Config: without layer_types, the NoPE layers slide (when use_sliding_window and a window are set)
    sliding = layerTypes ?? layerRope.map((rope) => !rope);
  } else if (gemma) {
    // Gemma3TextConfig: without layer_types every sliding_window_pattern-th layer (default 6) is global
    const every = f.optPosInt(json, 'sliding_window_pattern', f.optPosInt(json, '_sliding_window_pattern', 6));
    sliding = layerTypes ?? Array.from({ length: numLayers }, (_, i) => (i + 1) % every !== 0);
  } else sliding = layerTypes ?? new Array<boolean>(numLayers).fill(false);
  const layerWindows = sliding.map((s) => (s && slidingWindow !== null ? slidingWindow : 0));
  if (!layerWindows.some((w) => w > 0)) slidingWindow = null;

  const torchDtype = json.torch_dtype ?? json.dtype ?? null;
  return {
    architecture,
    modelType: typeof json.model_type === 'string' ? json.model_type : family,
    family,
    vocabSize: f.posInt(json, 'vocab_size'),
    hiddenSize,
    intermediateSize: f.posInt(json, 'intermediate_size'),
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: f.optPosNumber(json, 'rms_norm_eps', DEFAULTS[family].rmsNormEps),
    ropeTheta,
    ropeScaling,
    maxPositionEmbeddings: f.optPosInt(json, 'max_position_embeddings', DEFAULTS[family].maxPositionEmbeddings),
    tieWordEmbeddings: f.bool(json, 'tie_word_embeddings', DEFAULTS[family].tieWordEmbeddings),
    attentionBias: family === 'qwen2' || optBias,
    oProjBias: optBias,
    qkNorm: family === 'qwen3' || gemma,
    mlpBias: (family === 'llama' || family === 'smollm3') && f.bool(json, 'mlp_bias', false),
    hiddenAct,
    normPlusOne: gemma,
    sandwichNorms: gemma,
    scaleEmbedding: gemma,
    queryPreAttnScalar: gemma ? f.optPosNumber(json, 'query_pre_attn_scalar', 256) : null,
    localRopeTheta,
    attnLogitSoftcapping: gemma && json.attn_logit_softcapping != null ? f.posNumber(json, 'attn_logit_softcapping') : null,
    finalLogitSoftcapping: gemma && json.final_logit_softcapping != null ? f.posNumber(json, 'final_logit_softcapping') : null,
    slidingWindow,
    layerWindows,
    layerRope,
    bosTokenId: f.tokenId(json, 'bos_token_id'),
    eosTokenIds: f.tokenIds(json, 'eos_token_id'),
    padTokenId: f.tokenId(json, 'pad_token_id'),
    torchDtype: typeof torchDtype === 'string' ? torchDtype : null,
  };
}

/**
 * Every tensor of the checkpoint, HF name → shape ([out, in] for projections), in the order transformers'
 * state_dict lists them. Biases appear only where the config gives them; lm_head only when untied.
 */
export function expectedTensorShapes(cfg: ModelConfig): Map<string, number[]> {
  const { hiddenSize: h, intermediateSize: ff, headDim: d, numHeads, numKvHeads, vocabSize } = cfg;
  const shapes = new Map<string, number[]>();
  const linear = (prefix: string, out: number, inp: number, bias: boolean) => {
    shapes.set(`${prefix}.weight`, [out, inp]);
    if (bias) shapes.set(`${prefix}.bias`, [out]);
  };
  shapes.set('model.embed_tokens.weight', [vocabSize, h]);
  for (let i = 0; i < cfg.numLayers; i++) {
    const p = `model.layers.${i}`;
    linear(`${p}.self_attn.q_proj`, numHeads * d, h, cfg.attentionBias);
    linear(`${p}.self_attn.k_proj`, numKvHeads * d, h, cfg.attentionBias);
    linear(`${p}.self_attn.v_proj`, numKvHeads * d, h, cfg.attentionBias);
    linear(`${p}.self_attn.o_proj`, h, numHeads * d, cfg.oProjBias);
    if (cfg.qkNorm) {
      shapes.set(`${p}.self_attn.q_norm.weight`, [d]);
      shapes.set(`${p}.self_attn.k_norm.weight`, [d]);
    }
    linear(`${p}.mlp.gate_proj`, ff, h, cfg.mlpBias);
    linear(`${p}.mlp.up_proj`, ff, h, cfg.mlpBias);
    linear(`${p}.mlp.down_proj`, h, ff, cfg.mlpBias);
    shapes.set(`${p}.input_layernorm.weight`, [h]);
    shapes.set(`${p}.post_attention_layernorm.weight`, [h]);
    if (cfg.sandwichNorms) {
      shapes.set(`${p}.pre_feedforward_layernorm.weight`, [h]);
      shapes.set(`${p}.post_feedforward_layernorm.weight`, [h]);
    }
  }
  shapes.set('model.norm.weight', [h]);
  if (!cfg.tieWordEmbeddings) shapes.set('lm_head.weight', [vocabSize, h]);
  return shapes;
}

/**
 * Gemma 3's embedding scale: √hidden_size rounded to the embedding's dtype, as transformers multiplies by
 * embed_scale.to(weight.dtype) (√640 = 25.298… is 25.25 in bfloat16).
 */
export function embeddingScale(hiddenSize: number, dtype: 'f32' | 'bf16' | 'f16'): number {
  const x = Math.fround(Math.sqrt(hiddenSize));
  if (dtype === 'f32') return x;
  if (dtype === 'f16') {
    // round to 11 significant bits, ties to even
    const e = Math.floor(Math.log2(x));
    const q = 2 ** (e - 10);
    const r = x / q;
    const fl = Math.floor(r);
    const rounded = r - fl > 0.5 || (r - fl === 0.5 && fl % 2 === 1) ? fl + 1 : fl;
    return rounded * q;
  }
  const u = new Uint32Array(new Float32Array([x]).buffer)[0]!;
  const bf = ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) << 16; // round to nearest even
  return new Float32Array(new Uint32Array([bf >>> 0]).buffer)[0]!;
}

/** Parameters counted once (a tied lm_head shares the embedding's), as `model.num_parameters()` reports. */
export function parameterCount(cfg: ModelConfig): number {
  let n = 0;
  for (const shape of expectedTensorShapes(cfg).values()) n += shape.reduce((a, b) => a * b, 1);
  return n;
}
