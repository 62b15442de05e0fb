/**
 * KV cache for incremental decoding: `prefill` runs the prompt(s) once and keeps every layer's keys and values;
 * each `step` then feeds one new token per row and attends over the cache.
 *
 * Memory layout: per layer, k and v f32 (or f16, two a word: `dtype`, kv-dtype.ts) [batch, capacity, nKv, headDim]
 * (slot-major within a row, the layout the attention kernel reads with S = capacity). Slots are shared across rows:
 * prefill fills slots 0..T−1 (rows shorter than T leave masked holes after their last token), each step fills the
 * next slot. The host keeps the key mask [batch, capacity] and each row's next RoPE position (its own token count),
 * see forward.ts.
 * A sliding-window layer needs only its window: with `ring` > 0 (prefill picks it, kv-ring.ts) its k and v hold
 * `ring` slots a row, slot s at row s mod ring, while full layers keep `capacity`; the mask and the causal and
 * window rules stay in slots 0..capacity−1 (attention.wgsl kv_row). A ring fits runs of a bounded length: each run
 * checks that its tokens, the window and the row's padding holes fit (`advance`), and prefill runs a long prompt in
 * chunks.
 */
import { AlloyError } from '../../common/errors.ts';
import { encodeForward, padBatch, runForward, type ForwardInputs, type ForwardPlan } from './forward.ts';
import { readLogits, releaseLogits, type GpuLogits } from './head.ts';
import { argmax } from './score.ts';
import { assertLive, type Model } from './weights.ts';
import { encodeArgmax } from '../ops/argmax.ts';
import { encodeSample, EXP2_TABLES, sampleReference, type SampleParams } from '../ops/sample.ts';
import { attentionUniforms } from '../ops/attention.ts';
import { attentionScale } from './layer.ts';
import { splitQkvUniforms } from '../ops/rope.ts';
import { validateTokenIds } from '../ops/embedding.ts';
import { kvLayerSlots, kvRingSlots, prefillChunk, slidingWindowOf } from './kv-ring.ts';
import type { GpuLora } from '../lora/adapter.ts';
import { kvElementBytes, type KvDtype } from '../kv-dtype.ts';

/**
 * What a run reads back: each asked row's logits [vocab], only its argmax (greedy decoding: 4 bytes a row), or
 * a sampled token (ops/sample.ts: 4 bytes a row, 8 with its log-prob).
 */
export type Readback = 'logits' | 'argmax' | 'sample';

/** A 'sample' run's settings: the warpers as the kernel takes them, one draw per asked row, log-probs or not. */
export interface SampleStep {
  params: SampleParams;
  /** U per row (ops/sample.ts drawBits: u = U / 2³²) */
  draws: Uint32Array;
  logProbs?: boolean;
}

/** The sampler's buffers, made on a cache's first sampled step: its draws (rewritten per step), tables, scratch. */
interface SampleBuffers {
  draws: GPUBuffer;
  tables: GPUBuffer;
  weights: GPUBuffer;
}

/**
 * Buffers a cache keeps for its one-token steps, so that a decode step allocates nothing: the step's ids and
 * RoPE positions, the key mask (only the new slot of each row is written), the rows whose logits are wanted
 * (all of them, fixed), attention's and split_qkv's uniform blocks (only `past` changes), and the readback
 * staging buffer.
 */
interface StepBuffers {
  ids: GPUBuffer;
  positions: GPUBuffer;
  mask: GPUBuffer;
  logitRows: GPUBuffer;
  attention: GPUBuffer;
  split: GPUBuffer;
  picked: GPUBuffer;
  /** two, used in turn: a chained step's result is copied out while the one before it is still mapped */
  staging: [GPUBuffer, GPUBuffer];
}

/**
 * A decode step submitted but not yet read back: `read` resolves to its token ids (then log-probs' bits), as
 * `run` returns them. Chained steps (`submitStep` with tokens 'picked') are how generate keeps the GPU busy
 * while the host prepares the next step.
 */
