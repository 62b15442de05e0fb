/**
 * Matrix multiply on the GPU (shaders/matmul.wgsl): C = alpha·op(A)·op(B) + beta·C, optionally batched.
 * Layouts: row-major f32; op(A) = A [M,K] or Aᵀ of a [K,M] buffer; op(B) = B [K,N] or Bᵀ of an [N,K] buffer.
 */
import type { KernelRegistry } from '../gpu/kernels.ts';
import { uniforms } from '../gpu/kernels.ts';

export const MATMUL_TILE = { M: 32, N: 32 } as const;

export interface MatmulArgs {
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  beta?: number;
  batch?: number;
}

export async function encodeMatmul(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  a: GPUBuffer,
  b: GPUBuffer,
  c: GPUBuffer,
  args: MatmulArgs,
): Promise<void> {
  const { M, N, K } = args;
  const batch = args.batch ?? 1;
  const device = kernels.device;
  const pipeline = await kernels.pipeline('matmul', 'main', {
    TRANS_A: args.transA ?? false,
    TRANS_B: args.transB ?? false,
  });
  const params = uniforms(device, [
    { u32: M },
    { u32: N },
    { u32: K },
    { u32: batch > 1 ? M * K : 0 },
    { u32: batch > 1 ? K * N : 0 },
    { u32: batch > 1 ? M * N : 0 },
    { f32: args.alpha ?? 1 },
    { f32: args.beta ?? 0 },
  ]);
  const bind = device.createBindGroup({
    layout: kernels.layout(pipeline),
    entries: [
      { binding: 0, resource: { buffer: params } },
      { binding: 1, resource: { buffer: a } },
      { binding: 2, resource: { buffer: b } },
      { binding: 3, resource: { buffer: c } },
    ],
  });
  const pass = encoder.beginComputePass({ label: 'matmul' });
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bind);
  pass.dispatchWorkgroups(Math.ceil(N / MATMUL_TILE.N), Math.ceil(M / MATMUL_TILE.M), batch);
  pass.end();
}
