// Which ggml type each tensor gets for an export preset: convert_hf_to_gguf's rules for f32/f16/bf16/q8_0 and
// llama-quantize's (llama_tensor_get_type in llama-quant.cpp, no importance matrix, a dense Llama/Qwen2 model) for
// q4_0, q4_k_m, q5_k_m and q6_k. One table; the rules it does not show are:
//   - only 2-D tensors whose name ends in "weight" and not "_norm.weight" are quantised: norms and biases stay F32;
//   - "output" applies to output.weight, and to token_embd.weight when the embeddings are tied (no output.weight);
//     llama-quantize gives it Q6_K unless the preset is Q8_0 or its rows are not whole blocks of the base type (then
//     Q8_0);
//   - "more bits" layers (attn_v, ffn_down under q4_k_m and q5_k_m): use_more_bits(i, n) = i < n/8 || i ≥ 7n/8 ||
//     (i − n/8) % 3 = 2 with integer division, i the layer index and n the layer count;
//   - a row length that is not a whole number of the chosen type's blocks falls back as llama-quantize's
//     tensor_type_fallback does (Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0) and, when that still does not divide, to F16 (Q4_0 and
//     Q8_0 go straight to F16, as the converter does: llama-quantize has no fallback for them and stops).
import { FILE_TYPE } from './format.ts';

export type GgufOutType = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_0' | 'q4_k_m' | 'q5_k_m' | 'q6_k';
export const GGUF_OUT_TYPES: readonly GgufOutType[] = ['f16', 'bf16', 'f32', 'q8_0', 'q6_k', 'q5_k_m', 'q4_k_m', 'q4_0'];

interface Preset {
  /** general.file_type (llama_ftype) */
  fileType: number;
  /** every other quantisable matrix */
  base: string;
  /** output.weight, or token_embd.weight when tied */
  output: string;
  /** attn_v.weight and ffn_down.weight in use_more_bits layers */
  moreBits: string;
}

export const PRESETS: Readonly<Record<GgufOutType, Preset>> = {
  f32: { fileType: FILE_TYPE.ALL_F32, base: 'F32', output: 'F32', moreBits: 'F32' },
  f16: { fileType: FILE_TYPE.MOSTLY_F16, base: 'F16', output: 'F16', moreBits: 'F16' },
  bf16: { fileType: FILE_TYPE.MOSTLY_BF16, base: 'BF16', output: 'BF16', moreBits: 'BF16' },
  q8_0: { fileType: FILE_TYPE.MOSTLY_Q8_0, base: 'Q8_0', output: 'Q8_0', moreBits: 'Q8_0' },
  q4_0: { fileType: FILE_TYPE.MOSTLY_Q4_0, base: 'Q4_0', output: 'Q6_K', moreBits: 'Q4_0' },
  q6_k: { fileType: FILE_TYPE.MOSTLY_Q6_K, base: 'Q6_K', output: 'Q6_K', moreBits: 'Q6_K' },
  q4_k_m: { fileType: FILE_TYPE.MOSTLY_Q4_K_M, base: 'Q4_K', output: 'Q6_K', moreBits: 'Q6_K' },
  q5_k_m: { fileType: FILE_TYPE.MOSTLY_Q5_K_M, base: 'Q5_K', output: 'Q6_K', moreBits: 'Q6_K' },
};

const BLOCK: Readonly<Record<string, number>> = { Q4_0: 32, Q5_0: 32, Q5_1: 32, Q8_0: 32, Q4_K: 256, Q5_K: 256, Q6_K: 256 };
const FALLBACK: Readonly<Record<string, string>> = { Q4_K: 'Q5_0', Q5_K: 'Q5_1', Q6_K: 'Q8_0', Q5_0: 'F16', Q5_1: 'F16', Q4_0: 'F16', Q8_0: 'F16' };

export function useMoreBits(i: number, n: number): boolean {
  const e = Math.floor(n / 8);
  return i < e || i >= Math.floor((7 * n) / 8) || (i - e) % 3 === 2;
}

/**
 * The ggml type name for GGUF tensor `name` of numpy shape `shape` under `preset`, in a model of `nLayers` layers
 * whose file has no output.weight when `tied`.
 */
export function tensorTypeFor(preset: GgufOutType, name: string, shape: readonly number[], nLayers: number, tied: boolean): string {
  const p = PRESETS[preset];
  if (shape.length < 2 || !name.endsWith('weight') || name.includes('_norm.weight')) return 'F32';
  const cols = shape[shape.length - 1]!;
  let type = p.base;
  const layer = /^blk\.(\d+)\./.exec(name);
  if (name === 'output.weight' || (tied && name === 'token_embd.weight')) {
    type = cols % (BLOCK[p.base] ?? 1) !== 0 ? 'Q8_0' : p.output;
    if (p.base === 'F32' || p.base === 'F16' || p.base === 'BF16') type = p.base;
  } else if (layer && (name.endsWith('.attn_v.weight') || name.endsWith('.ffn_down.weight')) && useMoreBits(Number(layer[1]), nLayers)) {
    type = p.moreBits;
  }
  while (BLOCK[type] !== undefined && cols % BLOCK[type]! !== 0) type = FALLBACK[type]!;
  return type;
}
