/**
 * The training loop on a loaded GPU model, step by step, event-driven and DOM-free, so the CLI (Node), the worker
 * and the Train panel drive the same code. What it trains: a LoRA adapter (GpuLora), or every parameter of the model
 * (FullParams: mode full; full-optim.ts holds the f32 masters of 16-bit weights, and DPO/IPO's reference log-probs
 * are computed once from the starting weights before step 1, TRL's precompute_ref_log_probs, and kept in every
 * checkpoint, so a resumed run compares against the same reference).
 *
 * API in brief
 *   const trainer = new Trainer(model, lora | fullParams, config, data, { store, onEvent });
 *   await trainer.restore();              // optional: continue from the store's latest checkpoint (returns its step)
 *   const result = await trainer.run(control);   // control = new TrainControl(): pause() / resume() / cancel()
 *   trainer.dispose();                    // AdamW state back to the pool (the caller owns model and lora)
 * Events (onEvent, in order within a step):
 *   {type:'step', step, epoch, loss, lr, gradNorm, tokens, tokensPerSec, etaSec, metrics, valLoss?, valPpl?}
 *   {type:'checkpoint', step, where}     after the step's event, once its checkpoint is stored (older ones pruned)
 *   {type:'paused', step} / {type:'resumed', step}
 *   {type:'stopped', reason:'nan'|'cancelled', step, message, lastGoodStep}
 * result: { status: 'done'|'cancelled'|'nan', step, history, message?, lastGoodStep? }.
 *
 * One optimizer step (TRL / HF Trainer semantics since the gradient-accumulation fix, accumulate.ts):
 *   grads = 0; the step's `accum` micro-batches are drawn first, their scored tokens (CPT/SFT) or pairs
 *   (DPO/ORPO) counted; each micro-batch then adds its share: grads += ∇(Σ its token NLL / step tokens), or
 *   ∇(its pair mean · its pairs / step pairs)
 *   loss  = Σ of those shares = the effective batch's token mean (CPT/SFT) or pair mean (DPO/ORPO)
 *   gradNorm = ‖grads‖₂ over all trained tensors (clip.ts, on the GPU); clip = min(1, max/(norm + 1e-6))
 *   AdamW (torch semantics, decoupled weight decay; full: none on norms and biases, as transformers' Trainer) with
 *   lr = schedule(step) and grad_scale = clip
 * Data: a stream of units (a row, or a chosen/rejected pair for DPO/ORPO) in a seeded permutation per epoch
 * (mulberry32 from common/random.ts, seeded by (seed, epoch)); a micro-batch takes the next `microBatch` units
 * and runs on into the next epoch's permutation. The position (epoch, cursor) is all the data-order state.
 * LoRA dropout (lora.dropout > 0) is drawn in training micro-batches only (validation runs without it), from
 * counters (seed, step, micro-batch index, module), so it takes no RNG state and resumes exactly.
 * Determinism: no kernel uses atomics and every host-side sum has a fixed order, so the same seed, data and device
 * give the same loss curve bit for bit, and a run resumed from a checkpoint continues the same curve.
 * One wait per step (CPT/SFT): the pass (which zeroes the gradients first), then the clip and update are queued, and the
 * step's log-probs and gradient norm are read back together; DPO/IPO/ORPO read their log-probs mid-pass as well.
 * Non-finite loss or gradient norm at step s stops the run before the update (AdamW skips it on the GPU when the
 * norm is not finite, which a non-finite CPT/SFT loss guarantees: logsoftmax.wgsl): the message names the step, and the
 * checkpoint of step s−1 (whose weights produced the non-finite loss) is dropped, leaving the last good one.
 */
