/**
 * The training memory plan (DESIGN.md: "a memory plan before every run"): what one LoRA training step asks of the
 * GPU, from the config alone. The layer's buffers are not counted here: they come from model/layer.ts (planLayer
 * mirrors encodeLayer, planLayerBackward mirrors encodeLayerBackward, sizes from layerActBytes / layerGradBytes),
 * the same functions the inference plan (model/memory.ts) uses; this file mirrors what grad.ts (lossAndGrads),
 * adapter.ts, trainer.ts and clip.ts allocate around the layers, in their order, on a PoolTally.
 *
 * Layout recap (f32 unless said; BT = rows·T, C hidden, F intermediate, Hq = heads·headDim, Hkv = kvHeads·headDim):
 *   weights       the frozen base in its checkpoint dtype (BF16/F16 stay 16-bit), norms and inv_freq f32
 *   adapter       per adapted projection A [r, in], B [out, r], dA, dB, AdamW m and v for A and B: 4 × r·(in+out)
 *                 (A and dA in one buffer per adapter group, lora/adapter.ts groupFloats)
 *   inputs        ids, positions, key mask u32 [BT]; token weights and targets [BT] (loss backward)
 *   kept/layer    layer.ts LayerActs: x_in, x_mid, n1, n2 [BT, C]; rstd1, rstd2 [BT]; q, att [BT, Hq];
 *                 k, v [BT, Hkv]; lse [BT, heads]; gate, up, act [BT, F]; xa [BT, r] per adapted projection
 *                 (one buffer per adapter group, lora/adapter.ts xaBytes)
 *                 (o_proj and down_proj add into the residual: they keep nothing)
 *   head          residual x, final norm, rstd, dNormed, dx [BT, C]; logits [BT, V] (dlogits overwrite them) as
 *                 row blocks of ≤ one binding each (model/head.ts): CPT and SFT make, gather and back-propagate one
 *                 block before the next (one block alive, blocks of ≤ TRAIN_LOGIT_BLOCK_BYTES); DPO, IPO and ORPO
 *                 make them all, read their log-probs, then back-propagate them block by block:
 *                 one block's temporaries, [rows, C] (its normed rows / its dnormed rows) when there are several
 *                 blocks, and [rows, chunkRows] per lm_head chunk when the lm_head itself is split
 *   backward tmp  one layer's at a time (layerGradBytes; back to the pool once the layer's backward is encoded,
 *                 reused by the next layer): dAct, dGate, dUp [BT, F]; dN, dxn, dN1, dxn1 [BT, C]; dAtt, dq [BT, Hq];
 *                 dk, dv [BT, Hkv]; stats [BT, 2·heads]; g = dY·B [BT, r] per adapted projection
 *   dropout       (`dropout: true`, adapter.ts) masks are regenerated, never kept: per adapted projection the
 *                 backward draws xd = dropout(x) and gA = s·g·A [BT, in]; the forward's own xd [BT, in] goes back
 *                 after each layer, except under recomputation, where a layer's recomputed forward and its backward
 *                 share one list of temporaries
 *   reference     DPO/IPO (`method`): a forward with the adapters off before the step (model/memory.ts planForward),
 *                 its logits gathered and freed; its buffers stay in the pool for the training forward to reuse
 *   grad norm     ⌈n/256⌉ partials per adapter tensor, one buffer
 *   full          (`mode: 'full'`, grad.ts PassOptions.full) no adapter: per model storage buffer (full-params.ts
 *                 fullParamElements: a fused q|k|v or gate|up matrix is one, an embedding split to fit a binding
 *                 one per chunk, norms and biases f32) its f32 gradient and, from the Trainer, AdamW m and v and an f32
 *                 master copy of each 16-bit matrix (the update is applied there and rounded into the model's own
 *                 weight); the embedding gradient's id grouping (rows, offsets, order: ≤ BT, BT + 1, BT u32)
 *                 uploaded with the inputs, and in the head's backward a later logits block's normed rows [rows, C]
 *                 copied for its lm_head dW; the layer backward adds nothing (dW, db and dγ go straight into the
 *                 gradients). DPO/IPO's reference forward runs once before step 1 (precomputed), planned as LoRA's.
 *
 * Two totals: `total` adds the groups above (exact tensor bytes, every group at once: a bound with no pool); and
 * `poolTotal` replays the step on a PoolTally, which is the BufferPool's peakBytes: every buffer rounded up to its size
 * class (buffer-pool.ts sizeClass) and every released buffer kept for reuse by a later request of the same class.
 * poolTotal is what is compared with the pool's measured peak and with a budget.
 *
 * Per-layer recomputation (`recompute: true`, implemented in grad.ts, `alloy train --recompute`): the forward keeps
 * only each layer's input x_in [BT, C] and releases the rest of the layer's set after it is encoded (the last
 * layer's set stays: its backward comes next); each earlier layer's forward runs again from x_in into a scratch
 * residual [BT, C] just before its backward. So `kept` = L·[BT, C] + one layer's set, whose x_in slot stands for the
 * scratch, at the cost of a forward of layers 0..L−2 per pass. Gradients are bit-identical to keeping everything
 * (same kernels, same bytes, same dropout masks; tests/engine/train/recompute.gpu.test.ts, which also holds this plan
 * against the BufferPool's measured peak for both settings).
 */
