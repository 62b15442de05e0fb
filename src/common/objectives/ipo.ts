/**
 * IPO (Azar et al. 2023, "A General Theoretical Paradigm to Understand Learning from Human Preferences", eq. 17)
 * as TRL's DPOTrainer with loss_type="ipo", on DPO's data:
 *   π_c, π_r     the policy's *average* completion log-probs (TRL's concatenated_forward divides the summed
 *                log-probs by loss_mask.sum(-1) when loss_type is "ipo")
 *   ref_c, ref_r the same averages under the reference (TRL computes them with the same concatenated_forward,
 *                adapters disabled, so they are length-normalised too)
 *   Δ = (π_c − ref_c) − (π_r − ref_r),  ℓ = (Δ − 1/(2β))²,  L = mean over pairs.
 * β is the paper's τ (TRL reuses DPOConfig.beta, default 0.1); label_smoothing does not enter TRL's IPO branch, so
 * IPO takes none here. Logged as DPO: rewards/margins = β·mean(Δ).
 */
import { addOnCompletion, averageCompletionLogps, completionSums, completionTargets, mean, pairCount, type Objective } from './common.ts';

/** L and dL/dπ_c, dL/dπ_r per pair (π: average completion log-probs), and Δ per pair. */
export function ipoSquared(
  pc: readonly number[],
  pr: readonly number[],
  refC: readonly number[],
  refR: readonly number[],
  beta: number,
): { loss: number; dChosen: number[]; dRejected: number[]; margins: number[] } {
  const P = pc.length;
  const target = 1 / (2 * beta);
  let loss = 0;
  const dChosen: number[] = [];
  const dRejected: number[] = [];
  const margins: number[] = [];
  for (let i = 0; i < P; i++) {
    const delta = pc[i]! - refC[i]! - (pr[i]! - refR[i]!);
    const gap = delta - target;
    loss += (gap * gap) / P;
    const dDelta = (2 * gap) / P;
    dChosen.push(dDelta);
    dRejected.push(-dDelta);
    margins.push(delta);
  }
  return { loss, dChosen, dRejected, margins };
}

export const ipo: Objective<'ipo'> = {
  name: 'ipo',
  label: 'IPO',
  about: "identity preference optimisation on chosen/rejected pairs: DPO's data, a squared loss on length-averaged log-probs",
  source: 'TRL DPOTrainer, loss_type="ipo"',
  paired: true,
  rows: 'preference',
  pairTokenisation: 'dpo',
  perplexity: false,
  params: [{ key: 'beta', trl: 'DPOConfig.beta (IPO\'s τ)', help: "IPO's τ: the loss pulls the log-ratio margin toward 1/(2τ); higher keeps the policy closer (TRL 0.1)" }],
  targets: (seqs) => seqs.map(completionTargets),
  reference: averageCompletionLogps,
  loss(seqs, logp, opts) {
    const P = pairCount(seqs);
    const beta = opts.beta ?? 0.1;
    const weights = seqs.map((s) => new Float64Array(s.ids.length));
    const sums = completionSums(seqs, logp);
    const ref = opts.refLogps;
    if (!ref || ref.length !== seqs.length) throw new RangeError('IPO needs the reference log-prob of every sequence (refLogps)');
    const avg = sums.map((s) => s.sum / s.count);
    const r = ipoSquared(avg.slice(0, P), avg.slice(P), ref.slice(0, P), ref.slice(P), beta);
    // π is an average over n completion rows: dπ/dlogp[t] = 1/n on each of them
    for (let i = 0; i < P; i++) {
      addOnCompletion(seqs[i]!, weights[i]!, -r.dChosen[i]! / sums[i]!.count);
      addOnCompletion(seqs[P + i]!, weights[P + i]!, -r.dRejected[i]! / sums[P + i]!.count);
    }
    return { loss: r.loss, weights, metrics: { 'rewards/margins': beta * mean(r.margins) } };
  },
};
