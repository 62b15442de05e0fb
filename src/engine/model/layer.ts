/**
 * One decoder layer, forward and backward side by side (llm.c's layout): the only place the layer is written.
 * Inference (forward.ts), training (train/grad.ts) and recomputation all run encodeLayer; training's backward
 * runs encodeLayerBackward, which mirrors it step by step, last step first.
 *
 *   n1 = rmsnorm(x_in)                        ← rstd1 kept for the backward
 *   q, k, v = n1·W_q,k,vᵀ (+ LoRA, + bias)    ← xa = x·Aᵀ of every adapter group kept (one buffer a group); a fused
 *                                              q|k|v gets its bias in split_qkv (inference's with RoPE and the cache write)
 *   q, k = rmsnorm(q), rmsnorm(k) per head    (Qwen3's q_norm/k_norm only) ← qPre, kPre, qRstd, kRstd kept
 *   q, k = rope(q), rope(k)                   (one dispatch; a KV cache gets k, v copied into its slots; none
 *                                              in SmolLM3's NoPE layers, config.layerRope)
 *   att = attention(q, k, v)                  ← lse kept (a sliding layer sees its last layerWindows[l] keys)
 *   x_mid = x_in + att·W_oᵀ (+ LoRA)          (o_proj adds into the residual: matmul epilogue, beta = 1)
 *   n2 = rmsnorm(x_mid)                       ← rstd2 kept
 *   gate, up = n2·W_gate,upᵀ (+ LoRA)
 *   act = silu(gate) ⊙ up                     (Gemma: gelu_tanh(gate) ⊙ up, config.hiddenAct; inference on the
 *                                              software family: in the gate|up matmul's epilogue, linear.ts fusesGate)
 *   x_out = x_mid + act·W_downᵀ (+ LoRA)      (down_proj adds into the residual)
 * Gemma 3's sandwich norms (config.sandwichNorms) put a norm on each block's output before its residual add:
 *   attnOut = att·W_oᵀ;  x_mid = x_in + rmsnorm(attnOut)     ← attnOut, attnOutRstd kept
 *   mlpOut = act·W_downᵀ; x_out = x_mid + rmsnorm(mlpOut)    ← mlpOut, mlpOutRstd kept
 * (two more dispatches a block, norm and add, for Gemma only). Every Gemma norm is x̂·(1 + w): weights.ts stores
 * 1 + w, so the norms here are the plain RMSNorm kernels. Sliding layers (config.layerWindows) pass their window
 * to attention, and Gemma's rotate with the local frequencies (model.invFreqLocal); the attention scale is
 * query_pre_attn_scalar^−0.5 where the config sets it (attentionScale), and the scores are soft-capped where
 * attn_logit_softcapping is set (a pipeline constant of the attention kernels).
 *
 * Memory layout (f32 row-major, BT = batch·T rows): x, x_in, x_mid, n1, n2 [BT, C]; rstd1, rstd2 [BT];
 * q, att [BT, nHeads·D]; k, v [BT, nKv·D]; lse [BT, nHeads]; gate, up, act [BT, F]; xa [BT, r] per adapted
 * projection (an adapter group's in one buffer, lora/adapter.ts xaBytes); with q/k norms qPre, kPre (the projections' outputs) like q, k and qRstd, kRstd [BT·nHeads], [BT·nKv]
 * (q [BT, H, D] is normed as BT·H rows of D, every head with the one q_norm weight). layerActBytes gives these sizes and layerGradBytes the backward's temporaries; planLayer and
 * planLayerBackward replay this file's allocations for both memory plans (model/memory.ts, train/memory.ts).
 * The residual x is updated in place (x_in → x_out). With f16 activations (layerActsF16: act-dtype.ts) n1, n2, q, k,
 * v, att, gate, up, act, qPre, kPre and the packed q|k|v, gate|up are f16 words instead, two elements a u32, and
 * every kernel that touches one is told so (its f16 variant); the rest stays f32.
 */
import { encodeAttention, encodeAttentionBackward, type AttentionArgs } from '../ops/attention.ts';
import { encodeAddInPlace, encodeBiasGrad } from '../ops/elementwise.ts';
import { encodeMatmul } from '../ops/matmul.ts';
import { encodeRmsNorm, encodeRmsNormBackward } from '../ops/rmsnorm.ts';
import { encodeRopeQK, encodeSplitQkv, encodeStoreKvF16 } from '../ops/rope.ts';
import type { KvDtype } from '../kv-dtype.ts';
import { actElementBytes, type ActDtype } from '../act-dtype.ts';
import type { KernelFamily } from '../kernel-family.ts';
import { MATVEC } from '../ops/matmul-hw.ts';
import { encodePackColumns, encodeSplitColumns } from '../ops/columns.ts';
import { encodeSwiglu, encodeSwigluBackward, encodeSwigluPacked } from '../ops/swiglu.ts';
import { encodeLoraGroupBackward, encodeLoraGroupForward, loraDropout, xaBytes, type DropoutCounters, type GpuLora, type LoraGroup, type ProjKey } from '../lora/adapter.ts';
import type { ModelConfig } from '../../io/config.ts';
import { encodeGatedLinear, encodeLinear, encodeLinearAdd, encodeLinearInputGrad, encodeNormedLinear, foldsNorm, fusesGate } from './linear.ts';
import type { GpuLayer, GpuLinear, Model } from './weights.ts';

/** What a layer's backward needs from its forward (training keeps these, inference keeps nothing). */
export interface LayerActs {
  xIn: GPUBuffer;
  xMid: GPUBuffer;
  n1: GPUBuffer;
  rstd1: GPUBuffer;
  n2: GPUBuffer;
  rstd2: GPUBuffer;
  q: GPUBuffer;
  k: GPUBuffer;
  v: GPUBuffer;
  att: GPUBuffer;
  lse: GPUBuffer;
  /** q and k before their per-head RMSNorm, and its rstd per (row, head) (config.qkNorm only) */
  qPre?: GPUBuffer;
  kPre?: GPUBuffer;
  qRstd?: GPUBuffer;
  kRstd?: GPUBuffer;
  /** the o_proj and down_proj outputs before their sandwich norms, and those norms' rstd (config.sandwichNorms) */
  attnOut?: GPUBuffer;
  attnOutRstd?: GPUBuffer;
  mlpOut?: GPUBuffer;
  mlpOutRstd?: GPUBuffer;
  gate: GPUBuffer;
  up: GPUBuffer;
  act: GPUBuffer;
  xa: Map<ProjKey, GPUBuffer>;
  /** n1, n2, q, k, v, att, gate, up, act (and qPre, kPre) are f16 activations (layerActsF16); the rest f32 */
  f16: boolean;
}