export interface SubmittedStep {
  read: Promise<Uint32Array>;
}

export class KvCache {
  /** slots filled so far (the same for every row) */
  used = 0;
  private released = false;
  private stepBufs: StepBuffers | null = null;
  private sampleBufs: SampleBuffers | null = null;
  /** one-token steps submitted so far (picks the staging buffer) */
  private steps = 0;
  /** each staging buffer's last read: a step that reuses the buffer waits for its mapping to end */
  private stagingReads: Array<Promise<unknown>> = [];

  constructor(
    readonly model: Model,
    readonly batch: number,
    readonly capacity: number,
    readonly k: GPUBuffer[],
    readonly v: GPUBuffer[],
    /** [batch·capacity], 1 where a slot holds a real token */
    readonly mask: Uint32Array,
    /** next RoPE position per row */
    readonly positions: number[],
    /**
     * LoRA adapters every pass through this cache runs with (chat with an adapter attached): the keys and values
     * already cached were computed with them, so a cache never mixes a prompt with and without adapters.
     */
    readonly lora: GpuLora | null = null,
    /** the sliding layers' slots per row (a ring), 0 when every layer keeps `capacity` */
    readonly ring = 0,
    /** how k and v are stored (kv-dtype.ts) */
    readonly dtype: KvDtype = 'f32',
  ) {
    this.holes = new Array<number>(batch).fill(0);
  }

  /** masked slots in each row so far (a ragged run's padding), which a ring's windows must span */
  private readonly holes: number[];

  static create(model: Model, batch: number, capacity: number, lora: GpuLora | null = null, ring = 0, dtype: KvDtype = model.kvDtype): KvCache {
    assertLive(model);
    const { config: cfg, pool, device } = model;
    if (dtype === 'f16' && cfg.headDim % 4 !== 0) throw new AlloyError(`an f16 KV cache needs a head dim that is a multiple of 4; this model's is ${cfg.headDim}`);
    if (ring > 0 && !(Number.isSafeInteger(ring) && ring < capacity && cfg.layerWindows.some((w) => w > 0))) {
      throw new RangeError(`a KV ring needs sliding layers and 0 < ring (${ring}) < capacity (${capacity})`);
    }
    const k: GPUBuffer[] = [];
    const v: GPUBuffer[] = [];
    // Pool buffers come back with old contents; zero them so a masked slot's value is finite (0·NaN would be NaN).
    const enc = device.createCommandEncoder({ label: 'kv-cache.clear' });
    for (let l = 0; l < cfg.numLayers; l++) {
      const bytes = batch * kvLayerSlots(cfg, l, capacity, ring) * cfg.numKvHeads * cfg.headDim * kvElementBytes(dtype);
      for (const list of [k, v]) {
        const b = pool.alloc(bytes, `kv-cache.${l}`);
        enc.clearBuffer(b);
        list.push(b);
      }
    }
    device.queue.submit([enc.finish()]);
    return new KvCache(model, batch, capacity, k, v, new Uint32Array(batch * capacity), new Array<number>(batch).fill(0), lora, ring, dtype);
  }

  /** Slots per row of layer l's k and v buffers. */
  layerSlots(l: number): number {
    return kvLayerSlots(this.model.config, l, this.capacity, this.ring);
  }

  get isReleased(): boolean {
    return this.released;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    const { pool } = this.model;
    for (const b of [...this.k, ...this.v]) pool.release(b);
    if (this.stepBufs) {
      const { staging, attention, split, ...rest } = this.stepBufs;
      for (const b of Object.values(rest)) pool.release(b);
      for (const b of [...staging, attention, split]) b.destroy();
      this.stepBufs = null;
    }
    if (this.sampleBufs) for (const b of Object.values(this.sampleBufs)) pool.release(b);
    this.sampleBufs = null;
  }

