/**
 * Splitting vocabulary-sized tensors to fit one storage binding.
 *
 * WebGPU binds a buffer whole (our kernels never bind a sub-range), and a binding may not exceed
 * maxStorageBufferBindingSize (128 MiB by default in browsers), nor a buffer maxBufferSize (256 MiB). The tensors
 * that outgrow these first are the ones with a vocabulary dimension: embed_tokens and lm_head [V, H]
 * (49152×2048 BF16 = 192 MiB for SmolLM2-1.7B; 128256×2048 = 501 MiB for Llama 3.2 1B) and logits [R, V].
 *
 * Memory layout of a split table: chunk c holds rows rowStart..rowStart+rows−1 of the HF [V, H] row-major tensor,
 * in its own buffer, in the same storage as the unsplit tensor (f32, or 16-bit pairs per u32). Every chunk but the
 * last has the same row count. For 16-bit storage with an odd H, chunk row counts are even, so every chunk starts
 * at an even element (the kernels decode element 2k from the low half of word k).
 * Logits are split by rows instead (model/head.ts): block b holds rows row0..row0+rows−1 of [R, V].
 */
import { AlloyError } from '../../common/errors.ts';
import { sizeClass } from '../gpu/buffer-pool.ts';
import type { ModelConfig } from '../../io/config.ts';
import type { GpuMatrix, MatrixDtype, WeightDtype } from './weights.ts';
import { GPU_QUANT_TYPES, isGpuQuantType, quantGpuBytes } from '../ops/quant-layout.ts';

/** One chunk of a row-split matrix: a GpuMatrix of `rows` rows whose first row is row `rowStart` of the whole. */
export interface GpuMatrixChunk extends GpuMatrix {
  rowStart: number;
}

/** A [rows, cols] matrix kept as row chunks that each fit one binding; one chunk when the whole fits. */
export interface SplitMatrix {
  dtype: MatrixDtype;
  rows: number;
  cols: number;
  chunks: readonly GpuMatrixChunk[];
}

export const DTYPE_BYTES: Readonly<Record<WeightDtype, number>> = { f32: 4, bf16: 2, f16: 2 };

/**
 * The largest request whose pool buffer still fits `limit` bytes. The pool rounds every request up to a size class
 * (multiples of 256 B up to 1 MiB, then powers of two: buffer-pool.ts) and the buffer is bound whole, so the class,
 * not the request, must fit. With a power-of-two limit (the usual case) this is the limit itself.
 */
export function bindableBytes(limit: number): number {
  if (limit >= 2 ** 21) return 2 ** Math.floor(Math.log2(limit));
  return Math.min(2 ** 20, Math.floor(limit / 256) * 256);
}

/**
 * Row counts per chunk for a [rows, cols] table of `dtype` under a binding limit of `limit` bytes. A quantised
 * table's chunk is packed on its own (quant-layout.ts), rows of whole blocks plus its scale table, which the count
 * leaves a word for.
 */
export function planRowChunks(rows: number, cols: number, dtype: MatrixDtype, limit: number, name = 'tensor'): Array<{ rowStart: number; rows: number }> {
  const quant = isGpuQuantType(dtype);
  const rowBytes = quant ? (cols / GPU_QUANT_TYPES[dtype].block) * GPU_QUANT_TYPES[dtype].bytes : cols * DTYPE_BYTES[dtype];
  let per = Math.floor((bindableBytes(limit) - (quant ? 4 : 0)) / rowBytes);
  if (!quant && DTYPE_BYTES[dtype] === 2 && cols % 2 === 1 && per < rows) per -= per % 2;
  if (per < 1) {
    throw new AlloyError(`tensor "${name}": one row (${rowBytes} bytes) is larger than a storage binding may be (${limit} bytes)`, {
      tensor: name,
    });
  }
  const out: Array<{ rowStart: number; rows: number }> = [];
  for (let r = 0; r < rows; r += per) out.push({ rowStart: r, rows: Math.min(per, rows - r) });
  return out;
}

/** Bytes one chunk of `rows` rows of a [·, cols] table of `dtype` takes on the GPU. */
export function chunkBytes(rows: number, cols: number, dtype: MatrixDtype): number {
  return isGpuQuantType(dtype) ? quantGpuBytes(dtype, rows, cols) : Math.ceil((rows * cols * DTYPE_BYTES[dtype]) / 4) * 4;
}

/** Logit rows per block so that a block [rows, vocab] f32 fits one binding. */
export function logitRowsPerBlock(vocab: number, limit: number): number {
  const per = Math.floor(bindableBytes(limit) / (vocab * 4));
  if (per < 1) throw new AlloyError(`one row of logits (${vocab * 4} bytes) is larger than a storage binding may be (${limit} bytes)`);
  return per;
}

/** Bytes the pool allocates for the chunks of a [rows, cols] table (what a loaded split table really costs). */
export function chunkedPoolBytes(rows: number, cols: number, dtype: MatrixDtype, limit: number): number {
  return planRowChunks(rows, cols, dtype, limit).reduce((s, c) => s + sizeClass(chunkBytes(c.rows, cols, dtype)), 0);
}

/** Projections that read the same input and are stored as one matrix when it fits a binding (weights.ts). */
export const FUSED_GROUPS = {
  qkv: ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj'],
  gateUp: ['mlp.gate_proj', 'mlp.up_proj'],
} as const;

/** Rows of each fused group's matrix (HF [out, in] rows stacked). */
export function fusedRows(cfg: ModelConfig): { qkv: number; gateUp: number } {
  return { qkv: (cfg.numHeads + 2 * cfg.numKvHeads) * cfg.headDim, gateUp: 2 * cfg.intermediateSize };
}

/**
 * Which groups load fused: those whose stacked matrix fits one binding of `limit` bytes (the same rule
 * loadModel applies, so the memory plans know the layer's shape from the config alone).
 */
export function fusedGroups(cfg: ModelConfig, dtype: WeightDtype, limit: number, fuse = true): { qkv: boolean; gateUp: boolean } {
  const rows = fusedRows(cfg);
  const fits = (r: number) => fuse && Math.ceil((r * cfg.hiddenSize * DTYPE_BYTES[dtype]) / 4) * 4 <= limit;
  return { qkv: fits(rows.qkv), gateUp: fits(rows.gateUp) };
}