import type { ModelConfig } from '../../io/config.ts';
import { isLinearInLogp, needsReference } from '../../common/objectives/registry.ts';
import type { Method } from '../../common/training-data.ts';
import { DEFAULT_BINDING_BYTES, planForward, planLmHeadBlock, planWeights, PoolTally } from '../model/memory.ts';
import { layerActBytes, layerActsF16, planLayer, planLayerBackward, type BufferTally, type LayerLoraPlan, type LayerPlanShape, type PlannedBuffer } from '../model/layer.ts';
import { fusedGroups } from '../model/split.ts';
import { logitRowsPerBlock, planRowChunks } from '../model/split.ts';
import type { WeightDtype } from '../model/weights.ts';
import type { ActDtype } from '../act-dtype.ts';
import type { KernelFamily } from '../kernel-family.ts';
import { fullParamElements } from './full-params.ts';
import { groupFloats, LORA_GROUPS, type ProjKey } from '../lora/adapter.ts';
import type { LoraTarget } from '../lora/targets.ts';
import { SUMSQ_SPAN, TRAIN_LOGIT_BLOCK_BYTES } from './defaults.ts';

export interface TrainingPlanOptions {
  dtype: WeightDtype;
  /** the tensors stored as ggml blocks (HF name → ggml type): a quantised base, counted at its packed bytes */
  matrixTypes?: Readonly<Record<string, string>>;
  /** sequences per forward (a DPO/ORPO pair counts 2) */
  rows: number;
  /** padded tokens per sequence */
  seqLen: number;
  r: number;
  targets: readonly LoraTarget[];
  recompute?: boolean;
  /** LoRA dropout on (p > 0): the regenerated-mask temporaries */
  dropout?: boolean;
  /**
   * the objective: DPO and IPO run a reference forward first; CPT and SFT (linear in the log-probs) upload their
   * token weights before the forward and gather inside the step's one command buffer (default: neither, the
   * two-submit order of DPO without its reference)
   */
  method?: Method;
  /** the storage binding limit tables and logits are split to fit (default: WebGPU's default limit) */
  maxBindingBytes?: number;
  /** 'lora' (default): r and targets say what is trained; 'full': every parameter (r and targets unused) */
  mode?: TrainMode;
  /**
   * the Trainer's state (AdamW m, v, the f32 masters of a full fine-tune's 16-bit weights, the grad-norm scratch);
   * default true. false plans the loss-and-gradient pass alone (`alloy grad`): LoRA's A, B, dA, dB, or the gradients
   */
  optimizer?: boolean;
  /**
   * how the forward keeps its activations (act-dtype.ts, Model.activations) and the kernel family that runs it:
   * f16 where model/layer.ts layerActsF16 allows it (the hardware family, no LoRA dropout); default f32
   */
  activations?: ActDtype;
  kernels?: KernelFamily;
}

export type TrainMode = 'lora' | 'full';

export interface TrainingMemoryPlan {
  weights: number;
  /** what is trained and its state: LoRA's A, B, dA, dB (+ AdamW m, v); full: every gradient (+ m, v, f32 masters) */
  adapter: number;
  /** of `adapter`, full fine-tuning's f32 gradients (0 for LoRA) */
  fullGrads: number;
  /** of `adapter`, AdamW's m and v (0 with optimizer: false) */
  optimizer: number;
  /** activations kept for the backward, all layers (or, with recompute, the layer inputs + one layer) */
  kept: number;
  /** one layer's backward temporaries */
  backward: number;
  /** inputs, residual, final norm, head gradients and temporaries, grad-norm partials */
  head: number;
  logits: number;
  /** exact tensor bytes: weights + adapter + kept + backward + head + logits */
  total: number;
  /** the step replayed on the BufferPool's accounting (size classes, reuse): comparable to its measured peak */
  poolTotal: number;
  recompute: boolean;
}

