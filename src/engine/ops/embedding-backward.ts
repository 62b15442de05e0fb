/**
 * Embedding backward (shaders/embedding_backward.wgsl): dTable f32 [V, H] += Σ over tokens of dOut f32 [N, H]
 * rows, by id. WGSL has no float atomics, so tokens sharing an id are grouped on the host first
 * (embeddingGradIndex: the ids are host data in training anyway) and one GPU thread per (distinct id, column)
 * sums its group in token order (times `scale`, the gather's). Only rows some token used are written, by +=: clear dTable once per step.
 * A table split by rows (model/split.ts) is one call per chunk with `rowStart`/`vocab`, as for the forward.
 */
import { AlloyError } from '../../common/errors.ts';
import type { KernelRegistry } from '../gpu/kernels.ts';
import { grid1d, launch, requireShape } from './dispatch.ts';

/** Token positions grouped by id: group u (id rows[u]) is order[offsets[u] .. offsets[u+1]). */
export interface EmbeddingGradIndex {
  /** distinct ids, increasing, u32 [U] */
  rows: Uint32Array;
  /** u32 [U + 1] */
  offsets: Uint32Array;
  /** token positions, stable within a group, u32 [N] */
  order: Uint32Array;
}

/** The same index, uploaded (what the kernel binds). */
export interface EmbeddingGradIndexBuffers {
  rows: GPUBuffer;
  offsets: GPUBuffer;
  order: GPUBuffer;
}

/** Groups token positions by id (stable sort). Throws AlloyError naming the first id outside [0, totalRows). */
export function embeddingGradIndex(ids: ArrayLike<number>, totalRows: number): EmbeddingGradIndex {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (!Number.isInteger(id) || id < 0 || id >= totalRows) {
      throw new AlloyError(`token id ${id} at position ${i} is outside the model's vocabulary (0..${totalRows - 1})`, {
        tensor: 'embed_tokens.weight',
      });
    }
  }
  const order = Uint32Array.from({ length: ids.length }, (_, i) => i).sort((a, b) => ids[a]! - ids[b]! || a - b);
  const rows: number[] = [];
  const offsets: number[] = [];
  for (let k = 0; k < order.length; k++) {
    const id = ids[order[k]!]!;
    if (k === 0 || id !== rows[rows.length - 1]) {
      rows.push(id);
      offsets.push(k);
    }
  }
  offsets.push(order.length);
  return { rows: Uint32Array.from(rows), offsets: Uint32Array.from(offsets), order };
}

export interface EmbeddingBackwardArgs {
  /** distinct ids: index.rows.length */
  unique: number;
  hidden: number;
  /** rows in `dTable` */
  vocab: number;
  /** id of dTable's first row, when it is one chunk of a larger table; default 0 */
  rowStart?: number;
  /** each row's sum times this: the forward gather's scale (Gemma 3's √hidden); default 1 */
  scale?: number;
}

export async function encodeEmbeddingBackward(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  dOut: GPUBuffer,
  index: EmbeddingGradIndexBuffers,
  dTable: GPUBuffer,
  args: EmbeddingBackwardArgs,
): Promise<void> {
  const { unique, hidden, vocab } = args;
  requireShape(unique > 0 && hidden > 0 && vocab > 0, 'embedding_backward', 'unique, hidden and vocab must be positive');
  requireShape(dTable !== dOut, 'embedding_backward', 'dTable must not alias dOut');
  await launch(kernels, encoder, {
    file: 'embedding_backward',
    // SCALE only when not 1, so unscaled models compile the pipeline they did before
    ...(args.scale !== undefined && args.scale !== 1 ? { constants: { SCALE: args.scale } } : {}),
    params: [{ u32: unique }, { u32: hidden }, { u32: args.rowStart ?? 0 }, { u32: vocab }],
    buffers: { 1: dOut, 2: index.order, 3: index.offsets, 4: index.rows, 5: dTable },
    groups: grid1d(Math.ceil((unique * hidden) / 256)),
  });
}
