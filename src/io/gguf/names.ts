// llama.cpp's tensor names (gguf-py's constants.py / tensor_mapping.py) ↔ Hugging Face names, and the q/k row order.
// One table serves "llama", "qwen2", "qwen3" and "smollm3"; "gemma3" renames the norms around its sandwich blocks:
// Hugging Face's post_attention_layernorm is llama.cpp's post_attention_norm there (not ffn_norm, which is Gemma's
// pre_feedforward_layernorm), and post_feedforward_layernorm is post_ffw_norm.
//
// convert_hf_to_gguf.py (LlamaModel.permute) reorders the rows of q_proj and k_proj per head from Hugging Face's
// rotate_half layout (rotates pairs (j, j + head_dim/2)) to the interleaved layout llama.cpp's RoPE uses (pairs
// (2j, 2j+1)):  w.reshape(n_head, 2, head_dim/2, cols).swapaxes(1, 2).reshape(rows, cols)
// (k_proj with n_head = n_kv_head). That is GGUF row h·hd + 2j + i = HF row h·hd + i·hd/2 + j; the import applies
// the inverse, which is the same map llama2.c's checkpoints need (llama2c.ts permuteRotary).

const LAYER: Readonly<Record<string, string>> = {
  attn_norm: 'input_layernorm',
  attn_q: 'self_attn.q_proj',
  attn_k: 'self_attn.k_proj',
  attn_v: 'self_attn.v_proj',
  attn_output: 'self_attn.o_proj',
  // Qwen3's per-head q/k RMSNorm weights (llama.cpp's "qwen3")
  attn_q_norm: 'self_attn.q_norm',
  attn_k_norm: 'self_attn.k_norm',
  ffn_norm: 'post_attention_layernorm',
  ffn_gate: 'mlp.gate_proj',
  ffn_up: 'mlp.up_proj',
  ffn_down: 'mlp.down_proj',
};
/** The GGUF architectures Alloy reads and writes (general.architecture). */
export type GgufArch = 'llama' | 'qwen2' | 'qwen3' | 'smollm3' | 'gemma3';
const GEMMA3_LAYER: Readonly<Record<string, string>> = {
  ...Object.fromEntries(Object.entries(LAYER).filter(([g]) => g !== 'ffn_norm')),
  post_attention_norm: 'post_attention_layernorm',
  ffn_norm: 'pre_feedforward_layernorm',
  post_ffw_norm: 'post_feedforward_layernorm',
};
const GLOBAL: Readonly<Record<string, string>> = {
  token_embd: 'model.embed_tokens',
  output_norm: 'model.norm',
  output: 'lm_head',
};
const layerTable = (arch: GgufArch) => (arch === 'gemma3' ? GEMMA3_LAYER : LAYER);
const invert = (t: Readonly<Record<string, string>>) => Object.fromEntries(Object.entries(t).map(([g, h]) => [h, g])) as Record<string, string>;
const LAYER_INV = invert(LAYER);
const GEMMA3_LAYER_INV = invert(GEMMA3_LAYER);
const GLOBAL_INV = Object.fromEntries(Object.entries(GLOBAL).map(([g, h]) => [h, g]));

const GGUF_LAYER = /^blk\.(\d+)\.([a-z_]+)\.(weight|bias)$/;
const GGUF_GLOBAL = /^([a-z_]+)\.(weight|bias)$/;
const HF_LAYER = /^model\.layers\.(\d+)\.([a-z_.]+)\.(weight|bias)$/;
const HF_GLOBAL = /^((?:model\.)?[a-z_]+)\.(weight|bias)$/;

/** The Hugging Face name of a llama.cpp tensor of architecture `arch`, or null when it has none. */
export function ggufToHfName(name: string, arch: GgufArch = 'llama'): string | null {
  let m = GGUF_LAYER.exec(name);
  if (m) {
    const table = layerTable(arch);
    const hf = Object.hasOwn(table, m[2]!) ? table[m[2]!] : undefined;
    return hf ? `model.layers.${m[1]}.${hf}.${m[3]}` : null;
  }
  m = GGUF_GLOBAL.exec(name);
  if (m) {
    const hf = Object.hasOwn(GLOBAL, m[1]!) ? GLOBAL[m[1]!] : undefined;
    return hf ? `${hf}.${m[2]}` : null;
  }
  return null;
}

/** The llama.cpp name of a Hugging Face tensor in a GGUF of architecture `arch`, or null when it has none. */
export function hfToGgufName(name: string, arch: GgufArch = 'llama'): string | null {
  let m = HF_LAYER.exec(name);
  if (m) {
    const inv = arch === 'gemma3' ? GEMMA3_LAYER_INV : LAYER_INV;
    const g = Object.hasOwn(inv, m[2]!) ? inv[m[2]!] : undefined;
    return g ? `blk.${m[1]}.${g}.${m[3]}` : null;
  }
  m = HF_GLOBAL.exec(name);
  if (m) {
    const g = Object.hasOwn(GLOBAL_INV, m[1]!) ? GLOBAL_INV[m[1]!] : undefined;
    return g ? `${g}.${m[2]}` : null;
  }
  return null;
}

/** Heads whose rows a Hugging Face tensor's RoPE permutation runs over (q: attention heads, k: KV heads), if any. */
export function rotaryHeads(hfName: string, heads: { numHeads: number; numKvHeads: number }): number | null {
  if (/\.self_attn\.q_proj\.(weight|bias)$/.test(hfName)) return heads.numHeads;
  if (/\.self_attn\.k_proj\.(weight|bias)$/.test(hfName)) return heads.numKvHeads;
  return null;
}

/**
 * Reorders whole rows (`rowBytes` each, any element type) of a [nHeads·headDim, …] tensor.
 * 'to-gguf': rotate_half → interleaved (convert_hf_to_gguf's permute); 'to-hf': the inverse.
 */
export function permuteRows(bytes: Uint8Array, rowBytes: number, nHeads: number, direction: 'to-gguf' | 'to-hf'): Uint8Array<ArrayBuffer> {
  const rows = bytes.byteLength / rowBytes;
  if (!Number.isInteger(rows) || rows % nHeads !== 0 || (rows / nHeads) % 2 !== 0) {
    throw new RangeError(`cannot permute ${rows} rows over ${nHeads} heads with an even head_dim`);
  }
  const headDim = rows / nHeads;
  const half = headDim / 2;
  const out = new Uint8Array(bytes.byteLength);
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < half; j++) {
        const hfRow = h * headDim + i * half + j;
        const ggRow = h * headDim + 2 * j + i;
        const [src, dst] = direction === 'to-gguf' ? [hfRow, ggRow] : [ggRow, hfRow];
        out.set(bytes.subarray(src * rowBytes, (src + 1) * rowBytes), dst * rowBytes);
      }
    }
  }
  return out;
}