/**
 * Bytes of each kept activation of one layer for BT rows (xIn, which the caller owns, included). With f16
 * activations (layerActsF16) the tensors passed between kernels (n1, n2, q, k, v, att, gate, up, act, qPre, kPre)
 * take 2 bytes an element; the residual copies, the projections' f32 outputs before a sandwich norm and every
 * statistic (rstd, lse) stay f32.
 */
export function layerActBytes(cfg: ModelConfig, BT: number, acts: ActDtype = 'f32'): Record<Exclude<keyof LayerActs, 'xa' | 'f16'>, number> {
  const C = cfg.hiddenSize;
  const F = cfg.intermediateSize;
  const qW = cfg.numHeads * cfg.headDim;
  const kvW = cfg.numKvHeads * cfg.headDim;
  const e = actElementBytes(acts);
  return {
    xIn: BT * C * 4,
    xMid: BT * C * 4,
    n1: BT * C * e,
    rstd1: BT * 4,
    n2: BT * C * e,
    rstd2: BT * 4,
    q: BT * qW * e,
    k: BT * kvW * e,
    v: BT * kvW * e,
    att: BT * qW * e,
    lse: BT * cfg.numHeads * 4,
    qPre: BT * qW * e,
    kPre: BT * kvW * e,
    qRstd: BT * cfg.numHeads * 4,
    kRstd: BT * cfg.numKvHeads * 4,
    attnOut: BT * C * 4,
    attnOutRstd: BT * 4,
    mlpOut: BT * C * 4,
    mlpOutRstd: BT * 4,
    gate: BT * F * e,
    up: BT * F * e,
    act: BT * F * e,
  };
}

/** What decides whether a layer of a pass stores its activations as f16 (layerActsF16). */
export interface ActsF16Case {
  /** the model's choice (Model.activations) */
  activations: ActDtype;
  family: KernelFamily;
  /** batch·T rows of the pass */
  BT: number;
  /** the layer's q|k|v and gate|up are each one fused matrix (weights.ts), and gate|up has no bias */
  fused: boolean;
  /**
   * the layer splits q|k|v into dense buffers before rotating them and copies k, v into the cache afterwards:
   * training (which keeps them), an adapter on q, k or v (it adds before RoPE), q/k norms (Qwen3, Gemma 3)
   */
  splitsQkv: boolean;
  /** the pass writes keys and values into an f32 KV cache */
  cacheF32: boolean;
  /** LoRA dropout is drawn (a training micro-batch with p > 0): its masks read and write f32 inputs */
  loraDropout: boolean;
}

/**
 * Whether a layer of this pass stores the activations it passes between kernels as f16 pairs (act-dtype.ts): the
 * model asks for it, the hardware family runs it (its +a16/+b16/+c16/+f16 kernel variants), the pass has more rows
 * than the mat-vec takes (a decode step reads a few f32 rows and folds the norm into q|k|v: f16 would save
 * nothing there), and the layer takes the paths those variants cover: fused q|k|v and gate|up, no LoRA dropout, and
 * where the layer splits q|k|v into dense f16 keys and values, no f32 cache to copy them into. Training keeps these
 * f16 activations for its backward, whose gradients stay f32. Anything else runs the f32 path, the reference one.
 * One rule for encodeLayer and the memory plans.
 */
export function layerActsF16(x: ActsF16Case): boolean {
  const copyOk = !x.splitsQkv || !x.cacheF32;
  return x.activations === 'f16' && x.family === 'hardware' && x.BT > MATVEC.maxRows && x.fused && copyOk && !x.loraDropout;
}

/** Bytes of each temporary of one layer's backward for BT rows (encodeLayerBackward allocates them from here). */
export function layerGradBytes(cfg: ModelConfig, BT: number) {
  const C = BT * cfg.hiddenSize * 4;
  const F = BT * cfg.intermediateSize * 4;
  const qW = BT * cfg.numHeads * cfg.headDim * 4;
  const kvW = BT * cfg.numKvHeads * cfg.headDim * 4;
  // dqPre, dkPre: the q/k norms' input gradients (config.qkNorm only); dMlpOut, dAttnOut: the sandwich norms'
  // (config.sandwichNorms only)
  return { dMlpOut: C, dAct: F, dGate: F, dUp: F, dN: C, dxn: C, dAttnOut: C, dAtt: qW, dq: qW, dk: kvW, dv: kvW, stats: BT * cfg.numHeads * 2 * 4, dqPre: qW, dkPre: kvW, dN1: C, dxn1: C };
}

/**
 * The memory plans (model/memory.ts, train/memory.ts) replay the layer's allocations on a BufferTally, a model of
 * the BufferPool from sizes alone: planLayer mirrors encodeLayer and planLayerBackward mirrors encodeLayerBackward,
 * alloc for alloc and release for release, so a change to the layer is made here, beside the code it describes.
 */
export interface PlannedBuffer {
  readonly bytes: number;
}
export interface BufferTally {
  alloc(bytes: number): PlannedBuffer;
  release(...bufs: PlannedBuffer[]): void;
}
/** The adapter as the plans see it: every layer adapts the same projections. */
export interface LayerLoraPlan {
  r: number;
  keys: ReadonlySet<ProjKey>;
  /** LoRA dropout drawn (training micro-batches with p > 0) */
  dropout: boolean;
}

/** in_features of a projection (LoRA's A is [r, in]; dropout's temporaries are [BT, in]). */
function projIn(cfg: ModelConfig, key: ProjKey): number {
  if (key === 'o') return cfg.numHeads * cfg.headDim;
  if (key === 'down') return cfg.intermediateSize;
  return cfg.hiddenSize;
}

