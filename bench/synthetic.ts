// SmolLM2-shaped models with random BF16 weights, for benchmarks that need real sizes without a download: the
// configs (HF config.json fields that set the shapes) and a Checkpoint whose bytes are made as they are read.
import { parseModelConfig, expectedTensorShapes, type ModelConfig } from '../src/io/config.ts';
import type { Checkpoint, CheckpointTensor } from '../src/io/safetensors/checkpoint.ts';
import { f32ToBf16Bits } from '../src/io/safetensors/dtypes.ts';
import type { SafetensorsFile } from '../src/io/safetensors/reader.ts';
import { benchModelConfigFields, SMOLLM2_MODELS } from '../src/engine/kernel-bench/models.ts';

/** SmolLM2 configs by size (HF config.json fields that matter for shapes), from the kernel bench's table. */
export const SMOLLM2: Record<string, Record<string, number>> = Object.fromEntries(
  SMOLLM2_MODELS.map((m) => [m.name.replace('SmolLM2-', ''), benchModelConfigFields(m)]),
);

/** A SmolLM2 config; `layers` truncates the depth (same widths, heads and vocabulary) for per-layer timing. */
export function smolConfig(size: string, layers?: number): ModelConfig {
  return parseModelConfig({
    architectures: ['LlamaForCausalLM'],
    ...SMOLLM2[size],
    ...(layers ? { num_hidden_layers: layers } : {}),
    max_position_embeddings: 8192,
    rms_norm_eps: 1e-5,
    rope_theta: 100000,
    tie_word_embeddings: true,
    torch_dtype: 'bfloat16',
  });
}

/**
 * The throughput bench's tiny Llama (issue 14): D 128, 4 layers, 4 heads / 2 KV heads (head_dim 32), I 352,
 * vocabulary 512, tied embeddings, f32; small enough that a LoRA step measures the engine's fixed costs.
 */
export function tinyLlamaConfig(): ModelConfig {
  return parseModelConfig({
    architectures: ['LlamaForCausalLM'],
    hidden_size: 128,
    intermediate_size: 352,
    num_hidden_layers: 4,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 256,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: true,
    torch_dtype: 'float32',
    vocab_size: 512,
  });
}

/**
 * A Checkpoint of random BF16 matrices (uniform in ±1/√cols, so activations stay O(1)) and unit norm vectors;
 * with dtype 'F32' the same values widened to f32 (for f32 models compared against f32 frameworks).
 * Bytes are produced when read: a 1 Mi-value random pool per scale, copied from a per-tensor offset, so a 3.4 GB
 * model costs memcpy time, and only the tensor being uploaded is ever on the CPU.
 */
export function syntheticCheckpoint(config: ModelConfig, dtype: 'BF16' | 'F32' = 'BF16'): Checkpoint {
  const f32 = dtype === 'F32';
  const POOL = 1 << 20;
  const pools = new Map<number, Uint16Array>();
  const poolFor = (cols: number) => {
    let p = pools.get(cols);
    if (!p) {
      let s = cols >>> 0;
      const scale = 1 / Math.sqrt(cols);
      p = new Uint16Array(POOL);
      for (let i = 0; i < POOL; i++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        p[i] = f32ToBf16Bits((s / 2 ** 32 - 0.5) * 2 * scale);
      }
      pools.set(cols, p);
    }
    return p;
  };
  const file = {} as SafetensorsFile; // never read: every read goes through readRaw/readF32 below
  const tensors = new Map<string, CheckpointTensor>();
  let offset = 0;
  for (const [name, shape] of expectedTensorShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const bytes = shape.length === 2 && !f32 ? n * 2 : n * 4;
    tensors.set(name, { file, info: { name, dtype: shape.length === 2 && !f32 ? 'BF16' : 'F32', shape, begin: offset, end: offset + bytes } });
    offset += bytes;
  }
  const info = (name: string) => tensors.get(name)!.info;
  return {
    files: [],
    tensors,
    names: () => [...tensors.keys()],
    info,
    async readRaw(name) {
      const { shape } = info(name);
      if (shape.length !== 2) return new Uint8Array((await this.readF32(name)).buffer);
      const pool = poolFor(shape[1]!);
      const n = shape[0]! * shape[1]!;
      const out = new Uint16Array(n);
      let start = (name.length * 7919) % POOL;
      for (let i = 0; i < n; ) {
        const take = Math.min(POOL - start, n - i);
        out.set(pool.subarray(start, start + take), i);
        i += take;
        start = 0;
      }
      // bf16 bits are the top half of an f32's
      return f32 ? new Uint8Array(Uint32Array.from(out, (b) => b << 16).buffer) : new Uint8Array(out.buffer);
    },
    async readF32(name) {
      if (f32 && info(name).shape.length === 2) return new Float32Array((await this.readRaw(name)).buffer as ArrayBuffer);
      return new Float32Array(info(name).shape.reduce((a, b) => a * b, 1)).fill(1);
    },
  };
}
