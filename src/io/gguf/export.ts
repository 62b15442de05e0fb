// A Hugging Face Llama-family folder → one GGUF v3 file llama.cpp loads, laid out as convert_hf_to_gguf.py writes
// it: Llama and Mistral as architecture "llama" (LlamaModel), Qwen2 as "qwen2" (Qwen2Model), Qwen3 as "qwen3"
// (Qwen3Model: qwen2's layout plus attn_q_norm / attn_k_norm, head_dim in attention.key_length), SmolLM3 as
// "smollm3" (SmolLM3Model: llama's layout and permutation; llama.cpp fixes its NoPE layers to every 4th) and Gemma 3
// as "gemma3" (Gemma3Model: sandwich norms under their own names, every norm weight stored as 1 + w, head_dim in
// attention.key_length, attention.sliding_window; the layer pattern, local RoPE base and query scale are fixed by
// llama.cpp, so a config that differs is refused: llamacpp-arch.ts); <arch>.*
// hyper-parameters, tokenizer.ggml.* vocabulary, tensors renamed (names.ts), q/k rows (and biases) permuted to
// llama.cpp's interleaved RoPE order for "llama" only — its qwen2 graph rotates Hugging Face's (NEOX) pairs. Each
// tensor's type comes from the preset's table in presets.ts (the converter's rules for f32/f16/bf16/q8_0,
// llama-quantize's for q4_0/q4_k_m/q6_k: norms F32, Q6_K output, fallbacks for rows that are not whole blocks), and
// quantised tensors are written by quantize.ts, which follows ggml's reference quantisers. A tied lm_head is not
// written (llama.cpp then uses token_embd).
import type { ByteSink } from '../bytes.ts';
import { AlloyError } from '../../common/errors.ts';
import { expectedTensorShapes, parseModelConfig, type ModelConfig } from '../config.ts';
import { hasFile, readJson, type ModelFiles } from '../model-files.ts';
import { openCheckpoint } from '../safetensors/checkpoint.ts';
import { GGML_F32, ggmlType, ggmlTypeByName, type GgufValue } from './format.ts';
import { llamaCppMismatches } from './llamacpp-arch.ts';
import { hfToGgufName, permuteRows, rotaryHeads, type GgufArch } from './names.ts';
import { PRESETS, tensorTypeFor, type GgufOutType } from './presets.ts';
import { f32ToGgml } from './quant.ts';
import { llama3RopeFactors } from './rope.ts';
import { ggufTokenizerMetadata } from './tokenizer.ts';
import { gv, writeGguf, type GgufTensorToWrite } from './writer.ts';

export type { GgufOutType } from './presets.ts';
export { GGUF_OUT_TYPES } from './presets.ts';

export interface GgufExportOptions {
  type: GgufOutType;
  /** general.name; defaults to the folder's label */
  name?: string;
}

export interface GgufExport {
  architecture: GgufArch;
  tensors: { name: string; type: string; shape: number[] }[];
  tokenizer: 'llama' | 'gpt2';
  metadataKeys: string[];
}

/** <arch>.* and general.* metadata for a config, in convert_hf_to_gguf's order. */
function modelMetadata(cfg: ModelConfig, arch: GgufArch, name: string, type: GgufOutType): [string, GgufValue][] {
  if (arch === 'gemma3') return gemma3Metadata(cfg, name, type);
  const k = (s: string) => `${arch}.${s}`;
  const e: [string, GgufValue][] = [
    ['general.architecture', gv.str(arch)],
    ['general.type', gv.str('model')],
    ['general.name', gv.str(name)],
    [k('block_count'), gv.u32(cfg.numLayers)],
    [k('context_length'), gv.u32(cfg.maxPositionEmbeddings)],
    [k('embedding_length'), gv.u32(cfg.hiddenSize)],
    [k('feed_forward_length'), gv.u32(cfg.intermediateSize)],
    [k('attention.head_count'), gv.u32(cfg.numHeads)],
    [k('attention.head_count_kv'), gv.u32(cfg.numKvHeads)],
    [k('rope.freq_base'), gv.f32(cfg.ropeTheta)],
    [k('attention.layer_norm_rms_epsilon'), gv.f32(cfg.rmsNormEps)],
  ];
  if (cfg.headDim !== cfg.hiddenSize / cfg.numHeads) {
    e.push([k('attention.key_length'), gv.u32(cfg.headDim)], [k('attention.value_length'), gv.u32(cfg.headDim)]);
  }
  e.push(['general.file_type', gv.u32(PRESETS[type].fileType)]);
  e.push([k('vocab_size'), gv.u32(cfg.vocabSize)]);
  e.push([k('rope.dimension_count'), gv.u32(cfg.headDim)]);
  if (cfg.ropeScaling?.type === 'linear') {
    e.push([k('rope.scaling.type'), gv.str('linear')], [k('rope.scaling.factor'), gv.f32(cfg.ropeScaling.factor)]);
  }
  e.push(['general.quantization_version', gv.u32(2)]);
  return e;
}