  private sampleBuffers(): SampleBuffers {
    const { pool, config } = this.model;
    this.sampleBufs ??= {
      draws: pool.alloc(this.batch * 4, 'step-draws'),
      tables: pool.upload(EXP2_TABLES, 'sample-exp2'),
      weights: pool.alloc(this.batch * config.vocabSize * 4, 'sample-weights'),
    };
    return this.sampleBufs;
  }

  private stepBuffers(): StepBuffers {
    if (this.stepBufs) return this.stepBufs;
    const { pool, device, config } = this.model;
    const B = this.batch;
    this.stepBufs = {
      ids: pool.alloc(B * 4, 'step-ids'),
      positions: pool.alloc(B * 4, 'step-positions'),
      mask: pool.alloc(B * this.capacity * 4, 'key-mask'),
      logitRows: pool.upload(Uint32Array.from({ length: B }, (_, b) => b), 'step-logit-rows'),
      attention: device.createBuffer({ size: 48, usage: 0x40 /* UNIFORM */ | 0x08 /* COPY_DST */, label: 'step-attention' }),
      split: device.createBuffer({ size: 32, usage: 0x40 /* UNIFORM */ | 0x08 /* COPY_DST */, label: 'step-split-qkv' }),
      picked: pool.alloc(B * 8, 'step-picked'), // ids, then (sampling with log-probs) their log-probs
      staging: [0, 1].map(() =>
        device.createBuffer({ size: B * Math.max(config.vocabSize, 2) * 4, usage: 0x01 /* MAP_READ */ | 0x08 /* COPY_DST */, label: 'step-readback' }),
      ) as [GPUBuffer, GPUBuffer],
    };
    // the mask buffer mirrors the host mask from here on (only new slots are written after this)
    device.queue.writeBuffer(this.stepBufs.mask, 0, this.mask as Uint32Array<ArrayBuffer>);
    return this.stepBufs;
  }

  /**
   * Runs T new slots (tokens [batch·T], lengths ≤ T real tokens per row) and reads back, for the given rows,
   * their logits ([rows, vocab]), their argmax ([rows]) or a sampled token ([rows], then with `sample.logProbs`
   * [rows] f32 log-probs' bits).
   */
  async run(
    ids: Uint32Array,
    T: number,
    real: readonly number[],
    logitRows: Uint32Array,
    readback: Readback = 'logits',
    sample?: SampleStep,
  ): Promise<Float32Array | Uint32Array> {
    if (readback === 'sample' && sample?.draws.length !== logitRows.length) throw new RangeError(`sampling needs one draw per asked row (${logitRows.length})`);
    if (T === 1 && logitRows.length === this.batch) {
      const step = await this.advance(ids, T, real, logitRows, (plan, past) => this.step1(plan, past, real, readback, false, sample));
      return step.read.then((bits) => (readback === 'logits' ? new Float32Array(bits.buffer) : bits));
    }
    return this.advance(ids, T, real, logitRows, (plan) => this.runMany(plan, readback, sample));
  }

  /**
   * Submits one step for every row (a token each) and returns once it is queued, with its pick still to be read:
   * `tokens` are the host's ids, or 'picked' for the ids the previous step picked on the GPU (greedy or sampled,
   * never read back in between). So the next step can be encoded and queued while this one runs. Each call
   * consumes a slot whether or not its result is used.
   */
  async submitStep(tokens: readonly number[] | 'picked', readback: 'argmax' | 'sample', sample?: SampleStep): Promise<SubmittedStep> {
    const B = this.batch;
    if (tokens === 'picked' ? this.steps === 0 : tokens.length !== B) {
      throw new RangeError(tokens === 'picked' ? 'the first step of a cache needs its tokens from the host' : `step needs ${B} tokens (one per row), got ${tokens.length}`);
    }
    if (readback === 'sample' && sample?.draws.length !== B) throw new RangeError(`sampling needs one draw per row (${B})`);
    // a placeholder id passes the host's check; the kernel reads the picked ids from the step buffer instead
    const ids = tokens === 'picked' ? new Uint32Array(B) : Uint32Array.from(tokens);
    const rows = Uint32Array.from({ length: B }, (_, b) => b);
    const real = new Array<number>(B).fill(1);
    return this.advance(ids, 1, real, rows, (plan, past) => this.step1(plan, past, real, readback, tokens === 'picked', sample));
  }