import { AlloyError } from '../../common/errors.ts';
import type { CheckpointStore } from '../../io/checkpoints.ts';
import type { Model } from '../model/weights.ts';
import { mulberry32 } from '../../common/random.ts';
import { peftKey, type GpuLora } from '../lora/adapter.ts';
import type { FullParams } from './full-params.ts';
import { fullOptimTensors, releaseFullOptim } from './full-optim.ts';
import { adamwStepFields, encodeAdamW } from './adamw.ts';
import { packUniforms } from '../gpu/kernels.ts';
import { CHECKPOINT_FORMAT, CHECKPOINT_VERSION, checkpointLora, encodeCheckpoint, restoreCheckpoint, type OptimTensor } from './checkpoint.ts';
import { encodeClip, normPartials } from './clip.ts';
import { TRAIN_DEFAULTS } from './defaults.ts';
import { field, type ShapeOf } from './settings.ts';
import { startAccumulateStep } from './accumulate.ts';
import { lossOnly, referenceLogpsOf } from './grad.ts';
import { isLinearInLogp, isPaired, needsReference, objectiveOf, type Method, type ObjectiveOptions, type Sequence } from './objectives.ts';
import { learningRate, type ScheduleSpec } from './schedule.ts';

/**
 * The Trainer's config: the schema's 'config' fields (settings.ts: method, steps, lr, schedule, warmupSteps,
 * weightDecay, maxGradNorm, microBatch, accum, seed, evalEvery, checkpointEvery, keepCheckpoints, recompute?; each
 * one's type, range and help there; checkpointEvery 0 = never, and it needs a store), and what no front end sets:
 * AdamW's betas and eps (defaults.ts), and the objective's options as the objective reads them.
 */
export interface TrainConfig extends ShapeOf<'config'> {
  beta1: number;
  beta2: number;
  eps: number;
  objective: ObjectiveOptions;
}

/** A full config from the defaults (defaults.ts) and what the caller sets. */
export function trainConfig(c: Partial<TrainConfig> & Pick<TrainConfig, 'method' | 'steps'>): TrainConfig {
  const d = TRAIN_DEFAULTS;
  const cfg: TrainConfig = {
    lr: d.lr,
    schedule: d.schedule,
    warmupSteps: Math.ceil(c.steps * d.warmupRatio),
    weightDecay: d.weightDecay,
    beta1: d.beta1,
    beta2: d.beta2,
    eps: d.eps,
    maxGradNorm: d.maxGradNorm,
    microBatch: d.microBatch,
    accum: d.accum,
    seed: d.seed,
    evalEvery: d.evalEvery,
    checkpointEvery: d.checkpointEvery,
    keepCheckpoints: d.keepCheckpoints,
    objective: { beta: d.beta },
    ...c,
  };
  // whole-number settings at their schema minimum (settings.ts); checkpointEvery may be 0 here: a run without a
  // store never checkpoints, while the front ends ask for it only with one
  const minOf = (k: keyof TrainConfig) => (k === 'checkpointEvery' ? 0 : field(k).range!.min!);
  for (const k of ['steps', 'microBatch', 'accum', 'keepCheckpoints', 'warmupSteps', 'evalEvery', 'checkpointEvery'] as const) {
    const min = minOf(k);
    if (!Number.isInteger(cfg[k]) || cfg[k] < min) throw new AlloyError(`${k} must be a ${min === 1 ? 'positive' : 'non-negative'} integer, got ${cfg[k]}`, { field: k });
  }
  for (const k of ['lr', 'weightDecay', 'maxGradNorm', 'eps'] as const) {
    if (!(cfg[k] >= 0)) throw new AlloyError(`${k} must be a number ≥ 0, got ${cfg[k]}`, { field: k });
  }
  return cfg;
}

export interface TrainData {
  /** sequences as rowsToSequences gives them (DPO/ORPO: all chosen, then all rejected, pair i = (i, n/2 + i)) */
  train: readonly Sequence[];
  val?: readonly Sequence[];
}

export interface StepEvent {
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  /** global L2 norm of the step's gradient (all micro-batches), before clipping */
  gradNorm: number;
  /** non-padding tokens processed in the step */
  tokens: number;
  tokensPerSec: number;
  etaSec: number;
  metrics: Record<string, number>;
  valLoss?: number;
  valPpl?: number;
}

