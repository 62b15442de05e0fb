/**
 * The two ends of the model that touch the vocabulary: the embedding gather and the lm_head, over split tables
 * (split.ts), and the logits they produce.
 *
 * Memory layout:
 *   embedding out f32 [count, hidden]: one gather per table chunk; each writes only the rows of its ids.
 *   logits f32 [R, vocab] as row blocks (GpuLogits), each block [rows, vocab] row-major in its own buffer that fits
 *     one binding; one block unless R·vocab·4 bytes exceed it (long sequences × large vocabularies).
 *   lm_head with several chunks: per chunk a temporary y [rows, chunkRows], written into columns
 *     rowStart..rowStart+chunkRows−1 of the block by one strided-copy dispatch (ops/columns.ts encodeCopyColumns;
 *     the matmul kernels write a dense [M, N], no output stride; a copyBufferToBuffer per row cost `rows` commands).
 *   backward: per logits block, dnormed [rows, hidden] = dlogits [rows, vocab] · lm_head;
 *     with several chunks, each chunk's columns of dlogits are copied out the same way into a temporary
 *     [rows, chunkRows] (the mirror of the forward's scatter) and their products summed into dnormed.
 *     Full fine-tuning also adds each chunk's weight gradient, dW [chunkRows, hidden] += dlogits[:, chunk]ᵀ · normed
 *     rows of the block (the same dlogits columns; no more temporaries than the input gradient's).
 */
import { readBuffer, type BufferPool } from '../gpu/buffer-pool.ts';
import { encodeEmbedding } from '../ops/embedding.ts';
import { encodeCopyColumns } from '../ops/columns.ts';
import { encodeSoftcapInPlace } from '../ops/elementwise.ts';
import { encodeMatmul } from '../ops/matmul.ts';
import { encodeLinear, encodeLinearInputGrad } from './linear.ts';
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
      scale: model.embedScale,
    });
  }
}

/**
 * The row blocks logits [rows, vocab] come in: each block [n, vocab] f32 fits one binding (and `capBytes` when
 * given: training's streamed head keeps one block alive at a time, so a smaller block is less memory).
 */
export function logitBlocks(model: Model, rows: number, capBytes = Infinity): Array<{ row0: number; rows: number }> {
  const per = logitRowsPerBlock(model.lmHead.rows, Math.min(model.maxBindingBytes, capBytes));
  const out: Array<{ row0: number; rows: number }> = [];
  for (let row0 = 0; row0 < rows; row0 += per) out.push({ row0, rows: Math.min(per, rows - row0) });
  return out;
}

/**
 * One block of logits: rows row0..row0+n−1 of normed [·, hidden] · lm_headᵀ, a fresh [n, vocab] buffer.
 * Temporaries the caller must release after submitting `enc` are pushed onto `temps` (released earlier, their
 * buffers could be handed out again within this encoder).
 */
export async function encodeLmHeadBlock(model: Model, enc: GPUCommandEncoder, normed: GPUBuffer, row0: number, n: number, temps: GPUBuffer[]): Promise<GPUBuffer> {
  const { pool, lmHead } = model;
  const V = lmHead.rows;
  const H = lmHead.cols;
  // The matmul reads its A operand from offset 0, so a later block's rows get their own buffer.
  let input = normed;
  if (row0 > 0) {
    input = pool.alloc(n * H * 4, 'head-block');
    enc.copyBufferToBuffer(normed, row0 * H * 4, input, 0, n * H * 4);
    temps.push(input);
  }
  let out: GPUBuffer;
  if (lmHead.chunks.length === 1) out = await encodeLinear(model, enc, input, n, lmHead.chunks[0]!, 'logits');
  else {
    out = pool.alloc(n * V * 4, 'logits');
    for (const c of lmHead.chunks) {
      const y = await encodeLinear(model, enc, input, n, c, 'logits-chunk');
      temps.push(y);
      // the chunk's [n, chunkRows] product into its logit columns: one strided copy, not one copy per row
      await encodeCopyColumns(model.kernels, enc, y, { stride: c.rows, col: 0 }, out, { stride: V, col: c.rowStart }, n, c.rows);
    }
  }
  // final_logit_softcapping (when set): every consumer (sampling, scoring, the loss) reads capped logits
  const cap = model.config.finalLogitSoftcapping;
  if (cap !== null) await encodeSoftcapInPlace(model.kernels, enc, out, { n: n * V, cap });
  return out;
}

/** logits = normed [rows, hidden] · lm_headᵀ, as row blocks, all in `enc` (temporaries as encodeLmHeadBlock). */
export async function encodeLmHead(model: Model, enc: GPUCommandEncoder, normed: GPUBuffer, rows: number, temps: GPUBuffer[]): Promise<GpuLogits> {
  const blocks: LogitsBlock[] = [];
  for (const b of logitBlocks(model, rows)) blocks.push({ ...b, buffer: await encodeLmHeadBlock(model, enc, normed, b.row0, b.rows, temps) });
  return { rows, vocab: model.lmHead.rows, blocks };
}

/** Full fine-tuning's lm_head gradient for one logits block: the block's normed rows and each chunk's f32 dW. */
export interface LmHeadWeightGrad {
  /** the block's rows of the final norm's output [rows, hidden], from offset 0 */
  normed: GPUBuffer;
  /** the gradient buffer of a chunk's storage (FullParams.gradOf) */
  gradOf(weight: GPUBuffer): GPUBuffer;
}

/**
 * dnormed [rows, hidden] = dlogits [rows, vocab] · lm_head, for one logits block; with `weightGrad` (full
 * fine-tuning) also dW += dlogitsᵀ · normed per chunk. Temporaries go onto `temps` as in encodeLmHead.
 */
export async function encodeLmHeadBackward(
  model: Model,
  enc: GPUCommandEncoder,
  dlogits: GPUBuffer,
  rows: number,
  dnormed: GPUBuffer,
  temps: GPUBuffer[],
  weightGrad?: LmHeadWeightGrad,
): Promise<void> {
  const { pool, lmHead } = model;
  const V = lmHead.rows;
  const H = lmHead.cols;
  const dW = async (dy: GPUBuffer, c: (typeof lmHead.chunks)[number]) => {
    if (weightGrad) await encodeMatmul(model.kernels, enc, dy, weightGrad.normed, weightGrad.gradOf(c.buffer), { M: c.rows, N: H, K: rows, transA: true, beta: 1 });
  };
  if (lmHead.chunks.length === 1) {
    await encodeLinearInputGrad(model, enc, dlogits, lmHead.chunks[0]!, dnormed, rows, false);
    return dW(dlogits, lmHead.chunks[0]!);
  }
  for (const [i, c] of lmHead.chunks.entries()) {
    const dy = pool.alloc(rows * c.rows * 4, 'dlogits-chunk');
    temps.push(dy);
    await encodeCopyColumns(model.kernels, enc, dlogits, { stride: V, col: c.rowStart }, dy, { stride: c.rows, col: 0 }, rows, c.rows);
    await encodeLinearInputGrad(model, enc, dy, c, dnormed, rows, i > 0);
    await dW(dy, c);
  }
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
