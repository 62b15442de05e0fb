/**
 * One loss-and-gradient pass of the model for the LoRA parameters (base weights frozen): a forward that keeps
 * what each layer's backward needs, the objective on the CPU (objectives.ts), and the backward from dlogits down
 * to the first layer's input (the embedding is frozen, so the pass stops there).
 *
 * Memory layout (f32 row-major, BT = batch·T right-padded rows, as model/forward.ts):
 *   kept per layer: x_in, x_mid [BT, C] (residual before attention / before the MLP); n1, n2 [BT, C] and
 *   rstd1, rstd2 [BT] (RMSNorm); q [BT, nHeads·D] and k [BT, nKv·D] after RoPE, v [BT, nKv·D]; att [BT, nHeads·D]
 *   and lse [BT, nHeads] (attention); gate, up, act [BT, F]; xa = x·Aᵀ [BT, r] of every adapted projection.
 *   head: x_final [BT, C], its rstd, logits [BT, V] as row blocks that each fit one binding (model/head.ts;
 *     overwritten in place by dlogits), dnormed [BT, C].
 *   backward: dx [BT, C] (the residual stream's gradient, carried from layer to layer), per-layer temporaries.
 * Two ways to keep them (PassOptions.recompute):
 *   keep everything (default): every layer's set above lives until the end of the pass.
 *   recompute (gradient checkpointing): the forward keeps only x_in [BT, C] of every layer (each layer's set is
 *     released after its submit, except the last layer's, whose backward comes next); just before layer l's
 *     backward its forward runs again from x_in into a scratch residual [BT, C], the set is rebuilt, used, freed.
 *     The recomputed forward runs the same kernels on the same bytes (and, with dropout, the same masks: they are
 *     hashes of counters, not state), so the set is bit-identical and so are loss and gradients. Cost: one more
 *     forward of layers 0..L−2 per pass; kept activations go from L sets to L·[BT, C] + one set + the scratch.
 * LoRA dropout (PassOptions.dropout, adapter.ts): masks are regenerated from (seed, step, micro, module) counters,
 * in the forward and again in the backward; nothing mask-shaped is kept.
 *
 * The objective enters only through per-token weights w[t] = −dL/dlogp[t, target]: dlogits = w·(softmax − onehot).
 * DPO's reference log-probs come from a forward with the adapters off (no second model).
 */
import { readBuffer } from '../gpu/buffer-pool.ts';
import { encodeAttention, encodeAttentionBackward } from '../ops/attention.ts';
import { encodeAddInPlace } from '../ops/elementwise.ts';
import { encodeCrossEntropyBackward, encodeTargetLogProb, IGNORE_TARGET } from '../ops/logsoftmax.ts';
import { encodeRmsNorm, encodeRmsNormBackward } from '../ops/rmsnorm.ts';
import { encodeRope, encodeRopeBackward } from '../ops/rope.ts';
import { encodeSwiglu, encodeSwigluBackward } from '../ops/swiglu.ts';
import { validateTokenIds } from '../ops/embedding.ts';
import { encodeEmbed, encodeLmHeadBackward, encodeLmHeadBlock, logitBlocks, releaseLogits, type GpuLogits, type LogitsBlock } from '../model/head.ts';
import { encodeLinear, encodeLinearInputGrad } from '../model/linear.ts';
import { padBatch, runForward } from '../model/forward.ts';
import { assertLive, type GpuLayer, type GpuMatrix, type Model } from '../model/weights.ts';
import { encodeLoraBackward, encodeLoraForward, loraDropout, type DropoutCounters, type GpuLora, type ProjKey } from '../lora/adapter.ts';
import { computeObjective, needsReference, objectiveTargets, referenceLogps, type Method, type ObjectiveOptions, type Sequence } from './objectives.ts';

export interface GradResult {
  loss: number;
  metrics: Record<string, number>;
  /** scored tokens in the batch */
  tokens: number;
}

