/**
 * The hardware kernel family's matmul (KernelRegistry.family === 'hardware'): what encodeMatmul and
 * encodeMatmulW16 dispatch on a real GPU. Same contract as theirs (C = alpha·op(A)·op(B) + beta·C, batched,
 * f32 or packed 16-bit B); this module only picks the kernel, the tile and the flags.
 * - A·Bᵀ with M ≤ MATVEC.maxRows (decode): shaders/hw_matvec(_w16).wgsl, a workgroup per few outputs;
 * - everything else: shaders/hw_matmul(_w16).wgsl, shared-memory tiles of C chosen by hwMatmulTile.
 * The tile sizes live here only: the shaders take them as override constants. With MatmulArgs.aF16 / cF16 (f16
 * activations, act-dtype.ts) the same kernels run as their +a16 / +c16 variants (actVariant); with bF16 (an f16
 * activation as B, training's weight gradients) hw_matmul runs as +b16, and the mat-vec, whose B is f32 only, is
 * skipped.
 */
import type { KernelRegistry, Overrides } from '../gpu/kernels.ts';
import { grid1d, launch, MAX_GROUPS_PER_DIM, type Field } from './dispatch.ts';
import { DEFAULT_HW_TUNING } from '../gpu/hw-tuning.ts';
import { actVariant, matmulStrides, requireActF16, type MatmulArgs } from './matmul.ts';
import type { BufferOrRange } from '../gpu/buffer-pool.ts';
import type { Weight16 } from './matmul-w16.ts';

/** Depth of the K tile staged in workgroup memory (a multiple of 4: tiles are staged as vec4 quads along K). */
export const HW_TILE_K = 16;

/**
 * C tiles, largest first; a workgroup has (M/4)·(N/4) threads, each a 4×4 block: 256, 128, 128, 64 threads.
 * Workgroup memory is TILE_K·(M + 4 + N + 4)·4 bytes, 8.7 KB at 64×64: within WebGPU's default 16 KB.
 */
export const HW_TILES: ReadonlyArray<{ M: number; N: number }> = [
  { M: 64, N: 64 },
  { M: 32, N: 64 },
  { M: 64, N: 32 },
  { M: 32, N: 32 },
];

/** Workgroups a product should launch before a smaller tile is preferred, by default (gpu/hw-tuning.ts). */
export const HW_MIN_WORKGROUPS = DEFAULT_HW_TUNING.minWorkgroups;

/**
 * The mat-vec's shape: up to maxRows rows of A; `threads` per workgroup, split as `lanes` threads per output
 * (a power of 2, at most maxLanes) × threads/lanes outputs.
 */
export const MATVEC = { maxRows: 4, threads: 256, maxLanes: 64 } as const;

/**
 * Lanes per output for a K-long dot product: one vec4 quad per lane per step, so no more lanes than K has quads
 * (a short K would leave lanes idle and lengthen the tree reduction), at most MATVEC.maxLanes.
 */
export function matvecLanes(K: number): number {
  let lanes = 1;
  while (lanes < MATVEC.maxLanes && lanes * 4 < K) lanes *= 2;
  return lanes;
}

/**
 * Whether the mat-vec serves this product: the forward form (A plain, B transposed) with few rows, B f32 or a
 * 16-bit weight (hw_matvec has no f16-activation B; such products take the tiled kernel).
 */
export function hwUsesMatvec(args: MatmulArgs): boolean {
  return !args.transA && !!args.transB && args.M <= MATVEC.maxRows && !args.bF16;
}

/**
 * The C tile for an M×N product (batch of them): the largest tile that still launches HW_MIN_WORKGROUPS
 * workgroups, else the smallest; a tile taller than M rounded up to 32 is never chosen (its rows would be
 * wasted), so small-M products get 32-row tiles even when the count is reached.
 */
export function hwMatmulTile(M: number, N: number, batch = 1, minWorkgroups = HW_MIN_WORKGROUPS): { M: number; N: number } {
  const fits = HW_TILES.filter((t) => t.M <= Math.max(32, M) && Math.ceil(N / t.N) <= MAX_GROUPS_PER_DIM && Math.ceil(M / t.M) <= MAX_GROUPS_PER_DIM);
  for (const t of fits) if (Math.ceil(M / t.M) * Math.ceil(N / t.N) * batch >= minWorkgroups) return t;
  return fits[fits.length - 1] ?? HW_TILES[HW_TILES.length - 1]!;
}

