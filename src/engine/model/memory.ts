/**
 * The inference memory plan: what loading a model and running one forward will ask of the GPU, from the config
 * alone, before anything is downloaded or allocated (DESIGN.md: "a memory plan before every run").
 *
 * Nothing here counts the layer's buffers by hand: the layer's allocations come from model/layer.ts (planLayer
 * mirrors encodeLayer, sizes from layerActBytes), replayed on a PoolTally, a model of the BufferPool from sizes
 * alone, together with what loadModel, runForward and head.ts allocate around the layers (planWeights, planForward,
 * planLmHead below, each naming the function it mirrors). The tally gives two peaks:
 *   exact   the most tensor bytes live at once (what an allocator without a pool would need);
 *   pool    BufferPool's peakBytes: the pool rounds each buffer up to a size class (buffer-pool.ts sizeClass) and
 *           keeps every released buffer for reuse, never destroying one during a job, so its peak is the bytes of
 *           the buffers it created, Σ over size classes of (class × the most buffers of that class live at once).
 *           A released buffer of one class is never handed out for another, which is why this is above `exact`.
 * Layout recap (the breakdown of MemoryPlan):
 *   weights: matrices in the checkpoint's dtype (BF16/F16 stay 16-bit), vectors (norms, biases) and RoPE
 *     inv_freq f32; a tied lm_head costs nothing extra.
 *   KV cache: per layer k and v, f32 or f16 (kv-dtype.ts) [batch, capacity, nKv, headDim]; a sliding layer's [batch, ring, nKv, headDim]
 *     when prefill gives the cache a ring (kv-ring.ts), with the prefill's forward then run in chunks of its chunk.
 *   activations (the layer stage): ids and positions u32 [BT], key mask u32 [batch, S], logit row indices u32 [R]
 *     (when R < BT), residual f32 [BT, hidden], and the most of one layer's intermediates live at once: each goes
 *     back to the pool after its last reader (a forward of more than ONE_SUBMIT_MAX_ROWS rows holds them until the
 *     layer's submit).
 *   head: gathered rows (when fewer logit rows than tokens) and normed [R, hidden], the per-block copies of normed
 *     when logits are split, and the per-chunk [R, chunkRows] temporaries of a split lm_head.
 *   logits: f32 [R, vocab].
 */
import type { ModelConfig } from '../../io/config.ts';
import { expectedTensorShapes } from '../../io/config.ts';
import { sizeClass } from '../gpu/buffer-pool.ts';
import { ONE_SUBMIT_MAX_ROWS } from './forward.ts';
import { kvLayerSlots, kvRingSlots, prefillChunk } from './kv-ring.ts';
import { layerActsF16, planLayer, type BufferTally, type LayerLoraPlan, type PlannedBuffer } from './layer.ts';
import { gateEpilogue } from './linear.ts';
import type { KernelFamily } from '../kernel-family.ts';
import { chunkBytes, DTYPE_BYTES, FUSED_GROUPS, fusedGroups, fusedRows, logitRowsPerBlock, planRowChunks } from './split.ts';
import type { WeightDtype } from './weights.ts';
import { isGpuQuantType, quantGpuBytes, type GpuQuantType } from '../ops/quant-layout.ts';
import { kvElementBytes, type KvDtype } from '../kv-dtype.ts';
import type { ActDtype } from '../act-dtype.ts';

/** WebGPU's default maxStorageBufferBindingSize: what a browser grants unless the adapter's limits are requested. */
export const DEFAULT_BINDING_BYTES = 128 * 2 ** 20;

/** BufferPool's accounting replayed from sizes alone (the pool's alloc / release, no GPU). */
export class PoolTally implements BufferTally {
  private live = new Map<number, number>();
  private made = new Map<number, number>();
  private liveBytes = 0;
  /** the most tensor bytes live at once */
  peakExact = 0;

  alloc(bytes: number): PlannedBuffer {
    const c = sizeClass(bytes);
    const n = (this.live.get(c) ?? 0) + 1;
    this.live.set(c, n);
    // The pool makes a buffer only when every one of this class is live: buffers made = the most live at once.
    if (n > (this.made.get(c) ?? 0)) this.made.set(c, n);
    this.liveBytes += bytes;
    this.peakExact = Math.max(this.peakExact, this.liveBytes);
    return { bytes };
  }

  release(...bufs: PlannedBuffer[]): void {
    for (const b of bufs) {
      const c = sizeClass(b.bytes);
      this.live.set(c, this.live.get(c)! - 1);
      this.liveBytes -= b.bytes;
    }
  }

