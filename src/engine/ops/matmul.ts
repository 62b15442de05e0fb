/**
 * Matrix multiply on the GPU: C = alpha·op(A)·op(B) + beta·C, optionally batched.
 * Layouts: row-major f32; op(A) = A [M,K] or Aᵀ of a [K,M] buffer; op(B) = B [K,N] or Bᵀ of an [N,K] buffer.
 * The kernels depend on the registry's family: the hardware family's are in matmul-hw.ts. In the software family
 * the forward pass's form (A plain, B transposed, K % 4 == 0) runs shaders/matmul_nt.wgsl (vec4 loads along K),
 * or shaders/matmul_nt_4x4.wgsl for few rows (decode) or few columns (LoRA's x·Aᵀ); everything else runs the
 * general shaders/matmul.wgsl, its thread blocks trimmed to small M or N (LoRA's backward products).
 */
import type { BufferOrRange } from '../gpu/buffer-pool.ts';
import type { KernelRegistry } from '../gpu/kernels.ts';
import { grid1d, launch, requireShape, unusedBinding } from './dispatch.ts';
import type { KernelFamily } from '../kernel-family.ts';
import { encodeHwMatmul } from './matmul-hw.ts';
import { actConstant, type GateAct } from './swiglu.ts';

/** C tile per workgroup of the general kernel at full thread blocks: 8×8 threads, 16×16 outputs each. */
export const MATMUL_TILE = { M: 128, N: 128 } as const;
/** 4-row / 4-column blocks per thread of the general kernel (matmul.wgsl ROW_BLOCKS, COL_BLOCKS): enough for M, N. */
export function matmulBlocks(M: number, N: number): { rows: number; cols: number } {
  return { rows: Math.min(4, Math.ceil(M / 4)), cols: Math.min(4, Math.ceil(N / 4)) };
}

export interface MatmulArgs {
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  beta?: number;
  batch?: number;
  /**
   * batch strides in elements, replacing the packed defaults (A: M·K, B: K·N, C: M·N): 0 broadcasts one operand
   * over the batch (a stacked LoRA group's x·A_mᵀ for every member m at once); a larger stride leaves gaps between
   * the batch's matrices (aligned member blocks). The vec4 kernels need multiples of 4.
   */
  strides?: { a?: number; b?: number; c?: number };
  /**
   * The GLU epilogue of the software family's forward-form kernels (shaders/_nt_blocked.wgsl): B is a packed
   * [2N, K] gate|up weight and C [M, N] = act(A·gateᵀ) ⊙ (A·upᵀ). Needs transB, K % 4 == 0, one batch, alpha 1,
   * beta 0 (gluApplies); the hardware family and the other forms keep the matmul and swiglu apart.
   */
  glu?: GateAct;
  /**
   * f16 activations (act-dtype.ts), the hardware family only: aF16, A is stored as f16 pairs (the `+a16` kernels,
   * shaders/_hw_a_a16.wgsl); cF16, C is (`+c16`, shaders/_hw_c_c16.wgsl and _hw_mv_c_c16.wgsl: N even, every word
   * written whole). Arithmetic and accumulation stay f32; C is rounded once, by pack2x16float. requireActF16
   * checks them.
   */
  aF16?: boolean;
  cF16?: boolean;
  /**
   * f16 B, the hardware family's f32-B tiled kernel only (encodeMatmul; `+b16`, shaders/_hw_b_b16.wgsl): B is an
   * activation stored as f16 pairs, training's saved input in a weight gradient (LoRA's dA = gᵀ·x, dW = dYᵀ·X).
   * Any shape, layout, batch stride and split-K (reads are per element); such products never take the mat-vec.
   * Refused where B is a weight (encodeMatmulW16, encodeMatmulQ) and in the software family (requireActF16).
   */
  bF16?: boolean;
}

/** The batch strides of a product in elements (0 for one batch): args.strides over the packed defaults. */
export function matmulStrides(args: MatmulArgs): { a: number; b: number; c: number } {
  const { M, N, K } = args;
  if ((args.batch ?? 1) <= 1) return { a: 0, b: 0, c: 0 };
  return { a: args.strides?.a ?? M * K, b: args.strides?.b ?? K * N, c: args.strides?.c ?? M * N };
}

/** Whether the vec4 A·Bᵀ kernel applies: it reads both operands as vec4 along K. */
export function matmulUsesNt(args: MatmulArgs): boolean {
  return !args.transA && !!args.transB && args.K % 4 === 0;
}

