/**
 * Causal GQA attention, flash-style (shaders/attention.wgsl), and its backward (shaders/attention_backward.wgsl).
 * Layouts (row-major f32): q, out [batch, T, nHeads, headDim]; k, v [batch, S, nKv, headDim];
 * keyMask u32 [batch, S] (1 keep, 0 padding), optional. Query i is at absolute position past + i (default
 * S − T, i.e. a KV cache holding S − T earlier tokens) and attends to keys 0..past+i.
 * Training passes `lse` f32 [batch, T, nHeads] to the forward (log Σ exp of each row's scores) and hands it to
 * encodeAttentionBackward, which recomputes the probabilities from it: nothing of size T×S is kept.
 * The kernels depend on the registry's family: the hardware family's forward is in attention-hw.ts (tiled,
 * FlashAttention-2 style, and flash-decoding for 1–4 rows); the backward below serves both families.
 */
import { packUniforms, type KernelRegistry } from '../gpu/kernels.ts';
import type { AttentionRefArgs } from '../reference/attention.ts';
import { MAX_GROUPS_PER_DIM, grid1d, launch, requireShape, unusedBinding, type Field } from './dispatch.ts';
import { encodeHwAttention, encodeHwAttentionBackwardPasses } from './attention-hw.ts';

export const ATTENTION_MAX_HEAD_DIM = 256;
/**
 * Head dims up to which the forward keeps q and its accumulator in named registers (attention.wgsl main_named, and
 * main_named4 for four queries of a head at once when T ≥ 2), and the backward its rows (dq_named, dkv_named).
 */
export const ATTENTION_NAMED_MAX_HEAD_DIM = 64;
/** Invocations per workgroup of the forward, dq and dkv kernels (one invocation per row; shaders' ROWS_PER_WG). */
export const ATTENTION_ROWS_PER_WG = 16;


/**
 * Queries per invocation of the vec4 forward (shaders/attention.wgsl QB): 4 share each key's loads; a decode step
 * (T < 4) has no neighbours to share with.
 */
export function attentionQueriesPerInvocation(T: number): number {
  return T >= 4 ? 4 : 1;
}

/**
 * Queries per invocation of the named-register forward (attention.wgsl main_named, main_named4): each key's loads
 * are shared by that many queries of a head. Measured on a 5-shot MMLU batch (4 × 512 rows of stories260K):
 * attention 0.66 s with 1, 0.35 s with 2 (an entry since folded into 4's), ~0.27 s with 4. A decode step (T = 1)
 * has no neighbours to share with.
 */
export function attentionNamedQueries(T: number): 1 | 4 {
  return T >= 2 ? 4 : 1;
}

/**
 * One definition of the shapes, shared with the CPU reference (src/engine/reference/attention.ts), plus `ring`: a
 * sliding layer's KV cache holding only that many slots a batch row (k, v [batch, ring, nKv, headDim], slot j at
 * j mod ring; kv-cache.ts), which a layer without a window ignores.
 */
export type AttentionArgs = AttentionRefArgs & {
  ring?: number;
  /**
   * k and v are a KV cache stored as f16 (kv-cache.ts kvDtype 'f16': two halves a u32 word), read through the
   * kernels' +f16 variant (shaders/_kv_load_f16.wgsl); needs headDim % 4 == 0. The hardware family's backward
   * reads dense f16 k, v of an f16-activation forward the same way (see actF16).
   */
  kvF16?: boolean;
  /**
   * f16 activations (act-dtype.ts; the hardware family only): the forward reads q and writes `out` as f16 pairs
   * (shaders/_hw_attention_io_a16.wgsl, file tag +a16); scores, softmax and accumulators stay f32, as does lse.
   * Combines with kvF16. Needs headDim % 4 == 0. The backward (encodeAttentionBackward) then reads the saved q and
   * out as f16 pairs (hw_attention_backward+a16: _hw_attention_bwd_q_a16; attention_backward.wgsl prep_f16), and,
   * with kvF16, k and v too (+f16: _hw_attention_bwd_kv_f16, dense); dOut, lse and dq, dk, dv stay f32.
   */
  actF16?: boolean;
};

/** The forward's shader file for `args`: the +a16 variant reads q and writes out as f16, +f16 reads an f16 KV cache. */
export function attentionFile(base: 'attention' | 'hw_attention' | 'hw_attention_backward', args: AttentionArgs): string {
  return `${base}${args.actF16 ? '+a16' : ''}${args.kvF16 ? '+f16' : ''}`;
}