interface Batch {
  B: number;
  T: number;
  ids: Uint32Array;
  positions: Uint32Array;
  mask: Uint32Array | null;
  /** u32 [BT], IGNORE_TARGET where a row is not scored */
  targets: Uint32Array;
  /** per sequence, the objective's targets (−1 = not scored) */
  seqTargets: Int32Array[];
}

function layoutBatch(model: Model, method: Method, seqs: readonly Sequence[]): Batch {
  const { ids, mask, T } = padBatch(seqs.map((s) => s.ids));
  const B = seqs.length;
  if (T > model.config.maxPositionEmbeddings) throw new RangeError(`sequence of ${T} tokens is longer than max_position_embeddings`);
  validateTokenIds(ids, model.config.vocabSize);
  const positions = new Uint32Array(B * T);
  for (let i = 0; i < B * T; i++) positions[i] = i % T;
  const seqTargets = objectiveTargets(method, seqs);
  const targets = new Uint32Array(B * T).fill(IGNORE_TARGET);
  seqTargets.forEach((tg, b) => tg.forEach((y, t) => y >= 0 && (targets[b * T + t] = y)));
  return { B, T, ids, positions, mask, targets, seqTargets };
}

/** Target log-probs of each sequence's rows, read back as float64 arrays (0 where not scored), block by block. */
async function gatherLogps(model: Model, logits: GpuLogits, batch: Batch): Promise<Float64Array[]> {
  const V = model.config.vocabSize;
  const all = new Float32Array(batch.B * batch.T);
  for (const blk of logits.blocks) {
    const picked = model.pool.alloc(blk.rows * 4, 'picked');
    const targets = model.pool.upload(batch.targets.subarray(blk.row0, blk.row0 + blk.rows), 'targets');
    try {
      const enc = model.device.createCommandEncoder({ label: 'gather' });
      await encodeTargetLogProb(model.kernels, enc, blk.buffer, targets, picked, { rows: blk.rows, vocab: V });
      model.device.queue.submit([enc.finish()]);
      all.set(new Float32Array(await readBuffer(model.device, picked, blk.rows * 4)), blk.row0);
    } finally {
      model.pool.release(picked);
      model.pool.release(targets);
    }
  }
  return batch.seqTargets.map((tg, b) => Float64Array.from(tg, (y, t) => (y >= 0 ? all[b * batch.T + t]! : 0)));
}

interface Saved {
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
  gate: GPUBuffer;
  up: GPUBuffer;
  act: GPUBuffer;
  xa: Map<ProjKey, GPUBuffer>;
}

export interface PassOptions {
  /** LoRA dropout counters (training): masks are drawn when given and lora.dropout > 0; omitted = no dropout */
  dropout?: DropoutCounters | null;
  /** per-layer activation recomputation (gradient checkpointing); default false */
  recompute?: boolean;
}

/** What every layer's forward shares within one pass. */
interface PassCtx {
  model: Model;
  lora: GpuLora;
  BT: number;
  posBuf: GPUBuffer;
  maskBuf: GPUBuffer | undefined;
  attArgs: { batch: number; T: number; S: number; nHeads: number; nKv: number; headDim: number; past: number };
  dropout: DropoutCounters | null;
}

const lin = (layer: GpuLayer, key: ProjKey) => layer[key] as GpuLayer['q'];

/**
 * Layer l's forward on the residual x, in place (x_in → x_out), keeping what its backward needs. `xIn` is the
 * saved copy of the layer's input (the caller copies it); the set's buffers go to `bufs` (the caller decides how
 * long they live), per-op temporaries (dropout inputs) to `temps` (released after submit).
 */
