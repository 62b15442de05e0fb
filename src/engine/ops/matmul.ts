/**
 * Matrix multiply on the GPU: C = alpha·op(A)·op(B) + beta·C, optionally batched.
 * Layouts: row-major f32; op(A) = A [M,K] or Aᵀ of a [K,M] buffer; op(B) = B [K,N] or Bᵀ of an [N,K] buffer.
 * The kernels depend on the registry's family: the hardware family's are in matmul-hw.ts. In the software family
 * the forward pass's form (A plain, B transposed, K % 4 == 0) runs shaders/matmul_nt.wgsl (vec4 loads along K),
 * or shaders/matvec_nt.wgsl when A has at most MATVEC_ROWS rows (decode); everything else runs the general
 * shaders/matmul.wgsl.
 */
import type { KernelRegistry } from '../gpu/kernels.ts';
import { launch } from './dispatch.ts';
import { encodeHwMatmul } from './matmul-hw.ts';

/** C tile per workgroup of the general kernel: 8×8 threads, 16×16 outputs each. */
export const MATMUL_TILE = { M: 128, N: 128 } as const;
/** C columns per workgroup of matmul_nt (8 threads × 32); rows are 8 threads × 4·ROW_GROUPS. */
export const NT_TILE_N = 256;

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

/** Whether the vec4 A·Bᵀ kernel applies: it reads both operands as vec4 along K. */
export function matmulUsesNt(args: MatmulArgs): boolean {
  return !args.transA && !!args.transB && args.K % 4 === 0;
}

/** Rows of A up to which the vec4 form runs the mat-vec (one thread per 4 outputs, every row at once). */
export const MATVEC_ROWS = 4;
/** Outputs per workgroup of matvec_nt (16 threads × 4 outputs). */
export const MATVEC_TILE_N = 64;

/** Whether the software family's mat-vec serves this product (the vec4 form with few rows). */
export function matmulUsesMatvec(args: MatmulArgs): boolean {
  return matmulUsesNt(args) && args.M <= MATVEC_ROWS;
}

/** Rows per thread in 4-row groups: enough for M, at most 4 (16 rows), so small M does not compute clamped copies. */
export function ntRowGroups(M: number): number {
  return Math.min(4, Math.max(1, Math.ceil(M / 4)));
}

export async function encodeMatmul(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  a: GPUBuffer,
  b: GPUBuffer,
  c: GPUBuffer,
  args: MatmulArgs,
): Promise<void> {
  if (kernels.family === 'hardware') return encodeHwMatmul(kernels, encoder, a, b, c, args);
  const { M, N, K } = args;
  const batch = args.batch ?? 1;
  const tail = [{ u32: batch > 1 ? M * N : 0 }, { f32: args.alpha ?? 1 }, { f32: args.beta ?? 0 }];
  if (matmulUsesMatvec(args)) {
    await launch(kernels, encoder, {
      file: 'matvec_nt',
      params: [{ u32: M }, { u32: N }, { u32: K }, { u32: batch > 1 ? (M * K) / 4 : 0 }, { u32: batch > 1 ? (N * K) / 4 : 0 }, ...tail],
      buffers: { 1: a, 2: b, 3: c },
      groups: [Math.ceil(N / MATVEC_TILE_N), 1, batch],
    });
    return;
  }
  if (matmulUsesNt(args)) {
    const rowGroups = ntRowGroups(M);
    await launch(kernels, encoder, {
      file: 'matmul_nt',
      constants: { ROW_GROUPS: rowGroups },
      // batch strides of A and B in vec4s (K % 4 == 0, so M·K and N·K are multiples of 4)
      params: [{ u32: M }, { u32: N }, { u32: K }, { u32: batch > 1 ? (M * K) / 4 : 0 }, { u32: batch > 1 ? (N * K) / 4 : 0 }, ...tail],
      buffers: { 1: a, 2: b, 3: c },
      groups: [Math.ceil(N / NT_TILE_N), Math.ceil(M / (32 * rowGroups)), batch],
    });
    return;
  }
  await launch(kernels, encoder, {
    file: 'matmul',
    constants: { TRANS_A: args.transA ?? false, TRANS_B: args.transB ?? false },
    params: [{ u32: M }, { u32: N }, { u32: K }, { u32: batch > 1 ? M * K : 0 }, { u32: batch > 1 ? K * N : 0 }, ...tail],
    buffers: { 1: a, 2: b, 3: c },
    groups: [Math.ceil(N / MATMUL_TILE.N), Math.ceil(M / MATMUL_TILE.M), batch],
  });
}
