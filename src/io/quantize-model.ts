// "Load as 4-bit": a cached 16/32-bit model → a new model whose matrices are ggml blocks (Q4_0, Q4_K_M's mix or
// Q8_0), stored as an Alloy checkpoint keeps GGUF blocks (U8 [rows, rowBytes] named in "alloy.ggml_types":
// safetensors/checkpoint.ts, "ggml blocks"), so the GPU loader keeps Q8_0/Q4_0/Q5_0/Q4_K/Q5_K/Q6_K packed.
//
// Each tensor's type is llama-quantize's for the preset (presets.ts tensorTypeFor, asked with the tensor's GGUF
// name): norms and biases are never quantised; lm_head ("output"), or the token embedding when it is tied to it,
// gets Q6_K under q4_0 and q4_k_m (Q8_0 when its rows are not whole 256-blocks); q4_k_m gives attn_v and ffn_down
// Q6_K in its "more bits" layers; a row that is not whole blocks falls back (Q4_K → Q5_0 → F16). The blocks are
// quantize.ts's, which follows ggml's reference quantisers, so each tensor equals what llama-quantize writes from
// the same f32 rows (q/k rows are permuted in a GGUF file, but quantisation is row by row, so the blocks of a row
// are the same). Where the plan says F32 (norms, biases) the tensor keeps its stored dtype (no loss, no growth);
// an F16 fallback of a 16-bit tensor keeps its dtype too (BF16 → F16 could overflow), an F32 one is stored F16.
//
// Streaming: the safetensors header is computed from the plan alone, then one tensor at a time is read,
// quantised and written. A source that already holds ggml blocks is refused (re-quantising compounds the error).
import type { ByteSink } from './bytes.ts';
import { AlloyError, throwIfAborted } from '../common/errors.ts';
import { expectedTensorShapes, parseModelConfig, type ModelConfig } from './config.ts';
import { readJson, type ModelFiles } from './model-files.ts';
import { GGML_TYPES_KEY, INDEX_FILE, openCheckpoint, SINGLE_FILE } from './safetensors/checkpoint.ts';
import { encodeFromF32, type DType } from './safetensors/dtypes.ts';
import { writeSafetensors, type TensorToWrite } from './safetensors/writer.ts';
import { ggmlTypeByName } from './gguf/format.ts';
import { hfToGgufName } from './gguf/names.ts';
import { PRESETS, tensorTypeFor } from './gguf/presets.ts';
import { f32ToGgml } from './gguf/quant.ts';

/** The presets "load as 4-bit" offers: the ones whose main type the GPU reads packed. */
export type QuantizePreset = 'q4_0' | 'q4_k_m' | 'q8_0';
export const QUANTIZE_PRESETS: readonly QuantizePreset[] = ['q4_k_m', 'q4_0', 'q8_0'];

/** "Q4_K_M", as labels and llama.cpp's file names write a preset. */
export const presetName = (p: QuantizePreset): string => p.toUpperCase();

/** Why a tensor is not stored in the preset's main type. */
export type KeptReason = 'norm or bias (never quantised)' | 'output (lm_head or tied embedding)' | 'more bits (attn_v / ffn_down layer)' | 'rows not whole blocks (fallback)';

export interface PlannedTensor {
  name: string;
  /** logical shape [rows, cols] (or [n] for a vector) */
  shape: number[];
  /** what is written: a ggml block type name (Q4_K, Q6_K, …) or a safetensors dtype (F32, F16, BF16) */
  storage: string;
  /** bytes written */
  bytes: number;
  /** set when storage is not the preset's main type */
  reason?: KeptReason;
}

function blockBytes(type: string, elements: number): number {
  const t = ggmlTypeByName(type);
  return (elements / t.blockSize) * t.typeSize;
}

const DTYPE_BYTES: Readonly<Record<string, number>> = { F32: 4, F16: 2, BF16: 2 };

/**
 * The per-tensor plan for `preset`: every tensor the configuration implies, with its storage, its bytes and, when
 * it is not the preset's main type, why (llama-quantize's rules). `stored` gives each tensor's dtype in the source.
 */
