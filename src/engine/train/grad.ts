/**
 * One loss-and-gradient pass of the model: a forward that keeps what each layer's backward needs, the objective on
 * the CPU (objectives.ts), and the backward from dlogits down. Two targets, one per pass:
 *   LoRA (a GpuLora; base weights frozen): the backward stops at the first layer's input;
 *   full (PassOptions.full, train/full-params.ts; lora = null): every parameter's f32 gradient accumulates (+=):
 *     the lm_head per logits block and chunk (dW += dlogitsᵀ·normed, model/head.ts), the final norm's weight, each
 *     layer's projections, biases and norms (model/layer.ts encodeLayerBackward), and last the embedding: dx of the
 *     first layer's input scattered into the rows of the batch's ids (ops/embedding-backward.ts, times Gemma's
 *     embedding scale), with the ids grouped on the host and uploaded with the other inputs. A tied lm_head is the
 *     embedding's buffers, so both uses add into one gradient. Every kernel sums in a fixed order without atomics,
 *     so the gradients are deterministic and recomputation gives the same bits.
 *
 * Memory layout (f32 row-major, BT = batch·T right-padded rows, as model/forward.ts):
 *   kept per layer: x_in, x_mid [BT, C] (residual before attention / before the MLP); n1, n2 [BT, C] and
 *   rstd1, rstd2 [BT] (RMSNorm); q [BT, nHeads·D] and k [BT, nKv·D] after RoPE, v [BT, nKv·D]; att [BT, nHeads·D]
 *   and lse [BT, nHeads] (attention); gate, up, act [BT, F]; xa = x·Aᵀ [BT, r] of every adapted projection.
 *   head: x_final [BT, C], its rstd, logits [BT, V] as row blocks that each fit one binding (model/head.ts;
 *     overwritten in place by dlogits), dnormed [BT, C]. CPT/SFT (w known before the forward) stream the head: a
 *     block's logits are made, gathered and back-propagated before the next block's exist, in blocks of at most
 *     TRAIN_LOGIT_BLOCK_BYTES (defaults.ts), so at most one block is alive; DPO/IPO/ORPO keep every block until
 *     their objective has read the log-probs.
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
 * DPO's (IPO's) reference log-probs: ObjectiveOptions.refLogps when given; otherwise a forward before the pass with
 * the adapters off (LoRA: the base model, no second copy). In full mode there is no frozen base to fall back on:
 * that forward runs the current weights, which is the reference only at the starting weights (a single gradient,
 * `alloy grad --mode full`); training precomputes them once from the starting weights (referenceLogpsOf, TRL's
 * precompute_ref_log_probs) and passes them in.
 * Submits per pass: CPT and SFT (losses linear in the log-probs, w known before the forward) one, forward, gather,
 * backward and the picked log-probs' readback copy in one command buffer, mapped for the loss when the caller is
 * ready to wait (startLossAndGrads: the trainer first queues the update); DPO, IPO and ORPO three
 * (forward; gather and readback; backward), since their w needs the log-probs. train/memory.ts replays both orders.
 */
import { encodeReadback, mapReadback, readBuffer } from '../gpu/buffer-pool.ts';
import { encodeCrossEntropyBackward, encodeTargetLogProb, IGNORE_TARGET } from '../ops/logsoftmax.ts';
import { encodeRmsNorm, encodeRmsNormBackward } from '../ops/rmsnorm.ts';
import { TRAIN_LOGIT_BLOCK_BYTES } from './defaults.ts';
import { validateTokenIds } from '../ops/embedding.ts';
import { encodeEmbeddingBackward, embeddingGradIndex } from '../ops/embedding-backward.ts';
import { encodeEmbed, encodeLmHeadBackward, encodeLmHeadBlock, logitBlocks, releaseLogits, type GpuLogits, type LogitsBlock } from '../model/head.ts';
import { encodeLayer, encodeLayerBackward, type LayerActs, type LayerPass } from '../model/layer.ts';
import { padBatch, runForward } from '../model/forward.ts';
import { assertLive, type Model } from '../model/weights.ts';
import { encodeClearLoraGrads, type DropoutCounters, type GpuLora } from '../lora/adapter.ts';
import { AlloyError } from '../../common/errors.ts';
import { encodeClearFullGrads, type FullParams } from './full-params.ts';
import { computeObjective, isLinearInLogp, needsReference, objectiveTargets, referenceLogps, type ObjectiveOptions, type ObjectiveResult } from './objectives.ts';
import type { Method, Sequence } from '../../common/training-data.ts';

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