/** How a layer's projections are stored (weights.ts, split.ts fusedGroups) and whether a KV cache takes k, v. */
export interface LayerPlanShape {
  fused: { qkv: boolean; gateUp: boolean };
  /** the forward's fused split writes k, v straight into a KV cache (inference), with no dense k, v */
  kv: boolean;
  /** inference's fused gate|up applies the gate activation in its matmul's epilogue (linear.ts fusesGate) */
  gateEpilogue?: boolean;
  /** the layer stores its activations as f16 (layerActsF16 said so for this pass) */
  actsF16?: boolean;
}

/** encodeLayer's allocations on a tally (save and release as there; xIn is the caller's). */
export function planLayer(
  t: BufferTally,
  cfg: ModelConfig,
  BT: number,
  lora: LayerLoraPlan | null,
  save: { bufs: PlannedBuffer[]; temps: PlannedBuffer[] } | null,
  release: (...b: PlannedBuffer[]) => void,
  shape: LayerPlanShape,
): void {
  const acts: ActDtype = shape.actsF16 ? 'f16' : 'f32';
  const sizes = layerActBytes(cfg, BT, acts);
  const e = actElementBytes(acts);
  const rows = { qkv: (cfg.numHeads + 2 * cfg.numKvHeads) * cfg.headDim, gateUp: 2 * cfg.intermediateSize };
  const kept = (key: Exclude<keyof LayerActs, 'xa' | 'f16'>) => {
    const b = t.alloc(sizes[key]);
    save?.bufs.push(b);
    return b;
  };
  const adapted = (...keys: ProjKey[]) => keys.some((k) => lora?.keys.has(k));
  // encodeLoraGroupForward: the group's xa, then (dropout) each member's xd
  const addLora = (...keys: ProjKey[]) => {
    const members = keys.filter((k) => lora?.keys.has(k));
    if (!lora || members.length === 0) return;
    const a = t.alloc(xaBytes(members.length, BT, lora.r));
    if (save && lora.dropout) for (const key of members) save.temps.push(t.alloc(BT * projIn(cfg, key) * 4));
    if (save) save.bufs.push(a);
    else release(a);
  };
  const n1 = kept('n1');
  if (save) kept('rstd1');
  let qkvDense: PlannedBuffer[];
  if (shape.fused.qkv && !save && !adapted('q', 'k', 'v') && !cfg.qkNorm) {
    const packed = t.alloc(BT * rows.qkv * e);
    release(n1);
    qkvDense = [kept('q')];
    if (!shape.kv) qkvDense.push(kept('k'), kept('v'));
    release(packed);
  } else {
    if (shape.fused.qkv) {
      const packed = t.alloc(BT * rows.qkv * e);
      qkvDense = [kept('q'), kept('k'), kept('v')];
      t.release(packed);
    } else qkvDense = [kept('q'), kept('k'), kept('v')];
    addLora('q', 'k', 'v');
    if (!save) release(n1);
    if (cfg.qkNorm) {
      const [qPre, kPre, v] = qkvDense as [PlannedBuffer, PlannedBuffer, PlannedBuffer];
      qkvDense = [kept('q'), kept('k'), v];
      if (save) {
        kept('qRstd');
        kept('kRstd');
      } else release(qPre, kPre);
    }
  }
  const att = kept('att');
  if (save) kept('lse');
  if (!save) release(...qkvDense);
  const sandwichOut = (key: 'o' | 'down', input: PlannedBuffer, outKey: 'attnOut' | 'mlpOut', rstdKey: 'attnOutRstd' | 'mlpOutRstd') => {
    const y = kept(outKey);
    addLora(key);
    if (!save) release(input);
    const normed = t.alloc(sizes.xMid);
    if (save) {
      kept(rstdKey);
      save.temps.push(normed);
    } else release(normed);
    if (!save) release(y);
  };
  if (cfg.sandwichNorms) sandwichOut('o', att, 'attnOut', 'attnOutRstd');
  else {
    addLora('o');
    if (!save) release(att);
  }
  if (save) kept('xMid');
  const n2 = kept('n2');
  if (save) kept('rstd2');
  const act = kept('act');
  if (shape.fused.gateUp && !save && !adapted('gate', 'up')) {
    if (shape.gateEpilogue) release(n2);
    else {
      const packed = t.alloc(BT * rows.gateUp * e);
      release(n2);
      release(packed);
    }
  } else {
    let gate: PlannedBuffer;
    let up: PlannedBuffer;
    if (shape.fused.gateUp) {
      const packed = t.alloc(BT * rows.gateUp * e);
      gate = kept('gate');
      up = kept('up');
      t.release(packed);
    } else [gate, up] = [kept('gate'), kept('up')];
    addLora('gate', 'up');
    if (!save) release(n2);
    if (!save) release(gate, up);
  }
  if (cfg.sandwichNorms) sandwichOut('down', act, 'mlpOut', 'mlpOutRstd');
  else {
    addLora('down');
    if (!save) release(act);
  }
}

/** encodeLayerBackward's temporaries on a tally, pushed onto `temps` as there. */
export function planLayerBackward(t: BufferTally, cfg: ModelConfig, BT: number, lora: LayerLoraPlan | null, temps: PlannedBuffer[], shape: LayerPlanShape): void {
  const g = layerGradBytes(cfg, BT);
  const tmp = (bytes: number) => temps.push(t.alloc(bytes));
  // encodeLoraGroupBackward: the group's g = dY·B [BT, r] blocks; with dropout each member's xd = dropout(x) and
  // gA = s·g·A [BT, in]
  const projBack = (...keys: ProjKey[]) => {
    const members = keys.filter((k) => lora?.keys.has(k));
    if (!lora || members.length === 0) return;
    tmp(xaBytes(members.length, BT, lora.r));
    if (lora.dropout) for (const key of members) [0, 1].forEach(() => tmp(BT * projIn(cfg, key) * 4));
  };
  if (cfg.sandwichNorms) tmp(g.dMlpOut);
  tmp(g.dAct);
  projBack('down');
  tmp(g.dGate);
  tmp(g.dUp);
  tmp(g.dN);
  if (shape.fused.gateUp) tmp(BT * 2 * cfg.intermediateSize * 4); // the packed d(gate|up)
  projBack('gate', 'up');
  tmp(g.dxn);
  if (cfg.sandwichNorms) tmp(g.dAttnOut);
  tmp(g.dAtt);
  projBack('o');
  for (const b of [g.dq, g.dk, g.dv, g.stats]) tmp(b);
  if (cfg.qkNorm) [g.dqPre, g.dkPre].forEach(tmp);
  tmp(g.dN1);
  if (shape.fused.qkv) tmp(BT * (cfg.numHeads + 2 * cfg.numKvHeads) * cfg.headDim * 4); // the packed d(q|k|v)
  projBack('q', 'k', 'v');
  tmp(g.dxn1);
}

