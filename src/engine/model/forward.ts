/**
 * The model's forward pass on the GPU, batched.
 *
 * Memory layout (f32, row-major; BT = batch·T rows, one sequence after another):
 *   residual x [BT, hidden]; q [BT, nHeads, headDim]; k, v [BT, nKv, headDim]; attention out [BT, nHeads·headDim];
 *   MLP activations [BT, intermediate]; logits [R, vocab] for the R rows asked for (all BT by default), as row
 *   blocks that each fit one binding (head.ts; the embedding and lm_head tables may be split too: split.ts).
 *   Key mask u32 [batch, S] (1 = real token); RoPE positions u32 [BT].
 * With a KV cache (kv-cache.ts) k and v are also copied into per-layer cache buffers [batch, capacity, nKv, headDim]
 * at slots past..past+T−1, and attention reads the cache with S = capacity: causality goes by slot (query i of this
 * call sees slots ≤ past+i), padding holes by the mask, and each row's RoPE position is its own token count, so
 * right-padded rows of different lengths decode together exactly as if each ran alone.
 *
 * The layer itself is model/layer.ts. A forward of a few rows (a decode step, a small batch) is one command
 * buffer; bigger ones submit after every layer (short command buffers keep GPU watchdogs quiet).
 */
import { encodeEmbedding, validateTokenIds } from '../ops/embedding.ts';
import { encodeRmsNorm } from '../ops/rmsnorm.ts';
import { encodeEmbed, encodeLmHead, readLogits, type GpuLogits } from './head.ts';
import { encodeLayer, type LayerPass } from './layer.ts';
import { assertLive, type Model } from './weights.ts';
import type { GpuLora } from '../lora/adapter.ts';
import type { KvDtype } from '../kv-dtype.ts';

/** Where this call's keys and values go and come from. */
export interface KvTarget {
  k: readonly GPUBuffer[];
  v: readonly GPUBuffer[];
  /** slots per row in the cache buffers */
  capacity: number;
  /** slot of this call's first token */
  past: number;
  /**
   * slots per row in the sliding layers' buffers when they are rings (slot s at row s mod ring; kv-cache.ts), 0
   * when every layer holds `capacity`
   */
  ring: number;
  /** how the cache stores keys and values (kv-dtype.ts) */
  dtype: KvDtype;
}

export interface ForwardPlan {
  batch: number;
  T: number;
  /** token ids [batch·T]; padding slots hold any valid id (0) */
  ids: Uint32Array;
  /** RoPE position of each token [batch·T] */
  positions: Uint32Array;
  /** key mask [batch·S] (S = T without a cache, capacity with one), or null when every key is real */
  mask: Uint32Array | null;
  kv: KvTarget | null;
  /** flat rows (b·T + t) to compute logits for, or null for all; empty runs no head (a prefix filling a cache) */
  logitRows: Uint32Array | null;
  /** LoRA adapters added to the projections (ignored when absent or disabled) */
  lora?: GpuLora | null;
}

/** A forward's inputs already on the GPU (a decode step keeps them in buffers it rewrites in place). */
export interface ForwardInputs {
  /** u32 [batch·T] */
  ids: GPUBuffer;
  /** u32 [batch·T] */
  positions: GPUBuffer;
  /** u32 [batch·S], when plan.mask is not null */
  mask?: GPUBuffer;
  /** u32 [R], when plan.logitRows is not null */
  logitRows?: GPUBuffer;
  /** attention's and split_qkv's uniform blocks (attentionUniforms, splitQkvUniforms) when the caller keeps them */
  attention?: GPUBuffer;
  split?: GPUBuffer;
}

/**
 * Rows (batch·T) above which each layer is submitted on its own: long prefills and big scoring batches stay in
 * short command buffers (GPU watchdogs kill long ones), while a decode step or a small batch goes in one submit.
 */
export const ONE_SUBMIT_MAX_ROWS = 64;

/** Runs the layers and the head; returns logits [R, vocab] in pool buffers the caller releases (head.ts). */
export async function runForward(model: Model, plan: ForwardPlan): Promise<GpuLogits> {
  assertLive(model);
  checkPlan(model, plan);
  const { device, pool } = model;
  // Every upload comes before anything is encoded: a buffer released while encoding may be handed out again by
  // the pool, and a queue write into it would land before the commands that still read its old contents.
  const inputs: ForwardInputs = {
    ids: pool.upload(plan.ids, 'ids'),
    positions: pool.upload(plan.positions, 'positions'),
    ...(plan.mask ? { mask: pool.upload(plan.mask, 'key-mask') } : {}),
    ...(plan.logitRows?.length ? { logitRows: pool.upload(plan.logitRows, 'logit-rows') } : {}),
  };
  try {
    const { logits, encoder } = await encodeForward(model, device.createCommandEncoder({ label: 'forward' }), plan, inputs);
    device.queue.submit([encoder.finish()]);
    return logits;
  } finally {
    for (const b of Object.values(inputs)) pool.release(b);
  }
}

function checkPlan(model: Model, plan: ForwardPlan): void {
  const cfg = model.config;
  const S = plan.kv ? plan.kv.capacity : plan.T;
  const past = plan.kv ? plan.kv.past : 0;
  if (plan.kv && past + plan.T > S) throw new RangeError(`KV cache full: ${past} + ${plan.T} tokens > capacity ${S}`);
  validateTokenIds(plan.ids, cfg.vocabSize);
}

/**
 * The forward into `enc`, from inputs already on the GPU. Big batches (more than ONE_SUBMIT_MAX_ROWS rows) submit
 * after every layer and go on in a fresh encoder: the returned `encoder` holds the rest (the head), and the
 * caller adds to it (a readback, a sampler) and submits it.
 * Intermediates go back to the pool as soon as their last reader is encoded (commands run in order, so a buffer
 * handed out again is only written after those reads).
 */
