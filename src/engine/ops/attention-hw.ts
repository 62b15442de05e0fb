/**
 * The hardware kernel family's attention forward (KernelRegistry.family === 'hardware'): what encodeAttention
 * dispatches on a real GPU, with the same contract (ops/attention.ts: layouts, mask, window, soft-cap, ring, lse).
 * shaders/hw_attention.wgsl: FlashAttention-2-style tiles, a workgroup per (row block of one kv-head's GQA group,
 * kv-head, batch row); for 1–4 query rows, flash-decoding (the key range split over workgroups, then a reduce).
 * This module only picks the shape: rows per workgroup, lanes per row, keys per tile, slices.
 */
import type { KernelRegistry, Overrides } from '../gpu/kernels.ts';
import { grid1d, launch, MAX_GROUPS_PER_DIM, requireShape, type Field } from './dispatch.ts';
import { attentionFile, type AttentionArgs } from './attention.ts';

export const HW_ATTENTION = {
  /** threads per workgroup of the tiled forward (BR rows × TPR lanes) */
  threads: 64,
  /** query rows up to which a call is a decode (flash-decoding when the key range is worth splitting) */
  maxDecodeRows: 4,
  /** fewest keys a slice of flash-decoding gets (shorter slices cost more in the reduce than they gain) */
  minKeysPerSplit: 32,
  maxSplits: 32,
  /** keys per tile at most */
  maxTileKeys: 16,
  /** the workgroup memory the tiles may take: WebGPU's default maxComputeWorkgroupStorageSize */
  workgroupBytes: 16384,
} as const;

export interface HwAttentionShape {
  /** rows (query, q-head) per workgroup */
  BR: number;
  /** lanes per row (each owns the head dims d ≡ lane mod TPR) */
  TPR: number;
  /** keys per tile */
  BC: number;
  /** key slices per row block (flash-decoding); 1: the plain forward, no reduce */
  splits: number;
}

const pow2ceil = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

/**
 * The shape for a call. Prefill / training: 16 rows × 4 lanes for heads up to 64 wide (16 dims a lane), 8 × 8
 * above (at most 32 dims a lane at D = 256). Decode (T ≤ 4): as many rows as the group has (T·group, rounded up to
 * a power of 2, at most 16) × up to 16 lanes, and slices enough to launch `minWorkgroups` workgroups, each slice at
 * least minKeysPerSplit of the S slots. Keys per tile: the most (≤ 16, a power of 2) whose K and V tiles, partial
 * dots and scores fit in workgroupBytes.
 */
export function hwAttentionShape(args: AttentionArgs, minWorkgroups: number): HwAttentionShape {
  const { T, S, nHeads, nKv, headDim: D } = args;
  const batch = args.batch ?? 1;
  const rows = T * (nHeads / nKv);
  let BR: number;
  let TPR: number;
  let splits = 1;
  if (T <= HW_ATTENTION.maxDecodeRows) {
    BR = Math.min(16, pow2ceil(rows));
    TPR = Math.min(16, HW_ATTENTION.threads / BR);
    const base = batch * nKv * Math.ceil(rows / BR);
    splits = Math.max(1, Math.min(HW_ATTENTION.maxSplits, Math.ceil(minWorkgroups / base), Math.floor(S / HW_ATTENTION.minKeysPerSplit)));
    while (splits > 1 && Math.ceil(rows / BR) * splits > MAX_GROUPS_PER_DIM) splits--;
  } else if (D <= 64) {
    BR = 16;
    TPR = 4;
  } else {
    BR = 8;
    TPR = 8;
  }
  let BC = HW_ATTENTION.maxTileKeys;
  while (BC > 1 && 4 * (2 * BC * D + BR * BC * TPR + BR * BC) + 16 > HW_ATTENTION.workgroupBytes) BC /= 2;
  return { BR, TPR, BC, splits };
}

