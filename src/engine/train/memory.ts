/**
 * The training memory plan (DESIGN.md: "a memory plan before every run"): what one LoRA training step asks of the
 * GPU, from the config alone, counted buffer by buffer as grad.ts, adapter.ts and trainer.ts allocate them.
 *
 * Layout recap (f32 unless said; BT = rows·T, C hidden, F intermediate, Hq = heads·headDim, Hkv = kvHeads·headDim):
 *   weights       the frozen base in its checkpoint dtype (BF16/F16 stay 16-bit), norms and inv_freq f32
 *   adapter       per adapted projection A [r, in], B [out, r], dA, dB, AdamW m and v for A and B: 6 × r·(in+out)
 *   inputs        ids, positions, key mask u32 [BT]; token weights and targets [BT] (loss backward)
 *   kept/layer    what grad.ts keeps for the backward (its header): x_in, x_mid, n1, n2, o, down [BT, C];
 *                 rstd1, rstd2 [BT]; q, att [BT, Hq]; k, v [BT, Hkv]; lse [BT, heads]; gate, up, act [BT, F];
 *                 xa [BT, r] per adapted projection
 *   head          residual x, final norm, rstd, dNormed, dx [BT, C]; logits [BT, V] (dlogits overwrite them) as
 *                 row blocks of ≤ one binding each (model/head.ts), built and back-propagated one block at a time:
 *                 one block's temporaries, [rows, C] (its normed rows / its dnormed rows) when there are several
 *                 blocks, and [rows, chunkRows] per lm_head chunk when the lm_head itself is split
 *   backward tmp  one layer's at a time (released and reused by the next layer): dAct, dGate, dUp [BT, F];
 *                 dN, dxn, dN1, dxn1 [BT, C]; dAtt, dq [BT, Hq]; dk, dv [BT, Hkv]; stats [BT, 2·heads];
 *                 g = dY·B [BT, r] per adapted projection
 *   dropout       (`dropout: true`, adapter.ts) masks are regenerated, never kept: per adapted projection the
 *                 backward draws xd = dropout(x) and gA = s·g·A [BT, in] (2 temporaries); the forward's own xd
 *                 [BT, in] is a temporary released after each layer and reused by those, except under recomputation,
 *                 where a layer's recomputed forward and its backward share one encoder (3 per projection)
 *   grad norm     ⌈n/256⌉ partials per adapter tensor
 * `poolTotal` rounds every buffer up to the BufferPool's size class, as the pool's measured peak does.
 *
 * Per-layer recomputation (`recompute: true`, implemented in grad.ts, `alloy train --recompute`): the forward keeps
 * only each layer's input x_in [BT, C] and releases the rest of the layer's set after its submit (the last layer's
 * set stays: its backward comes next); each earlier layer's forward runs again from x_in into a scratch residual
 * [BT, C] just before its backward. So `kept` = L·[BT, C] + one layer's set, whose x_in slot stands for the scratch,
 * at the cost of a forward of layers 0..L−2 per pass. Gradients are bit-identical to keeping everything (same
 * kernels, same bytes, same dropout masks; tests/engine/train/recompute.gpu.test.ts, which also holds this plan
 * against the BufferPool's measured peak for both settings).
 */
import { expectedTensorShapes, type ModelConfig } from '../../io/config.ts';
import { sizeClass } from '../gpu/buffer-pool.ts';
import { DEFAULT_BINDING_BYTES } from '../model/memory.ts';
import { DTYPE_BYTES, logitRowsPerBlock, planRowChunks } from '../model/split.ts';
import type { WeightDtype } from '../model/weights.ts';
import type { LoraTarget } from '../lora/targets.ts';
import { SUMSQ_SPAN } from './defaults.ts';

export interface TrainingPlanOptions {
  dtype: WeightDtype;
  /** sequences per forward (a DPO/ORPO pair counts 2) */
  rows: number;
  /** padded tokens per sequence */
  seqLen: number;
  r: number;
  targets: readonly LoraTarget[];
  recompute?: boolean;
  /** LoRA dropout on (p > 0): the backward's regenerated-mask temporaries */
  dropout?: boolean;
  /** the storage binding limit tables and logits are split to fit (default: WebGPU's default limit) */
  maxBindingBytes?: number;
}

export interface TrainingMemoryPlan {
  weights: number;
  /** A, B, dA, dB, AdamW m, v */
  adapter: number;
  /** activations kept for the backward, all layers (or, with recompute, the layer inputs + one layer) */
  kept: number;
  /** one layer's backward temporaries */
  backward: number;
  /** inputs, residual, final norm, logits, head gradients, grad-norm partials */
  head: number;
  logits: number;
  /** exact tensor bytes: weights + adapter + kept + backward + head */
  total: number;
  /** the same with every buffer rounded up to the pool's size class (comparable to BufferPool's peak) */
  poolTotal: number;
  recompute: boolean;
}

