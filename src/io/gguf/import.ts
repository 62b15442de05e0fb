// GGUF (architectures "llama", "qwen2", "qwen3", "smollm3" and "gemma3") → a Hugging Face folder: config.json from the
// <arch>.* metadata plus what llama.cpp's loader fixes for the architecture (llamacpp-arch.ts: Gemma 3's layer pattern,
// local RoPE base and query scale, SmolLM3's NoPE layers), Gemma 3's norm weights back from 1 + w to w,
// model.safetensors with Hugging Face names (and, for llama, Hugging Face q/k row order), and the embedded tokenizer as tokenizer.json +
// tokenizer_config.json. F32/F16/BF16 tensors keep their type. Block-quantised tensors (Q4_0, Q4_1, Q5_0, Q5_1,
// Q8_0, Q2_K…Q6_K) keep their GGUF blocks by default, stored as U8 [rows, rowBytes] and named in the file's
// "alloy.ggml_types" metadata (io/safetensors/checkpoint.ts, "ggml blocks"): the GPU engine reads Q8_0, Q4_0, Q4_K
// and Q6_K projections packed, and every CPU reader sees ggml's de-quantised values. With `dequantize` they are
// unpacked instead, value for value as ggml does (dequant.ts), to F32 (exact) or rounded to F16/BF16.
// Everything that can be refused (architecture, tensor types, names, shapes, quantised norms, tokenizer) is checked
// before the first byte is written.
import type { ByteSink, ByteSource } from '../bytes.ts';
import { AlloyError } from '../../common/errors.ts';
import { expectedTensorShapes, parseModelConfig } from '../config.ts';
import { encodeFromF32, type DType, type FloatDType } from '../safetensors/dtypes.ts';
import { GGML_TYPES_KEY } from '../safetensors/checkpoint.ts';
import { writeSafetensors, type TensorToWrite } from '../safetensors/writer.ts';
import { GGML_BF16, GGML_F16, GGML_F32 } from './format.ts';
import { GEMMA3_LOCAL_ROPE_BASE, gemma3QueryPreAttnScalar, gemma3SlidingLayers, SMOLLM3_NO_ROPE_STEP, smollm3RopeLayers } from './llamacpp-arch.ts';
import { ggufToHfName, permuteRows, rotaryHeads, type GgufArch } from './names.ts';
import { ggmlToF32, isBlockQuantized, READABLE_TYPE_NAMES, READABLE_TYPES } from './quant.ts';
import { GgufMeta, readGguf, type GgufTensorInfo } from './reader.ts';
import { inferLlama3Scaling } from './rope.ts';
import { tokenizerFromGguf } from './tokenizer.ts';

export type SinkFactory = (fileName: string) => Promise<ByteSink>;

export interface GgufImport {
  config: Record<string, unknown>;
  /** Hugging Face tensor name → its storage: the dtype written, or the ggml block type kept */
  tensors: Record<string, string>;
  tokenizer: 'llama' | 'gpt2' | null;
  files: string[];
  warnings: string[];
  /** ggml type name → how many tensors of it were de-quantised (to ImportOptions.dequantize); empty when none were */
  dequantized: Record<string, number>;
}

export interface GgufImportOptions {
  /** unpack block-quantised tensors to this dtype instead of keeping their blocks */
  dequantize?: FloatDType;
}

/** One line for a summary: which quantised tensors were unpacked, to what; '' when none were. */
export function dequantizedNote(r: Pick<GgufImport, 'dequantized' | 'tensors'>): string {
  const parts = Object.entries(r.dequantized).map(([t, n]) => `${n} ${t}`);
  if (parts.length === 0) return '';
  return `de-quantised on import (${parts.join(', ')} tensors), as asked: the model takes 16 or 32 bits per weight, not its GGUF size`;
}

/** Each storage type of an import with its tensor count, for a summary: "Q4_K × 168, Q6_K × 29, F32 × 61". */
export function storageSummary(r: Pick<GgufImport, 'tensors'>): string {
  const counts = new Map<string, number>();
  for (const t of Object.values(r.tensors)) counts.set(t, (counts.get(t) ?? 0) + 1);
  return [...counts].map(([t, n]) => `${t} × ${n}`).join(', ');
}

const KEEP: Readonly<Record<number, DType>> = { [GGML_F32]: 'F32', [GGML_F16]: 'F16', [GGML_BF16]: 'BF16' };

const ROPE_FREQS = 'rope_freqs.weight';

/**
 * config.json for a GGUF file's llama.* metadata; the tensors decide vocab size (fallback) and tying, and
 * rope_freqs.weight (decoded, when the file has one) gives Llama 3.1-style RoPE scaling.
 */
