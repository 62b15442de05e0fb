/**
 * Matmul with a 16-bit weight (shaders/matmul_w16.wgsl): C = alpha·op(A)·op(B) + beta·C, B BF16 or F16.
 * Layouts: A, C f32 row-major as encodeMatmul; B = the tensor's raw 16-bit elements (safetensors bytes, or a
 * Uint16Array, uploaded as is: two per u32, even element low), [K,N] or, with transB, [N,K] (HF [out, in]).
 * As for f32, the forward form (transB, K % 4 == 0) runs the vec4 kernels' W16 variant (shaders/matmul_nt.wgsl, or
 * shaders/matmul_nt_4x4.wgsl for the small shapes matmulUses4x4 names), the rest
 * the general shaders/matmul_w16.wgsl, with the same tiles as encodeMatmul; the hardware family's kernels are in
 * matmul-hw.ts.
 */
import type { KernelRegistry } from '../gpu/kernels.ts';
import { launch, requireShape } from './dispatch.ts';
import { encodeHwMatmul } from './matmul-hw.ts';
import { MATMUL_TILE, matmulUsesNt, ntBuffers, ntLaunch, requireActF16, requireGlu, type MatmulArgs } from './matmul.ts';

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
  requireShape(b16.size >= Math.ceil((batch * K * N * (args.glu ? 2 : 1)) / 2) * 4, 'matmul_w16', `B holds fewer than ${batch * K * N} 16-bit values`);
  requireGlu(kernels, args);
  requireActF16(kernels.family, args, 'matmul_w16', true);
  if (kernels.family === 'hardware') return encodeHwMatmul(kernels, encoder, a, b16, c, args, args.dtype);
  const isF16 = args.dtype === 'f16';
  const tail = [{ u32: batch > 1 ? M * N : 0 }, { f32: args.alpha ?? 1 }, { f32: args.beta ?? 0 }];
  if (matmulUsesNt(args)) {
    await launch(kernels, encoder, {
      ...ntLaunch(args, args.dtype),
      // batch strides in vec4s of A and vec2<u32>s (4 weights) of B: K % 4 == 0 makes both whole
      params: [{ u32: M }, { u32: N }, { u32: K }, { u32: batch > 1 ? (M * K) / 4 : 0 }, { u32: batch > 1 ? (N * K) / 4 : 0 }, ...tail],
      buffers: ntBuffers(kernels.device, a, c, { w16: b16 }),
    });
    return;
  }
  await launch(kernels, encoder, {
    file: 'matmul_w16',
    constants: { TRANS_A: args.transA ?? false, TRANS_B: args.transB ?? false, IS_F16: isF16 },
    params: [
      { u32: M },
      { u32: N },
      { u32: K },
      { u32: batch > 1 ? M * K : 0 },
      { u32: batch > 1 ? K * N : 0 }, // in 16-bit elements, not words: odd strides are fine
      ...tail,
    ],
    buffers: { 1: a, 2: b16, 3: c },
    groups: [Math.ceil(N / MATMUL_TILE.N), Math.ceil(M / MATMUL_TILE.M), batch],
  });
}