/** Gemma3Model.set_gguf_parameters' keys, in its order (no vocab_size or rope.dimension_count, as the converter). */
function gemma3Metadata(cfg: ModelConfig, name: string, type: GgufOutType): [string, GgufValue][] {
  const k = (s: string) => `gemma3.${s}`;
  const e: [string, GgufValue][] = [
    ['general.architecture', gv.str('gemma3')],
    ['general.type', gv.str('model')],
    ['general.name', gv.str(name)],
    [k('context_length'), gv.u32(cfg.maxPositionEmbeddings)],
    [k('embedding_length'), gv.u32(cfg.hiddenSize)],
    [k('block_count'), gv.u32(cfg.numLayers)],
    [k('feed_forward_length'), gv.u32(cfg.intermediateSize)],
    [k('attention.head_count'), gv.u32(cfg.numHeads)],
    [k('attention.layer_norm_rms_epsilon'), gv.f32(cfg.rmsNormEps)],
    [k('attention.key_length'), gv.u32(cfg.headDim)],
    [k('attention.value_length'), gv.u32(cfg.headDim)],
    ['general.file_type', gv.u32(PRESETS[type].fileType)],
    // the global layers' base; llama.cpp gives the sliding ones 10000
    [k('rope.freq_base'), gv.f32(cfg.ropeTheta)],
    // without a window llama.cpp runs every layer globally (llamaCppMismatches has checked the pattern)
    [k('attention.sliding_window'), gv.u32(cfg.slidingWindow ?? 0)],
    [k('attention.head_count_kv'), gv.u32(cfg.numKvHeads)],
  ];
  if (cfg.ropeScaling?.type === 'linear') {
    e.push([k('rope.scaling.type'), gv.str('linear')], [k('rope.scaling.factor'), gv.f32(cfg.ropeScaling.factor)]);
  }
  if (cfg.finalLogitSoftcapping !== null) e.push([k('final_logit_softcapping'), gv.f32(cfg.finalLogitSoftcapping)]);
  e.push(['general.quantization_version', gv.u32(2)]);
  return e;
}