export function ggufLlamaConfig(meta: GgufMeta, tensors: readonly GgufTensorInfo[], ropeFreqs: Float32Array | null = null): Record<string, unknown> {
  const file = meta.file.name;
  const arch = meta.string('general.architecture', null);
  if (arch === null) throw new AlloyError(`${file}: no general.architecture, so the model type is unknown`, { file, field: 'general.architecture' });
  if (!isGgufArch(arch)) {
    throw new AlloyError(`${file}: GGUF architecture "${arch}" is not supported; Alloy imports "llama" (Llama, SmolLM, Mistral), "qwen2", "qwen3", "smollm3" and "gemma3" models`, {
      file,
      field: 'general.architecture',
    });
  }
  const k = (s: string) => `${arch}.${s}`;
  const hidden = meta.int(k('embedding_length'));
  const numLayers = meta.int(k('block_count'));
  const heads = meta.int(k('attention.head_count'));
  const kvHeads = meta.int(k('attention.head_count_kv'), heads)!;
  const embd = tensors.find((t) => t.name === 'token_embd.weight');
  if (!embd) throw new AlloyError(`${file}: no token_embd.weight tensor`, { file, tensor: 'token_embd.weight' });
  const vocab = meta.int(k('vocab_size'), null) ?? meta.array('tokenizer.ggml.tokens', 'string')?.length ?? embd.shape[0]!;
  const headDim = meta.int(k('attention.key_length'), null) ?? meta.int(k('rope.dimension_count'), null) ?? hidden / heads;
  const rotDim = meta.int(k('rope.dimension_count'), null);
  if (rotDim !== null && rotDim !== headDim) {
    throw new AlloyError(`${file}: partial rotary embedding (rope.dimension_count ${rotDim} of head size ${headDim}) is not supported`, { file, field: k('rope.dimension_count') });
  }
  const valueLen = meta.int(k('attention.value_length'), null);
  if (valueLen !== null && valueLen !== headDim) {
    throw new AlloyError(`${file}: attention.value_length ${valueLen} differs from key_length ${headDim}, which Llama does not allow`, { file, field: k('attention.value_length') });
  }
  const ropeTheta = meta.float(k('rope.freq_base'), arch === 'gemma3' ? 1_000_000 : 10000);
  let ropeScaling: Record<string, unknown> | null = null;
  const scaling = meta.string(k('rope.scaling.type'), null);
  if (scaling === 'linear') ropeScaling = { type: 'linear', factor: meta.float(k('rope.scaling.factor')) };
  else if (scaling !== null && scaling !== 'none') {
    throw new AlloyError(`${file}: rope.scaling.type "${scaling}" is not supported (none or linear)`, { file, field: k('rope.scaling.type') });
  }
  if (ropeFreqs) {
    if (arch !== 'llama') throw new AlloyError(`${file}: ${ROPE_FREQS} (Llama 3.1-style RoPE factors) in a "${arch}" file, which llama.cpp does not read`, { file, tensor: ROPE_FREQS });
    if (ropeScaling) throw new AlloyError(`${file}: both rope.scaling.type and rope_freqs.weight are given`, { file, tensor: ROPE_FREQS });
    const s = inferLlama3Scaling(ropeFreqs, ropeTheta, headDim, meta.int(k('rope.scaling.original_context_length'), null));
    if (!s) {
      throw new AlloyError(`${file}: ${ROPE_FREQS} holds RoPE factors that are not Llama 3.1-style scaling (factor/low/high/original context), which Alloy cannot express`, { file, tensor: ROPE_FREQS });
    }
    ropeScaling = {
      rope_type: 'llama3',
      factor: s.factor,
      low_freq_factor: s.lowFreqFactor,
      high_freq_factor: s.highFreqFactor,
      original_max_position_embeddings: s.originalMaxPositionEmbeddings,
    };
  }
  const sixteen = tensors.filter((t) => t.dims.length === 2).map((t) => KEEP[t.type.id]);
  const torchDtype = sixteen.length > 0 && sixteen.every((d) => d === 'F16') ? 'float16' : sixteen.length > 0 && sixteen.every((d) => d === 'BF16') ? 'bfloat16' : 'float32';
  const common = {
    hidden_size: hidden,
    intermediate_size: meta.int(k('feed_forward_length')),
    num_hidden_layers: numLayers,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
  };
  const tail = {
    bos_token_id: meta.int('tokenizer.ggml.bos_token_id', null),
    eos_token_id: meta.int('tokenizer.ggml.eos_token_id', null),
    torch_dtype: torchDtype,
  };
  const tied = !tensors.some((t) => t.name === 'output.weight');
  let config: Record<string, unknown>;
  if (arch === 'gemma3') {
    // Gemma3TextConfig's fields; what llama.cpp fixes (pattern, local base, query scale) is written out explicitly
    const window = meta.int(k('attention.sliding_window'), 0)!;
    const softcap = meta.float(k('final_logit_softcapping'), 0);
    config = {
      architectures: ['Gemma3ForCausalLM'],
      model_type: 'gemma3_text',
      ...common,
      head_dim: headDim,
      vocab_size: vocab,
      max_position_embeddings: meta.int(k('context_length')),
      rms_norm_eps: meta.float(k('attention.layer_norm_rms_epsilon')),
      rope_theta: ropeTheta,
      rope_local_base_freq: GEMMA3_LOCAL_ROPE_BASE,
      rope_scaling: ropeScaling,
      // a file without a window runs every layer globally in llama.cpp
      layer_types: (window > 0 ? gemma3SlidingLayers(numLayers) : new Array<boolean>(numLayers).fill(false)).map((s) => (s ? 'sliding_attention' : 'full_attention')),
      sliding_window: window > 0 ? window : null,
      query_pre_attn_scalar: gemma3QueryPreAttnScalar(numLayers, hidden, heads, headDim),
      attn_logit_softcapping: null,
      final_logit_softcapping: softcap > 0 ? softcap : null,
      hidden_activation: 'gelu_pytorch_tanh',
      attention_bias: false,
      tie_word_embeddings: tied,
      ...tail,
    };
  } else {
    config = {
      architectures: [arch === 'qwen2' ? 'Qwen2ForCausalLM' : arch === 'qwen3' ? 'Qwen3ForCausalLM' : arch === 'smollm3' ? 'SmolLM3ForCausalLM' : 'LlamaForCausalLM'],
      model_type: arch,
      ...common,
      // Qwen3Config's head_dim defaults to 128, not hidden / heads: always written for qwen3
      ...(headDim !== hidden / heads || arch === 'qwen3' ? { head_dim: headDim } : {}),
      vocab_size: vocab,
      max_position_embeddings: meta.int(k('context_length')),
      rms_norm_eps: meta.float(k('attention.layer_norm_rms_epsilon')),
      rope_theta: ropeTheta,
      ...(ropeScaling ? { rope_scaling: ropeScaling } : {}),
      hidden_act: 'silu',
      tie_word_embeddings: tied,
      // Qwen2 always has q/k/v biases; a Llama GGUF has them when its converter found them (then o_proj's too).
      ...(arch === 'llama' ? { attention_bias: tensors.some((t) => t.name.endsWith('.attn_q.bias')), mlp_bias: false } : { use_sliding_window: false }),
      ...(arch === 'qwen3' ? { attention_bias: false } : {}),
      // llama.cpp's smollm3 skips RoPE on every 4th layer, whatever the file says
      ...(arch === 'smollm3'
        ? { attention_bias: false, mlp_bias: false, no_rope_layer_interval: SMOLLM3_NO_ROPE_STEP, no_rope_layers: smollm3RopeLayers(numLayers).map((r) => (r ? 1 : 0)) }
        : {}),
      ...tail,
    };
  }
  if (config.bos_token_id === null) delete config.bos_token_id;
  if (config.eos_token_id === null) delete config.eos_token_id;
  return config;
}

