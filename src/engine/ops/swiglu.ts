/**
 * SwiGLU activation (shaders/swiglu.wgsl): out = silu(gate) ⊙ up, elementwise over n = T·intermediate values.
 * gate, up, out: f32 [T, I] row-major, three separate buffers (out may not alias gate or up); with `f16` (the
 * hardware family only), gate, up and out are f16 activations (act-dtype.ts: two halves a word; n even).
 * encodeSwigluBackward: dgate = dout ⊙ up ⊙ σ(gate)·(1 + gate·(1 − σ(gate))), dup = dout ⊙ silu(gate), same layout.
 */
import type { KernelRegistry } from '../gpu/kernels.ts';
import { grid1d, launch, requireShape } from './dispatch.ts';

// The unpacked f16 entries (main_f16, backward_f16) serve the hardware family's f16-activation forward only.
function checkF16(kernels: KernelRegistry, op: string, n: number): void {
  requireShape(kernels.family === 'hardware', op, 'f16 activations (f16) are read and written by the hardware kernel family only');
  requireShape(n % 2 === 0, op, `f16 activations need an even element count n (two values a word), got ${n}`);
}

/** The gate's activation: SiLU (SwiGLU, the default) or the tanh-approximate GELU (Gemma's GeGLU). */
export type GateAct = 'silu' | 'gelu_tanh';

// GELU_TANH is set only for GeGLU, so SwiGLU models compile exactly the pipelines they did before.
export function actConstant(act: GateAct | undefined): { GELU_TANH?: boolean } {
  return act === 'gelu_tanh' ? { GELU_TANH: true } : {};
}

export async function encodeSwiglu(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  gate: GPUBuffer,
  up: GPUBuffer,
  out: GPUBuffer,
  args: { n: number; act?: GateAct; f16?: boolean },
): Promise<void> {
  requireShape(out !== gate && out !== up, 'swiglu', 'out must not alias gate or up');
  if (args.f16) {
    checkF16(kernels, 'swiglu', args.n);
    await launch(kernels, encoder, {
      file: 'swiglu',
      entry: 'main_f16',
      constants: actConstant(args.act),
      params: [{ u32: args.n / 2 }],
      buffers: { 9: gate, 10: up, 8: out },
      groups: grid1d(Math.ceil(args.n / 2 / 256)),
    });
    return;
  }
  await launch(kernels, encoder, {
    file: 'swiglu',
    constants: actConstant(args.act),
    params: [{ u32: args.n }],
    buffers: { 1: gate, 2: up, 3: out },
    groups: grid1d(Math.ceil(args.n / 256)),
  });
}

/**
 * out [rows, F] = silu(g) ⊙ u for gu [rows, 2F] holding each row's gate then up (the fused gate_up output). With
 * `f16`, gu and out are f16 activations (act-dtype.ts: two halves a word; F even), read and written by
 * swiglu.wgsl main_packed_f16; the arithmetic stays f32.
 */
export async function encodeSwigluPacked(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  gu: GPUBuffer,
  out: GPUBuffer,
  args: { rows: number; F: number; act?: GateAct; f16?: boolean },
): Promise<void> {
  requireShape(out !== gu, 'swiglu', 'out must not alias gu');
  const n = args.rows * args.F;
  if (args.f16) {
    requireShape(args.F % 2 === 0, 'swiglu', `f16 activations need an even intermediate size F (two values a word), got ${args.F}`);
    await launch(kernels, encoder, {
      file: 'swiglu',
      entry: 'main_packed_f16',
      constants: actConstant(args.act),
      params: [{ u32: n / 2 }, { u32: args.F }],
      buffers: { 7: gu, 8: out },
      groups: grid1d(Math.ceil(n / 2 / 256)),
    });
    return;
  }
  await launch(kernels, encoder, {
    file: 'swiglu',
    entry: 'main_packed',
    constants: actConstant(args.act),
    params: [{ u32: n }, { u32: args.F }],
    buffers: { 1: gu, 3: out },
    groups: grid1d(Math.ceil(n / 256)),
  });
}

/**
 * SwiGLU backward from the forward's inputs (gate, up) and dout; dgate and dup are overwritten. With `f16`, gate
 * and up are f16 activations (the saved inputs of an f16-activation forward; n even), read by swiglu.wgsl
 * backward_f16; dout, dgate and dup stay f32.
 */
export async function encodeSwigluBackward(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  gate: GPUBuffer,
  up: GPUBuffer,
  dout: GPUBuffer,
  dgate: GPUBuffer,
  dup: GPUBuffer,
  args: { n: number; act?: GateAct; f16?: boolean },
): Promise<void> {
  const inputs = [gate, up, dout];
  requireShape(!inputs.includes(dgate) && !inputs.includes(dup) && dgate !== dup, 'swiglu_backward', 'dgate and dup must be distinct from each other and from the inputs');
  if (args.f16) {
    checkF16(kernels, 'swiglu_backward', args.n);
    await launch(kernels, encoder, {
      file: 'swiglu',
      entry: 'backward_f16',
      constants: actConstant(args.act),
      params: [{ u32: args.n / 2 }],
      buffers: { 9: gate, 10: up, 4: dout, 5: dgate, 6: dup },
      groups: grid1d(Math.ceil(args.n / 2 / 256)),
    });
    return;
  }
  await launch(kernels, encoder, {
    file: 'swiglu',
    entry: 'backward',
    constants: actConstant(args.act),
    params: [{ u32: args.n }],
    buffers: { 1: gate, 2: up, 4: dout, 5: dgate, 6: dup },
    groups: grid1d(Math.ceil(args.n / 256)),
  });
}