const IO: Record<LoraTarget, (c: ModelConfig) => [number, number]> = {
  q_proj: (c) => [c.hiddenSize, c.numHeads * c.headDim],
  k_proj: (c) => [c.hiddenSize, c.numKvHeads * c.headDim],
  v_proj: (c) => [c.hiddenSize, c.numKvHeads * c.headDim],
  o_proj: (c) => [c.numHeads * c.headDim, c.hiddenSize],
  gate_proj: (c) => [c.hiddenSize, c.intermediateSize],
  up_proj: (c) => [c.hiddenSize, c.intermediateSize],
  down_proj: (c) => [c.intermediateSize, c.hiddenSize],
};

export function planTrainingMemory(cfg: ModelConfig, o: TrainingPlanOptions): TrainingMemoryPlan {
  const BT = o.rows * o.seqLen;
  const C = cfg.hiddenSize;
  const F = cfg.intermediateSize;
  const Hq = cfg.numHeads * cfg.headDim;
  const Hkv = cfg.numKvHeads * cfg.headDim;
  const L = cfg.numLayers;
  const nAdapted = o.targets.length;
  // Each group: [exact bytes, pool bytes] accumulated buffer by buffer.
  const group = () => {
    const g = { exact: 0, pool: 0 };
    const add = (bytes: number, count = 1) => {
      g.exact += bytes * count;
      g.pool += sizeClass(bytes) * count;
    };
    return { g, add };
  };

  const limit = o.maxBindingBytes ?? DEFAULT_BINDING_BYTES;
  const w = group();
  for (const [name, shape] of expectedTensorShapes(cfg)) {
    // Vocabulary tables come as row chunks that each fit one binding (model/split.ts).
    const chunks = name === 'model.embed_tokens.weight' || name === 'lm_head.weight' ? planRowChunks(shape[0]!, shape[1]!, o.dtype, limit, name) : [{ rows: shape[0]! }];
    const cols = shape.length === 2 ? shape[1]! : 1;
    for (const c of chunks) w.add(shape.length === 2 ? Math.ceil((c.rows * cols * DTYPE_BYTES[o.dtype]) / 4) * 4 : c.rows * 4);
  }
  w.add((cfg.headDim / 2) * 4);

  const ad = group();
  let partials = 0;
  const dropTemps = o.dropout ? (o.recompute ? 3 : 2) : 0;
  const bw = group();
  for (const t of o.targets) {
    const [inF, outF] = IO[t](cfg);
    ad.add(o.r * inF * 4, 6 * L); // A, dA, m, v of A
    ad.add(outF * o.r * 4, 6 * L);
    partials += L * (Math.ceil((o.r * inF) / SUMSQ_SPAN) + Math.ceil((outF * o.r) / SUMSQ_SPAN));
    bw.add(BT * inF * 4, dropTemps);
  }

  const perLayer = (k: ReturnType<typeof group>, n = 1) => {
    k.add(BT * C * 4, 4 * n); // x_in, x_mid, n1, n2 (o_proj and down_proj add into the residual: no buffers)
    k.add(BT * 4, 2 * n);
    k.add(BT * Hq * 4, 2 * n);
    k.add(BT * Hkv * 4, 2 * n);
    k.add(BT * cfg.numHeads * 4, n);
    k.add(BT * F * 4, 3 * n);
    k.add(BT * o.r * 4, nAdapted * n);
  };
  const kept = group();
  const recompute = o.recompute ?? false;
  if (recompute) {
    kept.add(BT * C * 4, L);
    perLayer(kept, 1);
  } else perLayer(kept, L);

  bw.add(BT * F * 4, 3);
  bw.add(BT * C * 4, 4);
  // fused projections (model/layer.ts): the packed q|k|v and gate|up outputs while a forward splits them (a
  // recomputed forward runs beside the backward), and the packed gradients their one input-gradient matmul reads
  bw.add(BT * (Hq + 2 * Hkv) * 4, 2);
  bw.add(BT * 2 * F * 4, 2);
  bw.add(BT * Hq * 4, 2);
  bw.add(BT * Hkv * 4, 2);
  bw.add(BT * cfg.numHeads * 2 * 4);
  bw.add(BT * o.r * 4, nAdapted);

  const head = group();
  head.add(BT * 4, 5); // ids, positions, key mask, token weights, targets
  head.add(BT * C * 4, 4); // residual, final norm, dNormed, dx
  head.add(BT * 4); // final rstd
  head.add(partials * 4);
  const V = cfg.vocabSize;
  const logits = BT * V * 4;
  const perBlock = logitRowsPerBlock(V, limit);
  for (let r = 0; r < BT; r += perBlock) head.add(Math.min(perBlock, BT - r) * V * 4);
  const blockRows = Math.min(perBlock, BT);
  if (BT > perBlock) head.add(blockRows * C * 4);
  const lmHeadChunks = planRowChunks(V, C, o.dtype, limit, 'lm_head');
  if (lmHeadChunks.length > 1) for (const c of lmHeadChunks) head.add(blockRows * c.rows * 4);

  const parts = [w, ad, kept, bw, head].map((x) => x.g);
  return {
    weights: w.g.exact,
    adapter: ad.g.exact,
    kept: kept.g.exact,
    backward: bw.g.exact,
    head: head.g.exact - logits,
    logits,
    total: parts.reduce((s, p) => s + p.exact, 0),
    poolTotal: parts.reduce((s, p) => s + p.pool, 0),
    recompute,
  };
}
