/**
 * Log-softmax over the vocabulary and target log-prob gather (shaders/logsoftmax.wgsl).
 * Layouts: logits f32 [rows, V] row-major; logp f32 [rows, V]; targets u32 [rows]; picked f32 [rows].
 * A target ≥ V (IGNORE_TARGET, or HF's −100 stored as u32) gives 0 in picked, so sums over a row mask need
 * no separate weight for ignored positions.
 */
import type { KernelRegistry } from '../gpu/kernels.ts';
import { grid1d, launch, requireShape } from './dispatch.ts';

export const IGNORE_TARGET = 0xffffffff;

/** Targets as the kernel wants them: −100 (or any negative) → IGNORE_TARGET. */
export function targetIds(labels: ArrayLike<number>): Uint32Array {
  return Uint32Array.from({ length: labels.length }, (_, i) => (labels[i]! < 0 ? IGNORE_TARGET : labels[i]!));
}

export interface LogSoftmaxArgs {
  rows: number;
  vocab: number;
}

export async function encodeLogSoftmax(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  logits: GPUBuffer,
  logp: GPUBuffer,
  args: LogSoftmaxArgs,
): Promise<void> {
  requireShape(logits !== logp, 'logsoftmax', 'logp must not alias logits');
  await launch(kernels, encoder, {
    file: 'logsoftmax',
    entry: 'main',
    params: [{ u32: args.rows }, { u32: args.vocab }],
    buffers: { 1: logits, 2: logp },
    groups: grid1d(args.rows),
  });
}

export async function encodeTargetLogProb(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  logits: GPUBuffer,
  targets: GPUBuffer,
  picked: GPUBuffer,
  args: LogSoftmaxArgs,
): Promise<void> {
  await launch(kernels, encoder, {
    file: 'logsoftmax',
    entry: 'gather',
    params: [{ u32: args.rows }, { u32: args.vocab }],
    buffers: { 1: logits, 3: targets, 4: picked },
    groups: grid1d(args.rows),
  });
}
