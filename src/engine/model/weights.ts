/**
 * Loading a Llama-family checkpoint onto the GPU.
 *
 * Memory layout of a loaded model (all buffers from the caller's BufferPool, so they are counted):
 *   matrices (embed_tokens, q/k/v/o, gate/up/down, lm_head): HF [out, in] row-major, as the checkpoint stores
 *     them — F32 as f32; BF16/F16 kept 16-bit, the raw safetensors bytes uploaded as is (two per u32, even element
 *     in the low half) and decoded inside matmul_w16 / the embedding gather. A projection stored as ggml blocks
 *     of a type the quantised matmuls read (Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K: ops/quant-layout.ts; every type
 *     of llama.cpp's Q4_0 / Q8_0 / Q4_K_M / Q5_K_M / Q6_K files but Q5_K_M's Q5_1 fallbacks) stays packed, re-laid
 *     into aligned words at the same bytes per weight, and is de-quantised in registers by matmul_q; q|k|v and
 *     gate|up fuse only when all members share one such type. As in llama.cpp the norms are never quantised,
 *     the token embedding may be: a quantised embedding or lm_head of those types stays packed too, chunk by chunk
 *     (each chunk packed on its own), gathered by embedding_q (get-rows) and multiplied by matmul_q; projections
 *     and tables of the other block types (Q4_1, Q5_1, Q2_K, Q3_K) are de-quantised to
 *     f32 here, at load, as is a Gemma table (its scaled gather reads 16/32-bit). Any other dtype is decoded to f32.
 *   vectors (RMSNorm weights, biases): always f32 (tiny, and the kernels read them as f32). A Gemma norm weight
 *     (config.normPlusOne: x̂·(1 + w)) is stored as fround(1 + w), exactly the f32 factor Gemma3RMSNorm computes,
 *     so the RMSNorm kernels and their backward serve it unchanged. LoRA never trains them; full fine-tuning
 *     (train/full-params.ts) takes their gradient (w's, the same) and exports stored − 1. Export and merge read the
 *     checkpoint's own w.
 *   invFreq: f32 [headDim/2], ropeInvFreq of the config (HF's fp32 values, any rope_scaling folded in);
 *     invFreqLocal likewise for Gemma 3's sliding layers (rope_local_base_freq, unscaled).
 * embed_tokens and an untied lm_head are SplitMatrix (split.ts): row chunks that each fit one binding
 *   (`maxBindingBytes`), one chunk when the whole table fits. A tied lm_head is the embedding's chunks, not a copy.
 * Every other matrix must fit one binding of the device as it is (a 7B model's largest projection still does).
 */
import { AlloyError } from '../../common/errors.ts';
import { embeddingScale, expectedTensorShapes, type ModelConfig } from '../../io/config.ts';
import type { Checkpoint } from '../../io/safetensors/checkpoint.ts';
import type { TensorInfo } from '../../io/safetensors/header.ts';
import type { GpuContext } from '../gpu/device.ts';
import type { BufferPool } from '../gpu/buffer-pool.ts';
import type { KernelRegistry } from '../gpu/kernels.ts';
import { ropeConfigOf, ropeInvFreq } from '../ops/rope.ts';
import { isGpuQuantType, packQuantForGpu, type GpuQuantType } from '../ops/quant-layout.ts';
import { bindableBytes, FUSED_GROUPS, fusedGroups, planRowChunks, type GpuMatrixChunk, type SplitMatrix } from './split.ts';
import type { KvDtype } from '../kv-dtype.ts';
import type { ActDtype } from '../act-dtype.ts';

export type WeightDtype = 'f32' | 'bf16' | 'f16';
/** A projection's storage: a weight dtype, or ggml blocks the quantised matmuls read packed. */
export type MatrixDtype = WeightDtype | GpuQuantType;

/** A projection or table in HF layout [rows = out, cols = in]. */
export interface GpuMatrix {
  buffer: GPUBuffer;
  dtype: MatrixDtype;
  rows: number;
  cols: number;
}

export interface GpuLinear {
  weight: GpuMatrix;
  bias: GPUBuffer | null;
}

