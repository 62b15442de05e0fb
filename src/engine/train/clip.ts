/**
 * The global L2 norm of all LoRA gradients and torch.nn.utils.clip_grad_norm_'s scale:
 *   norm = √(Σ_tensors Σ_i g_i²),  scale = min(1, max_norm / (norm + 1e-6))   (norm ≤ max_norm ⇒ ≈ no-op)
 * The squares are summed on the GPU (shaders/sumsq.wgsl, SPAN elements per invocation), the ⌈n/SPAN⌉ partials of
 * every tensor come back in one read, and the host adds them in float64 in a fixed order. The scale is not applied
 * to the gradients here: AdamW takes it as its grad_scale, together with the 1/accum of gradient accumulation.
 */
import { readBuffer, type BufferPool } from '../gpu/buffer-pool.ts';
import type { KernelRegistry } from '../gpu/kernels.ts';
import { grid1d, launch } from '../ops/dispatch.ts';
import { SUMSQ_SPAN } from './defaults.ts';

const WG = 64;

/** Gradient tensors whose joint norm is wanted: buffer and element count. */
export interface GradTensor {
  grad: GPUBuffer;
  n: number;
}

/** Σ g² over all tensors, computed on the GPU, summed in float64 on the host. */
export async function sumOfSquares(device: GPUDevice, kernels: KernelRegistry, pool: BufferPool, tensors: readonly GradTensor[]): Promise<number> {
  const counts = tensors.map((t) => Math.ceil(t.n / SUMSQ_SPAN));
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  const partials = pool.alloc(total * 4, 'grad-norm.partials');
  try {
    const enc = device.createCommandEncoder({ label: 'grad-norm' });
    let offset = 0;
    for (const [i, t] of tensors.entries()) {
      if (t.n === 0) continue;
      await launch(kernels, enc, {
        file: 'sumsq',
        constants: { SPAN: SUMSQ_SPAN },
        params: [{ u32: t.n }, { u32: offset }],
        buffers: { 1: t.grad, 2: partials },
        groups: grid1d(Math.ceil(counts[i]! / WG)),
      });
      offset += counts[i]!;
    }
    device.queue.submit([enc.finish()]);
    const parts = new Float32Array(await readBuffer(device, partials, total * 4));
    let s = 0;
    for (const x of parts) s += x;
    return s;
  } finally {
    pool.release(partials);
  }
}

/** clip_grad_norm_'s multiplier for a total norm (1 when clipping is off: maxNorm ≤ 0). */
export function clipScale(norm: number, maxNorm: number): number {
  if (!(maxNorm > 0)) return 1;
  return Math.min(1, maxNorm / (norm + 1e-6));
}

/** CPU reference: the global norm of float arrays in float64. */
export function globalNormReference(grads: readonly ArrayLike<number>[]): number {
  let s = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) s += g[i]! * g[i]!;
  return Math.sqrt(s);
}
