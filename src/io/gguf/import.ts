// GGUF (architectures "llama", "qwen2" and "qwen3") → a Hugging Face folder: config.json from the <arch>.* metadata,
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
import { ggufToHfName, permuteRows, rotaryHeads } from './names.ts';
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
  if (arch !== 'llama' && arch !== 'qwen2' && arch !== 'qwen3') {
    throw new AlloyError(`${file}: GGUF architecture "${arch}" is not supported; Alloy imports "llama" (Llama, SmolLM, Mistral), "qwen2" and "qwen3" models`, {
      file,
      field: 'general.architecture',
    });
  }
  const k = (s: string) => `${arch}.${s}`;
  const hidden = meta.int(k('embedding_length'));
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
  const ropeTheta = meta.float(k('rope.freq_base'), 10000);
  let ropeScaling: Record<string, unknown> | null = null;
  const scaling = meta.string(k('rope.scaling.type'), null);
  if (scaling === 'linear') ropeScaling = { type: 'linear', factor: meta.float(k('rope.scaling.factor')) };
  else if (scaling !== null && scaling !== 'none') {
    throw new AlloyError(`${file}: rope.scaling.type "${scaling}" is not supported (none or linear)`, { file, field: k('rope.scaling.type') });
  }
  if (ropeFreqs) {
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
  const config: Record<string, unknown> = {
    architectures: [arch === 'qwen2' ? 'Qwen2ForCausalLM' : arch === 'qwen3' ? 'Qwen3ForCausalLM' : 'LlamaForCausalLM'],
    model_type: arch,
    hidden_size: hidden,
    intermediate_size: meta.int(k('feed_forward_length')),
    num_hidden_layers: meta.int(k('block_count')),
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    // Qwen3Config's head_dim defaults to 128, not hidden / heads: always written for qwen3
    ...(headDim !== hidden / heads || arch === 'qwen3' ? { head_dim: headDim } : {}),
    vocab_size: vocab,
    max_position_embeddings: meta.int(k('context_length')),
    rms_norm_eps: meta.float(k('attention.layer_norm_rms_epsilon')),
    rope_theta: ropeTheta,
    ...(ropeScaling ? { rope_scaling: ropeScaling } : {}),
    hidden_act: 'silu',
    tie_word_embeddings: !tensors.some((t) => t.name === 'output.weight'),
    // Qwen2 always has q/k/v biases; a Llama GGUF has them when its converter found them (then o_proj's too).
    ...(arch === 'llama' ? { attention_bias: tensors.some((t) => t.name.endsWith('.attn_q.bias')), mlp_bias: false } : { use_sliding_window: false }),
    ...(arch === 'qwen3' ? { attention_bias: false } : {}),
    bos_token_id: meta.int('tokenizer.ggml.bos_token_id', null),
    eos_token_id: meta.int('tokenizer.ggml.eos_token_id', null),
    torch_dtype: torchDtype,
  };
  if (config.bos_token_id === null) delete config.bos_token_id;
  if (config.eos_token_id === null) delete config.eos_token_id;
  return config;
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
    const hf = ggufToHfName(t.name);
    if (hf === null) throw new AlloyError(`${file}: tensor "${t.name}" has no counterpart in a Hugging Face Llama model`, where);
    const shape = expected.get(hf);
    if (!shape) throw new AlloyError(`${file}: tensor "${t.name}" (${hf}) does not belong to a model with this configuration`, where);
    if (JSON.stringify(shape) !== JSON.stringify(t.shape)) {
      throw new AlloyError(`${file}: tensor "${t.name}" has shape ${JSON.stringify(t.shape)}, the configuration implies ${JSON.stringify(shape)}`, where);
    }
    const quantized = isBlockQuantized(t.type);
    const keep = quantized && opts.dequantize === undefined;
    const dtype: DType = keep ? 'U8' : (KEEP[t.type.id] ?? opts.dequantize ?? 'F32');
    // llama.cpp's converter permutes q/k only for the llama architecture (Qwen2 and Qwen3 keep Hugging Face's order).
    const heads = parsed.family === 'qwen2' || parsed.family === 'qwen3' ? null : rotaryHeads(hf, parsed);
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
    throw new AlloyError(`${file}: missing tensors for a ${parsed.numLayers}-layer Llama: ${missing.slice(0, 4).join(', ')}${missing.length > 4 ? ', …' : ''}`, { file, tensor: missing[0] });
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
