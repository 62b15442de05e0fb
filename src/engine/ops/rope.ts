/**
 * RoPE (shaders/rope.wgsl): HF rotate_half rotary embedding, in place on q or k; encodeRopeBackward rotates
 * dq or dk back by −θ in place (the rotation is orthogonal, so its transpose is its inverse).
 * Layouts: x f32 [rows, nHeads, headDim] (rows = batch·T), positions u32 [rows], invFreq f32 [headDim/2].
 *
 * ropeInvFreq reproduces transformers' `_compute_default_rope_parameters`, `_compute_linear_scaling_rope_parameters`
 * and `_compute_llama3_parameters` operation by operation in float32 (Math.fround after each tensor op), so the
 * frequencies, and hence the llama3 band edges, are the ones HF gets, not a float64 approximation of them.
 * Every scaling is folded into these frequencies (linear: inv_freq / factor, i.e. angle = (pos/factor)·inv_freq),
 * so the forward, the KV-cache decode and the training backward all read it from the one invFreq buffer.
 */
import type { ModelConfig } from '../../io/config.ts';
import { AlloyError } from '../../common/errors.ts';
import { packUniforms, type KernelRegistry } from '../gpu/kernels.ts';
import { grid1d, launch, requireShape, unusedBinding, type Field } from './dispatch.ts';

/** The config.json fields RoPE reads (HF names, so a parsed config can be passed as is). */
export interface RopeConfig {
  hidden_size: number;
  num_attention_heads: number;
  head_dim?: number | null;
  rope_theta?: number;
  partial_rotary_factor?: number;
  rope_scaling?: RopeScaling | null;
}

export interface RopeScaling {
  rope_type?: string;
  /** the older spelling of rope_type */
  type?: string;
  factor?: number;
  low_freq_factor?: number;
  high_freq_factor?: number;
  original_max_position_embeddings?: number;
}

const f = Math.fround;

export function ropeHeadDim(cfg: RopeConfig): number {
  return cfg.head_dim ?? Math.floor(cfg.hidden_size / cfg.num_attention_heads);
}

export function ropeInvFreq(cfg: RopeConfig): Float32Array {
  const type = cfg.rope_scaling?.rope_type ?? cfg.rope_scaling?.type ?? 'default';
  if ((cfg.partial_rotary_factor ?? 1) !== 1) {
    throw new AlloyError('partial_rotary_factor other than 1 is not supported by the Llama-family RoPE', { field: 'partial_rotary_factor' });
  }
  const base = defaultInvFreq(ropeHeadDim(cfg), cfg.rope_theta ?? 10000);
  if (type === 'default') return base;
  if (type === 'linear') return linearInvFreq(base, cfg.rope_scaling!);
  if (type === 'llama3') return llama3InvFreq(base, cfg.rope_scaling!);
  throw new AlloyError(`rope_scaling type "${type}" is not supported (supported: default, linear, llama3)`, { field: 'rope_scaling' });
}

/** A parsed ModelConfig's RoPE fields in the HF spelling ropeInvFreq reads. */
export function ropeConfigOf(cfg: ModelConfig): RopeConfig {
  return {
    hidden_size: cfg.hiddenSize,
    num_attention_heads: cfg.numHeads,
    head_dim: cfg.headDim,
    rope_theta: cfg.ropeTheta,
    rope_scaling: ropeScalingHf(cfg),
  };
}

function ropeScalingHf(cfg: ModelConfig): RopeScaling | null {
  const s = cfg.ropeScaling;
  if (!s) return null;
  if (s.type === 'linear') return { rope_type: 'linear', factor: s.factor };
  return {
    rope_type: 'llama3',
    factor: s.factor,
    low_freq_factor: s.lowFreqFactor,
    high_freq_factor: s.highFreqFactor,
    original_max_position_embeddings: s.originalMaxPositionEmbeddings,
  };
}

/** 1 / base^(arange(0, dim, 2) / dim), each op rounded to f32 as torch does. */
function defaultInvFreq(dim: number, theta: number): Float32Array {
  const out = new Float32Array(dim / 2);
  for (let j = 0; j < dim / 2; j++) out[j] = f(1 / f(Math.pow(f(theta), f((2 * j) / dim))));
  return out;
}

