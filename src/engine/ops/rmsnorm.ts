/**
 * RMSNorm forward (shaders/rmsnorm.wgsl), as HF's LlamaRMSNorm in fp32, and its backward
 * (shaders/rmsnorm_backward.wgsl).
 * Layouts: x, y, dy, dx [rows, H] row-major f32; w, dw [H]; optional rstd [rows] = rsqrt(mean(x²)+eps), kept for
 * backward. x and y must be different buffers (WebGPU forbids binding one buffer as both read and read_write).
 * Those are the software family's kernels (one invocation per row); the hardware family's (a workgroup of lanes
 * per row, vec4 loads, tree reductions) are dispatched through rows-hw.ts.
 */
import type { KernelRegistry } from '../gpu/kernels.ts';
import { grid1d, launch, requireShape } from './dispatch.ts';
import { launchHwRmsNormDw, launchHwRows } from './rows-hw.ts';

/** Rows per workgroup of the forward and the dx pass (one invocation per row; shaders' ROWS_PER_WG override). */
export const NORM_ROWS_PER_WG = 16;

export interface RmsNormArgs {
  rows: number;
  hidden: number;
  eps: number;
  /**
   * f16 activations (act-dtype.ts; the hardware family only, hidden even): `yF16` writes y as f16 pairs (the input
   * of an f16-activation forward's next matmul; x, the residual stream, stays f32), `xF16` reads x as f16 pairs
   * (Qwen3's per-head q/k norms of an f16 q). The sums and the normalisation stay f32; rstd, if saved, is f32.
   */
  xF16?: boolean;
  yF16?: boolean;
}

export async function encodeRmsNorm(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  x: GPUBuffer,
  w: GPUBuffer,
  y: GPUBuffer,
  args: RmsNormArgs,
  rstd?: GPUBuffer,
): Promise<void> {
  const { rows, hidden, eps } = args;
  requireShape(rows > 0 && hidden > 0, 'rmsnorm', `rows (${rows}) and hidden (${hidden}) must be positive`);
  requireShape(x !== y, 'rmsnorm', 'x and y must be different buffers');
  const tags = [...(args.xF16 ? ['x16'] : []), ...(args.yF16 ? ['y16'] : [])];
  if (tags.length > 0) {
    requireShape(kernels.family === 'hardware', 'rmsnorm', 'f16 activations (xF16, yF16) are read and written by the hardware kernel family only');
    requireShape(hidden % 2 === 0, 'rmsnorm', `f16 activations need an even hidden size (two values a word), got ${hidden}`);
  }
  if (kernels.family === 'hardware') {
    const buffers: Record<number, GPUBuffer> = rstd ? { 1: x, 2: w, 3: y, 4: rstd } : { 1: x, 2: w, 3: y };
    await launchHwRows(kernels, encoder, { file: 'hw_rmsnorm', entry: rstd ? 'main_save_rstd' : 'main', rows, width: hidden, params: [{ u32: rows }, { u32: hidden }, { f32: eps }], buffers, tags });
    return;
  }
  await launch(kernels, encoder, {
    file: 'rmsnorm',
    entry: rstd ? 'main_save_rstd' : 'main',
    constants: { ROWS_PER_WG: NORM_ROWS_PER_WG },
    params: [{ u32: rows }, { u32: hidden }, { f32: eps }],
    buffers: rstd ? { 1: x, 2: w, 3: y, 4: rstd } : { 1: x, 2: w, 3: y },
    groups: grid1d(Math.ceil(rows / NORM_ROWS_PER_WG)),
  });
}

export interface RmsNormBackwardArgs {
  rows: number;
  hidden: number;
  /**
   * x (the forward's input) is an f16 activation (act-dtype.ts; the hardware family only, hidden even): read as f16
   * pairs by both passes (the +x16 twin of _hw_rmsnorm_x), e.g. Qwen3/Gemma's q/k norms of an f16 q. dy, dx, w, dw
   * and rstd stay f32, as do the sums.
   */
  xF16?: boolean;
}

/**
 * RMSNorm backward from the forward's saved rstd: dx = r·(dy ⊙ w) − x·r³·Σ(dy ⊙ w ⊙ x)/H (overwritten), and,
 * when `dw` is given, dw += Σ_rows dy ⊙ x·r (accumulated, so micro-batches add up; clear it once per step).
 * dw is a second pass with one thread per column, since WGSL has no float atomics to reduce over rows.
 */
export async function encodeRmsNormBackward(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  x: GPUBuffer,
  w: GPUBuffer,
  rstd: GPUBuffer,
  dy: GPUBuffer,
  dx: GPUBuffer,
  args: RmsNormBackwardArgs,
  dw?: GPUBuffer,
): Promise<void> {
  const { rows, hidden } = args;
  requireShape(rows > 0 && hidden > 0, 'rmsnorm_backward', `rows (${rows}) and hidden (${hidden}) must be positive`);
  requireShape(dx !== dy && dx !== x, 'rmsnorm_backward', 'dx must not alias dy or x');
  const tags = args.xF16 ? ['x16'] : [];
  if (args.xF16) {
    requireShape(kernels.family === 'hardware', 'rmsnorm_backward', 'f16 activations (xF16) are read by the hardware kernel family only');
    requireShape(hidden % 2 === 0, 'rmsnorm_backward', `f16 activations need an even hidden size (two values a word), got ${hidden}`);
  }
  if (kernels.family === 'hardware') {
    const params = [{ u32: rows }, { u32: hidden }, { f32: 0 }];
    await launchHwRows(kernels, encoder, { file: 'hw_rmsnorm', entry: 'backward', rows, width: hidden, params, buffers: { 1: x, 2: w, 4: rstd, 5: dy, 6: dx }, tags });
    if (dw) await launchHwRmsNormDw(kernels, encoder, { rows, hidden, x, rstd, dy, dw, tags });
    return;
  }
  const params = [{ u32: rows }, { u32: hidden }];
  await launch(kernels, encoder, {
    file: 'rmsnorm_backward',
    constants: { ROWS_PER_WG: NORM_ROWS_PER_WG },
    params,
    buffers: { 1: x, 2: w, 3: rstd, 4: dy, 5: dx },
    groups: grid1d(Math.ceil(rows / NORM_ROWS_PER_WG)),
  });
  if (dw) {
    await launch(kernels, encoder, {
      file: 'rmsnorm_backward',
      entry: 'dw_main',
      params,
      buffers: { 1: x, 3: rstd, 4: dy, 6: dw },
      groups: grid1d(Math.ceil(hidden / 64)),
    });
  }
}
