// Quantised checkpoints for the model tests: a small Llama whose projections are whole K-quant blocks (every
// in-feature count a multiple of 256), and a view of any checkpoint with its matrices stored as ggml blocks, as a
// model imported from GGUF keeps them (io/safetensors/checkpoint.ts, "ggml blocks").
import { parseModelConfig, expectedTensorShapes, type ModelConfig } from '../../../src/io/config.ts';
import type { Checkpoint, CheckpointTensor } from '../../../src/io/safetensors/checkpoint.ts';
import type { TensorInfo } from '../../../src/io/safetensors/header.ts';
import type { SafetensorsFile } from '../../../src/io/safetensors/reader.ts';
import { dequantize } from '../../../src/io/gguf/dequant.ts';
import { ggmlTypeByName } from '../../../src/io/gguf/format.ts';
import { f32ToGgml } from '../../../src/io/gguf/quant.ts';
import { hfToGgufName } from '../../../src/io/gguf/names.ts';
import { tensorTypeFor, type GgufOutType } from '../../../src/io/gguf/presets.ts';
import { randomArray } from '../../helpers/gpu.ts';

const NO_FILE = { name: 'memory', metadata: {}, tensors: new Map(), dataStart: 0 } as unknown as SafetensorsFile;

/** A checkpoint over f32 arrays in memory. */
export function memoryCheckpoint(weights: ReadonlyMap<string, { shape: number[]; data: Float32Array }>): Checkpoint {
  const tensors = new Map<string, CheckpointTensor>();
  let at = 0;
  for (const [name, t] of weights) {
    tensors.set(name, { file: NO_FILE, info: { name, dtype: 'F32', shape: t.shape, begin: at, end: at + t.data.byteLength } });
    at += t.data.byteLength;
  }
  const get = (name: string) => weights.get(name)!.data;
  return {
    files: [],
    tensors,
    names: () => [...tensors.keys()],
    info: (name) => tensors.get(name)!.info,
    readRaw: async (name) => new Uint8Array(get(name).slice().buffer),
    readF32: async (name) => get(name).slice(),
  };
}

/**
 * A 2-layer Llama (hidden 256, 4 heads of 64, 2 KV heads, MLP 512, vocabulary 384, untied lm_head) with seeded
 * random weights: projections ~ U(−s, s) with s = 1/√in (activations stay O(1)), norms 1 ± 0.1.
 */
export function kQuantLlama(seed = 1): { config: ModelConfig; checkpoint: Checkpoint } {
  const config = parseModelConfig({
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: 256,
    intermediate_size: 512,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    num_hidden_layers: 2,
    vocab_size: 384,
    max_position_embeddings: 128,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    hidden_act: 'silu',
    tie_word_embeddings: false,
    bos_token_id: 1,
    eos_token_id: 2,
  });
  const weights = new Map<string, { shape: number[]; data: Float32Array }>();
  let s = seed;
  for (const [name, shape] of expectedTensorShapes(config)) {
    const r = randomArray(shape.reduce((a, b) => a * b, 1), s++);
    const data = shape.length === 1 ? r.map((v) => 1 + 0.1 * v) : r.map((v) => v / Math.sqrt(shape[1]!));
    weights.set(name, { shape, data });
  }
  return { config, checkpoint: memoryCheckpoint(weights) };
}

/**
 * `base` with each 2-D tensor that `typeOf` names stored as ggml blocks of that type (quantised by the project's
 * ggml-faithful quantiser): info().ggmlType set, readF32 / readRaw the de-quantised values, readBlocks the blocks.
 */
export async function asGgml(base: Checkpoint, typeOf: (name: string, info: TensorInfo) => string | null): Promise<Checkpoint> {
  const blocks = new Map<string, { type: string; bytes: Uint8Array }>();
  for (const name of base.names()) {
    const info = base.info(name);
    const type = info.shape.length === 2 ? typeOf(name, info) : null;
    if (type === null || type === 'F32') continue;
    blocks.set(name, { type, bytes: f32ToGgml(ggmlTypeByName(type), await base.readF32(name)) });
  }
  const info = (name: string): TensorInfo => {
    const i = base.info(name);
    const b = blocks.get(name);
    return b ? { ...i, dtype: 'F32', ggmlType: b.type, end: i.begin + b.bytes.byteLength } : i;
  };
  const readF32 = async (name: string) => {
    const b = blocks.get(name);
    return b ? dequantize(b.type, b.bytes) : base.readF32(name);
  };
  return {
    files: base.files,
    tensors: new Map([...base.tensors].map(([n, t]) => [n, { file: t.file, info: info(n) }])),
    names: () => base.names(),
    info,
    readF32,
    readRaw: async (name) => (blocks.has(name) ? new Uint8Array((await readF32(name)).buffer) : base.readRaw(name)),
    readBlocks: async (name) => blocks.get(name)!.bytes,
  };
}

/** The same checkpoint de-quantised: every tensor plain F32 (its ggml values), nothing left as blocks. */
export function asDequantized(q: Checkpoint): Checkpoint {
  const info = (name: string): TensorInfo => {
    const { ggmlType, ...i } = q.info(name);
    return ggmlType === undefined ? i : { ...i, end: i.begin + i.shape.reduce((a, b) => a * b, 1) * 4 };
  };
  return {
    files: q.files,
    tensors: new Map([...q.tensors].map(([n, t]) => [n, { file: t.file, info: info(n) }])),
    names: () => q.names(),
    info,
    readF32: (name) => q.readF32(name),
    readRaw: (name) => q.readRaw(name),
  };
}

/** Every 2-D tensor as `type`, or the per-tensor types llama-quantize gives a preset (presets.ts). */
export function typeRule(type: string, config: ModelConfig): (name: string, info: TensorInfo) => string | null {
  if (!/^q\d_k_m$/.test(type)) return () => type;
  return (name, info) => tensorTypeFor(type as GgufOutType, hfToGgufName(name) ?? name, info.shape, config.numLayers, config.tieWordEmbeddings);
}