/** transformers: `inv_freq /= factor` on the fp32 tensor (the factor is a Python float, rounded to f32 by torch). */
function linearInvFreq(invFreq: Float32Array, s: RopeScaling): Float32Array {
  if (typeof s.factor !== 'number' || !(s.factor > 0)) {
    throw new AlloyError('rope_scaling.factor is required (a positive number) for rope_type "linear"', { field: 'rope_scaling.factor' });
  }
  const factor = f(s.factor);
  return invFreq.map((inv) => f(inv / factor));
}

function llama3InvFreq(invFreq: Float32Array, s: RopeScaling): Float32Array {
  const need = (k: keyof RopeScaling): number => {
    const v = s[k];
    if (typeof v !== 'number') throw new AlloyError(`rope_scaling.${k} is required for rope_type "llama3"`, { field: `rope_scaling.${k}` });
    return v;
  };
  const factor = f(need('factor'));
  const low = need('low_freq_factor');
  const high = need('high_freq_factor');
  const oldLen = need('original_max_position_embeddings');
  const lowWavelen = f(oldLen / low);
  const highWavelen = f(oldLen / high);
  const out = new Float32Array(invFreq.length);
  for (let j = 0; j < invFreq.length; j++) {
    const inv = invFreq[j]!;
    // torch evaluates `scalar / tensor` as tensor.reciprocal() * scalar.
    const wavelen = f(f(1 / inv) * f(2 * Math.PI));
    let llama = wavelen > lowWavelen ? f(inv / factor) : inv;
    const isMedium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
    if (isMedium) {
      const smooth = f(f(f(f(1 / wavelen) * f(oldLen)) - f(low)) / f(high - low));
      llama = f(f(f(f(1 - smooth) * llama) / factor) + f(smooth * llama));
    }
    out[j] = llama;
  }
  return out;
}

export interface RopeArgs {
  rows: number;
  heads: number;
  headDim: number;
}

export async function encodeRope(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  x: GPUBuffer,
  positions: GPUBuffer,
  invFreq: GPUBuffer,
  args: RopeArgs,
): Promise<void> {
  await encodeRotation(kernels, encoder, 'main', x, positions, invFreq, args);
}

/** dx = R(−θ)·dy in place on `grad` [rows, heads, headDim], with the forward's positions and invFreq. */
export async function encodeRopeBackward(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  grad: GPUBuffer,
  positions: GPUBuffer,
  invFreq: GPUBuffer,
  args: RopeArgs,
): Promise<void> {
  await encodeRotation(kernels, encoder, 'backward', grad, positions, invFreq, args);
}

async function encodeRotation(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  entry: 'main' | 'backward',
  x: GPUBuffer,
  positions: GPUBuffer,
  invFreq: GPUBuffer,
  args: RopeArgs,
): Promise<void> {
  const { rows, heads, headDim } = args;
  requireShape(headDim > 0 && headDim % 2 === 0, 'rope', `headDim must be even, got ${headDim}`);
  const pairs = rows * heads * (headDim / 2);
  await launch(kernels, encoder, {
    file: 'rope',
    entry,
    // the Params block is shared by every entry of rope.wgsl, so it is sent whole (split_qkv's fields 0 here)
    params: [{ u32: rows }, { u32: heads }, { u32: headDim }, { u32: 0 }, { u32: 0 }, { u32: 0 }, { u32: 0 }],
    buffers: { 1: x, 2: positions, 3: invFreq },
    groups: grid1d(Math.ceil(pairs / 64)),
  });
}

/**
 * q [rows, heads, headDim] and k [rows, kvHeads, headDim] rotated by one dispatch (the attention layer's two
 * RoPEs; each element gets exactly the arithmetic of encodeRope), forward or, with `backward`, the inverse on dq, dk.
 */