  /**
   * Runs T new slots like `run` but leaves the asked rows' logits on the GPU (scoring gathers its log-probs
   * there); an empty `logitRows` runs no head at all (a prefix that only fills the cache).
   */
  runLogits(ids: Uint32Array, T: number, real: readonly number[], logitRows: Uint32Array): Promise<GpuLogits> {
    return this.advance(ids, T, real, logitRows, (plan) => {
      if (this.stepBufs) this.model.device.queue.writeBuffer(this.stepBufs.mask, 0, this.mask as Uint32Array<ArrayBuffer>);
      return runForward(this.model, plan);
    });
  }

  /**
   * A new cache of `rows` rows, each holding a copy of this (one-row) cache's slots 0..used, with its mask and
   * positions: scoring runs a shared prefix once and then every continuation from its own copy. Same capacity
   * and adapters; this cache stays usable.
   */
  fork(rows: number): KvCache {
    if (this.released) throw new AlloyError('this KV cache was released');
    if (this.batch !== 1) throw new RangeError(`fork copies a one-row cache (this one has ${this.batch} rows)`);
    const { config: cfg, device } = this.model;
    const out = KvCache.create(this.model, rows, this.capacity, this.lora, this.ring, this.dtype);
    const slot = cfg.numKvHeads * cfg.headDim * kvElementBytes(this.dtype);
    // slots are contiguous within a row, so row 0's filled slots are one range (a ring's: all of it, or what is
    // filled), copied to the start of each row
    if (this.used > 0) {
      const enc = device.createCommandEncoder({ label: 'kv-cache.fork' });
      for (let l = 0; l < cfg.numLayers; l++) {
        const rowBytes = this.layerSlots(l) * slot;
        const n = Math.min(this.used, this.layerSlots(l)) * slot;
        for (let r = 0; r < rows; r++) {
          enc.copyBufferToBuffer(this.k[l]!, 0, out.k[l]!, r * rowBytes, n);
          enc.copyBufferToBuffer(this.v[l]!, 0, out.v[l]!, r * rowBytes, n);
        }
      }
      device.queue.submit([enc.finish()]);
    }
    out.holes.fill(this.holes[0]!);
    for (let r = 0; r < rows; r++) out.mask.set(this.mask.subarray(0, this.capacity), r * this.capacity);
    out.positions.fill(this.positions[0]!);
    out.used = this.used;
    return out;
  }