/**
 * Target log-probs of each sequence's rows, read back as float64 arrays (0 where not scored): every block's
 * gather in one submit, one readback. Uploads come first (see lossAndGrads on buffer reuse within an encoder).
 */
async function gatherLogps(model: Model, logits: GpuLogits, batch: Batch): Promise<Float64Array[]> {
  const { device, pool } = model;
  const BT = batch.B * batch.T;
  const targets = logits.blocks.map((blk) => pool.upload(batch.targets.subarray(blk.row0, blk.row0 + blk.rows), 'targets'));
  const picked = pool.alloc(BT * 4, 'picked');
  try {
    const enc = device.createCommandEncoder({ label: 'gather' });
    await encodeGather(model, enc, logits.blocks, targets, picked);
    device.queue.submit([enc.finish()]);
    return readLogps(model, picked, batch);
  } finally {
    for (const b of [...targets, picked]) pool.release(b);
  }
}

/**
 * picked [BT] = every block's target log-probs (ops/logsoftmax.ts), through one block-sized buffer when there
 * are several blocks (released once encoded). `targets[i]` holds block i's rows of batch.targets.
 */
async function encodeGather(model: Model, enc: GPUCommandEncoder, blocks: readonly LogitsBlock[], targets: readonly GPUBuffer[], picked: GPUBuffer): Promise<void> {
  const { kernels, pool } = model;
  const V = model.config.vocabSize;
  const block = blocks.length > 1 ? pool.alloc(Math.max(...blocks.map((b) => b.rows)) * 4, 'picked-block') : picked;
  for (const [i, blk] of blocks.entries()) {
    await encodeTargetLogProb(kernels, enc, blk.buffer, targets[i]!, block, { rows: blk.rows, vocab: V });
    if (block !== picked) enc.copyBufferToBuffer(block, 0, picked, blk.row0 * 4, blk.rows * 4);
  }
  if (block !== picked) pool.release(block);
}

/** One block's target log-probs into rows row0.. of picked [BT] (through a block-sized buffer unless it is all of them). */
async function encodeGatherBlock(model: Model, enc: GPUCommandEncoder, blk: LogitsBlock, targets: GPUBuffer, picked: GPUBuffer, BT: number): Promise<void> {
  if (blk.rows === BT) return encodeGather(model, enc, [blk], [targets], picked);
  const out = model.pool.alloc(blk.rows * 4, 'picked-block');
  await encodeTargetLogProb(model.kernels, enc, blk.buffer, targets, out, { rows: blk.rows, vocab: model.config.vocabSize });
  enc.copyBufferToBuffer(out, 0, picked, blk.row0 * 4, blk.rows * 4);
  model.pool.release(out);
}

/** The picked log-probs read back, per sequence as float64 (0 where not scored). */
async function readLogps(model: Model, picked: GPUBuffer, batch: Batch): Promise<Float64Array[]> {
  return logpsOf(new Float32Array(await readBuffer(model.device, picked, batch.B * batch.T * 4)), batch);
}

/** All rows' picked log-probs [BT] → per sequence as float64 (0 where not scored). */
function logpsOf(all: Float32Array, batch: Batch): Float64Array[] {
  return batch.seqTargets.map((tg, b) => Float64Array.from(tg, (y, t) => (y >= 0 ? all[b * batch.T + t]! : 0)));
}

/** Training keeps every intermediate in LayerActs or the caller's lists, so nothing is released mid-layer. */
const noRelease = () => {};

export interface PassOptions {
  /** LoRA dropout counters (training): masks are drawn when given and lora.dropout > 0; omitted = no dropout */
  dropout?: DropoutCounters | null;
  /** per-layer activation recomputation (gradient checkpointing); default false */
  recompute?: boolean;
  /** zero the gradients (dA/dB, or full's) first, in the pass's own command buffer (a step's first micro-batch); default false: accumulate */
  clearGrads?: boolean;
  /** full fine-tuning: every parameter's gradient accumulates here (train/full-params.ts); the pass's lora is null */
  full?: FullParams;
}

/**
 * The reference statistic per sequence (objectives' refLogps) of DPO/IPO, from a forward of the model as it is
 * now with no adapter: what the pass computes when refLogps is not given. A full fine-tune calls it once at the
 * starting weights and keeps the result with the run (TRL's precompute_ref_log_probs).
 */
export async function referenceLogpsOf(model: Model, method: Method, seqs: readonly Sequence[]): Promise<number[]> {
  assertLive(model);
  const batch = layoutBatch(model, method, seqs);
  const ref = await runForward(model, { batch: batch.B, T: batch.T, ids: batch.ids, positions: batch.positions, mask: batch.mask, kv: null, logitRows: null, lora: null });
  try {
    return referenceLogps(method, seqs, await gatherLogps(model, ref, batch));
  } finally {
    releaseLogits(model.pool, ref);
  }
}

