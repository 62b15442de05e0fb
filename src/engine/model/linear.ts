/**
 * y = x·Wᵀ + b for an HF [out, in] weight, whatever its storage: f32 weights go through matmul, BF16/F16
 * through matmul_w16 (decoded in the kernel). Layouts: x f32 [rows, in] → y f32 [rows, out], a fresh pool buffer
 * the caller releases.
 */
import { encodeMatmul } from '../ops/matmul.ts';
import { encodeMatmulW16 } from '../ops/matmul-w16.ts';
import { encodeBiasAdd } from '../ops/elementwise.ts';
import type { GpuLinear, GpuMatrix, Model } from './weights.ts';

export async function encodeLinear(
  model: Model,
  enc: GPUCommandEncoder,
  x: GPUBuffer,
  rows: number,
  lin: GpuLinear | GpuMatrix,
  label = 'linear',
): Promise<GPUBuffer> {
  const w = 'weight' in lin ? lin.weight : lin;
  const bias = 'weight' in lin ? lin.bias : null;
  const y = model.pool.alloc(rows * w.rows * 4, label);
  const shape = { M: rows, N: w.rows, K: w.cols, transB: true };
  if (w.dtype === 'f32') await encodeMatmul(model.kernels, enc, x, w.buffer, y, shape);
  else await encodeMatmulW16(model.kernels, enc, x, w.buffer, y, { ...shape, dtype: w.dtype });
  if (bias) await encodeBiasAdd(model.kernels, enc, y, bias, { rows, cols: w.rows });
  return y;
}