  /**
   * The bookkeeping around every run: the new slots' mask and each row's RoPE positions, the capacity and
   * position checks, and the rollback on failure.
   */
  private async advance<R>(
    ids: Uint32Array,
    T: number,
    real: readonly number[],
    logitRows: Uint32Array,
    go: (plan: ForwardPlan, past: number) => Promise<R>,
  ): Promise<R> {
    if (this.released) throw new AlloyError('this KV cache was released');
    const B = this.batch;
    const past = this.used;
    if (past + T > this.capacity) {
      throw new AlloyError(`the KV cache holds ${this.capacity} tokens; ${past} used, ${T} more do not fit`);
    }
    const holes = this.holes.map((h, b) => h + T - real[b]!);
    if (this.ring > 0) {
      const W = slidingWindowOf(this.model.config);
      const need = W - 1 + Math.max(...holes) + T;
      if (need > this.ring) {
        throw new AlloyError(
          `this KV cache's sliding layers keep ${this.ring} slots a row (a ring); a run of ${T} tokens with a ${W}-token window and ${Math.max(...holes)} padding slots needs ${need}: run fewer tokens at once`,
        );
      }
    }
    const positions = new Uint32Array(B * T);
    const before = [...this.positions];
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) positions[b * T + t] = this.positions[b]! + Math.min(t, Math.max(real[b]! - 1, 0));
      this.mask.fill(1, b * this.capacity + past, b * this.capacity + past + real[b]!);
      this.positions[b] = this.positions[b]! + real[b]!;
    }
    try {
      if (Math.max(...this.positions) > this.model.config.maxPositionEmbeddings) {
        throw new AlloyError(`sequence longer than max_position_embeddings (${this.model.config.maxPositionEmbeddings})`);
      }
      const plan = { batch: B, T, ids, positions, mask: this.mask, kv: { k: this.k, v: this.v, capacity: this.capacity, past, ring: this.ring, dtype: this.dtype }, logitRows, lora: this.lora };
      const out = await go(plan, past);
      this.used += T;
      this.holes.splice(0, B, ...holes);
      return out;
    } catch (e) {
      // Leave the cache as it was (e.g. after a bad token id), so the caller can carry on with valid input.
      for (let b = 0; b < B; b++) this.mask.fill(0, b * this.capacity + past, (b + 1) * this.capacity);
      this.positions.splice(0, B, ...before);
      if (this.stepBufs) this.model.device.queue.writeBuffer(this.stepBufs.mask, 0, this.mask as Uint32Array<ArrayBuffer>);
      throw e;
    }
  }

  /** A prefill (or any T > 1 run): the generic forward, then the asked rows read back. */
  private async runMany(plan: ForwardPlan, readback: Readback, sample?: SampleStep): Promise<Float32Array | Uint32Array> {
    if (this.stepBufs) this.model.device.queue.writeBuffer(this.stepBufs.mask, 0, this.mask as Uint32Array<ArrayBuffer>);
    const logits = await runForward(this.model, plan);
    if (readback === 'logits') return readLogits(this.model, logits);
    const all = await readLogits(this.model, logits);
    const V = logits.vocab;
    const R = logits.rows;
    if (readback === 'argmax') return Uint32Array.from({ length: R }, (_, r) => argmax(all, r * V, V));
    // the kernel's rule on the CPU (the same tokens): a prefill reads its logits anyway
    const out = new Uint32Array(sample!.logProbs ? 2 * R : R);
    const lps = new Float32Array(out.buffer, R * 4);
    for (let r = 0; r < R; r++) {
      const s = sampleReference(all, r * V, V, sample!.params, sample!.draws[r]!);
      out[r] = s.token;
      if (sample!.logProbs) lps[r] = s.logProb;
    }
    return out;
  }

  /**
   * One token per row, every row's logits wanted: inputs are written into the cache's own buffers, the forward,
   * the pick (argmax, or sample with the step's draws) and the copy to a staging buffer go in one submit, and
   * one mapAsync reads the result. With `picked`, the ids are the previous step's picks, left in the ids buffer
   * by that step (every step copies its picks there). Returns once submitted.
   * Steady state: no buffer or bind group is created, a handful of small queue writes, one submit. The queue
   * writes of a step are ordered after the previous step's submit, so rewriting the same buffers is safe.
   */
  private async step1(
    plan: ForwardPlan,
    past: number,
    real: readonly number[],
    readback: Readback,
    picked: boolean,
    sample?: SampleStep,
  ): Promise<SubmittedStep> {
    const { model } = this;
    const { device, kernels, config } = model;
    validateTokenIds(plan.ids, config.vocabSize);
    const sb = this.stepBuffers();
    const B = this.batch;
    const q = device.queue;
    if (!picked) q.writeBuffer(sb.ids, 0, plan.ids as Uint32Array<ArrayBuffer>);
    q.writeBuffer(sb.positions, 0, plan.positions as Uint32Array<ArrayBuffer>);
    for (let b = 0; b < B; b++) if (real[b]) q.writeBuffer(sb.mask, (b * this.capacity + past) * 4, this.mask as Uint32Array<ArrayBuffer>, b * this.capacity + past, 1);
    const D = config.headDim;
    q.writeBuffer(sb.attention, 0, attentionUniforms({ batch: B, T: 1, S: this.capacity, nHeads: config.numHeads, nKv: config.numKvHeads, headDim: D, past, scale: attentionScale(config), ring: this.ring }));
    q.writeBuffer(sb.split, 0, splitQkvUniforms({ rows: B, heads: config.numHeads, kvHeads: config.numKvHeads, headDim: D, T: 1, S: this.capacity, past, ring: this.ring }));
    const inputs: ForwardInputs = { ids: sb.ids, positions: sb.positions, mask: sb.mask, logitRows: sb.logitRows, attention: sb.attention, split: sb.split };
    const smp = readback === 'sample' ? this.sampleBuffers() : null;
    if (smp) q.writeBuffer(smp.draws, 0, sample!.draws as Uint32Array<ArrayBuffer>);
    const { logits, encoder } = await encodeForward(model, device.createCommandEncoder({ label: 'decode step' }), plan, inputs);
    const V = logits.vocab;
    const idBytes = B * 4;
    const bytes = readback === 'logits' ? B * V * 4 : readback === 'sample' && sample!.logProbs ? 2 * idBytes : idBytes;
    const slot = this.steps % 2;
    const staging = sb.staging[slot]!;
    await this.stagingReads[slot]; // a third step in flight waits here for the first one's read
    try {
      for (const blk of logits.blocks) {
        if (smp) {
          const b = { logits: blk.buffer, draws: smp.draws, tables: smp.tables, weights: smp.weights, out: sb.picked };
          await encodeSample(kernels, encoder, b, { rows: blk.rows, vocab: V, params: sample!.params, row0: blk.row0, outRows: B, logProbs: sample!.logProbs });
        } else if (readback === 'argmax') {
          // picks land at their rows' offsets in `picked`, so a chained step finds every row's id in place
          await encodeArgmax(kernels, encoder, blk.buffer, sb.picked, { rows: blk.rows, vocab: V, row0: blk.row0 });
        } else encoder.copyBufferToBuffer(blk.buffer, 0, staging, blk.row0 * V * 4, blk.rows * V * 4);
      }
      if (readback !== 'logits') {
        encoder.copyBufferToBuffer(sb.picked, 0, staging, 0, bytes);
        encoder.copyBufferToBuffer(sb.picked, 0, sb.ids, 0, idBytes); // the next chained step's input
      }
      q.submit([encoder.finish()]);
    } finally {
      releaseLogits(model.pool, logits);
    }
    this.steps++;
    const read = (async () => {
      await staging.mapAsync(0x01 /* GPUMapMode.READ */, 0, bytes);
      try {
        return new Uint32Array(staging.getMappedRange(0, bytes).slice(0));
      } finally {
        staging.unmap();
      }
    })();
    // A cache released with a read in flight aborts the mapping: a caller who drops that read must not see an
    // unhandled rejection (one who awaits it still gets the error).
    this.stagingReads[slot] = read.catch(() => undefined);
    return { read };
  }
}

