/**
 * The two ends of the model that touch the vocabulary: the embedding gather and the lm_head, over split tables
 * (split.ts), and the logits they produce.
 *
 * Memory layout:
 *   embedding out f32 [count, hidden]: one gather per table chunk; each writes only the rows of its ids.
 *   logits f32 [R, vocab] as row blocks (GpuLogits), each block [rows, vocab] row-major in its own buffer that fits
 *     one binding; one block unless R·vocab·4 bytes exceed it (long sequences × large vocabularies).
 *   lm_head with several chunks: per chunk a temporary y [rows, chunkRows], copied row by row into columns
 *     rowStart..rowStart+chunkRows−1 of the block (the matmul kernels write a dense [M, N], no output stride).
 */
import { readBuffer, type BufferPool } from '../gpu/buffer-pool.ts';
import { encodeEmbedding } from '../ops/embedding.ts';
import { encodeLinear } from './linear.ts';
import { logitRowsPerBlock } from './split.ts';
import type { Model } from './weights.ts';

export interface LogitsBlock {
  buffer: GPUBuffer;
  /** first logits row held by this block */
  row0: number;
  rows: number;
}

/** Logits [rows, vocab] on the GPU, as row blocks; release with releaseLogits or readLogits. */
export interface GpuLogits {
  rows: number;
  vocab: number;
  blocks: LogitsBlock[];
}

/** x [count, hidden] = embed_tokens rows of ids (u32 [count], validated by the caller). */
export async function encodeEmbed(model: Model, enc: GPUCommandEncoder, ids: GPUBuffer, x: GPUBuffer, count: number): Promise<void> {
  const { embed } = model;
  for (const c of embed.chunks) {
    await encodeEmbedding(model.kernels, enc, c.buffer, ids, x, {
      count,
      vocab: c.rows,
      hidden: embed.cols,
      dtype: embed.dtype,
      rowStart: c.rowStart,
      totalRows: embed.rows,
    });
  }
}

/**
 * logits = normed [rows, hidden] · lm_headᵀ, as row blocks. Temporaries the caller must release after submitting
 * `enc` are pushed onto `temps` (released earlier, their buffers could be handed out again within this encoder).
 */
export async function encodeLmHead(model: Model, enc: GPUCommandEncoder, normed: GPUBuffer, rows: number, temps: GPUBuffer[]): Promise<GpuLogits> {
  const { pool, lmHead } = model;
  const V = lmHead.rows;
  const H = lmHead.cols;
  const per = logitRowsPerBlock(V, model.maxBindingBytes);
  const blocks: LogitsBlock[] = [];
  for (let row0 = 0; row0 < rows; row0 += per) {
    const n = Math.min(per, rows - row0);
    // The matmul reads its A operand from offset 0, so a later block's rows get their own buffer.
    let input = normed;
    if (row0 > 0 || n < rows) {
      input = pool.alloc(n * H * 4, 'head-block');
      enc.copyBufferToBuffer(normed, row0 * H * 4, input, 0, n * H * 4);
      temps.push(input);
    }
    let out: GPUBuffer;
    if (lmHead.chunks.length === 1) {
      out = await encodeLinear(model, enc, input, n, lmHead.chunks[0]!, 'logits');
    } else {
      out = pool.alloc(n * V * 4, 'logits');
      for (const c of lmHead.chunks) {
        const y = await encodeLinear(model, enc, input, n, c, 'logits-chunk');
        temps.push(y);
        for (let r = 0; r < n; r++) enc.copyBufferToBuffer(y, r * c.rows * 4, out, (r * V + c.rowStart) * 4, c.rows * 4);
      }
    }
    blocks.push({ buffer: out, row0, rows: n });
  }
  return { rows, vocab: V, blocks };
}

export function releaseLogits(pool: BufferPool, logits: GpuLogits): void {
  for (const b of logits.blocks) pool.release(b.buffer);
}

/** Reads all logits back as one Float32Array [rows, vocab] and releases the buffers. */
export async function readLogits(model: Model, logits: GpuLogits): Promise<Float32Array> {
  try {
    const out = new Float32Array(logits.rows * logits.vocab);
    for (const b of logits.blocks) {
      out.set(new Float32Array(await readBuffer(model.device, b.buffer, b.rows * logits.vocab * 4)), b.row0 * logits.vocab);
    }
    return out;
  } finally {
    releaseLogits(model.pool, logits);
  }
}