/**
 * One decoder layer's weights. q, k, v are stored as one matrix [qW + 2·kvW, C] (rows q, then k, then v; biases
 * likewise) and gate, up as one [2F, C], so each group is one matmul (model/layer.ts); a group whose fused matrix
 * would not fit one binding (or a load with fuseProjections: false) keeps its projections apart instead.
 */
export interface GpuLayer {
  inputNorm: GPUBuffer;
  postNorm: GPUBuffer;
  /** Qwen3's per-head q/k RMSNorm weights [headDim] (config.qkNorm), applied before RoPE (model/layer.ts) */
  qNorm?: GPUBuffer;
  kNorm?: GPUBuffer;
  /**
   * Gemma 3's sandwich norms (config.sandwichNorms): post_attention_layernorm on the attention output and
   * post_feedforward_layernorm on the MLP output, each before its residual add; postNorm is then
   * pre_feedforward_layernorm (the MLP's input norm)
   */
  attnOutNorm?: GPUBuffer;
  mlpOutNorm?: GPUBuffer;
  qkv: GpuLinear | null;
  gateUp: GpuLinear | null;
  /** present when qkv is null */
  q?: GpuLinear;
  k?: GpuLinear;
  v?: GpuLinear;
  /** present when gateUp is null */
  gate?: GpuLinear;
  up?: GpuLinear;
  o: GpuLinear;
  down: GpuLinear;
}

export interface Model {
  readonly config: ModelConfig;
  readonly device: GPUDevice;
  readonly kernels: KernelRegistry;
  readonly pool: BufferPool;
  readonly embed: SplitMatrix;
  readonly layers: readonly GpuLayer[];
  readonly norm: GPUBuffer;
  /** embed itself when the embeddings are tied */
  readonly lmHead: SplitMatrix;
  /** the binding size tables and logits are split to fit (LoadOptions.maxBindingBytes) */
  readonly maxBindingBytes: number;
  readonly invFreq: GPUBuffer;
  /** the sliding layers' RoPE frequencies when they differ (config.localRopeTheta: Gemma 3), else invFreq */
  readonly invFreqLocal: GPUBuffer;
  /** the factor the embedding rows are multiplied by (Gemma 3: √hidden in the embedding's dtype), else 1 */
  readonly embedScale: number;
  /** bytes of weights on the GPU */
  readonly weightBytes: number;
  /**
   * how this model's KV caches store keys and values unless a call says otherwise (kv-dtype.ts; LoadOptions.kvDtype,
   * default 'f32'); caches already made keep theirs
   */
  kvDtype: KvDtype;
  /**
   * how this model's forwards store the activations between kernels (act-dtype.ts; LoadOptions.activations, default
   * 'f32'): 'f16' applies where model/layer.ts layerActsF16 allows it (the hardware family's inference passes)
   */
  activations: ActDtype;
  /** Returns every weight buffer to the pool (pool.trim() then gives the memory back to the driver). */
  dispose(): void;
  readonly disposed: boolean;
}

export interface LoadOptions {
  /** bytes uploaded so far, of the total */
  onProgress?: (done: number, total: number) => void;
  /**
   * Bytes one binding may hold, for the tensors that are split to fit (embedding, lm_head, logits). Default: the
   * device's maxStorageBufferBindingSize, or maxBufferSize when smaller. Lower it to exercise splitting on small
   * models (tests), or to plan for a browser with WebGPU's default limits.
   */
  maxBindingBytes?: number;
  /** store q|k|v and gate|up as fused matrices where they fit one binding (default true) */
  fuseProjections?: boolean;
  /** Model.kvDtype (default 'f32') */
  kvDtype?: KvDtype;
  /** Model.activations (default 'f32') */
  activations?: ActDtype;
}

const MATRIX_DTYPE: Partial<Record<string, WeightDtype>> = { F32: 'f32', BF16: 'bf16', F16: 'f16' };

/** Whether a chunk is the whole table (then the buffer is labelled with the tensor's name alone). */
const plan1 = (c: { rows: number }, rows: number) => c.rows === rows;