export interface PrefillResult {
  cache: KvCache;
  /** logits of each row's last token, [vocab] per row */
  logits: Float32Array[];
}

/**
 * Runs the prompts (ragged rows, right-padded internally) into a fresh cache of `capacity` slots (default: the
 * longest prompt + 256, at most max_position_embeddings). With `lora`, the prompt and every later step run with it.
 * A model with sliding layers gets a ring for them when it is smaller than the capacity (kv-ring.ts); a prompt
 * longer than its chunk then runs in chunks, each row's logits taken from the chunk holding its last token.
 */
export async function prefill(
  model: Model,
  prompts: readonly (readonly number[])[],
  opts: { capacity?: number; lora?: GpuLora | null; kvDtype?: KvDtype } = {},
): Promise<PrefillResult> {
  const { ids, T } = padBatch(prompts);
  const B = prompts.length;
  const capacity = opts.capacity ?? Math.min(T + 256, model.config.maxPositionEmbeddings);
  if (capacity < T) throw new RangeError(`cache capacity ${capacity} is below the prompt length ${T}`);
  const holes = T - Math.min(...prompts.map((p) => p.length));
  const ring = kvRingSlots(model.config, capacity, prefillChunk(model.config, T), holes);
  const chunk = ring > 0 ? prefillChunk(model.config, T) : T;
  const cache = KvCache.create(model, B, capacity, opts.lora ?? null, ring, opts.kvDtype ?? model.kvDtype);
  const V = model.config.vocabSize;
  try {
    const logits = new Array<Float32Array>(B);
    for (let t0 = 0; t0 < T; t0 += chunk) {
      const Tc = Math.min(chunk, T - t0);
      const part = new Uint32Array(B * Tc);
      for (let b = 0; b < B; b++) part.set(ids.subarray(b * T + t0, b * T + t0 + Tc), b * Tc);
      const real = prompts.map((p) => Math.min(Tc, Math.max(0, p.length - t0)));
      // the rows whose last token is in this chunk
      const rows = prompts.map((p, b) => b).filter((b) => prompts[b]!.length - 1 >= t0 && prompts[b]!.length - 1 < t0 + Tc);
      const lastRows = Uint32Array.from(rows, (b) => b * Tc + prompts[b]!.length - 1 - t0);
      if (rows.length === 0) {
        releaseLogits(model.pool, await cache.runLogits(part, Tc, real, lastRows));
        continue;
      }
      const all = (await cache.run(part, Tc, real, lastRows)) as Float32Array;
      rows.forEach((b, i) => (logits[b] = all.slice(i * V, (i + 1) * V)));
    }
    return { cache, logits };
  } catch (e) {
    cache.release();
    throw e;
  }
}