export async function encodeRopeQK(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  q: GPUBuffer,
  k: GPUBuffer,
  positions: GPUBuffer,
  invFreq: GPUBuffer,
  /**
   * f16: q and k are f16 activations (act-dtype.ts: two halves a word), rotated in place by rope.wgsl main_qk_f16
   * (forward only; headDim % 4 == 0)
   */
  args: RopeArgs & { kvHeads: number; f16?: boolean },
  backward = false,
): Promise<void> {
  const { rows, heads, kvHeads, headDim } = args;
  requireShape(headDim > 0 && headDim % 2 === 0, 'rope', `headDim must be even, got ${headDim}`);
  requireShape(q !== k, 'rope', 'q and k must be different buffers');
  if (args.f16) {
    requireShape(headDim % 4 === 0, 'rope', `f16 activations need headDim % 4 == 0, got ${headDim}`);
    requireShape(!backward, 'rope', 'the backward rotates f32 gradients: f16 activations are the forward only');
    await launch(kernels, encoder, {
      file: 'rope',
      entry: 'main_qk_f16',
      params: [{ u32: rows }, { u32: heads }, { u32: headDim }, { u32: kvHeads }, { u32: 0 }, { u32: 0 }, { u32: 0 }],
      buffers: { 2: positions, 3: invFreq, 14: q, 15: k },
      groups: grid1d(Math.ceil((rows * (heads + kvHeads) * (headDim / 4)) / 64)),
    });
    return;
  }
  const pairs = rows * (heads + kvHeads) * (headDim / 2);
  await launch(kernels, encoder, {
    file: 'rope',
    entry: backward ? 'backward_qk' : 'main_qk',
    params: [{ u32: rows }, { u32: heads }, { u32: headDim }, { u32: kvHeads }, { u32: 0 }, { u32: 0 }, { u32: 0 }],
    buffers: { 1: q, 2: positions, 3: invFreq, 4: k },
    groups: grid1d(Math.ceil(pairs / 64)),
  });
}

export interface SplitQkvArgs {
  /** batch·T rows of the fused projection */
  rows: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  /** tokens per batch row (default rows: one batch row) */
  T?: number;
  /** slots per batch row of the k, v destinations: a KV cache's capacity, or T when they are dense (default) */
  S?: number;
  /** destination slot of this call's first token (default 0) */
  past?: number;
  /** rotate q and k (default true); false splits only (LoRA adds its deltas to q, k before they are rotated) */
  rope?: boolean;
  /** a KV cache's ring of slots per batch row for its sliding layers (kv-cache.ts), 0 or absent when none */
  ring?: number;
  /** this layer's k, v are such a ring: slot s at row s mod ring (a pipeline constant; `ring` is in the uniforms) */
  intoRing?: boolean;
  /**
   * k and v are an f16 KV cache's buffers (kv-dtype.ts): written as encodeStoreKvF16 would write split_qkv's f32
   * output, bit for bit (rope.wgsl split_qkv_f16); needs headDim % 4 == 0
   */
  kvF16?: boolean;
  /**
   * f16 activations (act-dtype.ts; the hardware family's f16 forward): qkv is read as f16 pairs (the bias, if any,
   * is still added in f32 after decoding) and q written as f16 pairs; k and v follow `kvF16` (an f16-activation
   * forward passes kvF16 for its dense k, v too). Needs headDim % 4 == 0.
   */
  actF16?: boolean;
}

/**
 * The fused q|k|v projection qkv [rows, (heads + 2·kvHeads)·headDim] split into q [rows, heads, headDim] and
 * k, v [batch, S, kvHeads, headDim] at slots past.. (a KV cache, or dense buffers with S = T), RoPE applied to q and
 * k on the way and the projection's bias, if any, added as each value is read (shaders/rope.wgsl split_qkv): one
 * dispatch for what was a bias add, a rope of each and two cache copies.
 */