export async function encodeAttention(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  q: GPUBuffer,
  k: GPUBuffer,
  v: GPUBuffer,
  out: GPUBuffer,
  args: AttentionArgs,
  keyMask?: GPUBuffer,
  lse?: GPUBuffer,
  /** a uniform buffer already holding attentionUniforms(args) (a decode step rewrites `past` in place) */
  params?: GPUBuffer,
): Promise<void> {
  const { T, nHeads, batch } = checkAttentionArgs(args);
  requireShape(out !== q, 'attention', 'out must not alias q');
  if (kernels.family === 'hardware') {
    const mask = keyMask ?? unusedBinding(kernels.device);
    const constants = { USE_MASK: !!keyMask, ...windowConstant(args) };
    return encodeHwAttention(kernels, encoder, { q, k, v, out, mask, ...(lse ? { lse } : {}) }, args, params ?? attentionParams(args), constants);
  }
  requireShape(!args.actF16, 'attention', 'f16 activations (actF16) are read and written by the hardware kernel family only');
  // head dims that are multiples of 4 (every real model's) read q, k, v and out as vec4s, at bindings 7-10
  const vec4 = args.headDim % 4 === 0;
  const named = vec4 && args.headDim <= ATTENTION_NAMED_MAX_HEAD_DIM;
  const qb = !vec4 ? 1 : named ? attentionNamedQueries(T) : attentionQueriesPerInvocation(T);
  const buffers: Record<number, GPUBuffer> = vec4 ? { 7: q, 8: k, 9: v, 10: out } : { 1: q, 2: k, 3: v, 4: out };
  buffers[5] = keyMask ?? unusedBinding(kernels.device);
  if (lse) buffers[6] = lse;
  await launch(kernels, encoder, {
    file: attentionFile('attention', args),
    entry: `main${named ? (qb > 1 ? `_named${qb}` : '_named') : vec4 ? '_vec4' : ''}${lse ? '_save_lse' : ''}`,
    constants: {
      USE_MASK: !!keyMask,
      ROWS_PER_WG: ATTENTION_ROWS_PER_WG,
      ...windowConstant(args),
      ...(named ? { HEAD_DIM4: args.headDim / 4 } : vec4 ? { HEAD_DIM4: args.headDim / 4, QB: qb } : {}),
    },
    params: params ?? attentionParams(args),
    buffers,
    groups: grid1d(Math.ceil((batch * Math.ceil(T / qb) * nHeads) / ATTENTION_ROWS_PER_WG)),
  });
}

/** The forward's uniform block as words, for a caller that keeps it in its own buffer (encodeAttention's params). */
export function attentionUniforms(args: AttentionArgs): Uint32Array<ArrayBuffer> {
  checkAttentionArgs(args);
  return packUniforms(attentionParams(args));
}

/**
 * The sliding window is a pipeline constant, not a uniform field: a model has one window, so sliding and full
 * layers use two pipelines over the same uniform block (a decode step's, rewritten in place, serves both), and
 * models without a window compile exactly the pipelines they did before.
 */
function windowConstant(args: AttentionArgs): { WINDOW?: number; SOFTCAP?: number } {
  // the soft-capping likewise (Gemma's attn_logit_softcapping), only when set
  return { ...(args.window ? { WINDOW: args.window } : {}), ...(args.softcap ? { SOFTCAP: args.softcap } : {}) };
}

function checkAttentionArgs(args: AttentionArgs): { T: number; nHeads: number; batch: number } {
  const { T, S, nHeads, nKv, headDim } = args;
  const batch = args.batch ?? 1;
  const past = args.past ?? S - T;
  requireShape(T > 0 && S >= T, 'attention', `need 0 < T ≤ S, got T=${T} S=${S}`);
  requireShape(past >= 0, 'attention', `past must be ≥ 0, got ${past}`);
  requireShape(args.window === undefined || (Number.isSafeInteger(args.window) && args.window >= 0), 'attention', `window must be a whole number ≥ 0, got ${args.window}`);
  requireShape(args.ring === undefined || args.ring === 0 || (Number.isSafeInteger(args.ring) && args.ring > 0 && args.ring <= S), 'attention', `ring must be a whole number in 1..S, got ${args.ring}`);
  requireShape(nKv > 0 && nHeads % nKv === 0, 'attention', `nHeads (${nHeads}) must be a multiple of nKv (${nKv})`);
  requireShape(headDim > 0 && headDim <= ATTENTION_MAX_HEAD_DIM, 'attention', `headDim ${headDim} outside 1..${ATTENTION_MAX_HEAD_DIM}`);
  requireShape(!args.kvF16 || headDim % 4 === 0, 'attention', `an f16 KV cache needs headDim % 4 == 0, got ${headDim}`);
  requireShape(!args.actF16 || headDim % 4 === 0, 'attention', `f16 activations need headDim % 4 == 0, got ${headDim}`);
  requireShape(T <= MAX_GROUPS_PER_DIM && nHeads <= MAX_GROUPS_PER_DIM && batch <= MAX_GROUPS_PER_DIM, 'attention', 'grid too large');
  return { T, nHeads, batch };
}

function attentionParams(args: AttentionArgs): Field[] {
  const { T, S, nHeads, nKv, headDim } = args;
  return [
    { u32: T },
    { u32: S },
    { u32: nHeads },
    { u32: nKv },
    { u32: headDim },
    { u32: args.past ?? S - T },
    { f32: args.scale ?? 1 / Math.sqrt(headDim) },
    { u32: (args.batch ?? 1) * T * nHeads },
    { u32: args.ring ?? 0 },
  ];
}

