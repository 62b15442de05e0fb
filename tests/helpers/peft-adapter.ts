// PEFT LoRA adapters for tests, written by the engine's own safetensors writer: adapter_config.json +
// adapter_model.safetensors with PEFT's key names, random A and B (seeded) shaped for a model config, and knobs
// to break them (a wrong shape, an extra tensor, a config field) for the import's refusals.
import type { ModelConfig } from '../../src/io/config.ts';
import { BlobSink } from '../../src/io/bytes.ts';
import { encodeFromF32, type FloatDType } from '../../src/io/safetensors/dtypes.ts';
import { writeSafetensors, type TensorToWrite } from '../../src/io/safetensors/writer.ts';

export interface PeftSpec {
  r: number;
  alpha: number;
  /** module paths, e.g. "model.layers.0.self_attn.q_proj" */
  modules: string[];
  dtype?: FloatDType;
  seed?: number;
  /** merged into adapter_config.json (undefined values delete a key) */
  config?: Record<string, unknown>;
  /** a tensor's shape replaced (by PEFT key), for shape refusals */
  shapes?: Record<string, number[]>;
  /** more tensors, e.g. a modules_to_save copy */
  extra?: TensorToWrite[];
  /** a value written into a tensor (by PEFT key), e.g. NaN */
  poison?: { tensor: string; value: number };
}

export type PeftFiles = Record<'adapter_config.json' | 'adapter_model.safetensors', Uint8Array>;

/** [out, in] of a projection of a llama-family model */
export function projShape(c: ModelConfig, module: string): [number, number] {
  const p = module.slice(module.lastIndexOf('.') + 1);
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const shapes: Record<string, [number, number]> = {
    q_proj: [q, c.hiddenSize],
    k_proj: [kv, c.hiddenSize],
    v_proj: [kv, c.hiddenSize],
    o_proj: [c.hiddenSize, q],
    gate_proj: [c.intermediateSize, c.hiddenSize],
    up_proj: [c.intermediateSize, c.hiddenSize],
    down_proj: [c.hiddenSize, c.intermediateSize],
  };
  const s = shapes[p];
  if (!s) throw new Error(`no shape for ${module}`);
  return s;
}

function random(n: number, seed: number): Float32Array {
  let x = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return (x / 2 ** 32 - 0.5) * 0.6;
  });
}

export async function peftAdapter(model: ModelConfig, spec: PeftSpec): Promise<PeftFiles> {
  const dtype = spec.dtype ?? 'F32';
  let seed = spec.seed ?? 7;
  const tensors: TensorToWrite[] = [];
  for (const m of spec.modules) {
    const [out, inn] = projShape(model, m);
    for (const [half, shape] of [
      ['A', [spec.r, inn]],
      ['B', [out, spec.r]],
    ] as const) {
      const name = `base_model.model.${m}.lora_${half}.weight`;
      const s = spec.shapes?.[name] ?? shape;
      const values = random(s.reduce((a, b) => a * b, 1), seed++);
      if (spec.poison?.tensor === name) values[1] = spec.poison.value;
      tensors.push({ name, dtype, shape: s, data: encodeFromF32(dtype, values) });
    }
  }
  const sink = new BlobSink();
  await writeSafetensors(sink, [...tensors, ...(spec.extra ?? [])], { format: 'pt' });
  const leaves = [...new Set(spec.modules.map((m) => m.slice(m.lastIndexOf('.') + 1)))];
  const config: Record<string, unknown> = {
    base_model_name_or_path: 'alloy-fixtures/tiny-llama',
    bias: 'none',
    lora_alpha: spec.alpha,
    lora_dropout: 0,
    peft_type: 'LORA',
    r: spec.r,
    target_modules: leaves,
    task_type: 'CAUSAL_LM',
    ...spec.config,
  };
  for (const k of Object.keys(config)) if (config[k] === undefined) delete config[k];
  return {
    'adapter_config.json': new TextEncoder().encode(JSON.stringify(config, null, 2)),
    'adapter_model.safetensors': new Uint8Array(await sink.blob().arrayBuffer()),
  };
}
