/**
 * Log-softmax over the vocabulary and target log-prob gather (shaders/logsoftmax.wgsl).
 * Layouts: logits f32 [rows, V] row-major; logp f32 [rows, V]; targets u32 [rows]; picked f32 [rows].
 * A target ≥ V (IGNORE_TARGET, or HF's −100 stored as u32) gives 0 in picked, so sums over a row mask need
 * no separate weight for ignored positions.
 *
 * encodeCrossEntropyBackward is the one loss backward every objective uses: for L = −Σ_t w[t]·logp[t, targets[t]]
 * (weights f32 [rows]; CPT/SFT: 1/scored tokens on scored tokens, DPO/ORPO: their sequence terms' dL/dlogp per
 * token), dlogits [rows, V] = w[t]·(softmax − onehot(targets[t])), zero rows for ignored targets.
 * Those are the software family's kernels; the hardware family's (shaders/hw_logsoftmax*.wgsl: a workgroup of
 * lanes per row, vec4 loads, online max/sum) are dispatched through rows-hw.ts, with the same bindings.
 */
import type { KernelRegistry, Overrides } from '../gpu/kernels.ts';
import { grid1d, launch, requireShape } from './dispatch.ts';
import { launchHwRows } from './rows-hw.ts';

export const IGNORE_TARGET = 0xffffffff;

/**
 * Rows of at most this many logits run the `_rows` entries (one invocation per row, ROWS_PER_WG rows per
 * workgroup, no barriers); longer rows keep one workgroup per row with tree reductions (shaders/logsoftmax.wgsl).
 */
export const ROW_THREAD_MAX_VOCAB = 4096;
export const SOFTMAX_ROWS_PER_WG = 16;

/** Entry point, override constants and grid of a per-row launch. */
function rowLaunch(entry: string, args: LogSoftmaxArgs) {
  if (args.vocab > ROW_THREAD_MAX_VOCAB) return { entry, groups: grid1d(args.rows) };
  return { entry: `${entry}_rows`, constants: { ROWS_PER_WG: SOFTMAX_ROWS_PER_WG }, groups: grid1d(Math.ceil(args.rows / SOFTMAX_ROWS_PER_WG)) };
}

/**
 * One per-row launch of `entry` in the registry's family. SOFTCAP only when set, so uncapped models compile
 * exactly the pipelines they did before.
 */
async function rowOp(kernels: KernelRegistry, encoder: GPUCommandEncoder, entry: string, args: LogSoftmaxArgs, buffers: Record<number, GPUBuffer>, softcap?: number): Promise<void> {
  const params = [{ u32: args.rows }, { u32: args.vocab }];
  const cap: Overrides = softcap ? { SOFTCAP: softcap } : {};
  if (kernels.family === 'hardware') {
    await launchHwRows(kernels, encoder, { file: 'hw_logsoftmax', entry, rows: args.rows, width: args.vocab, params, buffers, constants: cap });
    return;
  }
  const rl = rowLaunch(entry, args);
  await launch(kernels, encoder, { file: 'logsoftmax', ...rl, constants: { ...('constants' in rl ? rl.constants : {}), ...cap }, params, buffers });
}

/** Targets as the kernel wants them: −100 (or any negative) → IGNORE_TARGET. */
export function targetIds(labels: ArrayLike<number>): Uint32Array {
  return Uint32Array.from({ length: labels.length }, (_, i) => (labels[i]! < 0 ? IGNORE_TARGET : labels[i]!));
}

export interface LogSoftmaxArgs {
  rows: number;
  vocab: number;
}

/** The cross-entropy backward's shape, and the soft-capping c the logits went through (final_logit_softcapping). */
export interface CrossEntropyBackwardArgs extends LogSoftmaxArgs {
  softcap?: number;
}

export async function encodeLogSoftmax(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  logits: GPUBuffer,
  logp: GPUBuffer,
  args: LogSoftmaxArgs,
): Promise<void> {
  requireShape(logits !== logp, 'logsoftmax', 'logp must not alias logits');
  await rowOp(kernels, encoder, 'main', args, { 1: logits, 2: logp });
}

export async function encodeTargetLogProb(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  logits: GPUBuffer,
  targets: GPUBuffer,
  picked: GPUBuffer,
  args: LogSoftmaxArgs,
): Promise<void> {
  await rowOp(kernels, encoder, 'gather', args, { 1: logits, 3: targets, 4: picked });
}

/**
 * dlogits = w[t]·(softmax(logits[t]) − onehot(targets[t])), ignored targets (≥ vocab) giving zero rows.
 * Pass `dlogits` = `logits` (the same buffer) to overwrite the logits with their gradient in place, which saves a
 * [rows, V] buffer; anything that needs the logits themselves (target log-probs) must run before.
 */
export async function encodeCrossEntropyBackward(
  kernels: KernelRegistry,
  encoder: GPUCommandEncoder,
  logits: GPUBuffer,
  targets: GPUBuffer,
  weights: GPUBuffer,
  dlogits: GPUBuffer,
  args: CrossEntropyBackwardArgs,
): Promise<void> {
  requireShape(args.rows > 0 && args.vocab > 0, 'cross_entropy_backward', 'rows and vocab must be positive');
  const inPlace = dlogits === logits;
  const buffers: Record<number, GPUBuffer> = inPlace ? { 2: logits, 3: targets, 5: weights } : { 1: logits, 3: targets, 5: weights, 6: dlogits };
  await rowOp(kernels, encoder, inPlace ? 'backward_inplace' : 'backward', args, buffers, args.softcap);
}