/**
 * Where full fine-tuning's gradients go (train/full-params.ts FullParams): the f32 gradient buffer of a model
 * storage buffer (a matrix, a bias, a norm weight; a fused group's one buffer). The backward adds (+=) into it.
 */
export interface FullGradTarget {
  gradOf(weight: GPUBuffer): GPUBuffer;
}

/** What every layer of one pass shares. */
export interface LayerPass {
  model: Model;
  /** batch·T rows */
  BT: number;
  /** RoPE positions u32 [BT] */
  positions: GPUBuffer;
  /** key mask u32 [batch, S], or undefined when every key is real */
  mask: GPUBuffer | undefined;
  /** ring: the cache's sliding-layer ring (slots per row), 0 without one; only sliding layers' attention reads it */
  attArgs: { batch: number; T: number; S: number; nHeads: number; nKv: number; headDim: number; past: number; ring?: number; kvF16?: boolean };
  /** adapters added to the projections (null: the base model) */
  lora: GpuLora | null;
  /** LoRA dropout counters (training micro-batches only) */
  dropout: DropoutCounters | null;
  /** full fine-tuning: the backward also accumulates every weight's gradient here (exclusive with `lora`) */
  full?: FullGradTarget | null | undefined;
  /**
   * a KV cache: layer l's k and v [batch, S, nKv, D] receive this call's keys and values at slots past.. — or, for a
   * sliding layer when `ring` > 0, [batch, ring, nKv, D] at rows slot mod ring (kv-cache.ts)
   */
  kv?: { k: readonly GPUBuffer[]; v: readonly GPUBuffer[]; ring: number; dtype: KvDtype } | undefined;
  /**
   * how the model would store this pass's activations (Model.activations; layerActsF16 decides per layer);
   * absent: f32
   */
  activations?: ActDtype | undefined;
  /** attention's and split_qkv's uniform blocks when the caller keeps them (a decode step rewrites `past` in place) */
  attUniform?: GPUBuffer | undefined;
  splitUniform?: GPUBuffer | undefined;
}

/**
 * How a forward keeps its intermediates:
 *   save = null (inference): each goes to `release` once its last reader is encoded;
 *   save = { xIn, bufs, temps } (training): the returned LayerActs' buffers are pushed onto `bufs` (the caller
 *   decides how long they live), xIn is the caller's copy of the layer input, and per-op temporaries (dropout
 *   inputs) go onto `temps` (released after the caller's submit).
 */
export interface LayerSave {
  xIn: GPUBuffer;
  bufs: GPUBuffer[];
  temps: GPUBuffer[];
}

/** The attention scores' scale: query_pre_attn_scalar^−0.5 (Gemma 3), else head_dim^−0.5 (the kernels' default). */
export function attentionScale(cfg: ModelConfig): number {
  return cfg.queryPreAttnScalar === null ? 1 / Math.sqrt(cfg.headDim) : cfg.queryPreAttnScalar ** -0.5;
}

/**
 * The pass's attention shape with layer l's own window (a sliding layer), the model's scale and its score
 * soft-capping added (each only where the config has it, so a Llama layer's arguments are the pass's own).
 */
function layerAttArgs(c: LayerPass, l: number): AttentionArgs {
  const cfg = c.model.config;
  const window = cfg.layerWindows[l]!;
  return {
    ...c.attArgs,
    ...(window ? { window } : {}),
    ...(cfg.queryPreAttnScalar === null ? {} : { scale: attentionScale(cfg) }),
    ...(cfg.attnLogitSoftcapping === null ? {} : { softcap: cfg.attnLogitSoftcapping }),
  };
}

/** Layer l's RoPE frequencies: Gemma 3's sliding layers rotate with the local base (model.invFreqLocal). */
function layerInvFreq(model: Model, l: number): GPUBuffer {
  return model.config.localRopeTheta !== null && model.config.layerWindows[l]! > 0 ? model.invFreqLocal : model.invFreq;
}

/** A projection kept apart (o and down always; q, k, v, gate, up when their group is not fused). */
function lin(layer: GpuLayer, key: ProjKey): GpuLinear {
  const p = layer[key];
  if (!p) throw new Error(`layer has no separate ${key} projection (it is fused)`);
  return p;
}