export type TrainerEvent =
  | ({ type: 'step' } & StepEvent)
  | { type: 'checkpoint'; step: number; where: string }
  | { type: 'paused'; step: number }
  | { type: 'resumed'; step: number }
  | { type: 'stopped'; reason: 'nan' | 'cancelled'; step: number; message: string; lastGoodStep: number | null };

export interface TrainResult {
  status: 'done' | 'cancelled' | 'nan';
  /** optimizer steps done */
  step: number;
  history: StepEvent[];
  message?: string;
  /** on 'nan': the latest checkpoint left in the store (null when none) */
  lastGoodStep?: number | null;
}

/** Pause / resume / cancel, checked between optimizer steps (AbortSignal-like: any thread of control may call). */
export class TrainControl {
  private pausedP: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private cancelledFlag = false;

  get paused(): boolean {
    return this.pausedP !== null;
  }
  get cancelled(): boolean {
    return this.cancelledFlag;
  }
  pause(): void {
    if (!this.pausedP) this.pausedP = new Promise((r) => (this.wake = r));
  }
  resume(): void {
    this.wake?.();
    this.pausedP = null;
    this.wake = null;
  }
  cancel(): void {
    this.cancelledFlag = true;
    this.resume();
  }
  /** Resolves when not paused (immediately if running). */
  async waitWhilePaused(): Promise<void> {
    while (this.pausedP) await this.pausedP;
  }
}

/** Units of training: one sequence, or a chosen/rejected pair. */
function toUnits(method: Method, seqs: readonly Sequence[]): Sequence[][] {
  if (!isPaired(method)) return seqs.map((s) => [s]);
  if (seqs.length % 2) throw new AlloyError(`${method}: expected chosen/rejected pairs, got ${seqs.length} sequences`);
  const n = seqs.length / 2;
  return Array.from({ length: n }, (_, i) => [seqs[i]!, seqs[n + i]!]);
}

/** Units → the batch layout lossAndGrads wants ([chosen…, rejected…] for pairs). */
function layout(units: readonly Sequence[][]): Sequence[] {
  if (units[0]?.length !== 2) return units.map((u) => u[0]!);
  return [...units.map((u) => u[0]!), ...units.map((u) => u[1]!)];
}