/** Writes `m` (a Hugging Face folder of a supported family) as GGUF into `sink`, closing it when done. */
export async function exportGguf(m: ModelFiles, sink: ByteSink, opts: GgufExportOptions): Promise<GgufExport> {
  const cfg = parseModelConfig(await readJson(m, 'config.json'));
  if (cfg.family === 'qwen3' && cfg.attentionBias) {
    // llama.cpp's qwen3 graph has no attention biases: they would be dropped
    throw new AlloyError(`${m.label}: a Qwen3 with attention_bias cannot be exported to GGUF (llama.cpp's "qwen3" has no attention biases)`, { file: 'config.json', field: 'attention_bias' });
  }
  const mismatches = llamaCppMismatches(cfg);
  if (mismatches.length > 0) {
    // llama.cpp would load such a file and compute something else: refuse, naming each difference.
    throw new AlloyError(`${m.label}: ${cfg.architecture} cannot be exported to GGUF "${cfg.family}" as configured: ${mismatches.join('; ')}`, { file: 'config.json', field: mismatches[0]!.split(':')[0]! });
  }
  const arch: GgufArch = cfg.family === 'qwen2' || cfg.family === 'qwen3' || cfg.family === 'smollm3' || cfg.family === 'gemma3' ? cfg.family : 'llama';
  if (cfg.mlpBias) {
    throw new AlloyError(`${m.label}: MLP biases (mlp_bias) are not exported to GGUF`, { file: 'config.json', field: 'mlp_bias' });
  }
  if (cfg.ropeScaling && !(cfg.ropeScaling.type === 'linear' || (cfg.ropeScaling.type === 'llama3' && arch === 'llama'))) {
    throw new AlloyError(`${m.label}: ${cfg.ropeScaling.type} RoPE scaling cannot be exported to GGUF "${arch}"`, { file: 'config.json', field: 'rope_scaling' });
  }
  if (!hasFile(m, 'tokenizer.json')) {
    throw new AlloyError(`${m.label} has no tokenizer.json; a GGUF file must embed its vocabulary for llama.cpp to load it`, { file: 'tokenizer.json' });
  }
  const tokenizer = ggufTokenizerMetadata({
    tokenizerJson: await readJson(m, 'tokenizer.json'),
    tokenizerConfig: hasFile(m, 'tokenizer_config.json') ? await readJson(m, 'tokenizer_config.json') : {},
    bosTokenId: cfg.bosTokenId,
    eosTokenIds: cfg.eosTokenIds,
    padTokenId: cfg.padTokenId,
    vocabSize: cfg.vocabSize,
    label: m.label,
  });

  const checkpoint = await openCheckpoint(m);
  const expected = expectedTensorShapes(cfg);
  for (const [name, shape] of expected) {
    const info = checkpoint.tensors.get(name)?.info;
    if (!info) throw new AlloyError(`${m.label}: the checkpoint has no tensor "${name}"`, { tensor: name });
    if (JSON.stringify(info.shape) !== JSON.stringify(shape)) {
      throw new AlloyError(`${m.label}: tensor "${name}" has shape ${JSON.stringify(info.shape)}, config.json implies ${JSON.stringify(shape)}`, { tensor: name });
    }
  }

  const tensors: GgufTensorToWrite[] = [];
  // token_embd first, then each block, then output_norm and output: llama.cpp's and the converter's order.
  const order = [...expected.keys()].sort((a, b) => rank(a) - rank(b));
  if (cfg.ropeScaling?.type === 'llama3') {
    const factors = llama3RopeFactors(cfg.ropeScaling, cfg.ropeTheta, cfg.headDim);
    tensors.push({ name: 'rope_freqs.weight', shape: [factors.length], type: ggmlType(GGML_F32)!, data: new Uint8Array(factors.buffer) });
  }
  for (const hf of order) {
    const name = hfToGgufName(hf, arch);
    if (name === null) throw new AlloyError(`tensor "${hf}" has no llama.cpp name`, { tensor: hf });
    const shape = expected.get(hf)!;
    const cols = shape[shape.length - 1]!;
    const type = ggmlTypeByName(tensorTypeFor(opts.type, name, shape, cfg.numLayers, cfg.tieWordEmbeddings));
    // the converter's LlamaModel permutes q/k for llama and smollm3 (llama.cpp's NORM RoPE); the others keep HF's order
    const heads = arch === 'llama' || arch === 'smollm3' ? rotaryHeads(hf, cfg) : null;
    // Gemma3Model stores every norm weight (input, sandwich, q/k and final norms) as 1 + w, in f32
    const plusOne = arch === 'gemma3' && hf.endsWith('norm.weight');
    tensors.push({
      name,
      shape,
      type,
      data: async () => {
        let values = await checkpoint.readF32(hf);
        if (heads !== null) {
          const p = permuteRows(new Uint8Array(values.buffer), (shape.length > 1 ? cols : 1) * 4, heads, 'to-gguf');
          values = new Float32Array(p.buffer);
        }
        if (plusOne) values = values.map((w) => w + 1);
        return f32ToGgml(type, values);
      },
    });
  }

  const metadata = new Map<string, GgufValue>([...modelMetadata(cfg, arch, opts.name ?? m.label, opts.type), ...tokenizer.entries]);
  await writeGguf(sink, metadata, tensors);
  return {
    architecture: arch,
    tensors: tensors.map((t) => ({ name: t.name, type: t.type.name, shape: [...t.shape] })),
    tokenizer: tokenizer.kind,
    metadataKeys: [...metadata.keys()],
  };
}

function rank(hf: string): number {
  if (hf === 'model.embed_tokens.weight') return -1;
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(hf);
  if (m) {
    const within = ['input_layernorm', 'self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'self_attn.q_norm', 'self_attn.k_norm', 'post_attention_layernorm', 'pre_feedforward_layernorm', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj', 'post_feedforward_layernorm'];
    const i = within.findIndex((w) => m[2]!.startsWith(w + '.'));
    return Number(m[1]) * 100 + (i < 0 ? 99 : i);
  }
  return hf === 'model.norm.weight' ? 1e9 : 1e9 + 1;
}