/** What the backward reads and writes; dq, dk, dv are overwritten (not accumulated). */
export interface AttentionBackwardBuffers {
  /** the forward's inputs and output */
  q: GPUBuffer;
  k: GPUBuffer;
  v: GPUBuffer;
  out: GPUBuffer;
  /** [batch, T, nHeads], from encodeAttention(…, lse) */
  lse: GPUBuffer;
  dOut: GPUBuffer;
  dq: GPUBuffer;
  dk: GPUBuffer;
  dv: GPUBuffer;
  /** scratch f32 [batch, T, nHeads, 2] (per-row lse and dOut·out, packed so no pass binds more than 8 buffers) */
  stats: GPUBuffer;
  keyMask?: GPUBuffer;
}

/**
 * Attention backward, flash-style: dq per (query, head) row walking the keys; dk, dv per (key, kv-head) walking
 * the (query, q-head) pairs that see the key, so GQA's sums over shared heads need no atomics. The hardware family
 * runs the same `prep`, then its tiled dq and dk/dv passes (attention-hw.ts, shaders/hw_attention_backward.wgsl).
 */
export async function encodeAttentionBackward(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  bufs: AttentionBackwardBuffers,
  args: AttentionArgs,
): Promise<void> {
  const { T, nHeads, batch } = checkAttentionArgs(args);
  const { S, nKv } = args;
  // an f16 forward's saved activations (q, out: actF16; k, v: kvF16, dense) are read by the hardware family's kernels
  requireShape(!(args.kvF16 || args.actF16) || kernels.family === 'hardware', 'attention_backward', 'f16 activations (actF16, kvF16) are read by the hardware kernel family only');
  requireShape(S <= MAX_GROUPS_PER_DIM && nKv <= MAX_GROUPS_PER_DIM, 'attention_backward', 'grid too large');
  const outs = [bufs.dq, bufs.dk, bufs.dv, bufs.stats];
  const inputs = [bufs.q, bufs.k, bufs.v, bufs.out, bufs.lse, bufs.dOut];
  requireShape(new Set(outs).size === 4 && !outs.some((b) => inputs.includes(b)), 'attention_backward', 'dq, dk, dv and stats must be distinct buffers, apart from the inputs');
  const params = attentionParams(args);
  const constants = { USE_MASK: !!bufs.keyMask, ROWS_PER_WG: ATTENTION_ROWS_PER_WG, ...windowConstant(args) };
  const mask = bufs.keyMask ?? unusedBinding(kernels.device);
  const rows = batch * T * nHeads;
  await launch(kernels, encoder, {
    file: 'attention_backward',
    entry: args.actF16 ? 'prep_f16' : 'prep',
    params,
    buffers: { [args.actF16 ? 20 : 4]: bufs.out, 6: bufs.dOut, 7: bufs.lse, 8: bufs.stats },
    groups: grid1d(Math.ceil(rows / 64)),
  });
  if (kernels.family === 'hardware') {
    const hwConstants = { USE_MASK: !!bufs.keyMask, ...windowConstant(args) };
    await encodeHwAttentionBackwardPasses(kernels, encoder, { ...bufs, mask }, args, params, hwConstants);
    return;
  }
  // head dims that are multiples of 4 run the vec4 entries, which read the same buffers at bindings 13-19
  const vec4 = args.headDim % 4 === 0;
  const at = vec4 ? { q: 13, k: 14, v: 15, dOut: 16, dq: 17, dk: 18, dv: 19 } : { q: 1, k: 2, v: 3, dOut: 6, dq: 10, dk: 11, dv: 12 };
  const ins = { [at.q]: bufs.q, [at.k]: bufs.k, [at.v]: bufs.v, 5: mask, [at.dOut]: bufs.dOut, 9: bufs.stats };
  const vecConstants = vec4 ? { ...constants, HEAD_DIM4: args.headDim / 4 } : constants;
  // heads up to ATTENTION_NAMED_MAX_HEAD_DIM wide keep their rows in named registers, as the forward does
  const kind = !vec4 ? 'main' : args.headDim <= ATTENTION_NAMED_MAX_HEAD_DIM ? 'named' : 'vec4';
  await launch(kernels, encoder, {
    file: 'attention_backward',
    entry: `dq_${kind}`,
    constants: vecConstants,
    params,
    buffers: { ...ins, [at.dq]: bufs.dq },
    groups: grid1d(Math.ceil(rows / ATTENTION_ROWS_PER_WG)),
  });
  await launch(kernels, encoder, {
    file: 'attention_backward',
    entry: `dkv_${kind}`,
    constants: vecConstants,
    params,
    buffers: { ...ins, [at.dk]: bufs.dk, [at.dv]: bufs.dv },
    groups: grid1d(Math.ceil((batch * S * nKv) / ATTENTION_ROWS_PER_WG)),
  });
}
