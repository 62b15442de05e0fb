/**
 * y = x·Wᵀ + b for an HF [out, in] weight, whatever its storage: f32 weights go through matmul, BF16/F16
 * through matmul_w16 (decoded in the kernel), ggml blocks (Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K) through matmul_q (packed,
 * de-quantised in registers). Layouts: x f32 [rows, in] → y f32 [rows, out], a fresh pool buffer
 * the caller releases. Its backward's input gradient: dx [rows, in] (+)= dy·W (the weight gradient of full
 * fine-tuning, dW = dyᵀ·x in f32, is a plain matmul: model/layer.ts encodeLayerBackward).
 * With f16 activations (act-dtype.ts; the hardware family) a forward projection may read x as f16 pairs and write
 * y as f16 pairs (ActIo); a bias is then left to the caller, which adds it as it reads y (split_qkv).
 */
import { encodeMatmul } from '../ops/matmul.ts';
import { encodeMatmulW16 } from '../ops/matmul-w16.ts';
import { encodeMatmulQ } from '../ops/matmul-q.ts';
import { encodeBiasAdd } from '../ops/elementwise.ts';
import type { GateAct } from '../ops/swiglu.ts';
import type { KernelFamily } from '../kernel-family.ts';
import { encodeHwMatvecNormed, hwFusesNorm } from '../ops/matmul-hw.ts';
import type { GpuLinear, GpuMatrix, Model } from './weights.ts';

/** Which operands of a forward projection are f16 pairs (act-dtype.ts): the input x (aF16), the output y (cF16). */
export interface ActIo {
  aF16?: boolean;
  cF16?: boolean;
}

export async function encodeLinear(
  model: Model,
  enc: GPUCommandEncoder,
  x: GPUBuffer,
  rows: number,
  lin: GpuLinear | GpuMatrix,
  label = 'linear',
  io: ActIo = {},
): Promise<GPUBuffer> {
  const w = 'weight' in lin ? lin.weight : lin;
  const bias = 'weight' in lin ? lin.bias : null;
  if (bias && io.cF16) throw new RangeError(`${label}: an f16 output takes no bias here (the reader adds it)`);
  const y = model.pool.alloc(rows * w.rows * (io.cF16 ? 2 : 4), label);
  await encodeProduct(model, enc, x, w, y, { M: rows, N: w.rows, K: w.cols, transB: true, ...io });
  if (bias) await encodeBiasAdd(model.kernels, enc, y, bias, { rows, cols: w.rows });
  return y;
}

/**
 * Whether `rows` rows' RMSNorm can be folded into the projection `lin` on this model's kernels: the hardware
 * family's f32/16-bit mat-vec does it (hw_matvec main_norm; packed ggml blocks keep the norm apart). The software
 * family keeps the norm as its own dispatch: there, folding it made every thread of the 4×4 kernel recompute its
 * rows' scale, and a decode step measured ~5% slower on SwiftShader.
 */
export function foldsNorm(model: Model, rows: number, lin: GpuLinear | GpuMatrix): boolean {
  const w = 'weight' in lin ? lin.weight : lin;
  const plain = w.dtype === 'f32' || w.dtype === 'bf16' || w.dtype === 'f16';
  return plain && model.kernels.family === 'hardware' && hwFusesNorm({ M: rows, N: w.rows, K: w.cols, transB: true });
}

/** y = rmsnorm(x; g, eps)·Wᵀ (+ b) in one dispatch, for shapes foldsNorm accepts: the normed rows are never stored. */
export async function encodeNormedLinear(
  model: Model,
  enc: GPUCommandEncoder,
  x: GPUBuffer,
  rows: number,
  norm: { weight: GPUBuffer; eps: number },
  lin: GpuLinear | GpuMatrix,
  label = 'linear',
): Promise<GPUBuffer> {
  const w = 'weight' in lin ? lin.weight : lin;
  const bias = 'weight' in lin ? lin.bias : null;
  const y = model.pool.alloc(rows * w.rows * 4, label);
  const shape = { M: rows, N: w.rows, K: w.cols, transB: true };
  if (w.dtype !== 'f32' && w.dtype !== 'bf16' && w.dtype !== 'f16') throw new RangeError(`${label}: a ${w.dtype} weight does not take the folded norm (foldsNorm)`);
  await encodeHwMatvecNormed(model.kernels, enc, x, norm.weight, norm.eps, w.buffer, y, shape, w.dtype === 'f32' ? undefined : w.dtype);
  if (bias) await encodeBiasAdd(model.kernels, enc, y, bias, { rows, cols: w.rows });
  return y;
}