/** The GPU block type a checkpoint tensor keeps on the GPU, or null (not blocks, or a type matmul_q does not read). */
function gpuQuantOf(info: TensorInfo): GpuQuantType | null {
  return info.ggmlType !== undefined && isGpuQuantType(info.ggmlType) ? info.ggmlType : null;
}

export async function loadModel(
  ctx: Pick<GpuContext, 'device' | 'limits'>,
  kernels: KernelRegistry,
  pool: BufferPool,
  checkpoint: Checkpoint,
  config: ModelConfig,
  opts: LoadOptions = {},
): Promise<Model> {
  const shapes = expectedTensorShapes(config);
  // Check every name and shape before uploading anything, so a wrong checkpoint fails fast and allocates nothing.
  let total = 0;
  for (const [name, shape] of shapes) {
    if (!checkpoint.tensors.has(name)) {
      throw new AlloyError(`the checkpoint has no tensor "${name}", which ${config.architecture} with this config.json needs`, {
        tensor: name,
      });
    }
    const info = checkpoint.info(name);
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new AlloyError(
        `tensor "${name}" has shape [${info.shape.join(', ')}] but config.json implies [${shape.join(', ')}]`,
        { tensor: name },
      );
    }
    total += info.end - info.begin;
  }

  const buffers: GPUBuffer[] = [];
  let done = 0;
  let weightBytes = 0;
  const track = (b: GPUBuffer, bytes: number) => {
    buffers.push(b);
    weightBytes += b.size;
    done += bytes;
    opts.onProgress?.(done, total);
    return b;
  };
  // The pool rounds buffers up to a size class and bindings take the whole buffer: compare classes to the limit.
  const deviceLimit = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
  const splitLimit = Math.min(opts.maxBindingBytes ?? deviceLimit, deviceLimit);
  const limit = bindableBytes(deviceLimit);
  const fits = (name: string, bytes: number) => {
    if (bytes > limit) {
      throw new AlloyError(
        `tensor "${name}" needs ${bytes} bytes in one binding, above what this GPU's limits allow (${limit}: ` +
          `maxStorageBufferBindingSize ${ctx.limits.maxStorageBufferBindingSize}, maxBufferSize ${ctx.limits.maxBufferSize})`,
        { tensor: name },
      );
    }
  };

  const vector = async (name: string): Promise<GPUBuffer> => {
    const info = checkpoint.info(name);
    let data = await checkpoint.readF32(name);
    if (config.normPlusOne && name.endsWith('norm.weight')) data = data.map((w) => Math.fround(1 + w));
    return track(pool.upload(data, name), info.end - info.begin);
  };
  const matrix = async (name: string): Promise<GpuMatrix> => {
    const info = checkpoint.info(name);
    const [rows, cols] = info.shape as [number, number];
    const quant = gpuQuantOf(info);
    if (quant) {
      const packed = packQuantForGpu(quant, await checkpoint.readBlocks!(name), rows, cols, name);
      fits(name, packed.byteLength);
      return { buffer: track(pool.upload(packed, name), info.end - info.begin), dtype: quant, rows, cols };
    }
    const dtype = MATRIX_DTYPE[info.dtype];
    let buffer: GPUBuffer;
    if (dtype) {
      // Stored bytes are exactly the GPU layout (f32, or 16-bit pairs per u32): no conversion, no copy.
      const raw = await checkpoint.readRaw(name);
      fits(name, raw.byteLength);
      buffer = pool.upload(raw, name);
    } else {
      const data = await checkpoint.readF32(name);
      fits(name, data.byteLength);
      buffer = pool.upload(data, name);
    }
    track(buffer, info.end - info.begin);
    return { buffer, dtype: dtype ?? 'f32', rows, cols };
  };
  // A vocabulary-sized table: read once, uploaded as row chunks (the CPU copy is one tensor, never the model).
  const table = async (name: string): Promise<SplitMatrix> => {
    const info = checkpoint.info(name);
    const [rows, cols] = info.shape as [number, number];
    const quant = config.scaleEmbedding ? null : gpuQuantOf(info); // Gemma's scaled gather reads 16/32-bit tables
    if (quant) {
      // each chunk packed on its own: its rows' blocks (a row is whole blocks), then its scale table
      const blocks = await checkpoint.readBlocks!(name);
      const rowBytes = blocks.byteLength / rows;
      const chunks: GpuMatrixChunk[] = planRowChunks(rows, cols, quant, splitLimit, name).map((c) => {
        const part = blocks.subarray(c.rowStart * rowBytes, (c.rowStart + c.rows) * rowBytes);
        const packed = packQuantForGpu(quant, part, c.rows, cols, name);
        const buffer = pool.upload(packed, plan1(c, rows) ? name : `${name}[${c.rowStart}:${c.rowStart + c.rows}]`);
        track(buffer, part.byteLength);
        return { buffer, dtype: quant, rows: c.rows, cols, rowStart: c.rowStart };
      });
      return { dtype: quant, rows, cols, chunks };
    }
    const dtype = MATRIX_DTYPE[info.dtype] ?? 'f32';
    const data = MATRIX_DTYPE[info.dtype] ? await checkpoint.readRaw(name) : await checkpoint.readF32(name);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const rowBytes = data.byteLength / rows;
    const plan = planRowChunks(rows, cols, dtype, splitLimit, name);
    const chunks: GpuMatrixChunk[] = plan.map((c) => {
      const part = bytes.subarray(c.rowStart * rowBytes, (c.rowStart + c.rows) * rowBytes);
      const buffer = pool.upload(part, plan.length > 1 ? `${name}[${c.rowStart}:${c.rowStart + c.rows}]` : name);
      track(buffer, ((info.end - info.begin) * c.rows) / rows);
      return { buffer, dtype, rows: c.rows, cols, rowStart: c.rowStart };
    });
    return { dtype, rows, cols, chunks };
  };
  const linear = async (prefix: string, hasBias: boolean): Promise<GpuLinear> => ({
    weight: await matrix(`${prefix}.weight`),
    bias: hasBias ? await vector(`${prefix}.bias`) : null,
  });
  // Projections that read the same input, stacked by rows into one matrix (and their biases into one vector);
  // null when they cannot share one binding or one storage type (then they load apart).
  const fused = async (prefixes: readonly string[], hasBias: boolean, fits: boolean): Promise<GpuLinear | null> => {
    if (!fits) return null;
    const infos = prefixes.map((p) => checkpoint.info(`${p}.weight`));
    // one storage for all: the same dtype, and the same GPU block type or none (blocks stack as rows: a row is
    // whole blocks, so the stacked matrix's blocks are the members' blocks in order)
    const quant = gpuQuantOf(infos[0]!);
    const dtype = quant ?? MATRIX_DTYPE[infos[0]!.dtype];
    if (!dtype || infos.some((i) => i.dtype !== infos[0]!.dtype || i.ggmlType !== infos[0]!.ggmlType)) return null;
    if (infos[0]!.ggmlType !== undefined && !quant) return null;
    const bytes = infos.reduce((n, i) => n + (i.end - i.begin), 0);
    const rows = infos.reduce((n, i) => n + i.shape[0]!, 0);
    const all = new Uint8Array(bytes);
    let at = 0;
    for (const p of prefixes) {
      const raw = quant ? await checkpoint.readBlocks!(`${p}.weight`) : await checkpoint.readRaw(`${p}.weight`);
      all.set(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength), at);
      at += raw.byteLength;
    }
    const name = prefixes.map((p) => p.slice(p.lastIndexOf('.') + 1)).join('|');
    const data = quant ? packQuantForGpu(quant, all, rows, infos[0]!.shape[1]!, name) : all;
    const buffer = track(pool.upload(data, name), bytes);
    let bias: GPUBuffer | null = null;
    if (hasBias) {
      const parts = await Promise.all(prefixes.map((p) => checkpoint.readF32(`${p}.bias`)));
      const joined = new Float32Array(rows);
      let r = 0;
      for (const b of parts) {
        joined.set(b, r);
        r += b.length;
      }
      const stored = prefixes.reduce((n, p) => n + checkpoint.info(`${p}.bias`).end - checkpoint.info(`${p}.bias`).begin, 0);
      bias = track(pool.upload(joined, `${name}.bias`), stored);
    }
    return { weight: { buffer, dtype, rows, cols: infos[0]!.shape[1]! }, bias };
  };

  try {
    const embed = await table('model.embed_tokens.weight');
    const layers: GpuLayer[] = [];
    // The same rule as the memory plans (split.ts fusedGroups), in the checkpoint's matrix dtype.
    const matrixDtype = MATRIX_DTYPE[checkpoint.info('model.layers.0.self_attn.q_proj.weight').dtype] ?? 'f32';
    const fuse = fusedGroups(config, matrixDtype, Math.min(limit, splitLimit), opts.fuseProjections !== false);
    for (let i = 0; i < config.numLayers; i++) {
      const p = `model.layers.${i}`;
      const attn = FUSED_GROUPS.qkv.map((n) => `${p}.${n}`);
      const mlp = FUSED_GROUPS.gateUp.map((n) => `${p}.${n}`);
      const inputNorm = await vector(`${p}.input_layernorm.weight`);
      const sandwich = config.sandwichNorms
        ? { attnOutNorm: await vector(`${p}.post_attention_layernorm.weight`), mlpOutNorm: await vector(`${p}.post_feedforward_layernorm.weight`) }
        : {};
      const postNorm = await vector(`${p}.${config.sandwichNorms ? 'pre_feedforward_layernorm' : 'post_attention_layernorm'}.weight`);
      const qkNorm = config.qkNorm
        ? { qNorm: await vector(`${p}.self_attn.q_norm.weight`), kNorm: await vector(`${p}.self_attn.k_norm.weight`) }
        : {};
      const qkv = await fused(attn, config.attentionBias, fuse.qkv);
      const apart = qkv
        ? {}
        : { q: await linear(attn[0]!, config.attentionBias), k: await linear(attn[1]!, config.attentionBias), v: await linear(attn[2]!, config.attentionBias) };
      const o = await linear(`${p}.self_attn.o_proj`, config.oProjBias);
      const gateUp = await fused(mlp, config.mlpBias, fuse.gateUp);
      const mlpApart = gateUp ? {} : { gate: await linear(mlp[0]!, config.mlpBias), up: await linear(mlp[1]!, config.mlpBias) };
      const down = await linear(`${p}.mlp.down_proj`, config.mlpBias);
      layers.push({ inputNorm, postNorm, ...qkNorm, ...sandwich, qkv, gateUp, o, down, ...apart, ...mlpApart });
    }
    const norm = await vector('model.norm.weight');
    const lmHead = config.tieWordEmbeddings ? embed : await table('lm_head.weight');
    // RoPE scaling (linear, llama3) lives in these frequencies; forward, decode and training all read this buffer.
    const invFreq = ropeInvFreq(ropeConfigOf(config));
    const invFreqBuf = pool.upload(invFreq, 'rope.inv_freq');
    buffers.push(invFreqBuf);
    let invFreqLocal = invFreqBuf;
    if (config.localRopeTheta !== null) {
      invFreqLocal = pool.upload(ropeInvFreq({ ...ropeConfigOf(config), rope_theta: config.localRopeTheta, rope_scaling: null }), 'rope.inv_freq_local');
      buffers.push(invFreqLocal);
    }
    const embedScale = config.scaleEmbedding ? embeddingScale(config.hiddenSize, isGpuQuantType(embed.dtype) ? 'f32' : embed.dtype) : 1;

    let disposed = false;
    return {
      config,
      device: ctx.device,
      kernels,
      pool,
      embed,
      layers,
      norm,
      lmHead,
      invFreq: invFreqBuf,
      invFreqLocal,
      embedScale,
      maxBindingBytes: splitLimit,
      weightBytes,
      kvDtype: opts.kvDtype ?? 'f32',
      activations: opts.activations ?? 'f32',
      get disposed() {
        return disposed;
      },
      dispose() {
        if (disposed) return;
        disposed = true;
        for (const b of buffers) pool.release(b);
      },
    };
  } catch (e) {
    for (const b of buffers) pool.release(b);
    throw e;
  }
}

/** Throws if a disposed model is used (its buffers may already hold someone else's data). */
export function assertLive(model: Model): void {
  if (model.disposed) throw new AlloyError('the model was disposed; load it again');
}