function isGgufArch(a: string): a is GgufArch {
  return a === 'llama' || a === 'qwen2' || a === 'qwen3' || a === 'smollm3' || a === 'gemma3';
}

/**
 * Reads a GGUF file and writes config.json, model.safetensors and (when the file embeds one) the tokenizer files
 * through `sinkFor`. Callers that publish a folder write into a temporary place and move it when this resolves.
 */
export async function importGguf(source: ByteSource, sinkFor: SinkFactory, opts: GgufImportOptions = {}): Promise<GgufImport> {
  const gguf = await readGguf(source);
  const file = gguf.name;
  const meta = new GgufMeta(gguf);
  const freqs = gguf.tensors.find((t) => t.name === ROPE_FREQS);
  if (freqs && freqs.type.id !== GGML_F32) {
    throw new AlloyError(`${file}: ${ROPE_FREQS} is ${freqs.type.name}; llama.cpp writes it as F32`, { file, tensor: ROPE_FREQS });
  }
  const config = ggufLlamaConfig(meta, gguf.tensors, freqs ? ggmlToF32(freqs.type, await gguf.readRaw(freqs)) : null);
  const parsed = parseModelConfig(config, `${file} (config from GGUF metadata)`);
  const arch = meta.string('general.architecture') as GgufArch;
  const expected = expectedTensorShapes(parsed);

  const tensors: TensorToWrite[] = [];
  const written: Record<string, string> = {};
  const kept: Record<string, string> = {};
  const dequantized: Record<string, number> = {};
  for (const t of gguf.tensors) {
    if (t === freqs) continue; // folded into config.json's rope_scaling
    const where = { file, tensor: t.name };
    if (!READABLE_TYPES.has(t.type.id)) {
      throw new AlloyError(`${file}: tensor "${t.name}" is ${t.type.name}, which Alloy cannot read (it reads ${READABLE_TYPE_NAMES.join(', ')})`, where);
    }
    if (isBlockQuantized(t.type) && t.shape.length < 2) {
      // llama-quantize never quantises norms or biases (1-D tensors), and the engine loads them as 16/32-bit vectors.
      throw new AlloyError(`${file}: tensor "${t.name}" (shape ${JSON.stringify(t.shape)}) is ${t.type.name}, but norm weights and biases must be F32, F16 or BF16`, where);
    }
    const hf = ggufToHfName(t.name, arch);
    if (hf === null) throw new AlloyError(`${file}: tensor "${t.name}" has no counterpart in a Hugging Face Llama model`, where);
    const shape = expected.get(hf);
    if (!shape) throw new AlloyError(`${file}: tensor "${t.name}" (${hf}) does not belong to a model with this configuration`, where);
    if (JSON.stringify(shape) !== JSON.stringify(t.shape)) {
      throw new AlloyError(`${file}: tensor "${t.name}" has shape ${JSON.stringify(t.shape)}, the configuration implies ${JSON.stringify(shape)}`, where);
    }
    const quantized = isBlockQuantized(t.type);
    const keep = quantized && opts.dequantize === undefined;
    // Gemma 3's norms come back as (1 + w) − 1 in f32 (the converter added the 1 in f32, so they are F32 there)
    const minusOne = arch === 'gemma3' && hf.endsWith('norm.weight');
    const dtype: DType = keep ? 'U8' : minusOne ? 'F32' : (KEEP[t.type.id] ?? opts.dequantize ?? 'F32');
    // llama.cpp's converter permutes q/k for llama and smollm3 (Qwen2, Qwen3 and Gemma 3 keep Hugging Face's order).
    const heads = arch === 'llama' || arch === 'smollm3' ? rotaryHeads(hf, parsed) : null;
    const cols = t.shape.length > 1 ? t.shape[1]! : 1;
    const rows = t.shape[0]!;
    // a kept tensor's row is whole blocks (the reader checked it), so rows move as byte ranges either way
    const rowBytes = keep ? (cols / t.type.blockSize) * t.type.typeSize : cols * (dtype === 'F32' ? 4 : 2);
    tensors.push({
      name: hf,
      dtype,
      shape: keep ? [rows, rowBytes] : t.shape,
      data: async () => {
        const raw = await gguf.readRaw(t);
        if (minusOne) return new Uint8Array(ggmlToF32(t.type, raw).map((w) => w - 1).buffer);
        let bytes: Uint8Array = raw;
        if (quantized && !keep) {
          const f = ggmlToF32(t.type, raw);
          bytes = dtype === 'F32' ? new Uint8Array(f.buffer) : encodeFromF32(dtype as FloatDType, f);
        }
        return heads === null ? bytes : permuteRows(bytes, rowBytes, heads, 'to-hf');
      },
    });
    written[hf] = keep ? t.type.name : dtype;
    if (keep) kept[hf] = t.type.name;
    if (quantized && !keep) dequantized[t.type.name] = (dequantized[t.type.name] ?? 0) + 1;
  }
  const missing = [...expected.keys()].filter((n) => !Object.hasOwn(written, n));
  if (missing.length > 0) {
    throw new AlloyError(`${file}: missing tensors for a ${parsed.numLayers}-layer ${parsed.architecture}: ${missing.slice(0, 4).join(', ')}${missing.length > 4 ? ', …' : ''}`, { file, tensor: missing[0] });
  }
  const tokenizer = tokenizerFromGguf(meta);

  const files: string[] = [];
  const json = async (name: string, value: unknown) => {
    const sink = await sinkFor(name);
    await sink.write(new TextEncoder().encode(JSON.stringify(value, null, 2) + '\n'));
    await sink.close();
    files.push(name);
  };
  await json('config.json', config);
  for (const [name, value] of Object.entries(tokenizer?.files ?? {})) await json(name, value);
  const stMeta: Record<string, string> = { source: 'gguf' };
  if (Object.keys(kept).length > 0) stMeta[GGML_TYPES_KEY] = JSON.stringify(kept);
  await writeSafetensors(await sinkFor('model.safetensors'), tensors, stMeta);
  files.push('model.safetensors');
  return { config, tensors: written, tokenizer: tokenizer?.kind ?? null, files, warnings: tokenizer?.warnings ?? [], dequantized };
}
