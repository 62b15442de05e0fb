/**
 * The inference memory plan: what loading a model and running one forward will ask of the GPU, from the config
 * alone, before anything is downloaded or allocated (DESIGN.md: "a memory plan before every run").
 *
 * It counts exactly the buffers loadModel and runForward allocate (weights.ts, forward.ts, head.ts), in bytes of
 * the tensors themselves; the BufferPool rounds each buffer up to a size class (powers of two above 1 MiB) and
 * keeps released buffers for reuse, so its measured peak is somewhat higher. Layout recap:
 *   weights: matrices in the checkpoint's dtype (BF16/F16 stay 16-bit), vectors (norms, biases) and RoPE
 *     inv_freq f32; a tied lm_head costs nothing extra.
 *   KV cache: per layer k and v, f32 [batch, capacity, nKv, headDim].
 *   activations (the layer stage, the forward's peak before the head): ids and positions u32 [BT], key mask u32
 *     [batch, S], and f32 residual, 2 norms [BT, hidden]; the packed q|k|v [BT, (heads + 2·nKv)·headDim], q and
 *     attention out [BT, heads·headDim], k, v [BT, nKv·headDim]; packed gate|up [BT, 2·intermediate], gate, up
 *     (LoRA), SwiGLU [BT, intermediate] — counted as if all were live at once within a layer (an upper bound: the
 *     layer releases each as soon as its last reader is encoded, model/layer.ts).
 *   head: gathered rows (when fewer logit rows than tokens) and normed [R, hidden], the per-block copies of normed
 *     when logits are split, and the per-chunk [R, chunkRows] temporaries of a split lm_head.
 *   logits: f32 [R, vocab].
 */
import type { ModelConfig } from '../../io/config.ts';
import { expectedTensorShapes } from '../../io/config.ts';
import { DTYPE_BYTES, logitRowsPerBlock, planRowChunks } from './split.ts';
import type { WeightDtype } from './weights.ts';

/** WebGPU's default maxStorageBufferBindingSize: what a browser grants unless the adapter's limits are requested. */
export const DEFAULT_BINDING_BYTES = 128 * 2 ** 20;

export interface MemoryPlanOptions {
  /** storage of the checkpoint's matrices; 16-bit stays 16-bit on the GPU */
  dtype: WeightDtype;
  batch: number;
  /** tokens per row in the forward */
  seqLen: number;
  /** KV cache slots per row; default seqLen (0: no cache, as when scoring) */
  kvCapacity?: number;
  /** rows of logits computed; default batch·seqLen (every position; decoding needs batch, scoring the continuations) */
  logitRows?: number;
  /** binding size tables and logits are split to fit; default WebGPU's 128 MiB */
  maxBindingBytes?: number;
}

export interface MemoryPlan {
  params: number;
  weights: number;
  kvCache: number;
  activations: number;
  head: number;
  logits: number;
  /** weights + kvCache + activations + head + logits (the pool keeps released buffers, so it holds all of them) */
  total: number;
  /** row chunks of embed_tokens / lm_head (1 = unsplit), and row blocks of logits */
  embedChunks: number;
  lmHeadChunks: number;
  logitBlocks: number;
}

export function planInferenceMemory(cfg: ModelConfig, opts: MemoryPlanOptions): MemoryPlan {
  const { batch: B, seqLen: T } = opts;
  const BT = B * T;
  const C = cfg.hiddenSize;
  const V = cfg.vocabSize;
  const qW = cfg.numHeads * cfg.headDim;
  const kvW = cfg.numKvHeads * cfg.headDim;
  const I = cfg.intermediateSize;
  const R = opts.logitRows ?? BT;
  const capacity = opts.kvCapacity ?? T;
  const limit = opts.maxBindingBytes ?? DEFAULT_BINDING_BYTES;
  const wBytes = DTYPE_BYTES[opts.dtype];

  let params = 0;
  let weights = (cfg.headDim / 2) * 4; // inv_freq
  for (const shape of expectedTensorShapes(cfg).values()) {
    const n = shape.reduce((a, b) => a * b, 1);
    params += n;
    weights += n * (shape.length === 2 ? wBytes : 4);
  }

  const kvCache = 2 * cfg.numLayers * B * capacity * kvW * 4;
  const S = capacity > 0 ? capacity : T;
  // residual, 2 norms; the packed q|k|v output, q, k, v and the attention output; packed gate|up, gate, up, SwiGLU
  const activations = 4 * BT * (2 + 3 * C + 3 * qW + 4 * kvW + 5 * I) + 4 * B * S;

  const embedChunks = planRowChunks(V, C, opts.dtype, limit).length;
  const lmHeadChunks = embedChunks; // tied or not, lm_head has the embedding's shape and dtype
  const perBlock = logitRowsPerBlock(V, limit);
  const logitBlocks = Math.ceil(R / perBlock);
  let head = 4 * R * C; // normed
  if (R < BT) head += 4 * R + 4 * R * C; // row indices + gathered rows
  if (logitBlocks > 1) head += 4 * R * C; // each block's copy of its normed rows
  if (lmHeadChunks > 1) head += 4 * R * V; // per-chunk outputs, together one more [R, V]
  const logits = 4 * R * V;

  return {
    params,
    weights,
    kvCache,
    activations,
    head,
    logits,
    total: weights + kvCache + activations + head + logits,
    embedChunks,
    lmHeadChunks,
    logitBlocks,
  };
}