/**
 * Loss of `method` on the batch (sequences right-padded into one block) and its gradient, accumulated (+=)
 * into the adapter's dA/dB (clear them first for a fresh gradient: clearLoraGrads), or with lora = null and
 * pass.full into every parameter's gradient.
 */
export async function lossAndGrads(
  model: Model,
  lora: GpuLora | null,
  method: Method,
  seqs: readonly Sequence[],
  opts: ObjectiveOptions = {},
  pass: PassOptions = {},
): Promise<GradResult> {
  const p = await startLossAndGrads(model, lora, method, seqs, opts, pass);
  return { ...(await p.result), tokens: p.tokens };
}

/** A pass whose work is queued: its gradients are in dA/dB once the queue gets there, its loss when `result` is. */
export interface PendingGrad {
  /** scored tokens in the batch */
  tokens: number;
  result: Promise<Omit<GradResult, 'tokens'>>;
}

/**
 * lossAndGrads up to its submit: returns once the pass is queued, so a caller can queue more work (the next
 * micro-batch, the clip and update) before it waits. CPT/SFT: the log-probs' readback copy rides in the pass's
 * own command buffer and `result` is their map; DPO/IPO/ORPO read their log-probs mid-pass, so their loss is
 * known at return (`result` is already settled; the backward is queued, and anything queued after it, a
 * readback of the gradients included, runs after it).
 */
