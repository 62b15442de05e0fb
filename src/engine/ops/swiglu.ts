/**
 * SwiGLU activation (shaders/swiglu.wgsl): out = silu(gate) ⊙ up, elementwise over n = T·intermediate values.
 * gate, up, out: f32 [T, I] row-major, three separate buffers (out may not alias gate or up).
 */
import type { KernelRegistry } from '../gpu/kernels.ts';
import { grid1d, launch, requireShape } from './dispatch.ts';

export async function encodeSwiglu(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  gate: GPUBuffer,
  up: GPUBuffer,
  out: GPUBuffer,
  args: { n: number },
): Promise<void> {
  requireShape(out !== gate && out !== up, 'swiglu', 'out must not alias gate or up');
  await launch(kernels, encoder, {
    file: 'swiglu',
    params: [{ u32: args.n }],
    buffers: { 1: gate, 2: up, 3: out },
    groups: grid1d(Math.ceil(args.n / 256)),
  });
}
