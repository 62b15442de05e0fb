/**
 * LoRA dropout (shaders/dropout.wgsl), inverted as torch.nn.Dropout: kept elements × 1/(1−p), dropped ones 0.
 * Layout: flat f32 [n] (a row-major [rows, cols] activation, element i = row·cols + col).
 *   encodeDropout(x, out)              out = mask ⊙ x                 (the LoRA branch's input, forward)
 *   encodeDropoutBackwardAdd(dy, acc)  acc += mask ⊙ dy               (its backward, added into dX)
 *   encodeDropoutMask(out)             out = mask (0 or 1/(1−p))      (tests read it back)
 * The mask is never stored: it is a pure function of a 32-bit stream key and the element index, and the key of a
 * (seed, step, micro-batch, module) is a chain of PCG hashes (dropoutKey), so the backward and a recomputed forward
 * draw exactly the forward's mask, and a run resumed at step s draws the masks the uninterrupted run drew.
 */
import type { KernelRegistry } from '../gpu/kernels.ts';
import { grid1d, launch, requireShape } from './dispatch.ts';

/** Jarzynski & Olano's PCG hash (JCGT 2020), u32 → u32, a bijection; the same lines as dropout.wgsl's pcg. */
export function pcgHash(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** The mask stream of one adapted module in one forward: hash(seed) → ^step → ^micro-batch → ^module, each hashed. */
export function dropoutKey(seed: number, step: number, micro: number, module: number): number {
  let k = pcgHash((seed ^ 0x4c6f5241) >>> 0); // "LoRA": keeps this stream apart from other uses of the same seed
  k = pcgHash((k ^ step) >>> 0);
  k = pcgHash((k ^ micro) >>> 0);
  return pcgHash((k ^ module) >>> 0);
}

/** u32 threshold: an element with hash < thr is dropped, so P(drop) = thr/2³² = p to within 2⁻³². */
export function dropoutThreshold(p: number): number {
  return Math.min(0xffffffff, Math.round(p * 2 ** 32));
}

/** 1/(1−p) as the f32 the kernel multiplies by. */
export function dropoutScale(p: number): number {
  return Math.fround(1 / (1 - p));
}

export interface DropoutArgs {
  n: number;
  p: number;
  key: number;
}

function params(a: DropoutArgs) {
  requireShape(a.p >= 0 && a.p < 1, 'dropout', `p must be in [0, 1), got ${a.p}`);
  return [{ u32: a.n }, { u32: a.key >>> 0 }, { u32: dropoutThreshold(a.p) }, { f32: dropoutScale(a.p) }];
}

const groups = (n: number) => grid1d(Math.ceil(n / 256));

export async function encodeDropout(kernels: KernelRegistry, enc: GPUCommandEncoder, x: GPUBuffer, out: GPUBuffer, a: DropoutArgs): Promise<void> {
  requireShape(x !== out, 'dropout', 'out must not alias x');
  await launch(kernels, enc, { file: 'dropout', entry: 'forward', params: params(a), buffers: { 1: x, 2: out }, groups: groups(a.n) });
}

export async function encodeDropoutBackwardAdd(kernels: KernelRegistry, enc: GPUCommandEncoder, dy: GPUBuffer, acc: GPUBuffer, a: DropoutArgs): Promise<void> {
  requireShape(dy !== acc, 'dropout backward', 'acc must not alias dy');
  await launch(kernels, enc, { file: 'dropout', entry: 'backward_add', params: params(a), buffers: { 1: dy, 2: acc }, groups: groups(a.n) });
}

export async function encodeDropoutMask(kernels: KernelRegistry, enc: GPUCommandEncoder, out: GPUBuffer, a: DropoutArgs): Promise<void> {
  await launch(kernels, enc, { file: 'dropout', entry: 'mask', params: params(a), buffers: { 2: out }, groups: groups(a.n) });
}