  /** BufferPool's peakBytes: the bytes of every buffer it made (nothing is destroyed within a job) */
  get poolBytes(): number {
    let s = 0;
    for (const [c, n] of this.made) s += c * n;
    return s;
  }
}

/**
 * loadModel's uploads: every tensor (vocabulary tables as row chunks: split.ts) and inv_freq. Never released.
 * `matrixTypes` (HF name → ggml type, for a checkpoint that stores tensors as ggml blocks) counts what loadModel
 * keeps packed at its packed bytes (quant-layout.ts), and the rest of them (tables, other block types) as f32;
 * a group fuses only when its members share one packed type, layer by layer, as loadModel does.
 */
export function planWeights(
  t: BufferTally,
  cfg: ModelConfig,
  dtype: WeightDtype,
  limit: number,
  matrixTypes: Readonly<Record<string, string>> = {},
): { params: number; bytes: number } {
  let params = 0;
  let bytes = 0;
  const up = (b: number) => {
    t.alloc(b);
    bytes += b;
  };
  const packedType = (name: string): GpuQuantType | null => {
    const q = matrixTypes[name];
    const table = name === 'model.embed_tokens.weight' || name === 'lm_head.weight';
    return q !== undefined && isGpuQuantType(q) && !(table && cfg.scaleEmbedding) ? q : null;
  };
  // storage of a tensor that is not packed: the checkpoint's dtype, or f32 for ggml blocks de-quantised at load
  const plainDtype = (name: string): WeightDtype => (matrixTypes[name] !== undefined ? 'f32' : dtype);
  // q|k|v and gate|up load as one matrix (and one bias vector) each where they fit a binding (split.ts) and,
  // for ggml blocks, share one packed type.
  const fuse = fusedGroups(cfg, dtype, limit);
  const rows = fusedRows(cfg);
  const shapes = expectedTensorShapes(cfg);
  const groupOf = (name: string): keyof typeof FUSED_GROUPS | null => {
    for (const g of ['qkv', 'gateUp'] as const) {
      const member = FUSED_GROUPS[g].find((p) => name.endsWith(`.${p}.weight`) || name.endsWith(`.${p}.bias`));
      if (!fuse[g] || !member) continue;
      const prefix = name.slice(0, name.indexOf(`.${member}.`));
      const types = FUSED_GROUPS[g].map((p) => matrixTypes[`${prefix}.${p}.weight`]);
      if (types.every((q) => q === undefined) || (types.every((q) => q === types[0]) && packedType(`${prefix}.${FUSED_GROUPS[g][0]}.weight`))) return g;
    }
    return null;
  };
  const matrixBytes = (name: string, r: number, c: number) => {
    const q = packedType(name);
    return q ? quantGpuBytes(q, r, c) : Math.ceil((r * c * DTYPE_BYTES[plainDtype(name)]) / 4) * 4;
  };
  for (const [name, shape] of shapes) {
    params += shape.reduce((a, b) => a * b, 1);
    const g = groupOf(name);
    if (g) {
      // the group's first member stands for the whole stacked matrix (or bias), the others add nothing
      if (!name.includes(`.${FUSED_GROUPS[g][0]}.`)) continue;
      up(shape.length === 1 ? rows[g] * 4 : matrixBytes(name, rows[g], shape[1]!));
    } else if (shape.length === 1) up(shape[0]! * 4);
    else if (name === 'model.embed_tokens.weight' || name === 'lm_head.weight') {
      const storage = packedType(name) ?? plainDtype(name);
      for (const c of planRowChunks(shape[0]!, shape[1]!, storage, limit, name)) up(chunkBytes(c.rows, shape[1]!, storage));
    } else up(matrixBytes(name, shape[0]!, shape[1]!));
  }
  up((cfg.headDim / 2) * 4); // inv_freq
  if (cfg.localRopeTheta !== null) up((cfg.headDim / 2) * 4); // Gemma 3's inv_freq of the sliding layers
  return { params, bytes };
}

/** head.ts encodeLmHeadBlock: logits rows row0..row0+n−1, a [n, vocab] block (returned); temporaries onto `temps`. */
export function planLmHeadBlock(t: BufferTally, cfg: ModelConfig, dtype: WeightDtype, limit: number, row0: number, n: number, temps: PlannedBuffer[]): PlannedBuffer {
  const V = cfg.vocabSize;
  const chunks = planRowChunks(V, cfg.hiddenSize, dtype, limit, 'lm_head');
  if (row0 > 0) temps.push(t.alloc(n * cfg.hiddenSize * 4)); // the block's rows of normed, copied to offset 0
  if (chunks.length === 1) return t.alloc(n * V * 4);
  const out = t.alloc(n * V * 4);
  for (const c of chunks) temps.push(t.alloc(n * c.rows * 4));
  return out;
}