/** Feeds one token per row; returns each row's next-token logits [vocab]. */
export async function step(cache: KvCache, tokens: readonly number[]): Promise<Float32Array[]> {
  const all = (await stepRun(cache, tokens, 'logits')) as Float32Array;
  return splitRows(all, cache.batch, cache.model.config.vocabSize);
}

/** Feeds one token per row; returns each row's greedy next token (argmax on the GPU: 4 bytes read back a row). */
export async function stepGreedy(cache: KvCache, tokens: readonly number[]): Promise<number[]> {
  return [...((await stepRun(cache, tokens, 'argmax')) as Uint32Array)];
}

/**
 * Feeds one token per row; returns each row's sampled next token (ops/sample.ts on the GPU: 4 bytes read back a
 * row, 8 with the log-prob) for one draw U per row (ops/sample.ts drawBits).
 */
export async function stepSample(
  cache: KvCache,
  tokens: readonly number[],
  sample: SampleStep,
): Promise<{ tokens: number[]; logProbs: number[] | null }> {
  const out = (await stepRun(cache, tokens, 'sample', sample)) as Uint32Array;
  const B = cache.batch;
  return { tokens: [...out.subarray(0, B)], logProbs: sample.logProbs ? [...new Float32Array(out.buffer, B * 4, B)] : null };
}

function stepRun(cache: KvCache, tokens: readonly number[], readback: Readback, sample?: SampleStep): Promise<Float32Array | Uint32Array> {
  if (tokens.length !== cache.batch) throw new RangeError(`step needs ${cache.batch} tokens (one per row), got ${tokens.length}`);
  const B = cache.batch;
  return cache.run(
    Uint32Array.from(tokens),
    1,
    tokens.map(() => 1),
    Uint32Array.from({ length: B }, (_, b) => b),
    readback,
    sample,
  );
}

function splitRows(all: Float32Array, rows: number, V: number): Float32Array[] {
  return Array.from({ length: rows }, (_, r) => all.slice(r * V, (r + 1) * V));
}