/** The permutation of epoch `epoch`: Fisher–Yates driven by mulberry32 seeded from (seed, epoch). */
export function epochOrder(n: number, seed: number, epoch: number): Uint32Array {
  const rand = mulberry32((seed ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0);
  const order = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

export interface TrainerOptions {
  store?: CheckpointStore;
  onEvent?: (e: TrainerEvent) => void;
  /** wall clock for throughput and ETA (tests pass a fake one); default performance.now in ms */
  now?: () => number;
}

/** What a Trainer trains: a LoRA adapter, or (mode full) every parameter of the model. */
export type TrainTarget = GpuLora | FullParams;

function isFull(t: TrainTarget): t is FullParams {
  return 'params' in t;
}

export class Trainer {
  step = 0;
  epoch = 0;
  cursor = 0;
  history: StepEvent[] = [];
  /** the optimised tensors (full: filled by prepare(), which run and restore call) */
  tensors: OptimTensor[];
  /** the adapter trained, or null in a full fine-tune */
  readonly lora: GpuLora | null;
  /** every parameter's gradient (mode full), or null */
  readonly full: FullParams | null;
  /** a full fine-tune's DPO/IPO reference statistics per unit, training and held-out (precomputed) */
  private refs: { train: number[][]; val: number[][] } | null = null;
  private readonly units: Sequence[][];
  private readonly valUnits: Sequence[][];
  private order: Uint32Array;
  private orderEpoch = 0;
  private readonly schedule: ScheduleSpec;
  private readonly now: () => number;
  private disposed = false;
  /** AdamW's per-step uniform block, rewritten each step (adamw.ts) */
  private stepBufs: { uniform: GPUBuffer; partials: GPUBuffer; clip: GPUBuffer; clipRead: GPUBuffer } | null = null;

  constructor(
    readonly model: Model,
    target: TrainTarget,
    readonly config: TrainConfig,
    data: TrainData,
    private readonly opts: TrainerOptions = {},
  ) {
    this.lora = isFull(target) ? null : target;
    this.full = isFull(target) ? target : null;
    this.units = toUnits(config.method, data.train);
    if (this.units.length === 0) throw new AlloyError('no training rows');
    this.valUnits = data.val ? toUnits(config.method, data.val) : [];
    this.order = epochOrder(this.units.length, config.seed, 0);
    this.schedule = { kind: config.schedule, lr: config.lr, totalSteps: config.steps, warmupSteps: config.warmupSteps };
    this.now = opts.now ?? (() => performance.now());
    if (config.checkpointEvery > 0 && !opts.store) throw new AlloyError('checkpoints every N steps need a checkpoint store');
    const { pool } = model;
    const lora = this.lora;
    this.tensors = !lora ? [] : lora.modules.flatMap((m) => [
      { key: peftKey(m, 'A'), shape: [lora.r, m.inF] as [number, number], n: lora.r * m.inF, param: m.a, grad: m.dA, m: pool.upload(new Float32Array(lora.r * m.inF), 'adamw.m'), v: pool.upload(new Float32Array(lora.r * m.inF), 'adamw.v') },
      { key: peftKey(m, 'B'), shape: [m.outF, lora.r] as [number, number], n: m.outF * lora.r, param: m.b, grad: m.dB, m: pool.upload(new Float32Array(m.outF * lora.r), 'adamw.m'), v: pool.upload(new Float32Array(m.outF * lora.r), 'adamw.v') },
    ]);
  }

  /** A full fine-tune's optimizer tensors (masters decoded from the model's current weights); LoRA's are made at construction. */
  async prepare(): Promise<void> {
    if (this.full && this.tensors.length === 0) this.tensors = await fullOptimTensors(this.model, this.full);
  }

  /**
   * A full fine-tune's DPO/IPO reference: every unit's statistics from the weights as they are (before step 1),
   * one micro-batch of units at a time. LoRA's reference is the base itself (adapters off), so it needs none.
   */
  private async precomputeReference(): Promise<void> {
    if (!this.full || this.refs || !needsReference(this.config.method)) return;
    const of = async (units: readonly Sequence[][]) => {
      const out: number[][] = [];
      for (let i = 0; i < units.length; i += this.config.microBatch) {
        const chunk = units.slice(i, i + this.config.microBatch);
        const stats = await referenceLogpsOf(this.model, this.config.method, layout(chunk));
        const n = chunk.length;
        chunk.forEach((u, j) => out.push(u.length === 2 ? [stats[j]!, stats[n + j]!] : [stats[j]!]));
      }
      return out;
    };
    this.refs = { train: await of(this.units), val: await of(this.valUnits) };
  }

  /** A micro-batch's reference statistics in its layout ([chosen…, rejected…]), from the units' precomputed ones. */
  private refsOf(unitRefs: readonly number[][]): number[] {
    if (unitRefs[0]?.length !== 2) return unitRefs.map((r) => r[0]!);
    return [...unitRefs.map((r) => r[0]!), ...unitRefs.map((r) => r[1]!)];
  }

  /** The learning rate of 1-based optimizer step `step`. */
  lrAt(step: number): number {
    return learningRate(this.schedule, step);
  }

  private emit(e: TrainerEvent): void {
    this.opts.onEvent?.(e);
  }

  /** The next micro-batch's units, and their indices into the training units. */
  private nextMicroBatch(): { units: Sequence[][]; index: number[] } {
    const n = Math.min(this.config.microBatch, this.units.length);
    const out: Sequence[][] = [];
    const index: number[] = [];
    for (let i = 0; i < n; i++) {
      if (this.cursor >= this.units.length) {
        this.epoch++;
        this.cursor = 0;
      }
      if (this.orderEpoch !== this.epoch) {
        this.order = epochOrder(this.units.length, this.config.seed, this.epoch);
        this.orderEpoch = this.epoch;
      }
      const u = this.order[this.cursor++]!;
      index.push(u);
      out.push(this.units[u]!);
    }
    return { units: out, index };
  }

  /** Validation loss over the held-out units (token-weighted for CPT/SFT, so valPpl = exp(valLoss) is perplexity). */
  async evaluate(): Promise<{ valLoss: number; valPpl?: number }> {
    const { method, microBatch, objective } = this.config;
    let sum = 0;
    let weight = 0;
    for (let i = 0; i < this.valUnits.length; i += microBatch) {
      const units = this.valUnits.slice(i, i + microBatch);
      const ref = this.refs ? { refLogps: this.refsOf(this.refs.val.slice(i, i + microBatch)) } : {};
      const r = await lossOnly(this.model, this.lora, method, layout(units), { ...objective, ...ref });
      const w = objectiveOf(method).perplexity ? r.tokens : units.length;
      sum += r.loss * w;
      weight += w;
    }
    const valLoss = sum / Math.max(1, weight);
    return objectiveOf(method).perplexity ? { valLoss, valPpl: Math.exp(valLoss) } : { valLoss };
  }

  /** Continues from the store's latest checkpoint; returns its step, or null when the store has none. */
  async restore(): Promise<number | null> {
    const store = this.opts.store;
    if (!store) return null;
    const steps = await store.steps();
    const last = steps.at(-1);
    if (last === undefined) return null;
    // a checkpoint of another adapter (r, alpha, rsLoRA, targets, dropout), mode or objective (method, beta, label
    // smoothing) is refused before anything is uploaded
    await this.prepare();
    const meta = await restoreCheckpoint(this.model.device, await store.open(last), this.tensors, this.lora, this.config);
    if (this.full && needsReference(this.config.method)) {
      // the reference came from the starting weights, which are gone: it is the checkpoint's or none
      const r = meta.refLogps;
      if (!r || r.train.length !== this.units.length || r.val.length !== this.valUnits.length) {
        throw new AlloyError(`checkpoint ${last}: no reference log-probs for this run's ${this.units.length} training and ${this.valUnits.length} held-out units (other data?)`);
      }
      this.refs = r;
    }
    this.step = meta.step;
    this.epoch = meta.epoch;
    this.cursor = meta.cursor;
    this.history = meta.history as StepEvent[];
    return last;
  }

  /** Stores the current state as the checkpoint of this step (and prunes the oldest beyond keepCheckpoints). */
  async saveCheckpoint(): Promise<void> {
    if (!this.opts.store) throw new AlloyError('no checkpoint store');
    const store = this.opts.store!;
    await store.save(this.step, await this.checkpointBlob());
    const steps = await store.steps();
    for (const s of steps.slice(0, Math.max(0, steps.length - this.config.keepCheckpoints))) await store.delete(s);
    this.emit({ type: 'checkpoint', step: this.step, where: store.where });
  }

  /** The current state as one checkpoint blob (checkpoint.ts): what to resume this run exactly from here. */
  async checkpointBlob(): Promise<Blob> {
    await this.prepare();
    const { objective, ...rest } = this.config;
    return encodeCheckpoint(this.model.device, this.tensors, {
      format: CHECKPOINT_FORMAT,
      version: CHECKPOINT_VERSION,
      step: this.step,
      epoch: this.epoch,
      cursor: this.cursor,
      config: { ...rest, objective: { ...objective, refLogps: undefined } },
      lora: this.lora ? checkpointLora(this.lora) : null,
      ...(this.full ? { mode: 'full' as const } : {}),
      ...(this.refs ? { refLogps: this.refs } : {}),
      history: this.history,
    });
  }

  /** Runs optimizer steps until config.steps, a cancel, or a non-finite loss. */
  async run(control: TrainControl = new TrainControl()): Promise<TrainResult> {
    if (this.disposed) throw new AlloyError('trainer was disposed');
    const { device, kernels, pool } = this.model;
    const cfg = this.config;
    await this.prepare();
    if (this.step === 0) await this.precomputeReference();
    const started = this.now();
    const startStep = this.step;
    while (this.step < cfg.steps) {
      if (control.paused) {
        this.emit({ type: 'paused', step: this.step });
        await control.waitWhilePaused();
        if (!control.cancelled) this.emit({ type: 'resumed', step: this.step });
      }
      if (control.cancelled) {
        const message = `cancelled after step ${this.step}`;
        this.emit({ type: 'stopped', reason: 'cancelled', step: this.step, message, lastGoodStep: null });
        return { status: 'cancelled', step: this.step, history: this.history, message };
      }
      const step = this.step + 1;
      const t0 = this.now();
      const drawn = Array.from({ length: cfg.accum }, () => this.nextMicroBatch());
      const micro = drawn.map((d) => layout(d.units));
      const refs = this.refs;
      const refFor = refs ? (a: number) => this.refsOf(drawn[a]!.index.map((u) => refs.train[u]!)) : undefined;
      const tokens = micro.reduce((n, seqs) => n + seqs.reduce((m, s) => m + s.ids.length, 0), 0);
      // LoRA dropout masks are hashes of (seed, step, micro-batch, module): a resumed run draws the same ones.
      // The first micro-batch's pass zeroes the gradients in its own command buffer.
      const full = this.full ? { full: this.full } : {};
      const pass = (a: number) => ({ recompute: cfg.recompute ?? false, dropout: { seed: cfg.seed, step, micro: a }, clearGrads: a === 0, ...full });
      const objective = refFor ? (a: number) => ({ ...cfg.objective, refLogps: refFor(a) }) : cfg.objective;
      const pending = await startAccumulateStep(this.model, this.lora, cfg.method, micro, objective, pass);
      // DPO/IPO/ORPO know their loss mid-pass (their weights need the log-probs): checked before the update.
      // CPT/SFT read theirs with the gradient norm, after the update is queued: a non-finite loss comes from a
      // non-finite target log-prob, which the cross-entropy backward turns into a NaN gradient (logsoftmax.wgsl),
      // so the norm is not finite and AdamW leaves every tensor as it was. One wait per step.
      const early = isLinearInLogp(cfg.method) ? null : await pending.result;
      if (early && !Number.isFinite(early.loss)) return this.stopOnNan(step, early.loss, NaN);

      // The norm, the clip scale and the update in one submit (clip.ts): AdamW reads the scale on the GPU and
      // leaves every tensor as it was when the norm is not finite; the norm comes back with the step.
      const lr = this.lrAt(step);
      const hyper = { step, lr, beta1: cfg.beta1, beta2: cfg.beta2, eps: cfg.eps, weightDecay: cfg.weightDecay, gradScale: 1 };
      const sb = this.stepBuffers();
      device.queue.writeBuffer(sb.uniform, 0, packUniforms(adamwStepFields(hyper)));
      const enc = device.createCommandEncoder({ label: 'clip+adamw' });
      await encodeClip(kernels, enc, this.tensors, sb, cfg.maxGradNorm);
      for (const t of this.tensors) {
        await encodeAdamW(kernels, enc, t, { n: t.n, ...hyper }, sb.uniform, sb.clip, { ...(t.decay === false ? { decay: false } : {}), ...(t.store ? { store: t.store } : {}) });
      }
      enc.copyBufferToBuffer(sb.clip, 0, sb.clipRead, 0, 8);
      device.queue.submit([enc.finish()]);
      const [{ loss, metrics }] = await Promise.all([early ?? pending.result, sb.clipRead.mapAsync(0x01 /* GPUMapMode.READ */)]);
      const gradNorm = Math.sqrt(new Float32Array(sb.clipRead.getMappedRange(0, 8))[0]!);
      sb.clipRead.unmap();
      if (!Number.isFinite(loss)) return this.stopOnNan(step, loss, NaN);
      if (!Number.isFinite(gradNorm)) return this.stopOnNan(step, loss, gradNorm);
      this.step = step;

      const t1 = this.now();
      const perStep = (t1 - started) / 1000 / (step - startStep);
      const ev: StepEvent = {
        step,
        epoch: this.epoch,
        loss,
        lr,
        gradNorm,
        tokens,
        tokensPerSec: tokens / Math.max(1e-9, (t1 - t0) / 1000),
        etaSec: perStep * (cfg.steps - step),
        metrics,
      };
      const last = step === cfg.steps;
      if (this.valUnits.length && cfg.evalEvery > 0 && (step % cfg.evalEvery === 0 || last)) Object.assign(ev, await this.evaluate());
      this.history.push(ev);
      this.emit({ type: 'step', ...ev });
      if (this.opts.store && cfg.checkpointEvery > 0 && (step % cfg.checkpointEvery === 0 || last)) await this.saveCheckpoint();
    }
    return { status: 'done', step: this.step, history: this.history };
  }

  private async stopOnNan(step: number, loss: number, gradNorm: number): Promise<TrainResult> {
    const what = !Number.isFinite(loss) ? `the loss is ${loss}` : `the gradient norm is ${gradNorm}`;
    const store = this.opts.store;
    let lastGoodStep: number | null = null;
    if (store) {
      // The weights of step − 1 gave this loss: its checkpoint is not a good one to fall back to.
      if (!Number.isFinite(loss)) await store.delete(step - 1);
      lastGoodStep = (await store.steps()).filter((s) => s < step).at(-1) ?? null;
    }
    const keep = store
      ? lastGoodStep !== null
        ? `the last good checkpoint is step ${lastGoodStep} in ${store.where}`
        : `no good checkpoint in ${store.where}`
      : 'no checkpoint store';
    const message = `step ${step}: ${what}; training stopped before the update (lower the learning rate?); ${keep}`;
    this.emit({ type: 'stopped', reason: 'nan', step, message, lastGoodStep });
    return { status: 'nan', step: this.step, history: this.history, message, lastGoodStep };
  }

  /** The optimizer step's own buffers, made on the first step: AdamW's uniform block, the norm's scratch and result. */
  private stepBuffers(): { uniform: GPUBuffer; partials: GPUBuffer; clip: GPUBuffer; clipRead: GPUBuffer } {
    const { device, pool } = this.model;
    this.stepBufs ??= {
      uniform: device.createBuffer({ size: 32, usage: 0x40 /* UNIFORM */ | 0x08 /* COPY_DST */, label: 'adamw-step' }),
      partials: pool.alloc(Math.max(1, normPartials(this.tensors)) * 4, 'grad-norm.partials'),
      clip: pool.alloc(8, 'grad-norm.clip'),
      clipRead: device.createBuffer({ size: 8, usage: 0x01 /* MAP_READ */ | 0x08 /* COPY_DST */, label: 'grad-norm.read' }),
    };
    return this.stepBufs;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.stepBufs) {
      this.stepBufs.uniform.destroy();
      this.stepBufs.clipRead.destroy();
      this.model.pool.release(this.stepBufs.partials);
      this.model.pool.release(this.stepBufs.clip);
      this.stepBufs = null;
    }
    if (this.full) releaseFullOptim(this.model.pool, this.tensors);
    else {
      for (const t of this.tensors) {
        this.model.pool.release(t.m);
        this.model.pool.release(t.v);
      }
    }
  }
}