/**
 * Whether the fused gate|up projection `lin` can apply the gate activation in its matmul's epilogue (encodeGatedLinear):
 * the software family's f32 and 16-bit forward-form kernels (shaders/_nt_blocked.wgsl, _nt_4x4.wgsl), without a
 * bias. Elsewhere (the hardware family, packed ggml blocks) the matmul and swiglu main_packed stay apart.
 */
export function fusesGate(model: Model, lin: GpuLinear | GpuMatrix): boolean {
  const w = 'weight' in lin ? lin.weight : lin;
  return gateEpilogue(model.kernels.family, w.dtype, w.cols, 'weight' in lin && lin.bias !== null);
}

/** fusesGate from what the memory plans know (model/memory.ts): kernel family, gate|up storage, input width, bias. */
export function gateEpilogue(family: KernelFamily, dtype: string, cols: number, bias: boolean): boolean {
  const plain = dtype === 'f32' || dtype === 'bf16' || dtype === 'f16';
  return plain && !bias && family === 'software' && cols % 4 === 0;
}

/**
 * act = a(x·W_gateᵀ) ⊙ (x·W_upᵀ) for the fused [2F, in] gate|up weight, in one dispatch where fusesGate: the
 * [rows, 2F] projection is never stored. Layouts: x f32 [rows, in] → act f32 [rows, F], a fresh pool buffer.
 */
export async function encodeGatedLinear(model: Model, enc: GPUCommandEncoder, x: GPUBuffer, rows: number, lin: GpuLinear | GpuMatrix, act: GateAct): Promise<GPUBuffer> {
  const w = 'weight' in lin ? lin.weight : lin;
  if (!fusesGate(model, lin)) throw new RangeError('gate_up: this weight does not take the GLU epilogue (fusesGate)');
  const F = w.rows / 2;
  const y = model.pool.alloc(rows * F * 4, 'swiglu');
  await encodeProduct(model, enc, x, w, y, { M: rows, N: F, K: w.cols, transB: true, glu: act });
  return y;
}

/**
 * y [rows, out] += x·Wᵀ (+ b): a projection whose output goes straight into a running sum (the residual stream
 * after o_proj and down_proj), through the matmul's beta = 1 epilogue instead of a temporary and an add.
 */
export async function encodeLinearAdd(model: Model, enc: GPUCommandEncoder, x: GPUBuffer, rows: number, lin: GpuLinear | GpuMatrix, y: GPUBuffer, io: Pick<ActIo, 'aF16'> = {}): Promise<void> {
  const w = 'weight' in lin ? lin.weight : lin;
  const bias = 'weight' in lin ? lin.bias : null;
  await encodeProduct(model, enc, x, w, y, { M: rows, N: w.rows, K: w.cols, transB: true, beta: 1, ...io });
  if (bias) await encodeBiasAdd(model.kernels, enc, y, bias, { rows, cols: w.rows });
}

/** dX (+)= dY·W for a frozen HF [out, in] weight, whatever its storage: dY f32 [rows, out], dX f32 [rows, in]. */
export async function encodeLinearInputGrad(
  model: Model,
  enc: GPUCommandEncoder,
  dY: GPUBuffer,
  w: GpuMatrix,
  dX: GPUBuffer,
  rows: number,
  accumulate: boolean,
): Promise<void> {
  await encodeProduct(model, enc, dY, w, dX, { M: rows, N: w.cols, K: w.rows, beta: accumulate ? 1 : 0 });
}

/** C = A·op(W) (+ beta·C) by W's storage: transB the forward (C [M, out]), plain the backward (C [M, in]). */
async function encodeProduct(model: Model, enc: GPUCommandEncoder, a: GPUBuffer, w: GpuMatrix, c: GPUBuffer, shape: { M: number; N: number; K: number; transB?: boolean; beta?: number; glu?: GateAct } & ActIo): Promise<void> {
  if (w.dtype === 'f32') await encodeMatmul(model.kernels, enc, a, w.buffer, c, shape);
  else if (w.dtype === 'bf16' || w.dtype === 'f16') await encodeMatmulW16(model.kernels, enc, a, w.buffer, c, { ...shape, dtype: w.dtype });
  else if (shape.glu) throw new RangeError(`gate_up: a ${w.dtype} weight has no GLU epilogue`);
  else await encodeMatmulQ(model.kernels, enc, a, { buffer: w.buffer, type: w.dtype, rows: w.rows, cols: w.cols }, c, {
      M: shape.M,
      transB: !!shape.transB,
      beta: shape.beta ?? 0,
      ...(shape.aF16 ? { aF16: true } : {}),
      ...(shape.cF16 ? { cF16: true } : {}),
    });
}