export async function encodeForward(
  model: Model,
  enc: GPUCommandEncoder,
  plan: ForwardPlan,
  inputs: ForwardInputs,
): Promise<{ logits: GpuLogits; encoder: GPUCommandEncoder }> {
  const { config: cfg, device, kernels, pool } = model;
  const { batch: B, T } = plan;
  const BT = B * T;
  const C = cfg.hiddenSize;
  const D = cfg.headDim;
  const qWidth = cfg.numHeads * D;
  const kvWidth = cfg.numKvHeads * D;
  const S = plan.kv ? plan.kv.capacity : T;
  const past = plan.kv ? plan.kv.past : 0;
  const splitSubmits = BT > ONE_SUBMIT_MAX_ROWS;
  const { ids: idsBuf, positions: posBuf, mask: maskBuf } = inputs;
  const x = pool.alloc(BT * C * 4, 'residual');
  let temps: GPUBuffer[] = [];
  // With split submits, a layer's temporaries are released after its submit; otherwise right away.
  const flush = () => {
    if (!splitSubmits) return;
    device.queue.submit([enc.finish()]);
    for (const b of temps) pool.release(b);
    temps = [];
    enc = device.createCommandEncoder({ label: 'forward' });
  };
  const done = (...bufs: GPUBuffer[]) => {
    if (splitSubmits) temps.push(...bufs);
    else for (const b of bufs) pool.release(b);
  };

  await encodeEmbed(model, enc, idsBuf, x, BT);

  const kvF16 = plan.kv?.dtype === 'f16';
  const attArgs = { batch: B, T, S, nHeads: cfg.numHeads, nKv: cfg.numKvHeads, headDim: D, past, ring: plan.kv?.ring ?? 0, ...(kvF16 ? { kvF16 } : {}) };
  const pass: LayerPass = {
    model,
    BT,
    positions: posBuf,
    mask: maskBuf,
    attArgs,
    lora: plan.lora?.enabled ? plan.lora : null,
    dropout: null,
    kv: plan.kv ?? undefined,
    activations: model.activations,
    attUniform: inputs.attention,
    splitUniform: inputs.split,
  };
  for (let l = 0; l < model.layers.length; l++) {
    await encodeLayer(pass, enc, l, x, null, done);
    flush();
  }

  // A run that only fills the KV cache (scoring's shared prefix) wants no logits at all: no head.
  if (plan.logitRows?.length === 0) {
    pool.release(x);
    return { logits: { rows: 0, vocab: cfg.vocabSize, blocks: [] }, encoder: enc };
  }
  // Head: only the rows whose logits are wanted (the last token when decoding, the continuation when scoring),
  // gathered with the embedding kernel (x is a [BT, hidden] f32 "table"), then the final norm and lm_head.
  let rows = BT;
  let hidden = x;
  // a decode step wants every row (logitRows = 0..BT−1): no gather
  const everyRow = plan.logitRows?.length === BT && plan.logitRows.every((r, i) => r === i);
  if (plan.logitRows && !everyRow) {
    rows = plan.logitRows.length;
    hidden = pool.alloc(rows * C * 4, 'head-rows');
    await encodeEmbedding(kernels, enc, x, inputs.logitRows!, hidden, { count: rows, vocab: BT, hidden: C, hostIds: plan.logitRows });
  }
  const normed = pool.alloc(rows * C * 4, 'final-norm');
  await encodeRmsNorm(kernels, enc, hidden, model.norm, normed, { rows, hidden: C, eps: cfg.rmsNormEps });
  const headTemps: GPUBuffer[] = [];
  const logits = await encodeLmHead(model, enc, normed, rows, headTemps);
  for (const b of [x, normed, ...headTemps]) pool.release(b);
  if (hidden !== x) pool.release(hidden);
  return { logits, encoder: enc };
}

/** Right-pads ragged rows into one [batch, T] block; the mask marks real tokens (null when no row is padded). */
export function padBatch(rows: readonly (readonly number[])[]): { ids: Uint32Array; mask: Uint32Array | null; T: number } {
  if (rows.length === 0) throw new RangeError('empty batch');
  const T = Math.max(...rows.map((r) => r.length));
  if (rows.some((r) => r.length === 0)) throw new RangeError('every row needs at least one token');
  const ids = new Uint32Array(rows.length * T);
  const mask = new Uint32Array(rows.length * T);
  rows.forEach((r, b) => {
    ids.set(r, b * T);
    mask.fill(1, b * T, b * T + r.length);
  });
  return { ids, mask: rows.every((r) => r.length === T) ? null : mask, T };
}

/**
 * Logits of every position of every row: rows may differ in length (they are right-padded and masked
 * internally). Returns one Float32Array [len_b, vocab] per row.
 */
export async function forward(
  model: Model,
  batch: readonly (readonly number[])[],
  opts: { lora?: GpuLora | null } = {},
): Promise<Float32Array[]> {
  const { ids, mask, T } = padBatch(batch);
  const B = batch.length;
  const positions = new Uint32Array(B * T);
  for (let i = 0; i < B * T; i++) positions[i] = i % T;
  const maxPos = model.config.maxPositionEmbeddings;
  if (T > maxPos) throw new RangeError(`sequence of ${T} tokens is longer than max_position_embeddings (${maxPos})`);
  const logits = await runForward(model, { batch: B, T, ids, positions, mask, kv: null, logitRows: null, lora: opts.lora ?? null });
  const all = await readLogits(model, logits);
  const V = model.config.vocabSize;
  return batch.map((r, b) => all.slice(b * T * V, (b * T + r.length) * V));
}