async function encodeLayerForward(c: PassCtx, enc: GPUCommandEncoder, l: number, x: GPUBuffer, xIn: GPUBuffer, bufs: GPUBuffer[], temps: GPUBuffer[]): Promise<Saved> {
  const { model, lora, BT } = c;
  const { config: cfg, kernels, pool } = model;
  const C = cfg.hiddenSize;
  const F = cfg.intermediateSize;
  const D = cfg.headDim;
  const H = cfg.numHeads;
  const nKv = cfg.numKvHeads;
  const eps = cfg.rmsNormEps;
  const layer = model.layers[l]!;
  const keep = (b: GPUBuffer) => (bufs.push(b), b);
  const xa = new Map<ProjKey, GPUBuffer>();
  const proj = async (input: GPUBuffer, key: ProjKey) => {
    const y = keep(await encodeLinear(model, enc, input, BT, lin(layer, key), key));
    const m = lora.enabled ? lora.get(l, key) : undefined;
    if (m) xa.set(key, keep(await encodeLoraForward(model, enc, lora, m, input, y, BT, loraDropout(lora, m, c.dropout), temps)));
    return y;
  };
  const s = {
    xIn,
    xMid: keep(pool.alloc(BT * C * 4, 'x_mid')),
    n1: keep(pool.alloc(BT * C * 4, 'n1')),
    rstd1: keep(pool.alloc(BT * 4, 'rstd1')),
    n2: keep(pool.alloc(BT * C * 4, 'n2')),
    rstd2: keep(pool.alloc(BT * 4, 'rstd2')),
    att: keep(pool.alloc(BT * H * D * 4, 'att')),
    lse: keep(pool.alloc(BT * H * 4, 'lse')),
    act: keep(pool.alloc(BT * F * 4, 'act')),
    xa,
  };
  await encodeRmsNorm(kernels, enc, x, layer.inputNorm, s.n1, { rows: BT, hidden: C, eps }, s.rstd1);
  const q = await proj(s.n1, 'q');
  const k = await proj(s.n1, 'k');
  const v = await proj(s.n1, 'v');
  await encodeRope(kernels, enc, q, c.posBuf, model.invFreq, { rows: BT, heads: H, headDim: D });
  await encodeRope(kernels, enc, k, c.posBuf, model.invFreq, { rows: BT, heads: nKv, headDim: D });
  await encodeAttention(kernels, enc, q, k, v, s.att, c.attArgs, c.maskBuf, s.lse);
  const o = await proj(s.att, 'o');
  await encodeAddInPlace(kernels, enc, x, o, { n: BT * C });
  enc.copyBufferToBuffer(x, 0, s.xMid, 0, BT * C * 4);
  await encodeRmsNorm(kernels, enc, x, layer.postNorm, s.n2, { rows: BT, hidden: C, eps }, s.rstd2);
  const gate = await proj(s.n2, 'gate');
  const up = await proj(s.n2, 'up');
  await encodeSwiglu(kernels, enc, gate, up, s.act, { n: BT * F });
  const down = await proj(s.act, 'down');
  await encodeAddInPlace(kernels, enc, x, down, { n: BT * C });
  return { ...s, q, k, v, gate, up };
}

/**
 * Loss of `method` on the batch (sequences right-padded into one block) and its gradient, accumulated (+=)
 * into the adapter's dA/dB (clear them first for a fresh gradient: clearLoraGrads).
 */
