/**
 * RMSNorm forward (shaders/rmsnorm.wgsl), as HF's LlamaRMSNorm in fp32.
 * Layouts: x, y [rows, H] row-major f32; w [H]; optional rstd [rows] = rsqrt(mean(x²)+eps), kept for backward.
 * x and y must be different buffers (WebGPU forbids binding one buffer as both read and read_write).
 */
import type { KernelRegistry } from '../gpu/kernels.ts';
import { grid1d, launch, requireShape } from './dispatch.ts';

export interface RmsNormArgs {
  rows: number;
  hidden: number;
  eps: number;
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
  await launch(kernels, encoder, {
    file: 'rmsnorm',
    entry: rstd ? 'main_save_rstd' : 'main',
    params: [{ u32: rows }, { u32: hidden }, { f32: eps }],
    buffers: rstd ? { 1: x, 2: w, 3: y, 4: rstd } : { 1: x, 2: w, 3: y },
    groups: grid1d(rows),
  });
}