/** Split-K applies when the output is this many workgroups short of HW_MIN_WORKGROUPS, and each slice keeps K ≥ this. */
export const SPLIT_K = { minSlice: 128, maxSplits: 32 } as const;

/**
 * Slices along K for a product whose output is too small to fill the GPU but whose K is long: LoRA's dA = gᵀ·x and
 * dB = dYᵀ·xa (M·N = r × width, K = the batch's tokens, 2048 at 4 × 512). Only the Aᵀ·B form (both operands [K, ·],
 * so each slice is contiguous and the slices are a batch), one batch, beta 0 or 1 (the sum adds into C), and a
 * slice count that divides K; 1 when none applies. The slices are summed in a fixed order (deterministic, no
 * float atomics), and the sum's order differs from one long dot product by f32 rounding only. An f16 A or B
 * (aF16 / bF16: training's saved activations) splits too: the slices read it in place, each at element offset
 * s·Kc·M or s·Kc·N, and the f16 loaders read every element by its own index, so a slice may start mid-word. Never
 * with an f16 C (cF16): the slices' scratch and their sum are f32.
 */
export function hwSplitK(args: MatmulArgs, minWorkgroups = HW_MIN_WORKGROUPS): number {
  const beta = args.beta ?? 0;
  if (args.cF16) return 1;
  if (!args.transA || args.transB || (args.batch ?? 1) !== 1 || (beta !== 0 && beta !== 1)) return 1;
  const tile = hwMatmulTile(args.M, args.N, 1, minWorkgroups);
  const groups = Math.ceil(args.M / tile.M) * Math.ceil(args.N / tile.N);
  if (groups * 2 > minWorkgroups) return 1;
  let s = Math.min(SPLIT_K.maxSplits, Math.ceil(minWorkgroups / groups), Math.floor(args.K / SPLIT_K.minSlice));
  while (s > 1 && args.K % s !== 0) s--;
  return Math.max(1, s);
}

export async function encodeHwMatmul(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  a: BufferOrRange,
  b: BufferOrRange,
  c: BufferOrRange,
  args: MatmulArgs,
  dtype?: Weight16,
  /** the tiled kernel's C tile (tests force each of HW_TILES); by default hwMatmulTile's choice */
  tile = hwMatmulTile(args.M, args.N, args.batch ?? 1, kernels.hwTuning.minWorkgroups),
): Promise<void> {
  const { M, N, K } = args;
  const transA = args.transA ?? false;
  const transB = args.transB ?? false;
  const batch = args.batch ?? 1;
  // Batch strides in elements (B's in 16-bit elements for a 16-bit weight), as the software kernels take them.
  const { a: strideA, b: strideB, c: strideC } = matmulStrides(args);
  const params = [
    { u32: M },
    { u32: N },
    { u32: K },
    { u32: strideA },
    { u32: strideB },
    { u32: strideC },
    { f32: args.alpha ?? 1 },
    { f32: args.beta ?? 0 },
  ];
  // Whole-vec4 loads need each operand's contiguous dimension and batch stride to be multiples of 4.
  const vec = (contiguous: number, stride: number) => contiguous % 4 === 0 && stride % 4 === 0;
  const w16: Overrides = dtype ? { IS_F16: dtype === 'f16' } : {};
  const suffix = dtype ? '_w16' : '';
  requireActF16(kernels.family, args, dtype ? 'hw_matmul_w16' : 'hw_matmul', dtype !== undefined);
  if (hwUsesMatvec(args)) {
    await launchMatvec(kernels, encoder, { 1: a, 2: b, 3: c }, args, params, { ...w16, A_VEC: vec(K, strideA) && vec(K, strideB) }, suffix, 'main');
    return;
  }
  const minWorkgroups = kernels.hwTuning.minWorkgroups;
  const splits = tile === hwMatmulTile(M, N, batch, minWorkgroups) ? hwSplitK(args, minWorkgroups) : 1;
  if (splits > 1) {
    // K cut into `splits` equal slices, run as a batch of products over them (A, B slices are contiguous: both
    // are [K, ·] here), each slice's product into the scratch, then summed in slice order into C; f16 A / B are
    // read in place (their slices are element offsets), the scratch is f32
    const Kc = K / splits;
    const partial = kernels.scratch(splits * M * N * 4);
    const f16 = { ...(args.aF16 ? { aF16: true } : {}), ...(args.bF16 ? { bF16: true } : {}) };
    await encodeHwMatmul(kernels, encoder, a, b, partial, { M, N, K: Kc, transA, transB, alpha: args.alpha ?? 1, beta: 0, batch: splits, ...f16 }, dtype);
    await launch(kernels, encoder, {
      file: 'elementwise',
      entry: 'sum_splits',
      constants: { ACCUMULATE: (args.beta ?? 0) !== 0 },
      params: [{ u32: M * N }, { u32: splits }],
      buffers: { 2: partial, 4: c },
      groups: grid1d(Math.ceil((M * N) / 256)),
    });
    return;
  }
  await launch(kernels, encoder, {
    file: actVariant(`hw_matmul${suffix}`, args),
    constants: {
      ...w16,
      TRANS_A: transA,
      TRANS_B: transB,
      A_VEC: vec(transA ? M : K, strideA),
      B_VEC: vec(transB ? K : N, strideB),
      TILE_M: tile.M,
      TILE_N: tile.N,
      TILE_K: HW_TILE_K,
    },
    params,
    buffers: { 1: a, 2: b, 3: c },
    groups: [Math.ceil(N / tile.N), Math.ceil(M / tile.M), batch],
  });
}

