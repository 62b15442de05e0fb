/**
 * The global L2 norm of all LoRA gradients and torch.nn.utils.clip_grad_norm_'s scale:
 *   norm = √(Σ_tensors Σ_i g_i²),  scale = min(1, max_norm / (norm + 1e-6))   (norm ≤ max_norm ⇒ ≈ no-op)
 * both on the GPU (shaders/sumsq.wgsl): SPAN elements per invocation into partials, then one invocation adds the
 * partials in a fixed order (deterministic) and writes clip f32 [2] = (Σ g², scale). AdamW reads that buffer
 * (shaders/adamw.wgsl binding 6) in the same submit, so a step never waits on the host for its norm; a
 * non-finite Σ g² makes AdamW leave every tensor unchanged, and the trainer stops on it when it reads the norm
 * back with the step's result.
 */
import { readBuffer, type BufferOrRange, type BufferPool } from '../gpu/buffer-pool.ts';
import type { KernelRegistry } from '../gpu/kernels.ts';
import { grid1d, launch } from '../ops/dispatch.ts';
import { SUMSQ_SPAN } from './defaults.ts';

const WG = 64;

/** Gradient tensors whose joint norm is wanted: buffer and element count. */
export interface GradTensor {
  grad: BufferOrRange;
  n: number;
}

/** Partials (one per SUMSQ_SPAN elements of each tensor) a norm over these tensors needs. */
export function normPartials(tensors: readonly GradTensor[]): number {
  return tensors.reduce((a, t) => a + Math.ceil(t.n / SUMSQ_SPAN), 0);
}

/**
 * Encodes the norm: `partials` f32 [≥ normPartials(tensors)] scratch, `clip` f32 [2] ← (Σ g², scale) for
 * `maxNorm` (clipping off: maxNorm ≤ 0, scale 1).
 */
export async function encodeClip(kernels: KernelRegistry, enc: GPUCommandEncoder, tensors: readonly GradTensor[], bufs: { partials: GPUBuffer; clip: GPUBuffer }, maxNorm: number): Promise<void> {
  let offset = 0;
  for (const t of tensors) {
    if (t.n === 0) continue;
    const count = Math.ceil(t.n / SUMSQ_SPAN);
    await launch(kernels, enc, {
      file: 'sumsq',
      constants: { SPAN: SUMSQ_SPAN },
      params: [{ u32: t.n }, { u32: offset }, { f32: 0 }],
      buffers: { 1: t.grad, 2: bufs.partials },
      groups: grid1d(Math.ceil(count / WG)),
    });
    offset += count;
  }
  await launch(kernels, enc, {
    file: 'sumsq',
    entry: 'finish',
    params: [{ u32: offset }, { u32: 0 }, { f32: maxNorm > 0 ? maxNorm : 0 }],
    buffers: { 2: bufs.partials, 3: bufs.clip },
    groups: [1],
  });
}

/** Σ g² over all tensors and the clip scale for `maxNorm`, computed on the GPU and read back (tests, tools). */
export async function sumOfSquares(device: GPUDevice, kernels: KernelRegistry, pool: BufferPool, tensors: readonly GradTensor[], maxNorm = 0): Promise<{ sumSq: number; scale: number }> {
  const partials = pool.alloc(Math.max(1, normPartials(tensors)) * 4, 'grad-norm.partials');
  const clip = pool.alloc(8, 'grad-norm.clip');
  try {
    const enc = device.createCommandEncoder({ label: 'grad-norm' });
    await encodeClip(kernels, enc, tensors, { partials, clip }, maxNorm);
    device.queue.submit([enc.finish()]);
    const [sumSq, scale] = new Float32Array(await readBuffer(device, clip, 8));
    return { sumSq: sumSq!, scale: scale! };
  } finally {
    pool.release(partials);
    pool.release(clip);
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
