/**
 * Elementwise adds (shaders/elementwise.wgsl), f32, row-major:
 *   encodeAdd(a, b, out)            out = a + b, all [n]
 *   encodeAddInPlace(acc, b)        acc += b (residual stream), [n]
 *   encodeBiasAdd(acc, bias)        acc [rows, cols] += bias [cols] broadcast over rows (Qwen2 q/k/v biases)
 *   encodeBiasGrad(dy, dbias)       dbias [cols] += Σ_rows dy [rows, cols] (bias_add's backward; accumulates)
 *   encodeSoftcapInPlace(x)         x = cap·tanh(x / cap), [n] (final logit soft-capping; its backward is the
 *                                   cross-entropy backward's SOFTCAP slope, ops/logsoftmax.ts)
 * Residual backward is no kernel: dy goes to both branches unchanged, and encodeAddInPlace sums branch grads.
 */
import type { KernelRegistry } from '../gpu/kernels.ts';
import { grid1d, launch, requireShape } from './dispatch.ts';

const groups = (n: number) => grid1d(Math.ceil(n / 256));

export async function encodeAdd(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  a: GPUBuffer,
  b: GPUBuffer,
  out: GPUBuffer,
  args: { n: number },
): Promise<void> {
  requireShape(out !== a && out !== b, 'add', 'out aliases an input: use encodeAddInPlace');
  await launch(kernels, encoder, {
    file: 'elementwise',
    entry: 'add',
    params: [{ u32: args.n }, { u32: 1 }],
    buffers: { 1: a, 2: b, 3: out },
    groups: groups(args.n),
  });
}

export async function encodeAddInPlace(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  acc: GPUBuffer,
  b: GPUBuffer,
  args: { n: number },
): Promise<void> {
  requireShape(acc !== b, 'add_inplace', 'acc and b must be different buffers');
  await launch(kernels, encoder, {
    file: 'elementwise',
    entry: 'add_inplace',
    params: [{ u32: args.n }, { u32: 1 }],
    buffers: { 2: b, 4: acc },
    groups: groups(args.n),
  });
}

export async function encodeSoftcapInPlace(kernels: KernelRegistry, encoder: GPUCommandEncoder, x: GPUBuffer, args: { n: number; cap: number }): Promise<void> {
  requireShape(args.cap > 0, 'softcap_inplace', `cap must be positive, got ${args.cap}`);
  await launch(kernels, encoder, {
    file: 'elementwise',
    entry: 'softcap_inplace',
    constants: { CAP: args.cap },
    params: [{ u32: args.n }, { u32: 1 }],
    buffers: { 4: x },
    groups: groups(args.n),
  });
}

export async function encodeBiasAdd(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  acc: GPUBuffer,
  bias: GPUBuffer,
  args: { rows: number; cols: number },
): Promise<void> {
  requireShape(args.cols > 0, 'bias_add', 'cols must be positive');
  const n = args.rows * args.cols;
  await launch(kernels, encoder, {
    file: 'elementwise',
    entry: 'bias_add',
    params: [{ u32: n }, { u32: args.cols }],
    buffers: { 4: acc, 5: bias },
    groups: groups(n),
  });
}

/** dbias [cols] += column sums of dy [rows, cols]; accumulates so micro-batches add up (clear once per step). */
export async function encodeBiasGrad(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  dy: GPUBuffer,
  dbias: GPUBuffer,
  args: { rows: number; cols: number },
): Promise<void> {
  requireShape(args.cols > 0 && args.rows > 0, 'bias_grad', 'rows and cols must be positive');
  requireShape(dy !== dbias, 'bias_grad', 'dbias must not alias dy');
  await launch(kernels, encoder, {
    file: 'elementwise',
    entry: 'bias_grad',
    params: [{ u32: args.rows * args.cols }, { u32: args.cols }],
    buffers: { 2: dy, 4: dbias },
    groups: groups(args.cols),
  });
}