/** [in, out] of an adapted projection (A is [r, in], B [out, r]). */
const IO: Record<LoraTarget, (c: ModelConfig) => [number, number]> = {
  q_proj: (c) => [c.hiddenSize, c.numHeads * c.headDim],
  k_proj: (c) => [c.hiddenSize, c.numKvHeads * c.headDim],
  v_proj: (c) => [c.hiddenSize, c.numKvHeads * c.headDim],
  o_proj: (c) => [c.numHeads * c.headDim, c.hiddenSize],
  gate_proj: (c) => [c.hiddenSize, c.intermediateSize],
  up_proj: (c) => [c.hiddenSize, c.intermediateSize],
  down_proj: (c) => [c.intermediateSize, c.hiddenSize],
};

/** A tally that only adds: the bytes a planned piece of code allocates, whatever it releases. */
/** Bytes still live: a set's kept buffers (a transient released in between, e.g. a packed projection, is not). */
class SumTally implements BufferTally {
  bytes = 0;
  alloc(bytes: number): PlannedBuffer {
    this.bytes += bytes;
    return { bytes };
  }
  release(...bufs: PlannedBuffer[]): void {
    for (const b of bufs) this.bytes -= b.bytes;
  }
}

export function planTrainingMemory(cfg: ModelConfig, o: TrainingPlanOptions): TrainingMemoryPlan {
  const BT = o.rows * o.seqLen;
  const C = cfg.hiddenSize;
  const V = cfg.vocabSize;
  const L = cfg.numLayers;
  const limit = o.maxBindingBytes ?? DEFAULT_BINDING_BYTES;
  const fused = fusedGroups(cfg, o.dtype, limit);
  const recompute = o.recompute ?? false;
  const full = o.mode === 'full';
  const actsF16 = layerActsF16({
    activations: o.activations ?? 'f32',
    family: o.kernels ?? 'hardware',
    BT,
    fused: fused.qkv && fused.gateUp,
    splitsQkv: true,
    cacheF32: false,
    loraDropout: !full && (o.dropout ?? false),
  });
  const shape: LayerPlanShape = { fused, kv: false, actsF16 };
  const withOptimizer = o.optimizer ?? true;
  const lora: LayerLoraPlan | null = full ? null : { r: o.r, keys: new Set(o.targets.map((t) => t.replace('_proj', '') as ProjKey)), dropout: o.dropout ?? false };
  const sizes = layerActBytes(cfg, BT);
  const linear = o.method !== undefined && isLinearInLogp(o.method);
  // a linear objective streams its head in blocks of at most TRAIN_LOGIT_BLOCK_BYTES (grad.ts)
  const perBlock = logitRowsPerBlock(V, linear ? Math.min(limit, TRAIN_LOGIT_BLOCK_BYTES) : limit);
  const blockRows: number[] = [];
  for (let r = 0; r < BT; r += perBlock) blockRows.push(Math.min(perBlock, BT - r));
  const t = new PoolTally();

  // ---- loadModel, createLora (A, B, dA, dB), Trainer (AdamW m, v): live for the whole run ----
  const weights = planWeights(t, cfg, o.dtype, limit, o.matrixTypes).bytes;
  let adapter = 0;
  let optimizer = 0;
  let fullGrads = 0;
  const tensorSizes: number[] = [];
  if (full) {
    // createFullParams (the gradients), then the Trainer (m, v, and the f32 master copy of a 16-bit matrix)
    const params = fullParamElements(cfg, o.dtype, limit);
    for (const p of params) (t.alloc(p.n * 4), (fullGrads += p.n * 4));
    adapter += fullGrads;
    if (withOptimizer) {
      for (const p of params) {
        const half = p.matrix && o.dtype !== 'f32';
        for (let i = 0; i < (half ? 3 : 2); i++) (t.alloc(p.n * 4), (adapter += p.n * 4));
        optimizer += 2 * p.n * 4;
        tensorSizes.push(p.n);
      }
    }
  } else {
    // createLora: per layer, each group's stacked A and dA (lora/adapter.ts LORA_GROUPS), each module's B and dB
    const keys = new Set(o.targets.map((t) => t.replace('_proj', '') as ProjKey));
    for (let l = 0; l < L; l++) {
      for (const group of LORA_GROUPS) {
        const members = group.filter((k) => keys.has(k));
        if (members.length === 0) continue;
        const [inF] = IO[`${members[0]!}_proj` as LoraTarget](cfg);
        const n = groupFloats(o.r * inF, members.length) * 4;
        for (let i = 0; i < 2; i++) (t.alloc(n), (adapter += n));
      }
      for (const target of o.targets) {
        const [inF, outF] = IO[target](cfg);
        tensorSizes.push(o.r * inF, outF * o.r);
        for (let i = 0; i < 2; i++) (t.alloc(outF * o.r * 4), (adapter += outF * o.r * 4));
      }
    }
    // AdamW m and v of every PEFT tensor (the Trainer)
    if (withOptimizer) for (const n of tensorSizes) for (let i = 0; i < 2; i++) (t.alloc(n * 4), (adapter += n * 4), (optimizer += n * 4));
  }
  if (withOptimizer) {
    // the Trainer's grad-norm scratch and (Σ g², clip scale), made on its first step and kept (clip.ts)
    const partials = Math.max(1, tensorSizes.reduce((n, s) => n + Math.ceil(s / SUMSQ_SPAN), 0)) * 4;
    t.alloc(partials);
    t.alloc(8);
    adapter += partials + 8;
  }

  // ---- lossAndGrads (grad.ts), in its order ----
  // DPO's (IPO's) reference: a forward with the adapters off, its log-probs gathered, everything released.
  // (a full fine-tune runs it once before step 1, TRL's precompute_ref_log_probs: its buffers stay in the pool alike)
  if (o.method && needsReference(o.method)) {
    const logits = planForward(t, cfg, { dtype: o.dtype, batch: o.rows, T: o.seqLen, S: o.seqLen, logitRows: BT, mask: true, kv: false, lora: null, limit });
    planGather(t, blockRows);
    t.release(...logits);
  }
  const owned: PlannedBuffer[] = [];
  const keep = (bytes: number) => {
    const b = t.alloc(bytes);
    owned.push(b);
    return b;
  };
  for (let i = 0; i < 3; i++) keep(BT * 4); // ids, positions, key mask
  if (full) [BT * 4, (BT + 1) * 4, BT * 4].forEach(keep); // the embedding gradient's id grouping (distinct ids ≤ BT)
  const lossInputs = () => {
    for (let i = 0; i < 2 * blockRows.length; i++) keep(blockRows[i % blockRows.length]! * 4); // token weights, targets
  };
  if (linear) lossInputs();
  keep(BT * C * 4); // residual
  let pending: PlannedBuffer[] = [];
  for (let l = 0; l < L; l++) {
    keep(sizes.xIn);
    const bufs: PlannedBuffer[] = recompute ? [] : owned;
    const temps: PlannedBuffer[] = [];
    planLayer(t, cfg, BT, lora, { bufs, temps }, () => {}, shape);
    t.release(...temps);
    if (recompute && l < L - 1) t.release(...bufs);
    if (recompute && l === L - 1) pending = bufs;
  }
  keep(BT * C * 4); // final norm
  keep(BT * 4); // final rstd
  const lmChunks = planRowChunks(V, C, o.dtype, limit, 'lm_head');
  // a block's backward (grad.ts headBackward): its temporaries, then the block itself freed
  const headBackward = (i: number, rows: number, block: PlannedBuffer) => {
    const temps: PlannedBuffer[] = [];
    if (full && i > 0) temps.push(t.alloc(rows * C * 4)); // this block's normed rows, for the lm_head's dW
    if (rows !== BT) temps.push(t.alloc(rows * C * 4)); // this block's dnormed rows
    if (lmChunks.length > 1) for (const c of lmChunks) temps.push(t.alloc(rows * c.rows * 4)); // dlogits columns
    t.release(...temps, block);
  };
  const headBlock = (i: number, rows: number) => {
    const temps: PlannedBuffer[] = [];
    const b = planLmHeadBlock(t, cfg, o.dtype, limit, i * perBlock, rows, temps);
    t.release(...temps);
    return b;
  };
  if (linear) {
    // streamed: picked [BT] kept until it is read back, dNormed; per block its logits, its gather, its backward
    keep(BT * 4);
    keep(BT * C * 4); // dNormed
    for (const [i, rows] of blockRows.entries()) {
      const block = headBlock(i, rows);
      if (rows !== BT) t.release(t.alloc(rows * 4)); // the block's picked rows
      headBackward(i, rows, block);
    }
  } else {
    const blocks = blockRows.map((rows, i) => headBlock(i, rows));
    planGather(t, blockRows);
    lossInputs();
    keep(BT * C * 4); // dNormed
    for (const [i, rows] of blockRows.entries()) headBackward(i, rows, blocks[i]!);
  }
  keep(BT * C * 4); // dx
  if (recompute && L > 1) keep(BT * C * 4); // the recomputed forward's residual
  for (let l = L - 1; l >= 0; l--) {
    const temps: PlannedBuffer[] = [];
    if (recompute && l < L - 1) planLayer(t, cfg, BT, lora, { bufs: pending, temps }, () => {}, shape);
    planLayerBackward(t, cfg, BT, lora, temps, shape);
    t.release(...temps, ...pending);
    pending = [];
  }
  t.release(...owned);

  // ---- the breakdown: each group's exact bytes, from the same planning functions ----
  const set = new SumTally();
  planLayer(set, cfg, BT, lora, { bufs: [], temps: [] }, () => {}, shape);
  const keptSet = sizes.xIn + set.bytes - (lora?.dropout ? dropoutBytes(cfg, BT, lora, shape) : 0);
  const kept = recompute ? L * sizes.xIn + keptSet : L * keptSet;
  const bw = new SumTally();
  planLayerBackward(bw, cfg, BT, lora, [], shape);
  const backward = bw.bytes + (recompute && lora?.dropout ? dropoutBytes(cfg, BT, lora, shape) : 0);
  // all of the logits, or (streamed) the largest block
  const logits = (linear ? Math.max(...blockRows) : BT) * V * 4;
  // one logits block's temporaries at a time (a later block's, which has its normed rows copied), forward or backward
  const oneBlock: PlannedBuffer[] = [];
  planLmHeadBlock(new SumTally(), cfg, o.dtype, limit, blockRows.length > 1 ? perBlock : 0, blockRows[0]!, oneBlock);
  const blockTemps = oneBlock.reduce((n, b) => n + b.bytes, 0);
  const gradBlock = (blockRows.length > 1 ? blockRows[0]! * C * 4 * (full ? 2 : 1) : 0) + (lmChunks.length > 1 ? blockRows[0]! * V * 4 : 0);
  // inputs (ids, positions, mask, weights, targets; full: the id grouping), linear objectives' picked log-probs,
  // rstd; then [BT, C] ×4
  const head = BT * 4 * (linear ? 6 : 5) + (full ? (3 * BT + 1) * 4 : 0) + BT * C * 4 * 4 + BT * 4 + Math.max(blockTemps, gradBlock);

  return {
    weights,
    adapter,
    optimizer,
    fullGrads,
    kept,
    backward,
    head,
    logits,
    total: weights + adapter + kept + backward + head + logits,
    poolTotal: t.poolBytes,
    recompute,
  };
}

/** The forward's dropout inputs xd [BT, in] of one layer (a temporary, not kept). */
function dropoutBytes(cfg: ModelConfig, BT: number, lora: LayerLoraPlan, shape: LayerPlanShape): number {
  const t = new SumTally();
  const temps: PlannedBuffer[] = [];
  planLayer(t, cfg, BT, lora, { bufs: [], temps }, () => {}, shape);
  return temps.reduce((s, b) => s + b.bytes, 0);
}

/**
 * grad.ts gatherLogps: per block its targets, the picked log-probs [BT], one block's when several (released once
 * encoded), then the rest released.
 */
function planGather(t: BufferTally, blockRows: readonly number[]): void {
  const BT = blockRows.reduce((a, b) => a + b, 0);
  const bufs = blockRows.map((rows) => t.alloc(rows * 4));
  bufs.push(t.alloc(BT * 4));
  if (blockRows.length > 1) t.release(t.alloc(Math.max(...blockRows) * 4));
  t.release(...bufs);
}