/** Layer l's forward on the residual x, in place; returns its kept activations when `save` is given. */
export async function encodeLayer(c: LayerPass, enc: GPUCommandEncoder, l: number, x: GPUBuffer, save: LayerSave | null, release: (...b: GPUBuffer[]) => void): Promise<LayerActs | null> {
  const { model, BT, lora } = c;
  const { config: cfg, kernels, pool } = model;
  const C = cfg.hiddenSize;
  const F = cfg.intermediateSize;
  const D = cfg.headDim;
  const eps = cfg.rmsNormEps;
  const layer = model.layers[l]!;
  const adapter = (key: ProjKey) => (lora?.enabled ? lora.get(l, key) : undefined);
  const adapted = (...keys: ProjKey[]) => keys.some((k) => adapter(k));
  // f16: every activation between kernels is f16 pairs (act-dtype.ts), the residual x f32; `io` tells each
  // projection which of its operands are
  const f16 = layerActsF16({
    activations: c.activations ?? 'f32',
    family: kernels.family,
    BT,
    fused: !!layer.qkv && !!layer.gateUp && !layer.gateUp.bias,
    splitsQkv: save !== null || adapted('q', 'k', 'v') || cfg.qkNorm,
    cacheF32: !!c.kv && c.kv.dtype === 'f32',
    loraDropout: save !== null && !!lora?.enabled && lora.dropout > 0 && !!c.dropout,
  });
  const io = { in16: f16 ? { aF16: true } : {}, both16: f16 ? { aF16: true, cF16: true } : {} };
  const sizes = layerActBytes(cfg, BT, f16 ? 'f16' : 'f32');
  const kept = (key: Exclude<keyof LayerActs, 'xa' | 'f16'>, label: string = key) => {
    const b = pool.alloc(sizes[key], label);
    save?.bufs.push(b);
    return b;
  };
  const xa = new Map<ProjKey, GPUBuffer>();
  // The LoRA of projections that share `input` (ys in keys' order): their adapter group (lora/adapter.ts; one
  // unless built unstacked), one xa buffer a group, kept under each member's key. With f16 activations the input
  // is f16, and so are the ys of q, k, v, gate and up (o and down add into the f32 residual or sandwich output).
  const addLora = async (input: GPUBuffer, keys: readonly ProjKey[], ys: readonly GPUBuffer[]) => {
    for (const group of new Set(keys.map((k) => adapter(k)?.group))) if (group) await addGroup(input, group, keys, ys);
  };
  const addGroup = async (input: GPUBuffer, group: LoraGroup, keys: readonly ProjKey[], ys: readonly GPUBuffer[]) => {
    const drops = save ? group.members.map((m) => loraDropout(lora!, m, c.dropout)) : null;
    const loraIo = f16 ? { xF16: true, yF16: !keys.includes('o') && !keys.includes('down') } : {};
    const a = await encodeLoraGroupForward(model, enc, lora!, group, input, group.members.map((m) => ys[keys.indexOf(m.proj)]!), BT, drops, save?.temps ?? [], loraIo);
    if (save) {
      save.bufs.push(a);
      for (const m of group.members) xa.set(m.proj, a);
    } else release(a);
  };
  // (only o and down take an f16 input here: the f16 path needs q|k|v and gate|up fused)
  const base = async (input: GPUBuffer, key: ProjKey) => {
    const y = await encodeLinear(model, enc, input, BT, lin(layer, key), key, io.in16);
    save?.bufs.push(y);
    return y;
  };
  const proj = async (input: GPUBuffer, key: ProjKey) => {
    const y = await base(input, key);
    await addLora(input, [key], [y]);
    return y;
  };
  const projAdd = async (input: GPUBuffer, key: ProjKey, y: GPUBuffer) => {
    await encodeLinearAdd(model, enc, input, BT, lin(layer, key), y, io.in16);
    await addLora(input, [key], [y]);
  };
  const heads = { heads: cfg.numHeads, kvHeads: cfg.numKvHeads, headDim: D };
  const { batch: B, T, S, past } = c.attArgs;
  const attArgs = layerAttArgs(c, l);
  // this layer's cache is a ring of `ring` slots a row (a sliding layer of a cache that rings them)
  const ring = c.kv && c.kv.ring > 0 && cfg.layerWindows[l]! > 0 ? c.kv.ring : 0;
  const rope = cfg.layerRope[l]!;
  const invFreq = layerInvFreq(model, l);
  const kvF16 = c.kv?.dtype === 'f16';
  const ringArgs = c.kv?.ring ? { ring: c.kv.ring, intoRing: ring > 0 } : {};
  // keys and values as f16 pairs: an f16 cache's, or (f16 activations, no cache) the dense k, v
  const kvOutF16 = c.kv ? kvF16 : f16;

  // Attention block. Inference with the fused q|k|v weight may fold the norm into that projection (foldsNorm:
  // the hardware family's mat-vec), and then the normed rows n1 are never made.
  const fusedQkv = layer.qkv && !save && !adapted('q', 'k', 'v') && !cfg.qkNorm ? layer.qkv : null;
  const fold1 = fusedQkv !== null && foldsNorm(model, BT, fusedQkv);
  const n1 = fold1 ? x : kept('n1', 'norm');
  const rstd1 = save ? kept('rstd1') : undefined;
  if (!fold1) await encodeRmsNorm(kernels, enc, x, layer.inputNorm, n1, { rows: BT, hidden: C, eps, ...(f16 ? { yF16: true } : {}) }, rstd1);
  let q: GPUBuffer;
  let k: GPUBuffer;
  let v: GPUBuffer;
  let kAll: GPUBuffer;
  let vAll: GPUBuffer;
  let qRstd: GPUBuffer | undefined;
  let kRstd: GPUBuffer | undefined;
  let qk: { qPre: GPUBuffer; kPre: GPUBuffer } | undefined;
  if (fusedQkv) {
    // One matmul, then one dispatch that rotates q and k and writes k, v straight into their slots (a KV cache's,
    // or dense buffers).
    // the bias (Qwen2) is added by split_qkv as it reads the projection, not by a pass of its own
    const qkv = fold1 ? await encodeNormedLinear(model, enc, x, BT, { weight: layer.inputNorm, eps }, fusedQkv.weight, 'qkv') : await encodeLinear(model, enc, n1, BT, fusedQkv.weight, 'qkv', io.both16);
    if (!fold1) release(n1);
    q = kept('q');
    // an f16 cache's words are written by split_qkv_f16, as store_kv_f16 would write split_qkv's output
    k = kAll = c.kv ? c.kv.k[l]! : kept('k');
    v = vAll = c.kv ? c.kv.v[l]! : kept('v');
    await encodeSplitQkv(kernels, enc, qkv, c.positions, invFreq, q, kAll, vAll, { rows: BT, ...heads, T, S, past, rope, ...ringArgs, ...(kvOutF16 ? { kvF16: true } : {}), ...(f16 ? { actF16: true } : {}) }, c.splitUniform, fusedQkv.bias);
    release(qkv);
  } else {
    if (layer.qkv) {
      // Training or LoRA: q, k, v apart (the backward keeps them; LoRA adds before RoPE), then rotated. The bias
      // (Qwen2) is added by split_qkv as it reads the projection, as on the fused inference path.
      const qkv = await encodeLinear(model, enc, n1, BT, layer.qkv.weight, 'qkv', io.both16);
      q = kept('q');
      k = kept('k');
      v = kept('v');
      const splitIo = f16 ? { actF16: true, kvF16: true } : {};
      await encodeSplitQkv(kernels, enc, qkv, c.positions, invFreq, q, k, v, { rows: BT, ...heads, rope: false, ...splitIo }, undefined, layer.qkv.bias);
      pool.release(qkv);
    } else {
      q = await base(n1, 'q');
      k = await base(n1, 'k');
      v = await base(n1, 'v');
    }
    await addLora(n1, ['q', 'k', 'v'], [q, k, v]);
    if (!save) release(n1);
    if (cfg.qkNorm) {
      // Qwen3: each head's q and k RMS-normed over head_dim (one weight shared by every head) before RoPE, so
      // q [BT, H, D] is BT·H rows of D. The projections' outputs stay as qPre, kPre for the norms' backward.
      const qPre = q;
      const kPre = k;
      q = kept('q', 'q-normed');
      k = kept('k', 'k-normed');
      qRstd = save ? kept('qRstd') : undefined;
      kRstd = save ? kept('kRstd') : undefined;
      const headIo = f16 ? { xF16: true, yF16: true } : {};
      await encodeRmsNorm(kernels, enc, qPre, layer.qNorm!, q, { rows: BT * cfg.numHeads, hidden: D, eps, ...headIo }, qRstd);
      await encodeRmsNorm(kernels, enc, kPre, layer.kNorm!, k, { rows: BT * cfg.numKvHeads, hidden: D, eps, ...headIo }, kRstd);
      if (save) qk = { qPre, kPre };
      else release(qPre, kPre);
    }
    if (rope) await encodeRopeQK(kernels, enc, q, k, c.positions, invFreq, { rows: BT, ...heads, ...(f16 ? { f16: true } : {}) });
    kAll = k;
    vAll = v;
    // (f16 activations: dense k, v are f16 words already, and layerActsF16 left out an f32 cache, so they are copied
    // into the f16 cache as they are)
    if (c.kv && kvF16 && !f16) {
      // dense f32 k, v into the f16 cache at split_qkv's destination: its uniform block serves both
      kAll = c.kv.k[l]!;
      vAll = c.kv.v[l]!;
      await encodeStoreKvF16(kernels, enc, k, v, kAll, vAll, { rows: BT, ...heads, T, S, past, ...ringArgs }, c.splitUniform);
    } else if (c.kv) {
      kAll = c.kv.k[l]!;
      vAll = c.kv.v[l]!;
      const slot = cfg.numKvHeads * D * (kvF16 ? 2 : 4);
      const rowBytes = T * slot;
      for (let b = 0; b < B; b++) {
        // a ring takes the run's slots past..past+T−1 at rows (past + t) mod ring: at most two runs of rows
        const start = ring ? past % ring : past;
        const first = ring ? Math.min(T, ring - start) : T;
        for (const [src, dst, n] of [[0, start, first], [first, 0, T - first]] as const) {
          if (n === 0) continue;
          const at = (b * (ring || S) + dst) * slot;
          enc.copyBufferToBuffer(k, b * rowBytes + src * slot, kAll, at, n * slot);
          enc.copyBufferToBuffer(v, b * rowBytes + src * slot, vAll, at, n * slot);
        }
      }
    }
  }
  const att = kept('att', 'attention');
  const lse = save ? kept('lse') : undefined;
  const f16Att = f16 ? { actF16: true, ...(kvOutF16 ? { kvF16: true } : {}) } : {};
  await encodeAttention(kernels, enc, q, kAll, vAll, att, { ...attArgs, ...f16Att }, c.mask, lse, c.attUniform);
  // (k and v are the cache's own buffers when the fused path wrote them there)
  if (!save) release(q, ...(k === kAll && c.kv ? [] : [k, v]));
  // Gemma's sandwich: the projection's output normed on its own, then added to the residual.
  const sandwichOut = async (input: GPUBuffer, key: 'o' | 'down', norm: GPUBuffer | undefined, rstdKey: 'attnOutRstd' | 'mlpOutRstd') => {
    const y = await proj(input, key);
    if (!save) release(input);
    const normed = pool.alloc(BT * C * 4, `${key}-normed`);
    const rstd = save ? kept(rstdKey) : undefined;
    await encodeRmsNorm(kernels, enc, y, norm!, normed, { rows: BT, hidden: C, eps }, rstd);
    await encodeAddInPlace(kernels, enc, x, normed, { n: BT * C });
    if (save) save.temps.push(normed);
    else release(normed, y);
    return { y, rstd };
  };
  let attnOut: { y: GPUBuffer; rstd: GPUBuffer | undefined } | undefined;
  if (cfg.sandwichNorms) attnOut = await sandwichOut(att, 'o', layer.attnOutNorm, 'attnOutRstd');
  else {
    await projAdd(att, 'o', x);
    if (!save) release(att);
  }
  let xMid: GPUBuffer | undefined;
  if (save) {
    xMid = kept('xMid', 'x_mid');
    enc.copyBufferToBuffer(x, 0, xMid, 0, BT * C * 4);
  }

  // MLP block (its norm folded into gate|up as the attention block's is into q|k|v).
  const fusedGateUp = layer.gateUp && !save && !adapted('gate', 'up') ? layer.gateUp : null;
  const fold2 = fusedGateUp !== null && foldsNorm(model, BT, fusedGateUp);
  const n2 = fold2 ? x : kept('n2', 'norm');
  const rstd2 = save ? kept('rstd2') : undefined;
  if (!fold2) await encodeRmsNorm(kernels, enc, x, layer.postNorm, n2, { rows: BT, hidden: C, eps, ...(f16 ? { yF16: true } : {}) }, rstd2);
  const gateAct = cfg.hiddenAct;
  let act: GPUBuffer;
  let gate: GPUBuffer | undefined;
  let up: GPUBuffer | undefined;
  if (fusedGateUp && !fold2 && fusesGate(model, fusedGateUp)) {
    // the gate activation in the matmul's epilogue: the [BT, 2F] projection is never stored
    act = await encodeGatedLinear(model, enc, n2, BT, fusedGateUp, gateAct);
    release(n2);
  } else if (fusedGateUp) {
    act = kept('act', 'swiglu');
    const gu = fold2 ? await encodeNormedLinear(model, enc, x, BT, { weight: layer.postNorm, eps }, fusedGateUp, 'gate_up') : await encodeLinear(model, enc, n2, BT, fusedGateUp, 'gate_up', io.both16);
    if (!fold2) release(n2);
    await encodeSwigluPacked(kernels, enc, gu, act, { rows: BT, F, act: gateAct, ...(f16 ? { f16: true } : {}) });
    release(gu);
  } else {
    act = kept('act', 'swiglu');
    if (layer.gateUp) {
      const gu = await encodeLinear(model, enc, n2, BT, layer.gateUp, 'gate_up', io.both16);
      gate = kept('gate');
      up = kept('up');
      await encodeSplitColumns(kernels, enc, gu, [gate, up], { rows: BT, widths: [F, F], ...(f16 ? { f16: true } : {}) });
      pool.release(gu);
    } else {
      gate = await base(n2, 'gate');
      up = await base(n2, 'up');
    }
    await addLora(n2, ['gate', 'up'], [gate, up]);
    if (!save) release(n2);
    await encodeSwiglu(kernels, enc, gate, up, act, { n: BT * F, act: gateAct, ...(f16 ? { f16: true } : {}) });
    if (!save) release(gate, up);
  }
  let mlpOut: { y: GPUBuffer; rstd: GPUBuffer | undefined } | undefined;
  if (cfg.sandwichNorms) mlpOut = await sandwichOut(act, 'down', layer.mlpOutNorm, 'mlpOutRstd');
  else {
    await projAdd(act, 'down', x);
    if (!save) release(act);
  }
  if (!save) return null;
  const norms = qk ? { ...qk, qRstd: qRstd!, kRstd: kRstd! } : {};
  const sandwich = attnOut && mlpOut ? { attnOut: attnOut.y, attnOutRstd: attnOut.rstd!, mlpOut: mlpOut.y, mlpOutRstd: mlpOut.rstd! } : {};
  return { xIn: save.xIn, xMid: xMid!, n1, rstd1: rstd1!, n2, rstd2: rstd2!, q, k, v, att, lse: lse!, ...norms, ...sandwich, gate: gate!, up: up!, act, xa, f16 };
}

