/**
 * Matmul with a 16-bit weight (shaders/matmul_w16.wgsl): C = alpha·op(A)·op(B) + beta·C, B BF16 or F16.
 * Layouts: A, C f32 row-major as encodeMatmul; B = the tensor's raw 16-bit elements (safetensors bytes, or a
 * Uint16Array, uploaded as is: two per u32, even element low), [K,N] or, with transB, [N,K] (HF [out, in]).
 */
import type { KernelRegistry } from '../gpu/kernels.ts';
import { launch, requireShape } from './dispatch.ts';
import type { MatmulArgs } from './matmul.ts';

/** C tile per workgroup of matmul_w16.wgsl (8×8 threads × 4×4 outputs). */
const W16_TILE = { M: 32, N: 32 } as const;

export type Weight16 = 'bf16' | 'f16';

export interface MatmulW16Args extends MatmulArgs {
  dtype: Weight16;
}

export async function encodeMatmulW16(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  a: GPUBuffer,
  b16: GPUBuffer,
  c: GPUBuffer,
  args: MatmulW16Args,
): Promise<void> {
  const { M, N, K } = args;
  const batch = args.batch ?? 1;
  requireShape(b16.size >= Math.ceil((batch * K * N) / 2) * 4, 'matmul_w16', `B holds fewer than ${batch * K * N} 16-bit values`);
  await launch(kernels, encoder, {
    file: 'matmul_w16',
    constants: { TRANS_A: args.transA ?? false, TRANS_B: args.transB ?? false, IS_F16: args.dtype === 'f16' },
    params: [
      { u32: M },
      { u32: N },
      { u32: K },
      { u32: batch > 1 ? M * K : 0 },
      { u32: batch > 1 ? K * N : 0 }, // in 16-bit elements, not words: odd strides are fine
      { u32: batch > 1 ? M * N : 0 },
      { f32: args.alpha ?? 1 },
      { f32: args.beta ?? 0 },
    ],
    buffers: { 1: a, 2: b16, 3: c },
    groups: [Math.ceil(N / W16_TILE.N), Math.ceil(M / W16_TILE.M), batch],
  });
}