export function quantizePlan(cfg: ModelConfig, preset: QuantizePreset, stored: (name: string) => DType): PlannedTensor[] {
  const base = PRESETS[preset].base;
  const arch = cfg.family === 'qwen2' || cfg.family === 'qwen3' || cfg.family === 'smollm3' || cfg.family === 'gemma3' ? cfg.family : 'llama';
  const out: PlannedTensor[] = [];
  for (const [name, shape] of expectedTensorShapes(cfg)) {
    const gguf = hfToGgufName(name, arch);
    if (gguf === null) throw new AlloyError(`tensor "${name}" has no llama.cpp name, so llama-quantize's rules do not say its type`, { tensor: name });
    const type = tensorTypeFor(preset, gguf, shape, cfg.numLayers, cfg.tieWordEmbeddings);
    const n = shape.reduce((a, b) => a * b, 1);
    const src = stored(name);
    let storage: string;
    if (type === 'F32') storage = src;
    else if (type === 'F16') storage = src === 'F32' ? 'F16' : src;
    else storage = type;
    const bytes = DTYPE_BYTES[storage] !== undefined ? n * DTYPE_BYTES[storage]! : blockBytes(storage, n);
    const t: PlannedTensor = { name, shape, storage, bytes };
    if (type !== base) {
      const output = gguf === 'output.weight' || (cfg.tieWordEmbeddings && gguf === 'token_embd.weight');
      const cols = shape[shape.length - 1]!;
      const baseBlock = ggmlTypeByName(base).blockSize;
      if (type === 'F32') t.reason = 'norm or bias (never quantised)';
      else if (output) t.reason = 'output (lm_head or tied embedding)';
      else if (cols % baseBlock !== 0) t.reason = 'rows not whole blocks (fallback)';
      else t.reason = 'more bits (attn_v / ffn_down layer)';
    }
    out.push(t);
  }
  return out;
}

export interface QuantizeSummary {
  preset: QuantizePreset;
  /** storage type → tensors and bytes */
  types: Record<string, { count: number; bytes: number }>;
  /** the source's weight files (safetensors and index) */
  sourceWeightBytes: number;
  /** the new model.safetensors */
  weightBytes: number;
  /** the token embedding's storage (what the GPU's gather reads) */
  embedding: string;
  /** tensors not stored in the preset's main type, with why */
  kept: { name: string; storage: string; reason: KeptReason }[];
  /** one line per reason, for people: "output (lm_head or tied embedding): model.embed_tokens.weight → Q8_0" */
  notes: string[];
}

export interface QuantizeOptions {
  preset: QuantizePreset;
  signal?: AbortSignal;
  /** the plan, before anything is written */
  onPlan?: (plan: readonly PlannedTensor[]) => void;
  /** after each tensor is quantised, just before it is written */
  onTensor?: (t: PlannedTensor) => void;
}

const WEIGHT_FILE = /\.safetensors$/;
const EMBED = 'model.embed_tokens.weight';

/** Summary of a plan (how the UI and the CLI show it). */
export function summarizePlan(plan: readonly PlannedTensor[], preset: QuantizePreset, sourceWeightBytes: number, weightBytes: number): QuantizeSummary {
  const types: QuantizeSummary['types'] = {};
  for (const t of plan) {
    const e = (types[t.storage] ??= { count: 0, bytes: 0 });
    e.count++;
    e.bytes += t.bytes;
  }
  const kept = plan.filter((t) => t.reason !== undefined).map((t) => ({ name: t.name, storage: t.storage, reason: t.reason! }));
  const byReason = new Map<KeptReason, string[]>();
  for (const k of kept) {
    const list = byReason.get(k.reason) ?? [];
    list.push(`${k.name} → ${k.storage}`);
    byReason.set(k.reason, list);
  }
  const notes = [...byReason].map(([r, names]) => `${r}: ${names.length > 4 ? `${names.length} tensors (${names.slice(0, 2).join(', ')}, …)` : names.join(', ')}`);
  const embedding = plan.find((t) => t.name === EMBED)?.storage ?? 'absent';
  return { preset, types, sourceWeightBytes, weightBytes, embedding, kept, notes };
}

