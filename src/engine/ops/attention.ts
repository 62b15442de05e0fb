/**
 * Causal GQA attention, flash-style (shaders/attention.wgsl).
 * Layouts (row-major f32): q, out [batch, T, nHeads, headDim]; k, v [batch, S, nKv, headDim];
 * keyMask u32 [batch, S] (1 keep, 0 padding), optional. Query i is at absolute position past + i (default
 * S − T, i.e. a KV cache holding S − T earlier tokens) and attends to keys 0..past+i.
 */
import type { KernelRegistry } from '../gpu/kernels.ts';
import { MAX_GROUPS_PER_DIM, launch, requireShape } from './dispatch.ts';

export const ATTENTION_MAX_HEAD_DIM = 256;

// The shader names the mask binding even when USE_MASK is off (layout 'auto' is reflected before overrides
// prune the branch), so an unmasked call binds this placeholder, which is never read.
const noMask = new WeakMap<GPUDevice, GPUBuffer>();
function placeholderMask(device: GPUDevice): GPUBuffer {
  let b = noMask.get(device);
  if (!b) {
    b = device.createBuffer({ size: 16, usage: 0x80 /* STORAGE */, label: 'attention.no-mask' });
    noMask.set(device, b);
  }
  return b;
}

export interface AttentionArgs {
  batch?: number;
  T: number;
  S: number;
  nHeads: number;
  nKv: number;
  headDim: number;
  /** absolute position of query 0; default S − T */
  past?: number;
  /** default 1/sqrt(headDim) */
  scale?: number;
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
): Promise<void> {
  const { T, S, nHeads, nKv, headDim } = args;
  const batch = args.batch ?? 1;
  const past = args.past ?? S - T;
  requireShape(T > 0 && S >= T, 'attention', `need 0 < T ≤ S, got T=${T} S=${S}`);
  requireShape(past >= 0, 'attention', `past must be ≥ 0, got ${past}`);
  requireShape(nKv > 0 && nHeads % nKv === 0, 'attention', `nHeads (${nHeads}) must be a multiple of nKv (${nKv})`);
  requireShape(headDim > 0 && headDim <= ATTENTION_MAX_HEAD_DIM, 'attention', `headDim ${headDim} outside 1..${ATTENTION_MAX_HEAD_DIM}`);
  requireShape(T <= MAX_GROUPS_PER_DIM && nHeads <= MAX_GROUPS_PER_DIM && batch <= MAX_GROUPS_PER_DIM, 'attention', 'grid too large');
  requireShape(out !== q, 'attention', 'out must not alias q');
  await launch(kernels, encoder, {
    file: 'attention',
    constants: { USE_MASK: !!keyMask },
    params: [
      { u32: T },
      { u32: S },
      { u32: nHeads },
      { u32: nKv },
      { u32: headDim },
      { u32: past },
      { f32: args.scale ?? 1 / Math.sqrt(headDim) },
    ],
    buffers: { 1: q, 2: k, 3: v, 4: out, 5: keyMask ?? placeholderMask(kernels.device) },
    groups: [T, nHeads, batch],
  });
}