export async function encodeSplitQkv(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  qkv: GPUBuffer,
  positions: GPUBuffer,
  invFreq: GPUBuffer,
  q: GPUBuffer,
  k: GPUBuffer,
  v: GPUBuffer,
  args: SplitQkvArgs,
  /** a uniform buffer already holding splitQkvUniforms(args) (a decode step rewrites `past` in place) */
  params?: GPUBuffer,
  /** the fused projection's bias [(heads + 2·kvHeads)·headDim], added as each value is read (Qwen2) */
  bias?: GPUBuffer | null,
): Promise<void> {
  const { rows, heads, kvHeads, headDim } = args;
  requireShape(new Set([qkv, q, k, v]).size === 4, 'split_qkv', 'qkv, q, k and v must be distinct buffers');
  requireShape(!bias || bias.size >= (heads + 2 * kvHeads) * headDim * 4, 'split_qkv', `the bias holds fewer than ${(heads + 2 * kvHeads) * headDim} values`);
  const f16 = !!args.kvF16;
  requireShape(!f16 || headDim % 4 === 0, 'split_qkv', `an f16 KV cache needs headDim % 4 == 0, got ${headDim}`);
  const act16 = !!args.actF16;
  requireShape(!act16 || headDim % 4 === 0, 'split_qkv', `f16 activations need headDim % 4 == 0, got ${headDim}`);
  // q: a rotation pair an invocation (two adjacent pairs into f16); k: one pair (two into f16); v: an element (a
  // word of two)
  const qWork = rows * heads * (act16 ? headDim / 4 : headDim / 2);
  const work = qWork + (f16 ? rows * kvHeads * (headDim / 4 + headDim / 2) : rows * kvHeads * (headDim / 2 + headDim));
  await launch(kernels, encoder, {
    file: 'rope',
    entry: f16 ? 'split_qkv_f16' : 'split_qkv',
    constants: { ROPE: args.rope ?? true, ...(args.intoRing ? { RING: true } : {}), ...(bias ? { BIAS: true } : {}), ...(act16 ? { ACT_F16: true } : {}) },
    params: params ?? splitQkvFields(args),
    buffers: { 2: positions, 3: invFreq, 5: qkv, 6: q, ...(f16 ? { 12: k, 13: v } : { 7: k, 8: v }), 9: bias ?? unusedBinding(kernels.device) },
    groups: grid1d(Math.ceil(work / 64)),
  });
}

function splitQkvFields(args: SplitQkvArgs): Field[] {
  const { rows, heads, kvHeads, headDim } = args;
  const T = args.T ?? rows;
  const S = args.S ?? T;
  const past = args.past ?? 0;
  requireShape(headDim > 0 && headDim % 2 === 0, 'split_qkv', `headDim must be even, got ${headDim}`);
  requireShape(rows % T === 0 && past + T <= S, 'split_qkv', `rows ${rows} must be batches of T ${T}, and past ${past} + T must fit S ${S}`);
  const ring = args.ring ?? 0;
  requireShape(ring >= 0 && ring <= S && (!args.intoRing || ring >= T), 'split_qkv', `ring ${ring} must be in 0..S (${S}) and hold the call's ${T} tokens`);
  return [{ u32: rows }, { u32: heads }, { u32: headDim }, { u32: kvHeads }, { u32: T }, { u32: S }, { u32: past }, { u32: ring }];
}

/** split_qkv's uniform block as words, for a caller that keeps it in its own buffer (encodeSplitQkv's params). */
export function splitQkvUniforms(args: SplitQkvArgs): Uint32Array<ArrayBuffer> {
  return packUniforms(splitQkvFields(args));
}

/**
 * A run's keys and values, dense f32 k, v [rows, kvHeads, headDim] (RoPE applied), written into a KV cache stored as
 * f16 (kv-cache.ts kvDtype 'f16'): k16, v16 [batch, S or ring, kvHeads, headDim] halves at slots past..
 * (shaders/rope.wgsl store_kv_f16). The uniform block is split_qkv's for the same destination (`args` as
 * encodeSplitQkv takes them, or `params` holding splitQkvUniforms(args): a decode step rewrites `past` in place).
 */
export async function encodeStoreKvF16(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  k: GPUBuffer,
  v: GPUBuffer,
  k16: GPUBuffer,
  v16: GPUBuffer,
  args: SplitQkvArgs,
  params?: GPUBuffer,
): Promise<void> {
  const { rows, kvHeads, headDim } = args;
  requireShape(new Set([k, v, k16, v16]).size === 4, 'store_kv_f16', 'k, v and the cache buffers must be distinct');
  const fields = splitQkvFields(args);
  await launch(kernels, encoder, {
    file: 'rope',
    entry: 'store_kv_f16',
    constants: args.intoRing ? { RING: true } : {},
    params: params ?? fields,
    buffers: { 10: k, 11: v, 12: k16, 13: v16 },
    groups: grid1d(Math.ceil((rows * kvHeads * headDim) / 2 / 64)),
  });
}