export async function startLossAndGrads(
  model: Model,
  lora: GpuLora | null,
  method: Method,
  seqs: readonly Sequence[],
  opts: ObjectiveOptions = {},
  pass: PassOptions = {},
): Promise<PendingGrad> {
  assertLive(model);
  const full = pass.full ?? null;
  if (lora && full) throw new AlloyError('a pass computes LoRA gradients or full gradients, not both: give the adapter or full parameters');
  if (!lora && !full) throw new AlloyError('a gradient pass needs a LoRA adapter or full parameters (PassOptions.full)');
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

  // DPO's (IPO's) reference: given, or the same model with the adapters off (full: the current weights).
  let refLogps = opts.refLogps;
  if (needsReference(method) && !refLogps) refLogps = await referenceLogpsOf(model, method, seqs);

  // A loss linear in the log-probs (CPT, SFT) has weights that do not depend on them: the objective on zero
  // log-probs gives the step's w before the forward, so forward, gather and backward go in one command buffer and
  // the log-probs are read back once, after it, for the loss (the same objective on the same numbers as the
  // two-submit path). Other objectives (DPO, IPO, ORPO) need the log-probs first: forward, readback, backward.
  const linear = isLinearInLogp(method);
  const objective = (logp: readonly Float64Array[]) => computeObjective(method, seqs, logp, { ...opts, refLogps });
  const weightsOf = (obj: ObjectiveResult) => {
    const w = new Float32Array(BT);
    obj.weights.forEach((ws, b) => ws.forEach((x, t) => (w[b * T + t] = x)));
    return w;
  };

  const owned: GPUBuffer[] = [];
  const keep = (b: GPUBuffer) => (owned.push(b), b);
  // recompute: the one layer set alive outside `owned` (released when its backward is done, or on an error)
  let pending: GPUBuffer[] = [];
  try {
    const idsBuf = keep(pool.upload(batch.ids, 'ids'));
    const posBuf = keep(pool.upload(batch.positions, 'positions'));
    const maskBuf = batch.mask ? keep(pool.upload(batch.mask, 'key-mask')) : undefined;
    // full: the ids grouped by token for the embedding's gradient (uploaded before encoding, as every input)
    const embIndex = full ? embeddingGradIndex(batch.ids, V) : null;
    const embIndexBufs = embIndex
      ? { rows: keep(pool.upload(embIndex.rows, 'emb-grad-rows')), offsets: keep(pool.upload(embIndex.offsets, 'emb-grad-offsets')), order: keep(pool.upload(embIndex.order, 'emb-grad-order')) }
      : null;
    // The loss backward's inputs per logits block: token weights w and targets (the gather reads the targets too).
    const rowsOf = <A extends Float32Array | Uint32Array>(a: A, blk: { row0: number; rows: number }) => a.subarray(blk.row0, blk.row0 + blk.rows);
    // (linear objectives stream their head a block at a time, so their blocks are kept small: defaults.ts)
    const blockRows = logitBlocks(model, BT, linear ? TRAIN_LOGIT_BLOCK_BYTES : Infinity);
    let wBufs: GPUBuffer[] = [];
    let tBufs: GPUBuffer[] = [];
    const uploadLossInputs = (w: Float32Array) => {
      wBufs = blockRows.map((blk) => keep(pool.upload(rowsOf(w, blk), 'token-weights')));
      tBufs = blockRows.map((blk) => keep(pool.upload(rowsOf(batch.targets, blk), 'targets')));
    };
    if (linear) uploadLossInputs(weightsOf(objective(batch.seqTargets.map((tg) => new Float64Array(tg.length)))));
    const x = keep(pool.alloc(BT * C * 4, 'residual'));
    const attArgs = { batch: B, T, S: T, nHeads: H, nKv, headDim: D, past: 0 };
    const ctx: LayerPass = { model, lora, BT, positions: posBuf, mask: maskBuf, attArgs, dropout: pass.dropout ?? null, full, activations: model.activations };
    const L = model.layers.length;

    // ---- forward, keeping activations (or, with recompute, each layer's input and the last layer's set) ----
    // One command buffer from the embedding to the logits (linear objectives: on to the end of the backward). A
    // buffer released while it is being encoded may be handed out again by the pool for a later command of the
    // same encoder; commands run in order, so that is safe, as long as no queue write lands in it before the
    // submit: every upload happens before encoding starts (the token weights and targets too, when linear).
    let enc = device.createCommandEncoder({ label: 'train forward' });
    if (pass.clearGrads) {
      if (lora) encodeClearLoraGrads(enc, lora);
      else encodeClearFullGrads(enc, full!);
    }
    await encodeEmbed(model, enc, idsBuf, x, BT);
    const saved: (LayerActs | null)[] = [];
    const xIns: GPUBuffer[] = [];
    for (let l = 0; l < L; l++) {
      const xIn = keep(pool.alloc(BT * C * 4, 'x_in'));
      enc.copyBufferToBuffer(x, 0, xIn, 0, BT * C * 4);
      xIns.push(xIn);
      const bufs: GPUBuffer[] = recompute ? [] : owned;
      const temps: GPUBuffer[] = [];
      const s = (await encodeLayer(ctx, enc, l, x, { xIn, bufs, temps }, noRelease))!;
      for (const b of temps) pool.release(b);
      if (!recompute || l === L - 1) saved.push(s);
      else {
        saved.push(null);
        for (const b of bufs) pool.release(b);
      }
      if (recompute && l === L - 1) pending = bufs;
    }

    // ---- head, loss, dlogits ----
    const normed = keep(pool.alloc(BT * C * 4, 'final-norm'));
    const rstdF = keep(pool.alloc(BT * 4, 'final-rstd'));
    await encodeRmsNorm(kernels, enc, x, model.norm, normed, { rows: BT, hidden: C, eps }, rstdF);
    // Per block: dlogits = w·(softmax − onehot) in place, dnormed rows = dlogits·lm_head (full: and the lm_head's
    // dW += dlogitsᵀ·normed rows, a later block's rows copied to offset 0 first); then the block is freed.
    const softcap = model.config.finalLogitSoftcapping;
    let dNormed: GPUBuffer | null = null;
    const headBackward = async (blk: LogitsBlock, i: number) => {
      const temps: GPUBuffer[] = [];
      await encodeCrossEntropyBackward(kernels, enc, blk.buffer, tBufs[i]!, wBufs[i]!, blk.buffer, { rows: blk.rows, vocab: V, ...(softcap === null ? {} : { softcap }) });
      let headGrad: { normed: GPUBuffer; gradOf: (w: GPUBuffer) => GPUBuffer } | undefined;
      if (full) {
        let rowsIn = normed;
        if (blk.row0 > 0) {
          rowsIn = pool.alloc(blk.rows * C * 4, 'head-block-normed');
          temps.push(rowsIn);
          enc.copyBufferToBuffer(normed, blk.row0 * C * 4, rowsIn, 0, blk.rows * C * 4);
        }
        headGrad = { normed: rowsIn, gradOf: (w) => full.gradOf(w) };
      }
      const whole = blk.rows === BT;
      const dRows = whole ? dNormed! : pool.alloc(blk.rows * C * 4, 'd-final-norm-block');
      if (!whole) temps.push(dRows);
      await encodeLmHeadBackward(model, enc, blk.buffer, blk.rows, dRows, temps, headGrad);
      if (!whole) enc.copyBufferToBuffer(dRows, 0, dNormed!, blk.row0 * C * 4, blk.rows * C * 4);
      for (const t of temps) pool.release(t);
      pool.release(blk.buffer);
    };
    let obj: ObjectiveResult | null = null;
    let picked: GPUBuffer | null = null;
    if (linear) {
      // The weights are known: each block's logits are made, their target log-probs gathered, and back-propagated
      // at once (the cross-entropy backward overwrites them with dlogits), so one block is alive at a time.
      picked = keep(pool.alloc(BT * 4, 'picked'));
      dNormed = keep(pool.alloc(BT * C * 4, 'd-final-norm'));
      for (const [i, b] of blockRows.entries()) {
        const temps: GPUBuffer[] = [];
        const blk: LogitsBlock = { ...b, buffer: keep(await encodeLmHeadBlock(model, enc, normed, b.row0, b.rows, temps)) };
        for (const t of temps) pool.release(t);
        await encodeGatherBlock(model, enc, blk, tBufs[i]!, picked, BT);
        owned.splice(owned.indexOf(blk.buffer), 1);
        await headBackward(blk, i);
      }
    } else {
      // Logits in row blocks that each fit one binding (one block unless batch × vocabulary is large), all kept
      // until the objective has their log-probs; a block's temporaries go back to the pool once it is encoded.
      const blocks: LogitsBlock[] = [];
      for (const b of blockRows) {
        const temps: GPUBuffer[] = [];
        blocks.push({ ...b, buffer: keep(await encodeLmHeadBlock(model, enc, normed, b.row0, b.rows, temps)) });
        for (const t of temps) pool.release(t);
      }
      device.queue.submit([enc.finish()]);
      const logits: GpuLogits = { rows: BT, vocab: V, blocks };
      obj = objective(await gatherLogps(model, logits, batch));
      uploadLossInputs(weightsOf(obj));
      enc = device.createCommandEncoder({ label: 'train backward' });
      dNormed = keep(pool.alloc(BT * C * 4, 'd-final-norm'));
      for (const [i, blk] of blocks.entries()) {
        owned.splice(owned.indexOf(blk.buffer), 1);
        await headBackward(blk, i);
      }
    }

    // ---- backward: final norm, layers last to first ----
    const dx = keep(pool.alloc(BT * C * 4, 'd-residual'));
    const scratch = recompute && L > 1 ? keep(pool.alloc(BT * C * 4, 'recompute-residual')) : null;
    await encodeRmsNormBackward(kernels, enc, x, model.norm, rstdF, dNormed!, dx, { rows: BT, hidden: C }, full ? full.gradOf(model.norm) : undefined);

    for (let l = L - 1; l >= 0; l--) {
      const temps: GPUBuffer[] = [];
      // Recompute: layer l's forward again from its kept input (the residual it writes is not needed).
      let kept = saved[l];
      if (!kept) {
        enc.copyBufferToBuffer(xIns[l]!, 0, scratch!, 0, BT * C * 4);
        kept = (await encodeLayer(ctx, enc, l, scratch!, { xIn: xIns[l]!, bufs: pending, temps }, noRelease))!;
      }
      await encodeLayerBackward(ctx, enc, l, kept, dx, temps);
      for (const b of temps) pool.release(b);
      for (const b of pending) pool.release(b);
      pending = [];
    }
    // full: dx is now dL/d(embedding output); each table chunk takes its ids' rows (× the gather's scale)
    if (full) {
      for (const c of model.embed.chunks) {
        await encodeEmbeddingBackward(kernels, enc, dx, embIndexBufs!, full.gradOf(c.buffer), {
          unique: embIndex!.rows.length,
          hidden: C,
          vocab: c.rows,
          rowStart: c.rowStart,
          scale: model.embedScale,
        });
      }
    }
    // The readback's copy is queued after the backward, so its map also waits for the whole pass.
    const staging = picked ? encodeReadback(device, enc, picked, BT * 4) : null;
    device.queue.submit([enc.finish()]);
    const tokens = batch.targets.reduce((n, y) => n + (y === IGNORE_TARGET ? 0 : 1), 0);
    const done = obj;
    const result = staging
      ? mapReadback(staging, BT * 4).then((bytes) => objective(logpsOf(new Float32Array(bytes), batch)))
      : Promise.resolve(done!);
    return { tokens, result: result.then((o) => ({ loss: o.loss, metrics: o.metrics })) };
  } finally {
    for (const b of [...owned, ...pending]) pool.release(b);
  }
}

/**
 * The loss of `method` on the batch without any backward (validation): the forward with the adapters (and, for
 * DPO, one with them off for the reference), the objective on the CPU. Gradients are not touched. Full fine-tuning
 * passes lora = null: then the model is its own weights, and DPO/IPO need `opts.refLogps` (the reference's, from
 * the starting weights: referenceLogpsOf), since a reference forward of the current weights gives loss log 2.
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