export async function lossAndGrads(
  model: Model,
  lora: GpuLora,
  method: Method,
  seqs: readonly Sequence[],
  opts: ObjectiveOptions = {},
  pass: PassOptions = {},
): Promise<GradResult> {
  assertLive(model);
  const { config: cfg, device, kernels, pool } = model;
  const recompute = pass.recompute ?? false;
  const batch = layoutBatch(model, method, seqs);
  const { B, T } = batch;
  const BT = B * T;
  const C = cfg.hiddenSize;
  const F = cfg.intermediateSize;
  const D = cfg.headDim;
  const H = cfg.numHeads;
  const nKv = cfg.numKvHeads;
  const V = cfg.vocabSize;
  const eps = cfg.rmsNormEps;

  // DPO's (IPO's) reference: the same model with the adapters off.
  let refLogps = opts.refLogps;
  if (needsReference(method) && !refLogps) {
    const ref = await runForward(model, { batch: B, T, ids: batch.ids, positions: batch.positions, mask: batch.mask, kv: null, logitRows: null, lora: null });
    try {
      refLogps = referenceLogps(method, seqs, await gatherLogps(model, ref, batch));
    } finally {
      releaseLogits(pool, ref);
    }
  }

  const owned: GPUBuffer[] = [];
  const keep = (b: GPUBuffer) => (owned.push(b), b);
  // recompute: the one layer set alive outside `owned` (released when its backward is done, or on an error)
  let pending: GPUBuffer[] = [];
  try {
    const idsBuf = keep(pool.upload(batch.ids, 'ids'));
    const posBuf = keep(pool.upload(batch.positions, 'positions'));
    const maskBuf = batch.mask ? keep(pool.upload(batch.mask, 'key-mask')) : undefined;
    const x = keep(pool.alloc(BT * C * 4, 'residual'));
    const attArgs = { batch: B, T, S: T, nHeads: H, nKv, headDim: D, past: 0 };
    const ctx: PassCtx = { model, lora, BT, posBuf, maskBuf, attArgs, dropout: pass.dropout ?? null };
    const L = model.layers.length;

    // ---- forward, keeping activations (or, with recompute, each layer's input and the last layer's set) ----
    let enc = device.createCommandEncoder({ label: 'embed' });
    await encodeEmbed(model, enc, idsBuf, x, BT);
    device.queue.submit([enc.finish()]);
    const saved: (Saved | null)[] = [];
    const xIns: GPUBuffer[] = [];
    for (let l = 0; l < L; l++) {
      enc = device.createCommandEncoder({ label: `train layer ${l}` });
      const xIn = keep(pool.alloc(BT * C * 4, 'x_in'));
      enc.copyBufferToBuffer(x, 0, xIn, 0, BT * C * 4);
      xIns.push(xIn);
      const bufs: GPUBuffer[] = recompute ? [] : owned;
      const temps: GPUBuffer[] = [];
      const s = await encodeLayerForward(ctx, enc, l, x, xIn, bufs, temps);
      device.queue.submit([enc.finish()]);
      for (const b of temps) pool.release(b);
      if (!recompute || l === L - 1) saved.push(s);
      else {
        saved.push(null);
        for (const b of bufs) pool.release(b);
      }
      if (recompute && l === L - 1) pending = bufs;
    }

    // ---- head, loss, dlogits ----
    enc = device.createCommandEncoder({ label: 'train head' });
    const normed = keep(pool.alloc(BT * C * 4, 'final-norm'));
    const rstdF = keep(pool.alloc(BT * 4, 'final-rstd'));
    await encodeRmsNorm(kernels, enc, x, model.norm, normed, { rows: BT, hidden: C, eps }, rstdF);
    device.queue.submit([enc.finish()]);
    // Logits come in row blocks that each fit one binding (one block unless batch × vocabulary is large), each
    // encoded and submitted on its own so that only one block's temporaries are alive at a time.
    const blocks: LogitsBlock[] = [];
    for (const b of logitBlocks(model, BT)) {
      enc = device.createCommandEncoder({ label: 'train head' });
      const temps: GPUBuffer[] = [];
      blocks.push({ ...b, buffer: keep(await encodeLmHeadBlock(model, enc, normed, b.row0, b.rows, temps)) });
      device.queue.submit([enc.finish()]);
      for (const t of temps) pool.release(t);
    }
    const logits: GpuLogits = { rows: BT, vocab: V, blocks };
    const logp = await gatherLogps(model, logits, batch);
    const obj = computeObjective(method, seqs, logp, { ...opts, refLogps });

    const w = new Float32Array(BT);
    obj.weights.forEach((ws, b) => ws.forEach((x, t) => (w[b * T + t] = x)));
    // Per block: dlogits = w·(softmax − onehot) in place, dnormed rows = dlogits·lm_head; then the block is freed.
    const dNormed = keep(pool.alloc(BT * C * 4, 'd-final-norm'));
    for (const blk of blocks) {
      enc = device.createCommandEncoder({ label: 'train head backward' });
      const temps: GPUBuffer[] = [];
      const tmp = (b: GPUBuffer) => (temps.push(b), b);
      try {
        const rows = <A extends Float32Array | Uint32Array>(a: A) => a.subarray(blk.row0, blk.row0 + blk.rows);
        const wBuf = tmp(pool.upload(rows(w), 'token-weights'));
        const tBuf = tmp(pool.upload(rows(batch.targets), 'targets'));
        await encodeCrossEntropyBackward(kernels, enc, blk.buffer, tBuf, wBuf, blk.buffer, { rows: blk.rows, vocab: V });
        const whole = blk.rows === BT;
        const dRows = whole ? dNormed : tmp(pool.alloc(blk.rows * C * 4, 'd-final-norm-block'));
        await encodeLmHeadBackward(model, enc, blk.buffer, blk.rows, dRows, temps);
        if (!whole) enc.copyBufferToBuffer(dRows, 0, dNormed, blk.row0 * C * 4, blk.rows * C * 4);
        device.queue.submit([enc.finish()]);
      } finally {
        for (const t of temps) pool.release(t);
      }
      owned.splice(owned.indexOf(blk.buffer), 1);
      pool.release(blk.buffer);
    }
    enc = device.createCommandEncoder({ label: 'train final norm backward' });
    const dx = keep(pool.alloc(BT * C * 4, 'd-residual'));
    await encodeRmsNormBackward(kernels, enc, x, model.norm, rstdF, dNormed, dx, { rows: BT, hidden: C });
    device.queue.submit([enc.finish()]);

    // ---- layers, last to first ----
    const scratch = recompute && L > 1 ? keep(pool.alloc(BT * C * 4, 'recompute-residual')) : null;
    for (let l = L - 1; l >= 0; l--) {
      const layer = model.layers[l]!;
      enc = device.createCommandEncoder({ label: `train layer ${l} backward` });
      const temps: GPUBuffer[] = [];
      const tmp = (bytes: number, label: string) => {
        const b = pool.alloc(bytes, label);
        temps.push(b);
        return b;
      };
      // Recompute: layer l's forward again from its kept input (the residual it writes is not needed).
      let kept = saved[l];
      if (!kept) {
        enc.copyBufferToBuffer(xIns[l]!, 0, scratch!, 0, BT * C * 4);
        kept = await encodeLayerForward(ctx, enc, l, scratch!, xIns[l]!, pending, temps);
      }
      const s = kept;
      // dX (+)= dY·W (+ the LoRA path, which also accumulates dA, dB).
      const projBack = async (key: ProjKey, input: GPUBuffer, dY: GPUBuffer, dX: GPUBuffer, accumulate: boolean) => {
        await encodeLinearInputGrad(model, enc, dY, lin(layer, key).weight, dX, BT, accumulate);
        const m = lora.get(l, key);
        const xa = s.xa.get(key);
        if (m && xa) await encodeLoraBackward(model, enc, lora, m, input, xa, dY, dX, BT, temps, loraDropout(lora, m, ctx.dropout));
      };

      // MLP: x_out = x_mid + down(silu(gate(n2)) ⊙ up(n2)), n2 = norm(x_mid)
      const dAct = tmp(BT * F * 4, 'd-act');
      await projBack('down', s.act, dx, dAct, false);
      const dGate = tmp(BT * F * 4, 'd-gate');
      const dUp = tmp(BT * F * 4, 'd-up');
      await encodeSwigluBackward(kernels, enc, s.gate, s.up, dAct, dGate, dUp, { n: BT * F });
      const dN = tmp(BT * C * 4, 'd-norm');
      await projBack('gate', s.n2, dGate, dN, false);
      await projBack('up', s.n2, dUp, dN, true);
      const dxn = tmp(BT * C * 4, 'd-x-from-norm');
      await encodeRmsNormBackward(kernels, enc, s.xMid, layer.postNorm, s.rstd2, dN, dxn, { rows: BT, hidden: C });
      await encodeAddInPlace(kernels, enc, dx, dxn, { n: BT * C });

      // Attention: x_mid = x_in + o(attn(rope(q(n1)), rope(k(n1)), v(n1))), n1 = norm(x_in)
      const dAtt = tmp(BT * H * D * 4, 'd-att');
      await projBack('o', s.att, dx, dAtt, false);
      const dq = tmp(BT * H * D * 4, 'dq');
      const dk = tmp(BT * nKv * D * 4, 'dk');
      const dv = tmp(BT * nKv * D * 4, 'dv');
      const stats = tmp(BT * H * 2 * 4, 'att-stats');
      await encodeAttentionBackward(
        kernels,
        enc,
        { q: s.q, k: s.k, v: s.v, out: s.att, lse: s.lse, dOut: dAtt, dq, dk, dv, stats, ...(maskBuf ? { keyMask: maskBuf } : {}) },
        attArgs,
      );
      await encodeRopeBackward(kernels, enc, dq, posBuf, model.invFreq, { rows: BT, heads: H, headDim: D });
      await encodeRopeBackward(kernels, enc, dk, posBuf, model.invFreq, { rows: BT, heads: nKv, headDim: D });
      const dN1 = tmp(BT * C * 4, 'd-norm1');
      await projBack('q', s.n1, dq, dN1, false);
      await projBack('k', s.n1, dk, dN1, true);
      await projBack('v', s.n1, dv, dN1, true);
      const dxn1 = tmp(BT * C * 4, 'd-x-from-norm1');
      await encodeRmsNormBackward(kernels, enc, s.xIn, layer.inputNorm, s.rstd1, dN1, dxn1, { rows: BT, hidden: C });
      await encodeAddInPlace(kernels, enc, dx, dxn1, { n: BT * C });
      device.queue.submit([enc.finish()]);
      for (const b of temps) pool.release(b);
      for (const b of pending) pool.release(b);
      pending = [];
    }
    await device.queue.onSubmittedWorkDone();
    const tokens = batch.targets.reduce((n, y) => n + (y === IGNORE_TARGET ? 0 : 1), 0);
    return { loss: obj.loss, metrics: obj.metrics, tokens };
  } finally {
    for (const b of [...owned, ...pending]) pool.release(b);
  }
}

/**
 * The loss of `method` on the batch without any backward (validation): the forward with the adapters (and, for
 * DPO, one with them off for the reference), the objective on the CPU. Gradients are not touched.
 */
export async function lossOnly(model: Model, lora: GpuLora | null, method: Method, seqs: readonly Sequence[], opts: ObjectiveOptions = {}): Promise<GradResult> {
  assertLive(model);
  const batch = layoutBatch(model, method, seqs);
  const run = async (l: GpuLora | null) => {
    const plan = { batch: batch.B, T: batch.T, ids: batch.ids, positions: batch.positions, mask: batch.mask, kv: null, logitRows: null, lora: l };
    const logits = await runForward(model, plan);
    try {
      return await gatherLogps(model, logits, batch);
    } finally {
      releaseLogits(model.pool, logits);
    }
  };
  let refLogps = opts.refLogps;
  if (needsReference(method) && !refLogps) refLogps = referenceLogps(method, seqs, await run(null));
  const obj = computeObjective(method, seqs, await run(lora), { ...opts, refLogps });
  const tokens = batch.targets.reduce((n, y) => n + (y === IGNORE_TARGET ? 0 : 1), 0);
  return { loss: obj.loss, metrics: obj.metrics, tokens };
}