async function launchMatvec(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  buffers: Record<number, BufferOrRange>,
  args: MatmulArgs,
  params: Field[],
  constants: Overrides,
  suffix: string,
  entry: 'main' | 'main_norm',
): Promise<void> {
  const lanes = matvecLanes(args.K);
  const rows = MATVEC.threads / lanes;
  const [x, y] = grid1d(Math.ceil(args.N / rows));
  await launch(kernels, encoder, {
    file: actVariant(`hw_matvec${suffix}`, args),
    entry,
    constants: { ...constants, ROWS: rows, LANES: lanes },
    params,
    buffers,
    groups: [x, y, args.batch ?? 1],
  });
}

/**
 * Whether an RMSNorm before this product can be folded into it (hw_matvec main_norm): the mat-vec's form and
 * rows, one batch, and whole quads along K (the norm weight is read as vec4s).
 */
export function hwFusesNorm(args: MatmulArgs): boolean {
  return hwUsesMatvec(args) && (args.batch ?? 1) === 1 && args.K % 4 === 0;
}

/**
 * C = alpha · rmsnorm(A; g, eps)·Bᵀ + beta·C without the normed rows ever being written (hw_matvec main_norm):
 * A [M, K] are the raw rows, g [K] the norm weight (as the engine stores it: Gemma's 1 + w already applied).
 * Only for products hwFusesNorm accepts.
 */
export async function encodeHwMatvecNormed(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  a: GPUBuffer,
  g: GPUBuffer,
  eps: number,
  b: GPUBuffer,
  c: GPUBuffer,
  args: MatmulArgs,
  dtype?: Weight16,
): Promise<void> {
  if (args.bF16) throw new RangeError('hw_matvec main_norm: B is the projection weight; bF16 is not supported here');
  if (!hwFusesNorm(args)) throw new RangeError(`hw_matvec main_norm: ${args.M}×${args.N}×${args.K} is not a one-batch mat-vec with K % 4 == 0`);
  // A is the residual stream, which stays f32 (act-dtype.ts); the normed product's output may be f16
  if (args.aF16) throw new RangeError('hw_matvec main_norm: A is the f32 residual stream; aF16 is not supported here');
  requireActF16(kernels.family, args, 'hw_matvec main_norm');
  const params: Field[] = [{ u32: args.M }, { u32: args.N }, { u32: args.K }, { u32: 0 }, { u32: 0 }, { u32: 0 }, { f32: args.alpha ?? 1 }, { f32: args.beta ?? 0 }];
  const constants: Overrides = { ...(dtype ? { IS_F16: dtype === 'f16' } : {}), A_VEC: true, NORM_EPS: eps };
  await launchMatvec(kernels, encoder, { 1: a, 2: b, 3: c, 4: g }, args, params, constants, dtype ? '_w16' : '', 'main_norm');
}