/**
 * Writes `m` quantised by `preset` through `sinkFor`: every file but the weights copied as is, and one
 * model.safetensors with the planned tensors. Refusals (no config, missing tensors, wrong shapes, blocks already)
 * happen before anything is written.
 */
export async function quantizeModel(m: ModelFiles, sinkFor: (fileName: string) => Promise<ByteSink>, opts: QuantizeOptions): Promise<QuantizeSummary> {
  const cfg = parseModelConfig(await readJson(m, 'config.json'), `${m.label}/config.json`);
  const ck = await openCheckpoint(m);
  for (const name of ck.names()) {
    const t = ck.info(name).ggmlType;
    if (t !== undefined) {
      throw new AlloyError(`${m.label}: tensor "${name}" is already ${t} blocks; quantise a 16- or 32-bit model (quantising blocks again adds their error twice)`, { tensor: name });
    }
  }
  for (const [name, shape] of expectedTensorShapes(cfg)) {
    const info = ck.tensors.get(name)?.info;
    if (!info) throw new AlloyError(`${m.label}: the checkpoint has no tensor "${name}"`, { tensor: name });
    if (JSON.stringify(info.shape) !== JSON.stringify(shape)) {
      throw new AlloyError(`${m.label}: tensor "${name}" has shape ${JSON.stringify(info.shape)}, config.json implies ${JSON.stringify(shape)}`, { tensor: name });
    }
    if (DTYPE_BYTES[info.dtype] === undefined) {
      throw new AlloyError(`${m.label}: tensor "${name}" is ${info.dtype}; only F32, F16 and BF16 weights can be quantised`, { tensor: name });
    }
  }
  const plan = quantizePlan(cfg, opts.preset, (n) => ck.info(n).dtype);
  opts.onPlan?.(plan);
  const sourceWeightBytes = m.files.filter((f) => WEIGHT_FILE.test(f.path) || f.path === INDEX_FILE).reduce((n, f) => n + f.size, 0);

  for (const f of m.files) {
    if (WEIGHT_FILE.test(f.path) || f.path === INDEX_FILE) continue;
    throwIfAborted(opts.signal, 'quantisation');
    const src = await m.open(f.path);
    const sink = await sinkFor(f.path);
    await sink.write(await src.read(0, src.size));
    await sink.close();
  }

  const ggmlTypes: Record<string, string> = {};
  const tensors: TensorToWrite[] = plan.map((t) => {
    const block = DTYPE_BYTES[t.storage] === undefined;
    if (block) ggmlTypes[t.name] = t.storage;
    const rows = t.shape[0]!;
    return {
      name: t.name,
      dtype: block ? 'U8' : (t.storage as DType),
      shape: block ? [rows, t.bytes / rows] : t.shape,
      data: async () => {
        throwIfAborted(opts.signal, 'quantisation');
        const stored = ck.info(t.name).dtype;
        let bytes: Uint8Array;
        if (t.storage === stored) bytes = await ck.readRaw(t.name);
        else {
          const f = await ck.readF32(t.name);
          bytes = block ? f32ToGgml(ggmlTypeByName(t.storage), f) : encodeFromF32(t.storage as 'F16', f);
        }
        opts.onTensor?.(t);
        return bytes;
      },
    };
  });
  const meta: Record<string, string> = { source: `alloy quantize ${opts.preset}` };
  if (Object.keys(ggmlTypes).length > 0) meta[GGML_TYPES_KEY] = JSON.stringify(ggmlTypes);
  let bytes = 0;
  const sink = await sinkFor(SINGLE_FILE);
  await writeSafetensors(
    {
      write: async (b) => {
        bytes += b.byteLength;
        await sink.write(b);
      },
      close: () => sink.close(),
    },
    tensors,
    meta,
  );
  return summarizePlan(plan, opts.preset, sourceWeightBytes, bytes);
}