/** head.ts encodeLmHead over `rows` normed rows: the logits blocks (returned), temporaries onto `temps`. */
export function planLmHead(t: BufferTally, cfg: ModelConfig, dtype: WeightDtype, limit: number, rows: number, temps: PlannedBuffer[]): PlannedBuffer[] {
  const per = logitRowsPerBlock(cfg.vocabSize, limit);
  const blocks: PlannedBuffer[] = [];
  for (let row0 = 0; row0 < rows; row0 += per) blocks.push(planLmHeadBlock(t, cfg, dtype, limit, row0, Math.min(per, rows - row0), temps));
  return blocks;
}

export interface ForwardPlanShape {
  dtype: WeightDtype;
  batch: number;
  T: number;
  /** key slots per row (T without a KV cache) */
  S: number;
  /** rows of logits (batch·T: every row, no gather) */
  logitRows: number;
  /** the key mask is uploaded (ragged rows, or a cache) */
  mask: boolean;
  /** k and v go into a KV cache (prefill, decode) */
  kv: boolean;
  /** that cache stores f16 (kv-dtype.ts) */
  kvF16?: boolean;
  lora: LayerLoraPlan | null;
  limit: number;
  /** the gate activation runs in the gate|up matmul's epilogue (linear.ts gateEpilogue); default no */
  gateEpilogue?: boolean;
  /** the model's activation dtype and the kernel family, for layer.ts layerActsF16; default f32 */
  activations?: ActDtype;
  family?: KernelFamily;
}

/** forward.ts runForward / encodeForward up to the head: inputs, residual, `layers` layers (all: cfg.numLayers). */
function planLayerStage(t: BufferTally, cfg: ModelConfig, f: ForwardPlanShape, layers = cfg.numLayers): { inputs: PlannedBuffer[]; x: PlannedBuffer } {
  const BT = f.batch * f.T;
  const inputs = [t.alloc(BT * 4), t.alloc(BT * 4)];
  if (f.mask) inputs.push(t.alloc(f.batch * f.S * 4));
  if (f.logitRows !== BT) inputs.push(t.alloc(f.logitRows * 4));
  const x = t.alloc(BT * cfg.hiddenSize * 4);
  // Up to ONE_SUBMIT_MAX_ROWS rows intermediates go back right after their last reader; above, after the layer.
  const split = BT > ONE_SUBMIT_MAX_ROWS;
  const fused = fusedGroups(cfg, f.dtype, f.limit);
  const actsF16 = layerActsF16({
    activations: f.activations ?? 'f32',
    family: f.family ?? 'hardware',
    BT,
    fused: fused.qkv && fused.gateUp,
    splitsQkv: cfg.qkNorm || (['q', 'k', 'v'] as const).some((k) => f.lora?.keys.has(k) ?? false),
    cacheF32: f.kv && !f.kvF16,
    loraDropout: false,
  });
  for (let l = 0; l < layers; l++) {
    const held: PlannedBuffer[] = [];
    planLayer(t, cfg, BT, f.lora, null, split ? (...b) => held.push(...b) : (...b) => t.release(...b), { fused, kv: f.kv, gateEpilogue: !!f.gateEpilogue, actsF16 });
    t.release(...held);
  }
  return { inputs, x };
}

/** forward.ts runForward / encodeForward: returns the logits blocks the caller releases. */
export function planForward(t: BufferTally, cfg: ModelConfig, f: ForwardPlanShape): PlannedBuffer[] {
  const { inputs, x } = planLayerStage(t, cfg, f);
  const everyRow = f.logitRows === f.batch * f.T;
  const hidden = everyRow ? x : t.alloc(f.logitRows * cfg.hiddenSize * 4);
  const normed = t.alloc(f.logitRows * cfg.hiddenSize * 4);
  const temps: PlannedBuffer[] = [];
  const logits = planLmHead(t, cfg, f.dtype, f.limit, f.logitRows, temps);
  t.release(x, normed, ...temps, ...inputs);
  if (hidden !== x) t.release(hidden);
  return logits;
}