/**
 * The 4×4-block kernel (matmul_nt_4x4.wgsl): the vec4 form with at most maxRows rows of A (decode), maxCols
 * columns of C (LoRA's x·Aᵀ, r outputs) or maxDepth along K (LoRA's up-projection xa·Bᵀ, K = r). There
 * matmul_nt's 16×32 thread blocks are mostly clamped copies, or their 512-value store outweighs a few k steps
 * (measured: a K = 8 product cost a fifth of the 88× larger projection beside it). Its grid: nt4x4Groups.
 */
export const NT_4X4 = { maxRows: 4, maxCols: 16, maxDepth: 16, threads: 16 } as const;

/**
 * The 4×4 kernels' grid: one thread per 4×4 block of C, numbered with column blocks fastest and packed into
 * 16-thread workgroups (folded into y past 65535), batch in z. A narrow product fills each workgroup with several
 * row blocks (LoRA's x·Aᵀ at r = 8: 2 column blocks, 8 row blocks a workgroup, where a workgroup per row block
 * left 14 of 16 threads idle); a one-row product lays its column blocks out as before.
 */
export function nt4x4Groups(M: number, N: number, batch: number): [number, number, number] {
  const [x, y] = grid1d(Math.ceil((Math.ceil(N / 4) * Math.ceil(M / 4)) / NT_4X4.threads));
  return [x, y, batch];
}

/** Whether the software family's 4×4-block kernel serves this product. */
export function matmulUses4x4(args: MatmulArgs): boolean {
  const small = args.M <= NT_4X4.maxRows || args.N <= NT_4X4.maxCols || args.K <= NT_4X4.maxDepth;
  return matmulUsesNt(args) && small;
}

/**
 * Columns per thread of matmul_nt in 4-column groups (at most 8: 32 columns): N spread evenly over the fewest
 * workgroup columns of 8 threads that cover it. A narrow output (N = 64) keeps all 8 threads and every SIMD lane
 * busy instead of 2, and N = 344 runs 2 × 192 columns instead of 2 × 256 with the second mostly idle.
 */
export function ntColGroups(N: number): number {
  const workgroups = Math.ceil(N / 256);
  return Math.min(8, Math.max(1, Math.ceil(N / (32 * workgroups))));
}

/**
 * Column groups per thread of matmul_nt with the GLU epilogue: half read gate rows, half up rows, so a thread makes
 * 4·(groups/2) outputs, at most 16; F spread evenly over the fewest workgroups of 8 threads that cover it.
 */
export function gluColGroups(F: number): number {
  const workgroups = Math.ceil(F / 128);
  return 2 * Math.min(4, Math.max(1, Math.ceil(F / (32 * workgroups))));
}

/** Whether a product can take the GLU epilogue (MatmulArgs.glu) in the software family. */
export function gluApplies(args: MatmulArgs): boolean {
  return matmulUsesNt(args) && (args.batch ?? 1) <= 1 && (args.alpha ?? 1) === 1 && (args.beta ?? 0) === 0;
}

/**
 * Refuses f16 operands (MatmulArgs.aF16 / bF16 / cF16) where no kernel reads or writes them: the software family
 * (f16 activations are a hardware-family path), an f16 B where B is a weight (`bIsWeight`: the 16-bit and quantized
 * kernels, whose B is the weight's own storage), and an f16 C of odd N or odd batch stride (a C row must start on a
 * word, so no two invocations share one).
 */
export function requireActF16(family: KernelFamily, args: Pick<MatmulArgs, 'aF16' | 'bF16' | 'cF16' | 'N' | 'batch' | 'strides' | 'M'>, op = 'matmul', bIsWeight = false): void {
  if (args.bF16 && bIsWeight) throw new RangeError(`${op}: B is a weight here, stored as the weight's own type; bF16 (an f16 activation as B) is for encodeMatmul's f32-B kernel`);
  if (!args.aF16 && !args.bF16 && !args.cF16) return;
  if (family !== 'hardware') throw new RangeError(`${op}: f16 activations (aF16/bF16/cF16) need the hardware kernel family, not the ${family} family`);
  if (args.cF16) {
    requireShape(args.N % 2 === 0, op, `an f16 C needs an even N (whole f16 pairs per row), got N = ${args.N}`);
    const strideC = (args.batch ?? 1) > 1 ? (args.strides?.c ?? args.M * args.N) : 0;
    requireShape(strideC % 2 === 0, op, `an f16 C needs an even batch stride, got ${strideC}`);
  }
}

/** The hardware kernel file for f16 operands: `base` plus `+a16`, `+b16`, `+c16` for each f16 one (gpu/kernels.ts variantSource). */
export function actVariant(base: string, args: Pick<MatmulArgs, 'aF16' | 'bF16' | 'cF16'>): string {
  return `${base}${args.aF16 ? '+a16' : ''}${args.bF16 ? '+b16' : ''}${args.cF16 ? '+c16' : ''}`;
}

