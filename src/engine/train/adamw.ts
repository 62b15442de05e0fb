/**
 * AdamW (PyTorch's torch.optim.AdamW, decoupled weight decay, bias correction) on the GPU (shaders/adamw.wgsl)
 * and its CPU reference. Layouts: param, grad, m, v f32 [n]; m and v start at zero; `step` counts from 1.
 */
import type { BufferOrRange } from '../gpu/buffer-pool.ts';
import type { KernelRegistry } from '../gpu/kernels.ts';
import { grid1d, launch, requireShape, type Field } from '../ops/dispatch.ts';

export interface AdamWHyper {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

/** Defaults as torch.optim.AdamW: betas (0.9, 0.999), eps 1e-8, weight_decay 0.01. */
export function adamwDefaults(h: AdamWHyper): Required<AdamWHyper> {
  return { lr: h.lr, beta1: h.beta1 ?? 0.9, beta2: h.beta2 ?? 0.999, eps: h.eps ?? 1e-8, weightDecay: h.weightDecay ?? 0.01 };
}

export interface AdamWStep extends AdamWHyper {
  /** optimizer step, from 1 */
  step: number;
  /** multiplies the gradient (clipping) */
  gradScale?: number;
}

/** The step's uniform block (shaders/adamw.wgsl Params): the same for every tensor of one optimizer step. */
export function adamwStepFields(args: AdamWStep): Field[] {
  const h = adamwDefaults(args);
  requireShape(args.step >= 1 && Number.isInteger(args.step), 'adamw', `step must be an integer ≥ 1, got ${args.step}`);
  return [
    { f32: h.lr },
    { f32: h.beta1 },
    { f32: h.beta2 },
    { f32: h.eps },
    { f32: h.weightDecay },
    { f32: 1 - Math.pow(h.beta1, args.step) },
    { f32: 1 - Math.pow(h.beta2, args.step) },
    { f32: args.gradScale ?? 1 },
  ];
}

/** The model's own 16-bit weight that a full fine-tune's f32 master copy is rounded into after each update. */
export interface HalfStore {
  buffer: GPUBuffer;
  dtype: 'bf16' | 'f16';
}

/**
 * One tensor's update. `stepUniform`: a uniform buffer the caller rewrites each step with
 * packUniforms(adamwStepFields(…)) (the trainer: one write per step, and bind groups that never change); without
 * it the step's fields go in a uniform block of their own.
 */
export async function encodeAdamW(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  bufs: { param: BufferOrRange; grad: BufferOrRange; m: GPUBuffer; v: GPUBuffer },
  args: { n: number } & AdamWStep,
  stepUniform?: GPUBuffer,
  /** f32 [2] (Σ g², clip scale) from clip.ts encodeClip; absent: no clipping beyond gradScale */
  clip?: GPUBuffer,
  /**
   * decay: false exempts the tensor from weight decay (HF Trainer's rule for biases and norm weights); store: bufs.param
   * is an f32 master copy and each update is also written, rounded to nearest even, into this 16-bit weight
   */
  tensor: { decay?: boolean; store?: HalfStore } = {},
): Promise<void> {
  const store = tensor.store;
  const buffers: Record<number, BufferOrRange> = {
    1: bufs.param,
    2: bufs.grad,
    3: bufs.m,
    4: bufs.v,
    5: kernels.uniformBlock([{ u32: args.n }, { f32: tensor.decay === false ? 0 : 1 }]),
    6: clip ?? noClip(kernels.device),
  };
  if (store) buffers[7] = store.buffer;
  await launch(kernels, encoder, {
    file: 'adamw',
    ...(store ? { entry: 'main_w16', constants: { HALF: store.dtype === 'f16' ? 1 : 0 } } : {}),
    params: stepUniform ?? adamwStepFields(args),
    buffers,
    groups: grid1d(Math.ceil((store ? Math.ceil(args.n / 2) : args.n) / 256)),
  });
}

// (Σ g², scale) = (0, 1): AdamW without a clip buffer of its own
const noClipBuffers = new WeakMap<GPUDevice, GPUBuffer>();
function noClip(device: GPUDevice): GPUBuffer {
  let b = noClipBuffers.get(device);
  if (!b) {
    b = device.createBuffer({ size: 8, usage: 0x80 /* STORAGE */, mappedAtCreation: true, label: 'adamw.no-clip' });
    new Float32Array(b.getMappedRange()).set([0, 1]);
    b.unmap();
    noClipBuffers.set(device, b);
  }
  return b;
}

/** The same update in float64, in place on param, m, v (decay false: no weight decay for this tensor). */
export function adamwReference(param: Float64Array, grad: ArrayLike<number>, m: Float64Array, v: Float64Array, step: number, hyper: AdamWHyper, gradScale = 1, decay = true): void {
  const h = adamwDefaults({ ...hyper, weightDecay: decay ? (hyper.weightDecay ?? 0.01) : 0 });
  const bc1 = 1 - Math.pow(h.beta1, step);
  const bc2 = 1 - Math.pow(h.beta2, step);
  for (let i = 0; i < param.length; i++) {
    const g = grad[i]! * gradScale;
    param[i] = param[i]! * (1 - h.lr * h.weightDecay);
    m[i] = h.beta1 * m[i]! + (1 - h.beta1) * g;
    v[i] = h.beta2 * v[i]! + (1 - h.beta2) * g * g;
    param[i] = param[i]! - (h.lr * (m[i]! / bc1)) / (Math.sqrt(v[i]! / bc2) + h.eps);
  }
}
