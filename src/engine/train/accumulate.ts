/**
 * One optimizer step's loss and gradient from several micro-batches, reduced as TRL and transformers reduce them
 * since the 2024 gradient-accumulation fix (`num_items_in_batch`):
 *   CPT/SFT   L = Σ token NLL over every micro-batch / Σ scored tokens of every micro-batch
 *   paired    L = mean over the pairs of the effective batch (TRL: each micro-batch's pair mean / accum; the two
 *             agree when micro-batches hold the same number of pairs, as the trainer's always do)
 * The normaliser is counted on the CPU from the sequences before any forward (the targets are known), so each
 * micro-batch's backward already carries its share of the step: the adapter's dA/dB hold the step's gradient
 * when this returns, with no division afterwards. A mean of per-micro-batch token means (the pre-fix HF
 * behaviour) weighs a short completion's tokens more than a long one's; this does not.
 *
 * Both the trainer and `alloy grad --micro-batch M` call this, so the accumulated gradient can be checked from
 * outside against the float64 reference of the full batch.
 */
import { AlloyError } from '../../common/errors.ts';
import type { Model } from '../model/weights.ts';
import type { GpuLora } from '../lora/adapter.ts';
import { startLossAndGrads, type PassOptions, type PendingGrad } from './grad.ts';
import { isPaired, objectiveTargets, scoredCount, type ObjectiveOptions } from './objectives.ts';
import type { Method, Sequence } from '../../common/training-data.ts';

export interface StepResult {
  /** the step's loss (the quantity above) */
  loss: number;
  /** scored tokens over the whole step */
  scored: number;
  /** each micro-batch's metrics, averaged over micro-batches */
  metrics: Record<string, number>;
}

/**
 * The effective batch's item count: scored tokens (CPT/SFT) or pairs (paired objectives: DPO, IPO, ORPO). `microBatches` are in the
 * batch layout lossAndGrads takes ([chosen…, rejected…] for pairs).
 */
export function stepItems(method: Method, microBatches: readonly (readonly Sequence[])[]): number {
  if (isPaired(method)) return microBatches.reduce((n, seqs) => n + seqs.length / 2, 0);
  return microBatches.reduce((n, seqs) => n + scoredCount(objectiveTargets(method, seqs)), 0);
}

/**
 * Runs every micro-batch's forward and backward, accumulating (+=) into the adapter's gradients (or, with lora =
 * null and each pass's `full`, every parameter's): clear them first (clearLoraGrads / encodeClearFullGrads, or
 * `clearGrads` in micro-batch 0's pass options). `passFor(a)` gives micro-batch a's pass
 * options (dropout counters, recomputation); `objective` may be per micro-batch too (a full fine-tune's DPO/IPO:
 * each micro-batch's precomputed reference log-probs, `refLogps`, in its own sequence order).
 */
export async function accumulateStep(
  model: Model,
  lora: GpuLora | null,
  method: Method,
  microBatches: readonly (readonly Sequence[])[],
  objective: ObjectiveOptions | ((micro: number) => ObjectiveOptions),
  passFor: (micro: number) => PassOptions = () => ({}),
): Promise<StepResult> {
  const p = await startAccumulateStep(model, lora, method, microBatches, objective, passFor);
  return { ...(await p.result), scored: p.scored };
}

/**
 * accumulateStep up to the last micro-batch's submit (grad.ts startLossAndGrads): the gradients are queued, the
 * loss comes with `result`, so the trainer queues the clip and update before its one wait of the step.
 */
export async function startAccumulateStep(
  model: Model,
  lora: GpuLora | null,
  method: Method,
  microBatches: readonly (readonly Sequence[])[],
  objective: ObjectiveOptions | ((micro: number) => ObjectiveOptions),
  passFor: (micro: number) => PassOptions = () => ({}),
): Promise<{ scored: number; result: Promise<Omit<StepResult, 'scored'>> }> {
  if (microBatches.length === 0) throw new AlloyError('an optimizer step needs at least one micro-batch');
  const items = stepItems(method, microBatches);
  if (items === 0) throw new AlloyError(`no token of the step's ${microBatches.length} micro-batch(es) is scored (every row is prompt or too short)`);
  const pending: PendingGrad[] = [];
  for (const [a, seqs] of microBatches.entries()) {
    const opts = typeof objective === 'function' ? objective(a) : objective;
    pending.push(await startLossAndGrads(model, lora, method, seqs, { ...opts, stepItems: items }, passFor(a)));
  }
  const result = Promise.all(pending.map((p) => p.result)).then((rs) => {
    let loss = 0;
    const metrics: Record<string, number> = {};
    for (const r of rs) {
      loss += r.loss;
      for (const [k, x] of Object.entries(r.metrics)) metrics[k] = (metrics[k] ?? 0) + x / microBatches.length;
    }
    return { loss, metrics };
  });
  return { scored: pending.reduce((n, p) => n + p.tokens, 0), result };
}