/** Refuses a GLU epilogue where no kernel has one (the hardware family, other forms): callers check gluApplies. */
export function requireGlu(kernels: KernelRegistry, args: MatmulArgs): void {
  if (args.glu && (kernels.family === 'hardware' || !gluApplies(args))) throw new RangeError(`matmul: no GLU epilogue for this product (${kernels.family} family; it needs A·Bᵀ with K % 4 == 0, one batch, alpha 1, beta 0)`);
}

/**
 * The software family's forward-form launch (shaders/matmul_nt.wgsl, or matmul_nt_4x4.wgsl for small shapes),
 * shared by f32 weights and 16-bit ones (w16: the W16 variant, B decoded in registers), each with the GLU epilogue
 * when args.glu is set (then N is F, the output width). The caller binds A, C and the weight at 2 (f32) or 4 (w16),
 * the other weight binding a placeholder (ntBuffers).
 */
export function ntLaunch(args: MatmulArgs, w16: 'bf16' | 'f16' | null): { file: string; constants: Record<string, number | boolean>; groups: [number, number, number] } {
  const { M, N } = args;
  const batch = args.batch ?? 1;
  const variant = { ...(args.glu ? { GLU: true, ...actConstant(args.glu) } : {}), ...(w16 ? { W16: true, IS_F16: w16 === 'f16' } : {}) };
  if (matmulUses4x4(args)) return { file: 'matmul_nt_4x4', constants: variant, groups: nt4x4Groups(M, N, batch) };
  const rowGroups = ntRowGroups(M);
  const colGroups = args.glu ? gluColGroups(N) : ntColGroups(N);
  const perThread = args.glu ? 2 * colGroups : 4 * colGroups;
  return { file: 'matmul_nt', constants: { ROW_GROUPS: rowGroups, COL_GROUPS: colGroups, ...variant }, groups: [Math.ceil(N / (8 * perThread)), Math.ceil(M / (32 * rowGroups)), batch] };
}

/** The forward-form kernels' bindings: A, C, and the weight at 2 (f32) or 4 (16-bit), the other unused. */
export function ntBuffers(device: GPUDevice, a: BufferOrRange, c: BufferOrRange, weight: { f32: BufferOrRange } | { w16: BufferOrRange }): Record<number, BufferOrRange> {
  const unused = unusedBinding(device);
  return 'f32' in weight ? { 1: a, 2: weight.f32, 3: c, 4: unused } : { 1: a, 2: unused, 3: c, 4: weight.w16 };
}

/** Rows per thread in 4-row groups: enough for M, at most 4 (16 rows), so small M does not compute clamped copies. */
export function ntRowGroups(M: number): number {
  return Math.min(4, Math.max(1, Math.ceil(M / 4)));
}

export async function encodeMatmul(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  a: BufferOrRange,
  b: BufferOrRange,
  c: BufferOrRange,
  args: MatmulArgs,
): Promise<void> {
  requireGlu(kernels, args);
  requireActF16(kernels.family, args);
  if (kernels.family === 'hardware') return encodeHwMatmul(kernels, encoder, a, b, c, args);
  const { M, N, K } = args;
  const batch = args.batch ?? 1;
  const st = matmulStrides(args);
  const tail = [{ u32: st.c }, { f32: args.alpha ?? 1 }, { f32: args.beta ?? 0 }];
  // the vec4 kernels' batch strides of A and B in vec4s
  const vec4Strides = () => {
    if (st.a % 4 !== 0 || st.b % 4 !== 0) throw new RangeError(`matmul: vec4 batch strides must be multiples of 4, got ${st.a}, ${st.b}`);
    return [{ u32: st.a / 4 }, { u32: st.b / 4 }];
  };
  if (matmulUsesNt(args)) {
    // batch strides of A and B in vec4s (K % 4 == 0, so M·K and N·K are multiples of 4)
    const params = [{ u32: M }, { u32: N }, { u32: K }, ...vec4Strides(), ...tail];
    await launch(kernels, encoder, { ...ntLaunch(args, null), params, buffers: ntBuffers(kernels.device, a, c, { f32: b }) });
    return;
  }
  const blocks = matmulBlocks(M, N);
  await launch(kernels, encoder, {
    file: 'matmul',
    constants: { TRANS_A: args.transA ?? false, TRANS_B: args.transB ?? false, ROW_BLOCKS: blocks.rows, COL_BLOCKS: blocks.cols },
    params: [{ u32: M }, { u32: N }, { u32: K }, { u32: st.a }, { u32: st.b }, ...tail],
    buffers: { 1: a, 2: b, 3: c },
    groups: [Math.ceil(N / (32 * blocks.cols)), Math.ceil(M / (32 * blocks.rows)), batch],
  });
}