export interface MemoryPlanOptions {
  /** storage of the checkpoint's matrices; 16-bit stays 16-bit on the GPU */
  dtype: WeightDtype;
  /** the tensors stored as ggml blocks (HF name → ggml type), counted as loadModel stores them: planWeights */
  matrixTypes?: Readonly<Record<string, string>>;
  batch: number;
  /** tokens per row in the forward */
  seqLen: number;
  /** KV cache slots per row; default seqLen (0: no cache, as when scoring) */
  kvCapacity?: number;
  /** how the cache stores keys and values (kv-dtype.ts); default f32 */
  kvDtype?: KvDtype;
  /** how the forward stores its activations (act-dtype.ts, Model.activations); default f32 */
  activations?: ActDtype;
  /**
   * the sliding layers' ring of KV slots per row; default what prefill picks for a seqLen-token prompt
   * (kv-ring.ts; 0 when no layer slides or the ring would not be smaller), which also runs the forward in chunks
   */
  kvRing?: number;
  /** rows of logits computed; default batch·seqLen (every position; decoding needs batch, scoring the continuations) */
  logitRows?: number;
  /** binding size tables and logits are split to fit; default WebGPU's 128 MiB */
  maxBindingBytes?: number;
  /**
   * the kernel family that runs the forward: the software family applies the MLP's gate activation in the gate|up
   * matmul and never holds its [rows, 2·intermediate] product; default 'hardware', which does (the larger plan)
   */
  kernels?: KernelFamily;
}

export interface MemoryPlan {
  params: number;
  weights: number;
  kvCache: number;
  activations: number;
  head: number;
  logits: number;
  /** weights + kvCache + activations + head + logits: exact tensor bytes, every stage's peak at once */
  total: number;
  /** the BufferPool's peak for loading the model, its cache and one forward (pool size classes, reuse) */
  poolTotal: number;
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
  const kvW = cfg.numKvHeads * cfg.headDim;
  const R = opts.logitRows ?? BT;
  const capacity = opts.kvCapacity ?? T;
  const limit = opts.maxBindingBytes ?? DEFAULT_BINDING_BYTES;
  const S = capacity > 0 ? capacity : T;
  const ring = capacity > 0 ? (opts.kvRing ?? kvRingSlots(cfg, capacity, prefillChunk(cfg, T))) : 0;
  // a ringed prefill runs its prompt in chunks (kv-cache.ts prefill)
  const Tf = ring > 0 ? prefillChunk(cfg, T) : T;
    const gateType = opts.matrixTypes?.['model.layers.0.mlp.gate_proj.weight'] ?? opts.dtype;
  const gate = gateEpilogue(opts.kernels ?? 'hardware', gateType, cfg.hiddenSize, false);
  const shape: ForwardPlanShape = {
    dtype: opts.dtype,
    batch: B,
    T: Tf,
    S,
    logitRows: Math.min(R, B * Tf),
    mask: true,
    kv: capacity > 0,
    kvF16: opts.kvDtype === 'f16',
    lora: null,
    limit,
    gateEpilogue: gate,
    activations: opts.activations ?? 'f32',
    family: opts.kernels ?? 'hardware',
  };

  // The whole run on one tally: weights, the KV cache (kv-cache.ts: k and v per layer), one forward.
  const pool = new PoolTally();
  const { params, bytes: weights } = planWeights(pool, cfg, opts.dtype, limit, opts.matrixTypes);
  let kvCache = 0;
  if (capacity > 0) {
    for (let l = 0; l < cfg.numLayers; l++) {
      const bytes = B * kvLayerSlots(cfg, l, capacity, ring) * kvW * kvElementBytes(opts.kvDtype ?? 'f32');
      kvCache += 2 * bytes;
      pool.alloc(bytes);
      pool.alloc(bytes);
    }
  }
  planForward(pool, cfg, shape);

  // The layer stage alone: inputs, residual, one layer's intermediates under the forward's release rule.
  const stage = new PoolTally();
  planLayerStage(stage, cfg, shape, 1);
  const activations = stage.peakExact;

  const embedType = opts.matrixTypes?.['model.embed_tokens.weight'];
  const embedStorage = embedType === undefined ? opts.dtype : isGpuQuantType(embedType) && !cfg.scaleEmbedding ? embedType : 'f32';
  const embedChunks = planRowChunks(V, C, embedStorage, limit).length;
  const lmHeadChunks = embedChunks; // tied or not, lm_head has the embedding's shape and dtype
  const logitBlocks = Math.ceil(R / logitRowsPerBlock(V, limit));
  let head = 4 * R * C; // normed
  if (R < BT) head += 4 * R * C; // gathered rows (their indices count with the inputs, in activations)
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
    poolTotal: pool.poolBytes,
    embedChunks,
    lmHeadChunks,
    logitBlocks,
  };
}
