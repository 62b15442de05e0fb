/**
 * Embedding gather (shaders/embedding.wgsl): out f32 [N, H] = table [V, H] rows picked by ids u32 [N].
 * The table is f32, or BF16/F16 raw 16-bit elements (two per u32, as safetensors stores them), or ggml blocks
 * (Q8_0/Q4_0/Q5_0/Q4_K/Q5_K/Q6_K, packed by quant-layout.ts: shaders/embedding_q.wgsl de-quantises the picked rows): `dtype`.
 * A table split by rows (model/split.ts) is one call per chunk: `rowStart` = the chunk's first id, `vocab` = its
 * rows, `totalRows` = the whole table's; ids outside the chunk leave their output rows untouched.
 * Pass the host copy of the ids (`hostIds`) whenever you have it: they are checked before anything is encoded,
 * so a bad id (tokenizer/model mismatch) fails with its position and value instead of a silent zero row.
 */
import { AlloyError } from '../../common/errors.ts';
import type { KernelRegistry } from '../gpu/kernels.ts';
import { grid1d, launch, requireShape } from './dispatch.ts';
import { GPU_QUANT_TYPES, isGpuQuantType, quantGpuWords, type GpuQuantType } from './quant-layout.ts';

export interface EmbeddingArgs {
  count: number;
  /** rows in `table` */
  vocab: number;
  hidden: number;
  /** id of the table's first row, when it is one chunk of a larger table; default 0 */
  rowStart?: number;
  /** rows of the whole table (ids at or above it give zero rows); default rowStart + vocab */
  totalRows?: number;
  hostIds?: ArrayLike<number>;
  /** storage type of the table; default f32 */
  dtype?: 'f32' | 'bf16' | 'f16' | GpuQuantType;
  /** every gathered value times this (Gemma 3's embedding scale); default 1 */
  scale?: number;
}

const DTYPE_CODE = { f32: 0, bf16: 1, f16: 2 } as const;

/** Throws AlloyError naming the first id that is not an integer in [0, vocab). */
export function validateTokenIds(ids: ArrayLike<number>, vocab: number): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (!Number.isInteger(id) || id < 0 || id >= vocab) {
      throw new AlloyError(`token id ${id} at position ${i} is outside the model's vocabulary (0..${vocab - 1})`, {
        tensor: 'embed_tokens.weight',
      });
    }
  }
}

export async function encodeEmbedding(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  table: GPUBuffer,
  ids: GPUBuffer,
  out: GPUBuffer,
  args: EmbeddingArgs,
): Promise<void> {
  const { count, vocab, hidden } = args;
  const rowStart = args.rowStart ?? 0;
  const totalRows = args.totalRows ?? rowStart + vocab;
  requireShape(rowStart + vocab <= totalRows, 'embedding', `chunk rows ${rowStart}..${rowStart + vocab - 1} exceed the table's ${totalRows}`);
  if (args.hostIds) {
    requireShape(args.hostIds.length === count, 'embedding', `hostIds has ${args.hostIds.length} ids, count is ${count}`);
    validateTokenIds(args.hostIds, totalRows);
  }
  const dtype = args.dtype ?? 'f32';
  if (isGpuQuantType(dtype)) {
    const t = GPU_QUANT_TYPES[dtype];
    requireShape(hidden % t.block === 0, 'embedding', `a ${dtype} row of ${hidden} is not whole blocks`);
    requireShape(args.scale === undefined || args.scale === 1, 'embedding', 'a quantised table takes no scale');
    const { dOff } = quantGpuWords(dtype, (vocab * hidden) / t.block);
    await launch(kernels, encoder, {
      file: 'embedding_q',
      constants: { QTYPE: t.id },
      params: [{ u32: count }, { u32: vocab }, { u32: hidden }, { u32: rowStart }, { u32: totalRows }, { u32: hidden }, { u32: dOff }],
      buffers: { 1: table, 2: ids, 3: out },
      groups: grid1d(Math.ceil((count * hidden) / 4 / 256)),
    });
    return;
  }
  await launch(kernels, encoder, {
    file: 'embedding',
    // SCALE only when not 1, so unscaled models compile exactly the pipelines they did before
    constants: { DTYPE: DTYPE_CODE[dtype], ...(args.scale !== undefined && args.scale !== 1 ? { SCALE: args.scale } : {}) },
    params: [{ u32: count }, { u32: vocab }, { u32: hidden }, { u32: rowStart }, { u32: totalRows }],
    buffers: { 1: table, 2: ids, 3: out },
    groups: grid1d(Math.ceil((count * hidden) / 256)),
  });
}