/**
 * Layer l's backward: dx [BT, C] holds dL/dx_out on entry and dL/dx_in on return (in place); the LoRA gradients
 * accumulate (+=) into the adapter, or with `c.full` every weight's gradient into its f32 buffer:
 *   projection: dW [out, in] += dYᵀ·X, the input X kept by the forward (a fused group: its packed dY, which the
 *     input gradient builds anyway, times the shared input gives the fused dW in one product); bias: db += Σ_rows dY;
 *   RMSNorm weight: dγ_j += Σ_rows dy_j·x_j·rstd (rmsnorm_backward's dw pass; q/k norms over BT·heads rows of D).
 * All of them are matmuls and column passes with a fixed summation order and no atomics: deterministic, so a
 * recomputed layer gives the same bits. No temporaries beyond the LoRA-free backward's (planLayerBackward).
 * Temporaries go onto `temps` (release after the caller's submit).
 */
export async function encodeLayerBackward(c: LayerPass, enc: GPUCommandEncoder, l: number, s: LayerActs, dx: GPUBuffer, temps: GPUBuffer[]): Promise<void> {
  const { model, BT, lora } = c;
  const { config: cfg, kernels, pool } = model;
  const C = cfg.hiddenSize;
  const F = cfg.intermediateSize;
  const D = cfg.headDim;
  const H = cfg.numHeads;
  const nKv = cfg.numKvHeads;
  const layer = model.layers[l]!;
  const g = layerGradBytes(cfg, BT);
  const tmp = (bytes: number, label: string) => {
    const b = pool.alloc(bytes, label);
    temps.push(b);
    return b;
  };
  const full = c.full ?? null;
  // f16: the forward kept its activations as f16 words (s.f16), which the products read as their f16 operand and
  // the row kernels through their f16 variants; every gradient is f32
  const f16 = s.f16;
  // full: dW += dYᵀ·X [out, in] (f32, whatever the weight's storage) and db += Σ_rows dY
  const weightGrad = async (p: GpuLinear, input: GPUBuffer, dY: GPUBuffer) => {
    if (!full) return;
    await encodeMatmul(kernels, enc, dY, input, full.gradOf(p.weight.buffer), { M: p.weight.rows, N: p.weight.cols, K: BT, transA: true, beta: 1, ...(f16 ? { bF16: true } : {}) });
    if (p.bias) await encodeBiasGrad(kernels, enc, dY, full.gradOf(p.bias), { rows: BT, cols: p.weight.rows });
  };
  const normGrad = (w: GPUBuffer) => (full ? full.gradOf(w) : undefined);
  // dX (+)= dY·W (+ the LoRA path, which also accumulates dA, dB; or, full, dW and db).
  // The LoRA part of projections that share `input` (dYs in keys' order): their adapter group's backward.
  const loraBack = async (keys: readonly ProjKey[], input: GPUBuffer, dYs: readonly GPUBuffer[], dX: GPUBuffer) => {
    for (const group of new Set(keys.map((k) => lora?.get(l, k)?.group))) {
      const xa = group && s.xa.get(group.members[0]!.proj);
      if (!lora || !group || !xa) continue;
      const dY = group.members.map((m) => dYs[keys.indexOf(m.proj)]!);
      await encodeLoraGroupBackward(model, enc, lora, group, input, xa, dY, dX, BT, temps, group.members.map((m) => loraDropout(lora, m, c.dropout)), f16);
    }
  };
  const projBack = async (key: ProjKey, input: GPUBuffer, dY: GPUBuffer, dX: GPUBuffer, accumulate: boolean, withLora = true) => {
    await encodeLinearInputGrad(model, enc, dY, lin(layer, key).weight, dX, BT, accumulate);
    await weightGrad(lin(layer, key), input, dY);
    if (withLora) await loraBack([key], input, [dY], dX);
  };

  // A fused group's input gradient: its blocks' dY packed side by side, one matmul with the fused weight, then
  // each block's LoRA part (dX += …, dA, dB).
  const groupBack = async (group: GpuLinear, keys: readonly ProjKey[], widths: readonly [number, number] | readonly [number, number, number], input: GPUBuffer, dYs: readonly GPUBuffer[], dX: GPUBuffer) => {
    const packed = tmp(BT * widths.reduce((a, b) => a + b, 0) * 4, 'd-packed');
    await encodePackColumns(kernels, enc, dYs, packed, { rows: BT, widths });
    await encodeLinearInputGrad(model, enc, packed, group.weight, dX, BT, false);
    await weightGrad(group, input, packed);
    await loraBack(keys, input, dYs, dX);
  };

  // MLP: x_out = x_mid + down(silu(gate(n2)) ⊙ up(n2)), n2 = norm(x_mid) (Gemma: + norm(down(…)), GeGLU)
  let dDown = dx;
  if (cfg.sandwichNorms) {
    dDown = tmp(g.dMlpOut, 'd-mlp-out');
    await encodeRmsNormBackward(kernels, enc, s.mlpOut!, layer.mlpOutNorm!, s.mlpOutRstd!, dx, dDown, { rows: BT, hidden: C }, normGrad(layer.mlpOutNorm!));
  }
  const dAct = tmp(g.dAct, 'd-act');
  await projBack('down', s.act, dDown, dAct, false);
  const dGate = tmp(g.dGate, 'd-gate');
  const dUp = tmp(g.dUp, 'd-up');
  await encodeSwigluBackward(kernels, enc, s.gate, s.up, dAct, dGate, dUp, { n: BT * F, act: cfg.hiddenAct, ...(f16 ? { f16: true } : {}) });
  const dN = tmp(g.dN, 'd-norm');
  if (layer.gateUp) await groupBack(layer.gateUp, ['gate', 'up'], [F, F], s.n2, [dGate, dUp], dN);
  else {
    await projBack('gate', s.n2, dGate, dN, false, false);
    await projBack('up', s.n2, dUp, dN, true, false);
    await loraBack(['gate', 'up'], s.n2, [dGate, dUp], dN);
  }
  const dxn = tmp(g.dxn, 'd-x-from-norm');
  await encodeRmsNormBackward(kernels, enc, s.xMid, layer.postNorm, s.rstd2, dN, dxn, { rows: BT, hidden: C }, normGrad(layer.postNorm));
  await encodeAddInPlace(kernels, enc, dx, dxn, { n: BT * C });

  // Attention: x_mid = x_in + o(attn(rope(q(n1)), rope(k(n1)), v(n1))), n1 = norm(x_in)
  let dO = dx;
  if (cfg.sandwichNorms) {
    dO = tmp(g.dAttnOut, 'd-attn-out');
    await encodeRmsNormBackward(kernels, enc, s.attnOut!, layer.attnOutNorm!, s.attnOutRstd!, dx, dO, { rows: BT, hidden: C }, normGrad(layer.attnOutNorm!));
  }
  const dAtt = tmp(g.dAtt, 'd-att');
  await projBack('o', s.att, dO, dAtt, false);
  const dq = tmp(g.dq, 'dq');
  const dk = tmp(g.dk, 'dk');
  const dv = tmp(g.dv, 'dv');
  const stats = tmp(g.stats, 'att-stats');
  await encodeAttentionBackward(
    kernels,
    enc,
    { q: s.q, k: s.k, v: s.v, out: s.att, lse: s.lse, dOut: dAtt, dq, dk, dv, stats, ...(c.mask ? { keyMask: c.mask } : {}) },
    { ...layerAttArgs(c, l), ...(f16 ? { actF16: true, kvF16: true } : {}) },
  );
  if (cfg.layerRope[l]) await encodeRopeQK(kernels, enc, dq, dk, c.positions, layerInvFreq(model, l), { rows: BT, heads: H, kvHeads: nKv, headDim: D }, true);
  // The forward normed q, k and then rotated them, so the norms' backward comes after RoPE's (their dw: full only).
  let dqIn = dq;
  let dkIn = dk;
  if (cfg.qkNorm) {
    dqIn = tmp(g.dqPre, 'dq-pre-norm');
    dkIn = tmp(g.dkPre, 'dk-pre-norm');
    const preIo = f16 ? { xF16: true } : {};
    await encodeRmsNormBackward(kernels, enc, s.qPre!, layer.qNorm!, s.qRstd!, dq, dqIn, { rows: BT * H, hidden: D, ...preIo }, normGrad(layer.qNorm!));
    await encodeRmsNormBackward(kernels, enc, s.kPre!, layer.kNorm!, s.kRstd!, dk, dkIn, { rows: BT * nKv, hidden: D, ...preIo }, normGrad(layer.kNorm!));
  }
  const dN1 = tmp(g.dN1, 'd-norm1');
  if (layer.qkv) await groupBack(layer.qkv, ['q', 'k', 'v'], [H * D, nKv * D, nKv * D], s.n1, [dqIn, dkIn, dv], dN1);
  else {
    await projBack('q', s.n1, dqIn, dN1, false, false);
    await projBack('k', s.n1, dkIn, dN1, true, false);
    await projBack('v', s.n1, dv, dN1, true, false);
    await loraBack(['q', 'k', 'v'], s.n1, [dqIn, dkIn, dv], dN1);
  }
  const dxn1 = tmp(g.dxn1, 'd-x-from-norm1');
  await encodeRmsNormBackward(kernels, enc, s.xIn, layer.inputNorm, s.rstd1, dN1, dxn1, { rows: BT, hidden: C }, normGrad(layer.inputNorm));
  await encodeAddInPlace(kernels, enc, dx, dxn1, { n: BT * C });
}