export async function encodeHwAttention(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  bufs: { q: GPUBuffer; k: GPUBuffer; v: GPUBuffer; out: GPUBuffer; mask: GPUBuffer; lse?: GPUBuffer },
  args: AttentionArgs,
  /** the uniform block (ops/attention.ts attentionParams), or a buffer holding it */
  params: Field[] | GPUBuffer,
  /** USE_MASK, WINDOW, SOFTCAP as the software kernel takes them */
  constants: Overrides,
  /** the shape (tests force the split path); by default hwAttentionShape's */
  shape = hwAttentionShape(args, kernels.hwTuning.minWorkgroups),
): Promise<void> {
  const { T, nHeads, nKv, headDim: D } = args;
  const batch = args.batch ?? 1;
  const { BR, TPR, BC, splits } = shape;
  requireShape(Math.ceil(D / TPR) <= 64, 'attention', `headDim ${D} needs more than 64 dims a lane at ${TPR} lanes`);
  const rowBlocks = Math.ceil((T * (nHeads / nKv)) / BR);
  requireShape(rowBlocks * splits <= MAX_GROUPS_PER_DIM && nKv <= MAX_GROUPS_PER_DIM, 'attention', 'grid too large');
  const tile: Overrides = { ...constants, HEAD_DIM: D, BR, TPR, BC, KV_VEC4: D % 4 === 0 };
  const groups: [number, number, number] = [rowBlocks * splits, nKv, batch];
  const base = { 1: bufs.q, 2: bufs.k, 3: bufs.v, 5: bufs.mask, 8: bufs.k, 9: bufs.v };
  const lse: Record<number, GPUBuffer> = bufs.lse ? { 6: bufs.lse } : {};
  if (splits === 1) {
    await launch(kernels, encoder, {
      file: attentionFile('hw_attention', args),
      entry: bufs.lse ? 'main_save_lse' : 'main',
      constants: tile,
      params,
      buffers: { ...base, 4: bufs.out, ...lse },
      groups,
    });
    return;
  }
  const rows = batch * T * nHeads;
  const partial = kernels.scratch(rows * splits * (2 + D) * 4);
  await launch(kernels, encoder, {
    file: attentionFile('hw_attention', args),
    entry: 'split',
    constants: { ...tile, SPLITS: splits },
    params,
    buffers: { ...base, 7: partial },
    groups,
  });
  // the reduce writes out (f16 pairs in the +a16 variant: a thread per word) and reads no k, v
  const pair = args.actF16 ? 2 : 1;
  await launch(kernels, encoder, {
    file: attentionFile('hw_attention', { ...args, kvF16: false }),
    entry: bufs.lse ? 'reduce_save_lse' : 'reduce',
    constants: { HEAD_DIM: D, SPLITS: splits },
    params,
    buffers: { 4: bufs.out, 7: partial, ...lse },
    groups: grid1d(Math.ceil((rows * D) / pair / 64)),
  });
}

/**
 * The backward's shape (shaders/hw_attention_backward.wgsl): the forward's rows × lanes for the head dim, and
 * keys (dq) or query rows (dkv) per tile: the most (≤ 16) whose two staged tiles, two partial-dot arrays, P and dS
 * and the staged rows' statistics fit in workgroupBytes (8 at D = 64, 4 at D = 256).
 */
export function hwAttentionBackwardShape(headDim: number): { BR: number; TPR: number; BC: number } {
  const [BR, TPR] = headDim <= 64 ? [16, 4] : [8, 8];
  let BC = HW_ATTENTION.maxTileKeys;
  while (BC > 1 && 4 * (2 * BC * headDim + 2 * BR * BC * TPR + 2 * BR * BC + 4 * BC) + 16 > HW_ATTENTION.workgroupBytes) BC /= 2;
  return { BR, TPR, BC };
}

/**
 * dq, and dk with dv, of the hardware family (after attention_backward.wgsl's `prep`, or `prep_f16`, has written
 * stats): two dispatches, no float atomics, each output row written by exactly one workgroup. With `actF16` /
 * `kvF16` the file is hw_attention_backward+a16 / +f16 (q / k, v read as an f16 forward saved them).
 */
export async function encodeHwAttentionBackwardPasses(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  bufs: { q: GPUBuffer; k: GPUBuffer; v: GPUBuffer; mask: GPUBuffer; dOut: GPUBuffer; stats: GPUBuffer; dq: GPUBuffer; dk: GPUBuffer; dv: GPUBuffer },
  args: AttentionArgs,
  params: Field[],
  constants: Overrides,
): Promise<void> {
  const { T, S, nHeads, nKv, headDim: D } = args;
  const batch = args.batch ?? 1;
  const { BR, TPR, BC } = hwAttentionBackwardShape(D);
  const rowBlocks = Math.ceil((T * (nHeads / nKv)) / BR);
  const keyBlocks = Math.ceil(S / BR);
  requireShape(rowBlocks <= MAX_GROUPS_PER_DIM && keyBlocks <= MAX_GROUPS_PER_DIM, 'attention_backward', 'grid too large');
  const tile: Overrides = { ...constants, HEAD_DIM: D, BR, TPR, BC };
  const ins = { 1: bufs.q, 2: bufs.k, 3: bufs.v, 5: bufs.mask, 6: bufs.dOut, 9: bufs.stats };
  // q (+a16) and k, v (+f16) as the forward saved them: f32 or f16 pairs
  const file = attentionFile('hw_attention_backward', args);
  await launch(kernels, encoder, { file, entry: 'dq_main', constants: tile, params, buffers: { ...ins, 10: bufs.dq }, groups: [rowBlocks, nKv, batch] });
  await launch(kernels, encoder, { file, entry: 'dkv_main', constants: tile, params, buffers: { ...ins, 11: bufs.dk, 12: bufs.dv }, groups: [keyBlocks, nKv, batch] });
}
